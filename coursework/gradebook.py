"""Grade a folder of submissions: one CSV row per student, one feedback file per notebook.

Layout: ``SUBMISSIONS/STUDENT/ASSIGNMENT.ipynb`` (or ``SUBMISSIONS/STUDENT.ipynb`` with
``assignment=``). A notebook whose name is an assignment's plus a suffix (``a1_parallel_lines
(1).ipynb``, ``a1_parallel_lines-Copy1.ipynb``) is graded as that assignment when the student has
no exactly named one, and the row says so; any other file is reported in the row, never dropped.
"""

from __future__ import annotations

import csv
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coursework.grading import grade_notebook

__all__ = ["discover", "grade", "write_feedback"]


def discover(
    folder: Path, assignment: str | None, known: list[str]
) -> tuple[list[tuple[str, str, Path, str]], dict[str, list[str]]]:
    """``([(student, assignment, notebook, note)], {student: [unrecognised file notes]})``."""
    items: list[tuple[str, str, Path, str]] = []
    stray: dict[str, list[str]] = {}
    if assignment is not None:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix == ".ipynb":
                items.append((path.stem, assignment, path, ""))
            elif not path.name.startswith("."):
                stray.setdefault(path.stem, []).append(
                    f"not graded: {path.name!r} is not a notebook STUDENT.ipynb of {assignment}"
                )
        return items, stray
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if not path.is_dir():
            stray.setdefault(path.stem, []).append(
                f"not graded: {path.name!r} lies at the top of the folder; expected "
                f"STUDENT/ASSIGNMENT.ipynb (or --assignment NAME for a flat folder)"
            )
            continue
        files = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        exact = {p.stem for p in files if p.suffix == ".ipynb" and p.stem in known}
        for p in files:
            if p.suffix == ".ipynb" and p.stem in known:
                items.append((path.name, p.stem, p, ""))
                continue
            guess = [a for a in known if p.suffix == ".ipynb" and p.stem.startswith(a)]
            twins = [
                q for q in files if q.suffix == ".ipynb" and guess and q.stem.startswith(guess[0])
            ]
            if len(guess) == 1 and guess[0] not in exact and len(twins) == 1:
                items.append((path.name, guess[0], p, f"graded {p.name!r} as {guess[0]}.ipynb"))
            else:
                why = (
                    "another file has that assignment's name"
                    if guess
                    else "no assignment has this name"
                )
                stray.setdefault(path.name, []).append(
                    f"not graded: {p.name!r} ({why}; expected one of "
                    f"{', '.join(k + '.ipynb' for k in known)})"
                )
    return items, stray


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_feedback(
    path: Path,
    student: str,
    assignment: str,
    result: dict[str, Any],
    possible: float,
    written: dict[str, float],
) -> None:
    """A Markdown feedback file: score, every case (public and hidden), cell errors, notes."""
    total = sum(result["scores"].values())
    lines = [
        f"# {assignment}: feedback for {student}",
        "",
        f"Autograded score: **{total:g} / {possible:g}**.",
        "",
    ]
    if written:
        lines += [
            "Graded by hand (not included above): "
            + ", ".join(f"{w.upper()} ({p:g} points)" for w, p in written.items())
            + ".",
            "",
        ]
    if result.get("message"):
        lines += [f"Summary: {_md(result['message'])}", ""]
    lines += [
        "| question | case | kind | points | result | details |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for v in result["cases"]:
        detail = "" if v["passed"] else _md(v["why"])
        if not v["passed"] and v.get("expected") is not None:
            detail += f" (expected {_md(v['expected'])}, got {_md(v['got'])})"
        lines.append(
            f"| {v['question']} | {_md(v['case'])} | {'public' if v['public'] else 'hidden'} | "
            f"{v['earned']:g} / {v['points']:g} | {'passed' if v['passed'] else 'failed'} | {detail} |"
        )
    if result.get("cell_errors"):
        lines += ["", "Cells that raised an error when the notebook was run from the top:", ""]
        lines += [
            f"- cell {e['cell']} (`{_md(e['first_line'])}`): {_md(e['error'])}"
            for e in result["cell_errors"]
        ]
    lines += ["", "Hidden cases show what they check, not their inputs or expected values."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _safe(name: str) -> str:
    return re.sub(r"[^\w.@+-]", "_", name).lstrip(".") or "_"


def grade(
    submissions: str | Path,
    out: str | Path,
    *,
    manifest: dict[str, Any],
    assignment: str | None = None,
    timeout: float = 300.0,
    jobs: int = 1,
    feedback: str | Path | None = None,
    hide: list[Path] | None = None,
) -> list[dict[str, Any]]:
    """Grade ``submissions`` into the CSV ``out`` and feedback files; returns the rows."""
    folder, out = Path(submissions), Path(out)
    if assignment is not None and assignment not in manifest:
        raise ValueError(f"assignment {assignment!r} is not built; built: {sorted(manifest)}")
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist")
    items, stray = discover(folder, assignment, list(manifest))
    if not items and not stray:
        raise ValueError(
            f"no submissions in {folder}: expect STUDENT/ASSIGNMENT.ipynb with ASSIGNMENT in "
            f"{sorted(manifest)}, or STUDENT.ipynb files with --assignment"
        )
    feedback = Path(feedback) if feedback else out.parent / f"{out.stem}_feedback"
    hide = [folder, out.parent, feedback, *(hide or [])]

    def one(item):
        student, name, nb, note = item
        res = grade_notebook(nb, name, timeout=timeout, hide=hide)
        if note:
            res["message"] = "; ".join(x for x in (note, res["message"]) if x)
        write_feedback(
            feedback / _safe(student) / f"{name}.md",
            student,
            name,
            res,
            manifest[name]["possible"],
            manifest[name].get("written", {}),
        )
        return student, name, res

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, items))
    graded = [a for a in manifest if a == assignment or any(a == n for _, n, _, _ in items)]
    columns = [f"{a}:{q}" for a in graded for q in manifest[a]["questions"]]
    possible = sum(manifest[a]["possible"] for a in graded)
    rows: dict[str, dict[str, Any]] = {s: {"messages": list(m)} for s, m in stray.items()}
    for student, name, res in results:
        row = rows.setdefault(student, {"messages": []})
        row["done"] = row.get("done", set()) | {name}
        for q, score in res["scores"].items():
            row[f"{name}:{q}"] = score
        if res["message"]:
            row["messages"].append(f"{name}: {res['message']}")
    table = []
    for student in sorted(rows):
        row = rows[student]
        record = {"student": student, **{c: row.get(c, "") for c in columns}}
        record["total"] = round(sum(row.get(c, 0.0) for c in columns), 6)
        record["possible"] = possible
        missing = [f"{a}: no submission" for a in graded if a not in row.get("done", set())]
        record["message"] = " | ".join(row["messages"] + missing)
        table.append(record)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *columns, "total", "possible", "message"])
        writer.writeheader()
        writer.writerows(table)
    feedback.mkdir(parents=True, exist_ok=True)
    (feedback / "cases.json").write_text(
        json.dumps({f"{s}/{n}": r["cases"] for s, n, r in results}, indent=1) + "\n"
    )
    return table
