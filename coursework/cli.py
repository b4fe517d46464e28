r"""Build, grade and time the autograded assignments (otter-grader, no Docker, no network).

Commands (``python -m coursework ...``)::

    build   [--out DIR] [--only NAME ...] [--jobs N]
        MyST master (coursework/masters/NAME.md) -> NAME.ipynb (jupytext) -> ``otter assign``,
        which runs every test against the solutions and fails if one fails. Writes
        DIR/student/NAME.ipynb (to hand out: no solutions, no hidden tests),
        DIR/autograder/NAME.zip (to grade with: all tests; keep it private),
        DIR/solutions/NAME.ipynb and DIR/manifest.json (questions and points).
    grade   SUBMISSIONS --out scores.csv [--build DIR] [--assignment NAME] [--timeout S] [--jobs N]
        SUBMISSIONS/STUDENT/NAME.ipynb (or SUBMISSIONS/STUDENT.ipynb with --assignment): each
        notebook is graded by ``otter.api.grade_submission`` in its own process with a time limit
        (killed at the limit: 0 points and a message). One row per student: a column per
        question ``NAME:qN``, ``total``, ``possible`` and ``message``.
    measure [--build DIR] [--out JSON]
        Grades every solution notebook (which executes it whole) and records wall and CPU times,
        for the instructor guide.

The default build folder is ``coursework/_build`` (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MASTERS = HERE / "masters"
DEFAULT_BUILD = HERE / "_build"
DEFAULT_TIMEOUT = 300.0

__all__ = ["assignments", "build", "grade", "grade_notebook", "measure", "main"]


def assignments() -> list[str]:
    """Names of the assignments, in the order of the book (the master files' stems)."""
    return sorted(p.stem for p in MASTERS.glob("a*.md"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # otter signs notebooks through Jupyter: keep that out of the user's data folder
    env.setdefault("JUPYTER_DATA_DIR", str(Path(tempfile.gettempdir()) / "coursework_jupyter"))
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def _bin(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def _questions(zip_path: Path) -> dict[str, float]:
    """``{question: points}`` read from the autograder archive's test files."""
    import zipfile

    out = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in sorted(zf.namelist()):
            if name.startswith("tests/") and name.endswith(".py"):
                namespace: dict[str, Any] = {}
                exec(zf.read(name).decode(), namespace)  # our own generated test file
                test = namespace["test"]
                out[test["name"]] = float(test["points"])
    return dict(sorted(out.items(), key=lambda kv: (len(kv[0]), kv[0])))


def build(
    out: str | Path = DEFAULT_BUILD, only: list[str] | None = None, *, jobs: int = 1
) -> dict[str, Any]:
    """Generate the student notebooks and autograder archives; returns the manifest.

    ``jobs`` assignments are built at the same time. Raises ``RuntimeError`` (with otter's
    output) when a test fails against the solutions.
    """
    out = Path(out).resolve()
    names = only or assignments()
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        raise ValueError(f"unknown assignment(s) {unknown}; choose from {assignments()}")
    for sub in ("student", "autograder", "solutions"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        built = dict(zip(names, pool.map(lambda name: _build_one(out, name), names), strict=True))
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.update(built)
    manifest = {k: manifest[k] for k in sorted(manifest)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _build_one(out: Path, name: str) -> dict[str, Any]:
    work = out / "work" / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    master = work / f"{name}.ipynb"
    _run([_bin("jupytext"), "--to", "ipynb", "-q", str(MASTERS / f"{name}.md"), "-o", str(master)])
    _run([_bin("otter"), "assign", "--no-pdfs", str(master), str(work / "dist")], cwd=work)
    dist = work / "dist"
    zips = sorted((dist / "autograder").glob(f"{name}-autograder_*.zip"))  # timestamped name
    if len(zips) != 1:
        raise RuntimeError(f"expected one autograder archive for {name}, found {zips}")
    shutil.copy(zips[0], out / "autograder" / f"{name}.zip")
    shutil.copy(dist / "student" / f"{name}.ipynb", out / "student" / f"{name}.ipynb")
    shutil.copy(dist / "autograder" / f"{name}.ipynb", out / "solutions" / f"{name}.ipynb")
    questions = _questions(out / "autograder" / f"{name}.zip")
    return {"questions": questions, "possible": sum(questions.values())}


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )


def grade_notebook(
    notebook: str | Path, zip_path: str | Path, *, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """Grade one notebook in a separate process; never raises for a bad submission.

    Returns ``{"scores": {q: [score, possible]}, "message": str, "seconds": float}``. A notebook
    that runs past ``timeout`` seconds is killed (its whole process group) and scores 0.
    """
    questions = _questions(Path(zip_path))
    zeros = {q: [0.0, p] for q, p in questions.items()}
    start = time.perf_counter()
    try:
        json.loads(Path(notebook).read_text())
    except (OSError, ValueError) as err:
        return {"scores": zeros, "message": f"not a readable notebook ({err})", "seconds": 0.0}
    with tempfile.TemporaryDirectory(prefix="coursework_grade_") as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "coursework._grade_one", str(Path(notebook).resolve()),
               str(Path(zip_path).resolve()), str(result_path)]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=tmp, env={**_env(), "PYTHONPATH": str(HERE.parent)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the grader and the kernel it started
            proc.communicate()
            return {
                "scores": zeros,
                "message": f"timed out after {timeout:g} s (an endless loop?): 0 points",
                "seconds": time.perf_counter() - start,
            }
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not result_path.exists():
            last = (stderr or "").strip().splitlines()[-1:] or ["no output"]
            return {"scores": zeros, "message": f"grader failed: {last[0]}", "seconds": seconds}
        result = json.loads(result_path.read_text())
    scores = {q: result["scores"].get(q, [0.0, p]) for q, p in questions.items()}
    notes = [f"{q}: {msg}" for q, msg in sorted(result["failures"].items())]
    notes += result["errors"][:3]
    missing = _missing_checks(Path(notebook), questions)
    if missing:
        notes.append(
            f"test cell(s) for {', '.join(missing)} removed (graded with the full tests anyway)"
        )
    return {"scores": scores, "message": "; ".join(notes), "seconds": seconds}


def _missing_checks(notebook: Path, questions: dict[str, float]) -> list[str]:
    cells = json.loads(notebook.read_text()).get("cells", [])
    text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    return [
        q
        for q in questions
        if f'grader.check("{q}")' not in text and f"grader.check('{q}')" not in text
    ]


def _submissions(
    folder: Path, assignment: str | None, known: list[str]
) -> list[tuple[str, str, Path]]:
    """``(student, assignment, notebook)`` triples found in ``folder``."""
    found = []
    if assignment is not None:
        for nb in sorted(folder.glob("*.ipynb")):
            found.append((nb.stem, assignment, nb))
        return found
    for student in sorted(p for p in folder.iterdir() if p.is_dir()):
        for nb in sorted(student.glob("*.ipynb")):
            if nb.stem in known:
                found.append((student.name, nb.stem, nb))
    return found


def grade(
    submissions: str | Path,
    out: str | Path,
    *,
    build_dir: str | Path = DEFAULT_BUILD,
    assignment: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Grade a folder of submissions into a CSV table (one row per student); returns the rows."""
    build_dir, folder = Path(build_dir), Path(submissions)
    manifest_path = build_dir / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"{manifest_path} not found: run `python -m coursework build` first"
        )
    manifest = json.loads(manifest_path.read_text())
    if assignment is not None and assignment not in manifest:
        raise ValueError(f"assignment {assignment!r} is not built; built: {sorted(manifest)}")
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist")
    items = _submissions(folder, assignment, list(manifest))
    if not items:
        raise ValueError(
            f"no submissions in {folder}: expect STUDENT/ASSIGNMENT.ipynb with ASSIGNMENT in "
            f"{sorted(manifest)}, or STUDENT.ipynb files with --assignment"
        )

    def one(item):
        student, name, nb = item
        return (
            student,
            name,
            grade_notebook(nb, build_dir / "autograder" / f"{name}.zip", timeout=timeout),
        )

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, items))
    graded = sorted({name for _, name, _ in items})
    columns = [f"{a}:{q}" for a in graded for q in manifest[a]["questions"]]
    rows: dict[str, dict[str, Any]] = {}
    for student, name, res in results:
        row = rows.setdefault(student, {"student": student, "messages": []})
        for q, (score, _) in res["scores"].items():
            row[f"{name}:{q}"] = score
        if res["message"]:
            row["messages"].append(f"{name}: {res['message']}")
    table = []
    for student in sorted(rows):
        row = rows[student]
        done = {a for a in graded if any(k.startswith(f"{a}:") for k in row)}
        record = {"student": student}
        record.update({c: row.get(c, "") for c in columns})
        record["total"] = sum(row.get(c, 0.0) for c in columns)
        record["possible"] = sum(manifest[a]["possible"] for a in done)
        missing = [a for a in graded if a not in done]
        msgs = row["messages"] + [f"{a}: no submission" for a in missing]
        record["message"] = " | ".join(msgs)
        table.append(record)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *columns, "total", "possible", "message"])
        writer.writeheader()
        writer.writerows(table)
    return table


def measure(build_dir: str | Path = DEFAULT_BUILD, out: str | Path | None = None) -> dict[str, Any]:
    """Time the grading of each solution notebook (a full run of it plus all tests)."""
    build_dir = Path(build_dir)
    manifest = json.loads((build_dir / "manifest.json").read_text())
    timings, load_before = {}, os.getloadavg()[0]
    for name in manifest:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = grade_notebook(
            build_dir / "solutions" / f"{name}.ipynb", build_dir / "autograder" / f"{name}.zip"
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        score = sum(s for s, _ in res["scores"].values())
        timings[name] = {"wall_s": round(res["seconds"], 2), "cpu_s": round(cpu, 2), "score": score,
                         "possible": manifest[name]["possible"],
                         "questions": manifest[name]["questions"]}  # fmt: skip
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=HERE.parent, capture_output=True, text=True
    )
    record = {
        "command": "python -m coursework measure",
        "git_commit": commit.stdout.strip() or "unknown",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },  # fmt: skip
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "note": "grading one solution notebook: start a kernel, run every cell, run every test; "
        "CPU time counts the grader and its kernel, wall time grows with the machine's load",
        "assignments": timings,
    }
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursework", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="student notebooks + autograder archives from the masters")
    p.add_argument("--out", default=str(DEFAULT_BUILD))
    p.add_argument("--only", nargs="*", default=None, help="assignment names (default: all)")
    p.add_argument("--jobs", type=int, default=1, help="assignments built at the same time")
    p = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV table")
    p.add_argument("submissions")
    p.add_argument("--out", required=True, help="the CSV file to write")
    p.add_argument("--build", default=str(DEFAULT_BUILD))
    p.add_argument(
        "--assignment", default=None, help="flat folder STUDENT.ipynb of this assignment"
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per notebook")
    p.add_argument("--jobs", type=int, default=1, help="notebooks graded at the same time")
    p = sub.add_parser("measure", help="time each assignment's solution run (JSON)")
    p.add_argument("--build", default=str(DEFAULT_BUILD))
    p.add_argument(
        "--out", default=str(HERE.parent / "data" / "results" / "coursework_timings.json")
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            manifest = build(args.out, args.only, jobs=args.jobs)
            for name, m in manifest.items():
                print(f"{name}: {len(m['questions'])} questions, {m['possible']:g} points")
            print(
                f"hand out {Path(args.out) / 'student'}; grade with {Path(args.out) / 'autograder'}"
            )
        elif args.command == "grade":
            table = grade(args.submissions, args.out, build_dir=args.build,
                          assignment=args.assignment, timeout=args.timeout, jobs=args.jobs)  # fmt: skip
            for row in table:
                print(f"{row['student']}: {row['total']:g}/{row['possible']:g} {row['message']}")
            print(f"wrote {args.out}")
        else:
            record = measure(args.build, args.out)
            for name, t in record["assignments"].items():
                print(
                    f"{name}: {t['wall_s']} s wall, {t['cpu_s']} s CPU, {t['score']:g}/{t['possible']:g}"
                )
            print(f"wrote {args.out}")
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
