r"""Build, grade and time the autograded assignments (no Docker, no network, no server).

Commands (``python -m coursework ...``)::

    build   [--out DIR] [--only NAME ...] [--jobs N]
        MyST master (coursework/masters/NAME.md) -> NAME.ipynb (jupytext) -> ``otter assign``,
        which runs the public tests against the solutions. Writes DIR/student/ (to hand out: the
        notebooks without solutions, a wheel of wganlib and requirements.txt; no masters, no
        graded cases), DIR/solutions/NAME.ipynb (keep private) and DIR/manifest.json (questions,
        points, written questions).
    grade   SUBMISSIONS --out scores.csv [--build DIR] [--assignment NAME] [--timeout S] [--jobs N]
            [--feedback DIR]
        SUBMISSIONS/STUDENT/NAME.ipynb (or SUBMISSIONS/STUDENT.ipynb with --assignment): each
        notebook runs in its own bubblewrap sandbox (coursework.sandbox) and its answers are checked
        outside it (coursework.grading). One row per student: ``student``, a column per question
        ``NAME:qN``, ``total``, ``possible`` (the same for every row) and ``message``; one
        Markdown feedback file per student and assignment in --feedback (default: next to the CSV).
    measure [--build DIR] [--out JSON]
        Grades every solution notebook and records wall and CPU times, for the instructor guide.

The default build folder is ``coursework/_build`` (git-ignored). The graded cases live in
``coursework/cases/`` and never leave the instructor's copy of the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coursework import gradebook
from coursework.cases import load
from coursework.grading import grade_notebook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MASTERS = HERE / "masters"
DEFAULT_BUILD = HERE / "_build"
DEFAULT_TIMEOUT = 300.0
TORCH_PIN = "torch==2.13.0"

__all__ = ["assignments", "build", "grade", "measure", "main"]


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


def build(
    out: str | Path = DEFAULT_BUILD,
    only: list[str] | None = None,
    *,
    jobs: int = 1,
    wheel: bool = True,
    run_public_tests: bool = True,
) -> dict[str, Any]:
    """Generate the student notebooks (and the student's wheel); returns the manifest.

    Raises ``RuntimeError`` (with otter's output) when a public test fails against the solutions
    (``run_public_tests=False`` skips that run of every solution notebook), or when a master's
    questions differ from its graded cases'.
    """
    out = Path(out).resolve()
    names = only or assignments()
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        raise ValueError(f"unknown assignment(s) {unknown}; choose from {assignments()}")
    for sub in ("student", "solutions"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        built = dict(
            zip(
                names,
                pool.map(lambda name: _build_one(out, name, run_public_tests), names),
                strict=True,
            )
        )
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.update(built)
    manifest = {k: manifest[k] for k in sorted(manifest)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    if wheel:
        _student_wheel(out / "student")
    return manifest


def _build_one(out: Path, name: str, run_public_tests: bool = True) -> dict[str, Any]:
    cases = load(name)
    master_text = (MASTERS / f"{name}.md").read_text()
    in_master = re.findall(r"^name: (q\d+)$", master_text, flags=re.M)
    if in_master != list(cases.QUESTIONS):
        raise RuntimeError(
            f"{name}: master questions {in_master} != graded cases' {list(cases.QUESTIONS)}"
        )
    work = out / "work" / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    master = work / f"{name}.ipynb"
    _run([_bin("jupytext"), "--to", "ipynb", "-q", str(MASTERS / f"{name}.md"), "-o", str(master)])
    if not run_public_tests:
        master.write_text(master.read_text().replace("run_tests: true", "run_tests: false"))
    _run([_bin("otter"), "assign", "--no-pdfs", str(master), str(work / "dist")], cwd=work)
    dist = work / "dist"
    shutil.copy(dist / "student" / f"{name}.ipynb", out / "student" / f"{name}.ipynb")
    shutil.copy(dist / "autograder" / f"{name}.ipynb", out / "solutions" / f"{name}.ipynb")
    shutil.rmtree(work, ignore_errors=True)  # otter's archive: not used for grading
    questions = dict(cases.QUESTIONS)
    return {
        "questions": questions,
        "possible": sum(questions.values()),
        "written": dict(cases.WRITTEN),
        "cases": len(cases.CASES),
    }


def _student_wheel(student: Path) -> Path:
    """A wheel of ``wganlib`` alone (built from a copy: no masters, no cases) + requirements.txt."""
    for old in student.glob("wganlib-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="coursework_wheel_") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copytree(
            ROOT / "wganlib", src / "wganlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, src / name)
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(student),
                str(src),
            ]
        )
    wheel = next(student.glob("wganlib-*.whl"))
    (student / "requirements.txt").write_text(
        "# The students' set-up: python -m pip install -r requirements.txt, then `jupyter lab`.\n"
        "# PyTorch for the CPU: add --extra-index-url https://download.pytorch.org/whl/cpu\n"
        f"{TORCH_PIN}\n./{wheel.name}\njupyterlab>=4\notter-grader>=7,<8\n"
    )
    return wheel


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )


def _manifest(build_dir: Path) -> dict[str, Any]:
    path = Path(build_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `python -m coursework build` first")
    return json.loads(path.read_text())


def grade(
    submissions: str | Path,
    out: str | Path,
    *,
    build_dir: str | Path = DEFAULT_BUILD,
    assignment: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = 1,
    feedback: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Grade a folder of submissions into a CSV table (one row per student); returns the rows."""
    manifest = _manifest(Path(build_dir))
    return gradebook.grade(
        submissions,
        out,
        manifest=manifest,
        assignment=assignment,
        timeout=timeout,
        jobs=jobs,
        feedback=feedback,
        hide=[Path(build_dir), MASTERS],
    )


def measure(build_dir: str | Path = DEFAULT_BUILD, out: str | Path | None = None) -> dict[str, Any]:
    """Time the grading of each solution notebook (sandbox start, every cell, every case)."""
    build_dir = Path(build_dir)
    manifest = _manifest(build_dir)
    timings, load_before = {}, os.getloadavg()[0]
    for name in manifest:
        res = grade_notebook(build_dir / "solutions" / f"{name}.ipynb", name, timeout=1800)
        cpu = res["sandbox_cpu_s"] or float("nan")  # reported by the worker (bwrap's init reaps it)
        score = sum(res["scores"].values())
        timings[name] = {
            "wall_s": round(res["seconds"], 2),
            "cpu_s": round(cpu, 2),
            "score": score,
            "possible": manifest[name]["possible"],
            "questions": manifest[name]["questions"],
            "written": manifest[name].get("written", {}),
        }
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    record = {
        "command": "python -m coursework measure",
        "git_commit": commit.stdout.strip() or "unknown",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "note": "grading one solution notebook: start the sandbox, run every cell, run every case "
        "there, check every case outside; CPU time counts the sandbox, wall time grows with load",
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
    p = sub.add_parser("build", help="student notebooks + wheel, solutions, manifest")
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
    p.add_argument(
        "--feedback", default=None, help="folder of feedback files (default: OUT_feedback)"
    )
    p = sub.add_parser("measure", help="time each assignment's solution run (JSON)")
    p.add_argument("--build", default=str(DEFAULT_BUILD))
    p.add_argument("--out", default=str(ROOT / "data" / "results" / "coursework_timings.json"))
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            manifest = build(args.out, args.only, jobs=args.jobs)
            for name, m in manifest.items():
                print(
                    f"{name}: {len(m['questions'])} questions, {m['possible']:g} points autograded"
                )
            print(
                f"hand out {Path(args.out) / 'student'}; keep {Path(args.out) / 'solutions'} private"
            )
        elif args.command == "grade":
            table = grade(
                args.submissions,
                args.out,
                build_dir=args.build,
                assignment=args.assignment,
                timeout=args.timeout,
                jobs=args.jobs,
                feedback=args.feedback,
            )
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
