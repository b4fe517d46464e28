"""The autograded coursework: build, then grade solutions, blanks, sample mistakes and attacks.

One module-scoped build and one grading pass (two notebooks at a time, each in its own bubblewrap
sandbox) are shared by the tests below; a GIL-holding loop is graded at the same time with a short
time limit. The sample mistakes (``coursework/samples``) are packed several to a notebook where they
edit different questions, and each must cost points only in its own question.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the coursework/ package

pytest.importorskip("otter", reason="otter-grader is installed with the test extra")
if shutil.which("bwrap") is None:
    pytest.fail("bubblewrap is not installed: `make bubblewrap` (grading needs its sandbox)")

from coursework.cases import load  # noqa: E402
from coursework.cli import assignments, build, grade, main  # noqa: E402
from coursework.submissions import group_samples, load_sample, make_submission, samples  # noqa: E402

pytestmark = pytest.mark.slow
LOOP_TIMEOUT = 25.0  # seconds, for the GIL-holding loop only
A1 = "a1_parallel_lines"

ATTACK = r"""
import json, os, socket, sys, math
import torch
findings = {}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    findings["net"] = "open"
except OSError:
    findings["net"] = "blocked"
for i, target in enumerate(TARGETS):
    findings[f"seen{i}"] = os.path.exists(target)
    try:
        with open(target, "a") as f:
            f.write("tampered")
        findings[f"wrote{i}"] = True
    except OSError:
        findings[f"wrote{i}"] = False
findings["pids"] = len([p for p in os.listdir("/proc") if p.isdigit()])
# the comparisons, the checks and the runner, replaced in this process
torch.allclose = torch.equal = lambda *a, **k: True
math.isclose = lambda *a, **k: True
import coursework.cases as _cases
_cases.need = _cases.close = lambda *a, **k: None
for _name in list(sys.modules):
    if _name.startswith("coursework.cases."):
        for _case in sys.modules[_name].CASES:
            object.__setattr__(_case, "check", lambda got: None)
# forged verdicts in the results file
with open("/grading/scratch/results.jsonl", "a") as f:
    for key in ("q1:negative theta", "q2:uniform second coordinate", "q3:a translation by (3, 4) (public)"):
        f.write(json.dumps({"case": key, "passed": True, "points": 100, "value": None}) + "\n")
    f.write(json.dumps({"scores": {"q1": 3, "q2": 2, "q3": 3, "q4": 2}, "total": 10}) + "\n")
raise RuntimeError("FINDINGS " + json.dumps(findings, separators=(",", ":")))
"""


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _add_cell(nb_path: Path, source: str, out: Path) -> None:
    nb = json.loads(nb_path.read_text())
    nb["cells"].append(
        {
            "cell_type": "code",
            "metadata": {},
            "source": source,
            "outputs": [],
            "execution_count": None,
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("coursework_build")
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_DATA_DIR", str(tmp_path_factory.mktemp("jupyter_data")))
    start = time.perf_counter()
    manifest = build(out, jobs=2, run_public_tests=False)  # the graded cases check the solutions
    print(f"\nbuild: {time.perf_counter() - start:.1f} s")
    yield out, manifest
    mp.undo()


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory):
    """Solutions, blanks, packed samples, attacks, a misnamed file; the loop on its own."""
    out, _ = built
    subs = tmp_path_factory.mktemp("submissions")
    loops = tmp_path_factory.mktemp("submissions_loop")
    for name in assignments():
        for who, folder in (("solution", "solutions"), ("blank", "student")):
            (subs / who).mkdir(exist_ok=True)
            shutil.copy(out / folder / f"{name}.ipynb", subs / who / f"{name}.ipynb")
    groups = {}
    for group in group_samples(samples()):
        spec = load_sample(group[0])
        student = "sample_" + "+".join(p.stem for p in group)
        where = loops if spec["loses"].startswith("all") else subs
        make_submission(
            out / "solutions" / f"{spec['assignment']}.ipynb",
            group,
            where / student / f"{spec['assignment']}.ipynb",
        )
        groups[student] = group
    csv_path = subs.parent / "scores.csv"
    targets = [
        out / "manifest.json",
        out / "solutions" / f"{A1}.ipynb",
        subs / "blank" / f"{A1}.ipynb",
        csv_path,
        Path(__file__).resolve().parents[1] / "coursework" / "cases" / f"{A1}.py",
        Path("/grading/lib/coursework/cases") / f"{A1}.py",
    ]
    _add_cell(
        out / "student" / f"{A1}.ipynb",
        f"TARGETS = {[str(t) for t in targets]!r}\n" + ATTACK,
        subs / "attacker" / f"{A1}.ipynb",
    )
    (subs / "copycat").mkdir()
    shutil.copy(out / "solutions" / f"{A1}.ipynb", subs / "copycat" / f"{A1} (1).ipynb")
    (subs / "copycat" / "notes.txt").write_text("my notes")
    before = {**_digest(out), **_digest(subs)}
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        loop_start = time.perf_counter()
        loop_rows = pool.submit(
            lambda: (
                grade(loops, loops.parent / "loop.csv", build_dir=out, timeout=LOOP_TIMEOUT),
                time.perf_counter() - loop_start,
            )
        )
        table = grade(subs, csv_path, build_dir=out, timeout=1800, jobs=2)
        loop_table, loop_seconds = loop_rows.result()
    print(f"grading {len(table)} students + loop: {time.perf_counter() - start:.1f} s")
    after = {**_digest(out), **{k: v for k, v in _digest(subs).items()}}
    feedback = json.loads((subs.parent / "scores_feedback" / "cases.json").read_text())
    return {
        "rows": {row["student"]: row for row in table + loop_table},
        "csv": csv_path,
        "groups": groups,
        "feedback": feedback,
        "feedback_dir": subs.parent / "scores_feedback",
        "before": before,
        "after": after,
        "loop_seconds": loop_seconds,
        "targets": targets,
    }


def test_manifest_questions_points_and_written_questions(built):
    _, manifest = built
    names = assignments()
    assert len(names) >= 4 and set(manifest) == set(names)
    for name, m in manifest.items():
        cases = load(name)
        assert (
            m["questions"] == cases.QUESTIONS
            and m["possible"] == sum(cases.QUESTIONS.values()) == 10
        )
        assert m["written"], f"{name} has a written question"
        public = [c for c in cases.CASES if c.public]
        assert {c.question for c in public} == set(cases.QUESTIONS), (
            "a public smoke case per question"
        )
        assert all(c.points <= 0.5 for c in public), "public smoke cases are worth little"


def test_what_students_get_holds_no_solution_and_no_graded_case(built):
    out, manifest = built
    student = out / "student"
    secrets = ["BEGIN SOLUTION", "# SOLUTION", "HIDDEN", "coursework.cases", "_ref_"]
    for name in manifest:
        answering = {*load(name).CHECKED_NAMES, "library_penalty", "library_interpolates"}
        nb = json.loads((student / f"{name}.ipynb").read_text())
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        text = json.dumps(nb)
        assert not any(s in text for s in secrets) and "..." in code
        imports = [ln for ln in code.splitlines() if ln.startswith(("import ", "from "))]
        assert not [ln for ln in imports if any(a in ln for a in answering)], imports
        for case in load(name).CASES:
            assert case.name not in text or case.public
    wheel = next(student.glob("wganlib-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        assert all(n.startswith(("wganlib/", "wganlib-")) for n in zf.namelist())
        blob = b"".join(zf.read(n) for n in zf.namelist() if n.endswith(".py"))
    assert b"BEGIN SOLUTION" not in blob and b"CASES = [" not in blob and b"HIDDEN" not in blob
    assert sorted(p.name for p in student.iterdir()) == sorted(
        [f"{a}.ipynb" for a in manifest] + ["requirements.txt", wheel.name]
    )
    requirements = (student / "requirements.txt").read_text()
    assert (
        "jupyterlab" in requirements
        and "torch==2.13.0" in requirements
        and wheel.name in requirements
    )


def test_solutions_score_full_marks(graded, built):
    _, manifest = built
    row = graded["rows"]["solution"]
    assert row["total"] == row["possible"] == sum(m["possible"] for m in manifest.values())
    assert row["message"] == ""


def test_unedited_student_notebook_scores_zero_everywhere(graded, built):
    _, manifest = built
    row = graded["rows"]["blank"]
    for name, m in manifest.items():
        for q in m["questions"]:
            assert row[f"{name}:{q}"] == 0.0, f"{name}:{q} gives points for a do-nothing answer"
    assert row["total"] == 0.0 and row["possible"] == 40


@pytest.mark.parametrize("sample", [p.stem for p in samples() if "regex" not in p.stem])
def test_each_mistake_is_caught_and_costs_only_its_question(graded, built, sample):
    _, manifest = built
    student = next(s for s, g in graded["groups"].items() if sample in [p.stem for p in g])
    spec = load_sample(next(p for p in samples() if p.stem == sample))
    a, row = spec["assignment"], graded["rows"][student]
    verdicts = {f"{v['question']}:{v['case']}": v for v in graded["feedback"][f"{student}/{a}"]}
    for key in spec["fails"]:
        assert key in verdicts and not verdicts[key]["passed"], f"{sample}: case {key} must fail"
    lost = {q for p in graded["groups"][student] for q in load_sample(p)["loses"].split()}
    for q, points in manifest[a]["questions"].items():
        if q in lost and spec["loses"] != "none":
            assert row[f"{a}:{q}"] < points
        elif q not in lost:
            assert row[f"{a}:{q}"] == points, f"{a}:{q}: a mistake elsewhere costs points here"


def test_gil_holding_loop_is_killed_at_the_limit(graded, built):
    _, manifest = built
    row = graded["rows"]["sample_a1_catastrophic_regex"]
    assert "timed out after" in row["message"]
    assert row["total"] < manifest[A1]["possible"]
    assert graded["loop_seconds"] < LOOP_TIMEOUT + 30  # killed at the limit, not after the loop


def test_raising_cell_is_reported_with_its_number(graded):
    student = next(s for s in graded["rows"] if "a1_raises" in s)
    msg = graded["rows"][student]["message"]
    assert "RuntimeError: not finished yet" in msg and "'distances' is not defined" in msg
    assert "cell " in msg


def test_tampering_changes_no_score_and_no_file(graded):
    rows = graded["rows"]
    assert rows["attacker"][f"{A1}:q1"] == 0.0 and rows["attacker"]["total"] == 0.0
    assert rows["solution"]["total"] == 40 and rows["blank"]["total"] == 0.0
    msg = rows["attacker"]["message"]
    findings = json.loads(msg.split("FINDINGS ", 1)[1].split(" | ")[0].split(";")[0])
    assert findings["net"] == "blocked" and findings["pids"] <= 3
    for i in range(len(graded["targets"]) - 1):  # none of the instructor's files is even visible
        assert findings[f"seen{i}"] is False and findings[f"wrote{i}"] is False
    last = len(graded["targets"]) - 1  # the sandbox's own read-only copy of the cases
    assert findings[f"seen{last}"] is True and findings[f"wrote{last}"] is False
    changed = [k for k in graded["before"] if graded["after"].get(k) != graded["before"][k]]
    assert changed == [], changed


def test_table_feedback_and_unrecognised_files(graded, built):
    _, manifest = built
    with graded["csv"].open() as f:
        table = list(csv.DictReader(f))
    columns = [f"{a}:{q}" for a, m in manifest.items() for q in m["questions"]]
    assert list(table[0]) == ["student", *columns, "total", "possible", "message"]
    assert {r["possible"] for r in table} == {"40.0"}, (
        "possible does not depend on what was submitted"
    )
    copycat = graded["rows"]["copycat"]
    assert (
        copycat[f"{A1}:q1"] == 3.0 and "graded 'a1_parallel_lines (1).ipynb'" in copycat["message"]
    )
    assert (
        "'notes.txt'" in copycat["message"]
        and "a2_wgan_clipping: no submission" in copycat["message"]
    )
    text = (graded["feedback_dir"] / "blank" / f"{A1}.md").read_text()
    assert "0 / 10" in text and "| q1 | theta = 0.5 (public) | public | 0 / 0.5 | failed |" in text
    assert "expected" in text and "W1 (5 points)" in text
    solution = (graded["feedback_dir"] / "solution" / "a3_gradient_penalty.md").read_text()
    assert "10 / 10" in solution and "failed" not in solution


def test_grade_errors_are_clear(built, tmp_path, capsys):
    out, _ = built
    args = ["--out", str(tmp_path / "s.csv"), "--build", str(out)]
    assert main(["grade", str(tmp_path / "missing"), *args]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty"), *args]) == 1
    assert "no submissions" in capsys.readouterr().err
    assert (
        main(["grade", str(tmp_path), "--out", "x.csv", "--build", str(tmp_path / "nobuild")]) == 1
    )
    assert "coursework build" in capsys.readouterr().err


def test_unreadable_notebook_scores_zero_with_message(built, tmp_path):
    out, _ = built
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "eve.ipynb").write_text("{ not json")
    table = grade(tmp_path / "subs", tmp_path / "s.csv", build_dir=out, assignment=A1)
    assert table[0]["total"] == 0.0 and "not a readable notebook" in table[0]["message"]
    assert table[0]["possible"] == 10.0
