"""Sphinx extension: make the built HTML work with no network.

What it does, at build time:

* copies MathJax 3 (the ES5 components) from the installed ``mathjax`` package of
  ``django-static-mathjax`` into ``<html>/_mathjax/`` and points Sphinx's ``mathjax_path`` at it
  (a relative URL: Sphinx makes it relative to each page, whatever its depth). Only what pages
  use is copied: the ``tex-mml-chtml`` combined component, the TeX/MathML/AsciiMath inputs and
  their extensions, CommonHTML output with its web fonts, the menu and the accessibility
  components with English speech rules and Nemeth braille. The folder is not ``_static``:
  Jupyter Book adds every ``.js`` found in a static path to every page.
* leaves out sphinx-thebe's loader when thebe is off (it names a CDN URL and does nothing).
* empties myst-nb's ``nb_ipywidgets_js`` (require.js and the widget manager from CDNs): the book
  shows no ipywidgets in HTML; its sliders are self-contained (see ``wganlib.widgets``).
* warns (an error under ``-W``) when a page would load a script or stylesheet from another host.

Nothing third-party is committed to the repository: the files come from the installed package.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Output folder (under the HTML root) that receives MathJax.
MATHJAX_DIR = "_mathjax"
#: The combined component pages load; it pulls the rest from its own folder on demand.
MATHJAX_ENTRY = "tex-mml-chtml.js"
#: What is copied from MathJax's ``es5`` folder: files and whole folders.
MATHJAX_PARTS = (
    MATHJAX_ENTRY,
    "input",
    "output/chtml.js",
    "output/chtml",
    "ui",
    "a11y",
    "adaptors",
    "sre/mathmaps/base.json",
    "sre/mathmaps/en.json",
    "sre/mathmaps/nemeth.json",
)


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax 3 (package ``django-static-mathjax``)."""
    try:
        import mathjax  # django-static-mathjax: MathJax's npm files as package data
    except ImportError as err:
        raise ExtensionError(
            "offline_assets needs MathJax 3 from the 'django-static-mathjax' package: "
            "install the book extra with `pip install -e '.[book]'` (or `make env`)."
        ) from err
    root = Path(mathjax.__file__).resolve().parent / "static" / "mathjax"
    es5 = root / "es5"
    if not (es5 / MATHJAX_ENTRY).is_file():
        raise ExtensionError(f"MathJax's {MATHJAX_ENTRY} is missing under {es5}; reinstall it.")
    return es5


def copy_mathjax(dest: Path) -> int:
    """Copy the needed MathJax parts into ``dest``; return how many files were (re)written."""
    src = mathjax_source()
    files: list[Path] = []
    for part in MATHJAX_PARTS:
        path = src / part
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise ExtensionError(f"MathJax part {part!r} not found under {src}")
    licence = src.parent / "LICENSE"
    written = 0
    for path in [*files, licence]:
        target = dest / (path.relative_to(src) if path != licence else "LICENSE")
        if target.is_file() and filecmp.cmp(path, target, shallow=True):
            continue  # unchanged since the last build
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        written += 1
    return written


def _configure(app: Sphinx, config) -> None:
    # Sphinx reads a relative mathjax_path from inside _static/ and makes it relative to each
    # page ("../_static/../_mathjax/..." from a chapter), which the browser resolves to _mathjax/.
    config.mathjax_path = f"../{MATHJAX_DIR}/{MATHJAX_ENTRY}"
    if "nb_ipywidgets_js" in config:
        config.nb_ipywidgets_js = {}


def _install(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    written = copy_mathjax(Path(app.outdir) / MATHJAX_DIR)
    logger.info("offline_assets: MathJax served from %s/ (%d files updated)", MATHJAX_DIR, written)


def _is_remote(uri: str | None) -> bool:
    return bool(uri) and ("://" in uri or uri.startswith("//"))


def _thebe_enabled(app: Sphinx) -> bool:
    options = app.config.html_theme_options or {}
    return bool((options.get("launch_buttons") or {}).get("thebe"))


def _is_thebe(asset) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return name.endswith(("sphinx-thebe.js", "sphinx-thebe.css")) or "THEBE_JS_URL" in body


def _check_page(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if not _thebe_enabled(app):
        # sphinx-thebe adds its loader (which names a CDN URL, twice) to every page even when
        # thebe is off; with no launch button it is dead code, so leave it out.
        for key in ("script_files", "css_files"):
            if key in context:
                context[key][:] = [a for a in context[key] if not _is_thebe(a)]
    assets = [getattr(js, "filename", js) for js in context.get("script_files", [])]
    assets += [getattr(css, "filename", css) for css in context.get("css_files", [])]
    for uri in assets:
        if _is_remote(str(uri) if uri else None):
            logger.warning(
                "offline_assets: page %r loads %s from another host; the book must work "
                "offline (serve the file from the build instead)",
                pagename,
                uri,
                type="offline_assets",
                subtype="remote",
            )


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _configure, priority=900)
    app.connect("builder-inited", _install)
    # after the MathJax and myst-nb handlers have added their scripts
    app.connect("html-page-context", _check_page, priority=999)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
