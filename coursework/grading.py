"""The trusted half of grading: sandbox run, then every verdict computed outside the sandbox.

:func:`grade_notebook` sends one notebook to :func:`coursework.sandbox.run_in_sandbox`, reads the raw
outputs the worker wrote (plain JSON, decoded by :mod:`coursework.values`), and checks each case with
its trusted ``check`` half in this process. Points are per case: a question's score is the sum of
the points of the cases it passes. A case with no output (time-out, crash) scores 0 and says so.
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any

from coursework import values
from coursework.cases import Mismatch, load
from coursework.sandbox import run_in_sandbox

__all__ = ["grade_notebook", "flagged_names"]

MAX_NOTEBOOK_BYTES = 20 * 2**20


def _zero(assignment: str, message: str, seconds: float = 0.0) -> dict[str, Any]:
    module = load(assignment)
    cases = [_verdict(c, False, message) for c in module.CASES]
    return {
        "scores": {q: 0.0 for q in module.QUESTIONS},
        "cases": cases,
        "cell_errors": [],
        "message": message,
        "seconds": seconds,
        "sandbox_cpu_s": None,
        "flags": [],
    }


def _verdict(case, passed: bool, why: str = "", expected: Any = None, got: Any = None):
    return {
        "question": case.question,
        "case": case.name,
        "points": case.points,
        "earned": case.points if passed else 0.0,
        "passed": passed,
        "public": case.public,
        "why": why,
        "expected": expected,
        "got": got,
    }


def _parse(text: str) -> tuple[dict[str, Any], list[dict[str, Any]], bool, float | None]:
    outputs: dict[str, Any] = {}
    cell_errors, notebook_done, cpu = [], False, None
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if "case" in record and isinstance(record["case"], str) and record["case"] not in outputs:
            outputs[record["case"]] = record
        elif "cell" in record and len(cell_errors) < 50:
            cell_errors.append(
                {
                    "cell": record.get("cell"),
                    "first_line": str(record.get("first_line", ""))[:60],
                    "error": str(record.get("error", ""))[:300],
                }
            )
        notebook_done |= record.get("notebook") == "done"
        if record.get("cases") == "done":
            cpu = record.get("cpu_s")
    return outputs, cell_errors, notebook_done, cpu if isinstance(cpu, (int, float)) else None


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 300 else text[:297] + "..."


def grade_notebook(
    notebook: str | Path,
    assignment: str,
    *,
    timeout: float = 300.0,
    hide: list[Path] | None = None,
) -> dict[str, Any]:
    """Grade one notebook; never raises for a bad submission.

    Returns ``{"scores": {q: points}, "cases": [verdict, ...], "cell_errors": [...],
    "message": str, "seconds": float, "flags": [...]}``; each verdict holds question, case,
    points, earned, passed, public, why, expected and got (these two for public cases only).
    """
    module = load(assignment)
    start = time.perf_counter()
    try:
        path = Path(notebook)
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return _zero(
                assignment, f"notebook larger than {MAX_NOTEBOOK_BYTES >> 20} MB: 0 points"
            )
        text = path.read_text()
        nb = json.loads(text)
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("no cells")
    except (OSError, ValueError, UnicodeDecodeError) as err:
        return _zero(assignment, f"not a readable notebook ({err}): 0 points")
    run = run_in_sandbox(assignment, text, timeout=timeout, hide=hide)
    outputs, cell_errors, notebook_done, sandbox_cpu = _parse(run.results)
    verdicts, scores = [], {q: 0.0 for q in module.QUESTIONS}
    for case in module.CASES:
        record = outputs.get(case.key)
        if record is None:
            why = (
                "not run: the notebook ran past the time limit"
                if run.timed_out
                else "not run: the grading process stopped early"
            )
            verdicts.append(_verdict(case, False, why))
            continue
        if "error" in record:
            verdicts.append(_verdict(case, False, str(record["error"])[:300]))
            continue
        try:
            case.check(values.decode(record.get("value")))
        except Mismatch as m:
            exp, got = (
                (_show(m.expected), _show(m.got))
                if case.public and m.expected is not None
                else (None, None)
            )
            verdicts.append(_verdict(case, False, m.what, exp, got))
            continue
        except Exception as err:  # noqa: BLE001 (an odd value the check could not handle)
            verdicts.append(_verdict(case, False, f"unexpected value ({type(err).__name__})"))
            continue
        verdicts.append(_verdict(case, True))
        scores[case.question] += case.points
    notes = []
    if run.timed_out:
        notes.append(f"timed out after {timeout:g} s (an endless loop?): cases not run score 0")
    elif not notebook_done:
        notes.append(f"the grading run stopped while running the notebook (exit {run.returncode})")
    for q in module.QUESTIONS:
        failed = [v for v in verdicts if v["question"] == q and not v["passed"]]
        if failed:
            notes.append(
                f"{q}: {failed[0]['case']}: {failed[0]['why']}"
                + (f" (+{len(failed) - 1} more)" if len(failed) > 1 else "")
            )
    notes += [f"cell {e['cell']} ({e['first_line']}) raised {e['error']}" for e in cell_errors[:5]]
    flags = flagged_names(nb, module.CHECKED_NAMES)
    if flags:
        notes.append(f"uses library answers: {', '.join(flags)} (check by hand)")
    return {
        "scores": {q: round(s, 6) for q, s in scores.items()},
        "cases": verdicts,
        "cell_errors": cell_errors,
        "message": "; ".join(notes),
        "seconds": time.perf_counter() - start,
        "sandbox_cpu_s": sandbox_cpu,
        "flags": flags,
    }


def flagged_names(nb: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Library functions that answer a question and that the notebook's code names."""
    found = set()
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wganlib"):
                found |= {a.name for a in node.names if a.name in names}
            elif isinstance(node, ast.Attribute) and node.attr in names:
                found.add(node.attr)
    return sorted(found)
