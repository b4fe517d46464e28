"""The book build: a failing cell fails it, and the real build holds every chapter, offline.

``make test`` builds the book (``make book``) before pytest runs, so the second group of tests
reads the real build: ``$WGANBOOK_HTML`` if set, else ``_build/html``; the chapters expected are
those of ``$WGANBOOK_TOC`` if set, else ``_toc.yml``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("WGANBOOK_HTML", REPO_ROOT / "_build" / "html"))
TOC = Path(os.environ.get("WGANBOOK_TOC", REPO_ROOT / "_toc.yml"))
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

Some maths, $W(P_0, P_\\theta) = |\\theta|$.

```{{code-cell}} ipython3
x = {value}
1 / x
```
"""


def _make_book(root: Path, value: str, **sphinx_config) -> None:
    """A two-page book with the repository's configuration and one code cell computing 1/value."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    config.setdefault("sphinx", {}).setdefault("config", {}).update(sphinx_config)
    local = (config.get("sphinx") or {}).get("local_extensions") or {}
    config.setdefault("sphinx", {})["local_extensions"] = {
        name: str(REPO_ROOT / path) for name, path in local.items()
    }
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n- file: book/ch\n"
    )
    (root / "book" / "intro.md").write_text("# Intro\n\nA test book.\n")
    (root / "book" / "ch.md").write_text(CHAPTER.format(value=value))
    for bib in config.get("bibtex_bibfiles", []):
        (root / bib).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / bib, root / bib)


def _build(root: Path) -> subprocess.CompletedProcess:
    exe = JUPYTER_BOOK if JUPYTER_BOOK.is_file() else shutil.which("jupyter-book")
    if exe is None:
        pytest.fail("jupyter-book is not installed: run `make env` (or pip install -e '.[book]')")
    # the flags of `make book`
    return subprocess.run(
        [str(exe), "build", "--warningiserror", "--keep-going", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )


@pytest.mark.slow
def test_a_failing_cell_fails_the_build(tmp_path):
    bad, good = tmp_path / "bad", tmp_path / "good"
    _make_book(bad, "0")  # 1 / 0 raises ZeroDivisionError
    _make_book(good, "4")  # the same book with a cell that runs
    failed = _build(bad)
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0, f"a failing cell did not fail the build:\n{log[-3000:]}"
    assert "ZeroDivisionError" in log
    # the control: the only difference is the failing cell
    passed = _build(good)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    page = (good / "_build" / "html" / "book" / "ch.html").read_text()
    assert "0.25" in page  # the cell ran and its output is in the page


@pytest.mark.slow
def test_a_script_from_another_host_fails_the_build(tmp_path):
    """book/_ext/offline_assets.py turns a CDN script into a warning, an error under -W."""
    _make_book(tmp_path, "4", html_js_files=["https://cdn.example.org/tracker.js"])
    result = _build(tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert "offline_assets" in log and "cdn.example.org" in log


# ----------------------------------------------------------------------------- the real build


def _toc_files(node) -> list[str]:
    """Every ``file`` (and the ``root``) named in a jb-book table of contents."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file"):
                found.append(str(value))
            else:
                found.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_toc_files(item))
    return found


@pytest.fixture(scope="module")
def built_pages() -> dict[str, str]:
    if not (HTML_DIR / "index.html").is_file():
        pytest.fail(f"no built book at {HTML_DIR}: run `make book` first (or set WGANBOOK_HTML)")
    files = _toc_files(yaml.safe_load(TOC.read_text()))
    pages = {}
    for name in files:
        stem = re.sub(r"\.(md|ipynb)$", "", name)
        path = HTML_DIR / f"{stem}.html"
        assert path.is_file(), f"{name} is in {TOC.name} but {path} was not built"
        pages[stem] = path.read_text(encoding="utf-8")
    return pages


def test_every_toc_entry_is_built(built_pages):
    assert "book/intro" in built_pages and len(built_pages) >= 2
    for name, page in built_pages.items():
        assert "<h1" in page, f"{name} has no title"


def test_built_chapters_show_no_errors_or_unresolved_glue(built_pages):
    for name, page in built_pages.items():
        assert "Traceback (most recent call last)" not in page, f"{name} shows a traceback"
        assert 'class="output traceback' not in page, f"{name} shows an error output"
        assert "{glue:" not in page and "{glue}" not in page, f"{name} has unresolved glue"


def test_built_pages_load_nothing_from_another_host(built_pages):
    assert (HTML_DIR / "_mathjax" / "tex-mml-chtml.js").is_file(), "MathJax is not in the build"
    remote = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//")
    for html_file in HTML_DIR.rglob("*.html"):
        text = html_file.read_text(encoding="utf-8")
        tags = [m.group(0) for m in remote.finditer(text)]
        tags = [t for t in tags if not t.startswith("<link") or "stylesheet" in t or "preload" in t]
        assert tags == [], f"{html_file.relative_to(HTML_DIR)} loads from another host: {tags}"
    for stem, page in built_pages.items():
        if 'class="math' in page:
            assert "_mathjax/tex-mml-chtml.js" in page, f"{stem} does not use the local MathJax"
