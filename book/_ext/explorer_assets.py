"""Sphinx extension: serve the training explorer's data from the build.

The explorer page (``book/05b_training_explorer.md``) shows
``wganlib.explorer_page.explorer_html(..., assets="../_explorer/")``, which loads each data set's
frames from ``<html>/_explorer/explorer-<data>-<digest>.js`` when the reader first picks it (a
``<script src>``, so it works over http and from ``file://``). This extension writes those files
from ``data/results/explorer.json`` and ``.npz`` at every HTML build. The folder is not a static
path: Jupyter Book would add every ``.js`` there to every page.

When the results files change, the pages that show the explorer are read again (Sphinx would
otherwise keep them: their source did not change); such a page sets
``mystnb: execution_mode: force`` in its front matter, so that reading it executes it with the
new data (a few seconds), whatever the execution cache holds.

After the build it checks that every ``_explorer/`` file a page names exists; a page executed
against other results (a cached output from before the results changed) gets a warning, an error
under ``-W``: clear the page's execution cache and rebuild.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

ASSET_DIR = "_explorer"
RESULTS = Path("data") / "results" / "explorer.json"
_NAMED = re.compile(r"explorer-[A-Za-z0-9]+-[0-9a-f]{10}\.js")


def _write(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    results = Path(app.srcdir) / RESULTS
    if not results.is_file():
        logger.info("explorer_assets: no %s; no explorer data written", RESULTS)
        return
    from wganlib.explorer_page import data_scripts, load

    dest = Path(app.outdir) / ASSET_DIR
    dest.mkdir(parents=True, exist_ok=True)
    files = data_scripts(*load(results))
    for old in dest.glob("explorer-*.js"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        path = dest / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    size = sum((dest / n).stat().st_size for n in files)
    logger.info(
        "explorer_assets: %d data files, %.2f MB, in %s/", len(files), size / 1e6, ASSET_DIR
    )


def _digest(app: Sphinx) -> str:
    results = Path(app.srcdir) / RESULTS
    h = hashlib.sha1()
    for path in (results, results.with_suffix(".npz")):
        h.update(path.read_bytes() if path.is_file() else b"-")
    return h.hexdigest()


def _outdated(app: Sphinx, env, added, changed, removed) -> list[str]:
    """The explorer's pages when the results files changed since the last build."""
    digest = _digest(app)
    if getattr(env, "wgan_explorer_digest", None) == digest:
        return []
    env.wgan_explorer_digest = digest
    pages = []
    for doc in env.found_docs:
        path = Path(env.doc2path(doc))
        if path.suffix == ".md" and "explorer_html(" in path.read_text(encoding="utf-8"):
            pages.append(doc)
    if pages:
        logger.info("explorer_assets: results changed; reading %s again", ", ".join(pages))
    return pages


def _check(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "data-wgan-explorer" not in text:
            continue
        missing = sorted(
            {n for n in _NAMED.findall(text) if not (outdir / ASSET_DIR / n).is_file()}
        )
        if missing:
            logger.warning(
                "explorer_assets: %s names explorer data that this build does not have (%s): "
                "its cached output predates data/results/explorer.*; clear its execution cache "
                "(jupyter-book clean --all, or delete its entry) and rebuild",
                page.relative_to(outdir),
                ", ".join(missing),
                type="explorer_assets",
                subtype="stale",
            )


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _write)
    app.connect("env-get-outdated", _outdated)
    app.connect("build-finished", _check)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
