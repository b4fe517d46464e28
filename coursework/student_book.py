"""The student edition of the book: the same HTML with every exercise solution left out.

``python -m coursework.student_book [--root .] [--out _build/student]`` builds the book with a
copy of ``_config.yml`` that loads this module as a Sphinx extension; the HTML lands in
``OUT/_build/html``. The execution cache is the main build's (``ROOT/_build/.jupyter_cache``),
so chapters already executed for ``make book`` are not executed again.

Why not sphinx-exercise's ``hide_solutions: True``: it drops the ``{solution-start}`` directive
but leaves the content between ``{solution-start}`` and ``{solution-end}`` (the gated solutions the
book uses) in the page. This extension removes whole solution nodes after sphinx-exercise has
merged each gated solution into one node, so nothing of a solution is left.

Also left out: the instructor pages (``INSTRUCTOR_PAGES``, dropped from a copy of ``_toc.yml``)
and the page sources (``html_copy_source: False``: no ``_sources/`` folder, whose Markdown would
hold every solution, and no "download source" link to it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from sphinx.transforms import SphinxTransform

__all__ = ["INSTRUCTOR_PAGES", "RemoveSolutions", "build_student_book", "setup", "student_toc"]

INSTRUCTOR_PAGES = ("book/instructors",)


def student_toc(toc: dict, drop: tuple[str, ...] = INSTRUCTOR_PAGES) -> dict:
    """A copy of a jb-book table of contents without the ``drop`` pages (and emptied parts)."""

    def keep(entries):
        out = []
        for entry in entries:
            if entry.get("file") in drop:
                continue
            entry = dict(entry)
            for key in ("sections", "chapters"):
                if key in entry:
                    entry[key] = keep(entry[key])
            out.append(entry)
        return out

    toc = dict(toc)
    if toc.get("root") in drop:
        raise ValueError(f"the book's root page {toc['root']!r} is an instructor page")
    if "parts" in toc:
        parts = [dict(p, chapters=keep(p.get("chapters", []))) for p in toc["parts"]]
        toc["parts"] = [p for p in parts if p["chapters"]]
        if not toc["parts"]:
            del toc["parts"]
    for key in ("chapters", "sections"):
        if key in toc:
            toc[key] = keep(toc[key])
    return toc


class RemoveSolutions(SphinxTransform):
    """Delete every sphinx-exercise solution (gated ones merged first, priority 10)."""

    default_priority = 20

    def apply(self) -> None:
        from sphinx_exercise.nodes import solution_end_node, solution_node, solution_start_node

        kinds = (solution_node, solution_start_node, solution_end_node)
        for node in list(self.document.findall(lambda n: isinstance(n, kinds))):
            node.parent.remove(node)
        for section in list(self.document.findall(nodes.section)):
            if "solution-content" in section["ids"] and section.parent is not None:
                section.parent.remove(section)


def setup(app):
    app.setup_extension("sphinx_exercise")
    app.add_transform(RemoveSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def build_student_book(root: str | Path = ".", out: str | Path | None = None) -> Path:
    """Build the student edition of the book at ``root``; returns the HTML folder."""
    import yaml

    root = Path(root).resolve()
    out = (root / "_build" / "student") if out is None else Path(out).resolve()
    config_path = root / "_config.yml"
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path} not found: pass the book's root folder")
    config = yaml.safe_load(config_path.read_text()) or {}
    config["title"] = f"{config.get('title', 'Book')} (student edition)"
    execute = config.setdefault("execute", {})
    execute.setdefault("cache", str(root / "_build" / ".jupyter_cache"))
    sphinx = config.setdefault("sphinx", {})
    local = sphinx.get("local_extensions") or {}
    for name, path in local.items():  # relative to the book root: make them absolute
        local[name] = str((root / path).resolve())
    local["student_book"] = str(Path(__file__).resolve().parent)
    sphinx["local_extensions"] = local
    sphinx_config = sphinx.setdefault("config", {}) or {}
    sphinx["config"] = sphinx_config
    sphinx_config["html_copy_source"] = False  # _sources/*.md would hold the solutions
    sphinx_config["html_show_sourcelink"] = False
    out.mkdir(parents=True, exist_ok=True)
    student_config = out / "_config_student.yml"
    student_config.write_text(yaml.safe_dump(config, sort_keys=False))
    toc_path = root / "_toc.yml"
    toc = student_toc(yaml.safe_load(toc_path.read_text()))
    student_toc_path = out / "_toc_student.yml"
    student_toc_path.write_text(yaml.safe_dump(toc, sort_keys=False))
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [
        str(exe) if exe.exists() else "jupyter-book",
        "build",
        str(root),
        "--config",
        str(student_config),
        "--toc",
        str(student_toc_path),
        "--path-output",
        str(out),
        "-W",
        "--keep-going",
    ]
    subprocess.run(cmd, check=True)
    return out / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursework.student_book", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", default=".", help="the book's root folder (with _config.yml)")
    parser.add_argument("--out", default=None, help="output folder (default ROOT/_build/student)")
    args = parser.parse_args(argv)
    html = build_student_book(args.root, args.out)
    print(f"student edition: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
