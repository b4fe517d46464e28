"""The student edition of the book: no solution text, no instructor page, in any built file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the coursework/ package

pytest.importorskip("sphinx_exercise")

pytestmark = pytest.mark.slow

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

INSTRUCTOR_PAGE = """# For instructors

The model answer is GUIDESECRET.
"""


def test_student_book_leaves_out_solutions_sources_and_instructor_pages(tmp_path):
    from coursework.student_book import build_student_book

    (tmp_path / "_config.yml").write_text(
        "title: Tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: 'off'\n"
        "sphinx:\n  extra_extensions:\n    - sphinx_exercise\n"
    )
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Teaching\n    chapters:\n"
        "      - file: book/instructors\n"
    )
    (tmp_path / "intro.md").write_text(TINY_PAGE)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "instructors.md").write_text(INSTRUCTOR_PAGE)
    html = build_student_book(tmp_path)
    page = (html / "intro.html").read_text()
    assert "What is 2 + 2?" in page and "VISIBLETAIL" in page and "student edition" in page
    files = [p for p in html.rglob("*") if p.is_file()]
    assert len(files) > 10 and not (html / "_sources").exists()
    assert not (html / "book" / "instructors.html").exists()
    for path in files:  # every file of the site: pages, search index, sources, assets
        blob = path.read_bytes()
        for secret in (b"SECRETFOUR", b"PLAINSECRET", b"GUIDESECRET", b"For instructors"):
            assert secret not in blob, f"{secret!r} in {path.relative_to(html)}"
