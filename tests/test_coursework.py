"""The autograded coursework: build every assignment with otter, grade sample submissions.

One module-scoped build (``otter assign`` checks every test against the solutions) and one
grading pass over all sample submissions (two at a time) are shared by the tests below.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the coursework/ package

pytest.importorskip("otter", reason="otter-grader is installed with the test extra")

from coursework.cli import assignments, build, grade, main  # noqa: E402
from coursework.submissions import load_sample, make_submission, samples  # noqa: E402

pytestmark = pytest.mark.slow
LOOP_TIMEOUT = 20.0  # seconds, for the endless loop only


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("coursework_build")
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_DATA_DIR", str(tmp_path_factory.mktemp("jupyter_data")))
    manifest = build(out, jobs=2)
    yield out, manifest
    mp.undo()


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory):
    """Every sample submission, every solution and every unedited student notebook, graded.

    The endless loop is graded on its own with a short time limit, at the same time as the rest
    (which get a generous limit: a loaded machine may be slow).
    """
    out, _ = built
    subs = tmp_path_factory.mktemp("submissions")
    loops = tmp_path_factory.mktemp("submissions_loop")
    for name in assignments():
        for who, folder in (("solution", "solutions"), ("blank", "student")):
            (subs / who).mkdir(exist_ok=True)
            shutil.copy(out / folder / f"{name}.ipynb", subs / who / f"{name}.ipynb")
    for path in samples():
        spec = load_sample(path)
        a, where = spec["assignment"], loops if spec["loses"].startswith("all") else subs
        make_submission(out / "solutions" / f"{a}.ipynb", path, where / path.stem / f"{a}.ipynb")
    with ThreadPoolExecutor(max_workers=1) as pool:
        loop_rows = pool.submit(
            grade, loops, loops.parent / "loop.csv", build_dir=out, timeout=LOOP_TIMEOUT
        )
        csv_path = subs.parent / "scores.csv"
        table = grade(subs, csv_path, build_dir=out, timeout=600, jobs=2)
        table += loop_rows.result()
    return {row["student"]: row for row in table}, csv_path


def test_at_least_four_assignments_in_book_order(built):
    _, manifest = built
    names = assignments()
    assert len(names) >= 4 and names == sorted(names) and set(manifest) == set(names)
    for m in manifest.values():
        assert len(m["questions"]) >= 3 and m["possible"] == sum(m["questions"].values()) > 0


def test_student_edition_has_no_solutions_and_no_hidden_tests(built):
    out, manifest = built
    for name in manifest:
        student = json.loads((out / "student" / f"{name}.ipynb").read_text())
        code = "\n".join("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code")
        meta = json.dumps(student["metadata"])
        assert "BEGIN SOLUTION" not in code and "# SOLUTION" not in code and "..." in code
        assert '"hidden": true' not in meta and "# HIDDEN" not in code + meta
        with zipfile.ZipFile(out / "autograder" / f"{name}.zip") as zf:
            tests = [zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/")]
        hidden = [t for t in tests if "'hidden': True" in t]
        assert hidden, f"{name}: the autograder has hidden tests"
        for q in manifest[name]["questions"]:  # every question's public test reaches the student
            assert f'grader.check(\\"{q}\\")' in json.dumps(student["cells"])


def test_solutions_score_full_marks(graded, built):
    rows, _ = graded
    _, manifest = built
    row = rows["solution"]
    assert row["total"] == row["possible"] == sum(m["possible"] for m in manifest.values())
    assert row["message"] == ""


def test_unedited_student_notebook_scores_zero_everywhere(graded, built):
    rows, _ = graded
    _, manifest = built
    row = rows["blank"]
    for name, m in manifest.items():
        for q in m["questions"]:
            assert row[f"{name}:{q}"] == 0.0, f"{name}:{q} gives points for a do-nothing answer"
    assert row["total"] == 0.0 and row["possible"] > 0


@pytest.mark.parametrize("sample", [p.stem for p in samples()])
def test_wrong_answers_lose_their_question(graded, built, sample):
    rows, _ = graded
    _, manifest = built
    spec = load_sample(next(p for p in samples() if p.stem == sample))
    a, loses, row = spec["assignment"], spec["loses"].split()[0], rows[sample]
    questions = manifest[a]["questions"]
    if loses == "all":  # the endless loop: killed at the time limit, others still graded
        assert all(row[f"{a}:{q}"] == 0.0 for q in questions)
        assert "timed out" in row["message"]
    elif loses == "none":  # a deleted test cell: graded from the autograder's own tests
        assert row["total"] == manifest[a]["possible"]
        assert "removed" in row["message"]
    else:
        assert row[f"{a}:{loses}"] == 0.0 and f"{loses}:" in row["message"]
        others = [q for q in questions if q != loses]
        assert any(row[f"{a}:{q}"] == questions[q] for q in others), "the rest is still graded"
        assert row["total"] < manifest[a]["possible"]


def test_raising_cell_is_reported(graded):
    rows, _ = graded
    assert "RuntimeError: not finished yet" in rows["a1_raises"]["message"]
    assert "NameError: name 'distances' is not defined" in rows["a1_raises"]["message"]


def test_scores_table_one_row_per_student(graded, built):
    rows, csv_path = graded
    _, manifest = built
    with csv_path.open() as f:
        table = list(csv.DictReader(f))
    assert [r["student"] for r in table] == sorted(s for s in rows if "loop" not in s)
    columns = [f"{a}:{q}" for a, m in manifest.items() for q in m["questions"]]
    assert list(table[0]) == ["student", *columns, "total", "possible", "message"]


def test_grade_errors_are_clear(built, tmp_path, capsys):
    out, _ = built
    assert (
        main(
            [
                "grade",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path / "s.csv"),
                "--build",
                str(out),
            ]
        )
        == 1
    )
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert (
        main(
            [
                "grade",
                str(tmp_path / "empty"),
                "--out",
                str(tmp_path / "s.csv"),
                "--build",
                str(out),
            ]
        )
        == 1
    )
    assert "no submissions" in capsys.readouterr().err
    assert (
        main(["grade", str(tmp_path), "--out", "x.csv", "--build", str(tmp_path / "nobuild")]) == 1
    )
    assert "coursework build" in capsys.readouterr().err


def test_unreadable_notebook_scores_zero_with_message(built, tmp_path):
    out, manifest = built
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "eve.ipynb").write_text("{ not json")
    table = grade(tmp_path / "subs", tmp_path / "s.csv", build_dir=out, assignment=assignments()[0])
    assert table[0]["total"] == 0.0 and "not a readable notebook" in table[0]["message"]


TINY_PAGE = """# Tiny

```{exercise} Add two numbers
:label: ex-add

What is 2 + 2?
```

```{solution-start} ex-add
:class: dropdown
```

The gated answer is SECRETFOUR.

```{solution-end}
```

```{solution} ex-add
:label: sol-plain

PLAINSECRET
```

After the solutions: VISIBLETAIL.
"""


def test_student_book_leaves_solutions_out(tmp_path):
    from coursework.student_book import build_student_book

    (tmp_path / "_config.yml").write_text(
        "title: Tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: 'off'\n"
        "sphinx:\n  extra_extensions:\n    - sphinx_exercise\n"
    )
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "intro.md").write_text(TINY_PAGE)
    html = (build_student_book(tmp_path) / "intro.html").read_text()
    assert "What is 2 + 2?" in html and "VISIBLETAIL" in html and "student edition" in html
    assert "SECRETFOUR" not in html and "PLAINSECRET" not in html
