r"""The training explorer in the static book: GAN and WGAN training, frame by frame, offline.

Reads the two files of :mod:`wganlib.experiments.explorer` (``explorer.json``: provenance,
settings and the scalar curves of every run; ``explorer.npz``: the quantised frames) and returns
a self-contained HTML fragment for ``IPython.display.HTML``: two panes side by side (by default a
GAN on the left and WGAN-GP on the right), each with its own method, clipping bound :math:`c`,
optimiser and learning rate, sharing the data set and the training time (a slider and a
play/pause button). Each pane draws, on ``<canvas>`` with plain JavaScript
(:mod:`wganlib._explorer_js`): the generator's samples over target samples, the critic's values
(filled colour map over the frame's :math:`[\min f, \max f]`, with contour lines) with its
gradient field as arrows, and the critic's estimate against the exact :math:`W_1` over training.

How the frames reach the page: the arrays of each data set become one JavaScript statement
(:func:`data_scripts`) with the bytes base64-encoded, decoded in the browser with ``atob``.
:func:`explorer_html` either inlines them (``assets=None``: one file that works anywhere,
Jupyter included) or refers to them as files served next to the page (``assets="../_explorer/"``:
the book's build writes them with ``book/_ext/explorer_assets.py``), loaded with ``<script src>``
when the reader first picks that data set. Both work over http and from ``file://``.

Markup for tests: the root carries ``data-wgan-explorer`` and, once drawn, ``data-ready`` (and
``data-busy`` while a data file loads),
``data-data``, ``data-t``, ``data-iteration``, ``data-left`` and ``data-right`` (run keys);
every control has a ``name`` (``data``, ``frame``, ``play``; in each ``[data-pane]``:
``method``, ``clip``, ``optimizer``, ``lr``); canvases have ``data-panel`` (``samples``,
``critic``, ``arrows``, ``curve``); readouts have ``data-field``. The drawing conventions
(:func:`sample_pixel`, :func:`critic_pixel`, :data:`COLORMAP`) are public so that tests can check
pixels.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib import toy
from wganlib._explorer_js import SCRIPT

__all__ = [
    "COLORMAP",
    "COLORS",
    "SAMPLES_PX",
    "CELL_PX",
    "load",
    "target_samples",
    "data_scripts",
    "explorer_html",
    "sample_pixel",
    "critic_pixel",
]

#: Anchors of the colour map (viridis at 0, 1/8, ..., 1), interpolated linearly to 256 entries.
_VIRIDIS = (
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
)  # fmt: skip
#: ``(256, 3)`` uint8: the colour of critic code ``q`` (``f = min + q (max - min) / 255``).
COLORMAP: np.ndarray = (
    np.stack(
        [
            np.interp(np.linspace(0, 8, 256), np.arange(9), [a[c] for a in _VIRIDIS])
            for c in range(3)
        ],
        axis=1,
    )
    .round()
    .astype(np.uint8)
)
COLORS = {
    "generator": "#d95f02",
    "target": "#7f8fa6",
    "w1": "#222222",
    "estimate": "#1b9e77",
    "cursor": "#d62728",
}
SAMPLES_PX = 150  #: side of the samples canvas
CELL_PX = 5  #: side of one critic cell on the contour canvas
TARGET_SEED = 12345  #: seed of the target samples drawn under the generator's
LABELS = {
    "gan": "GAN", "nsgan": "NS-GAN", "wgan-clip": "WGAN (clipping)", "wgan-gp": "WGAN-GP",
    "wgan-lp": "WGAN-LP", "wgan-sn": "WGAN (spectral norm)", "adam": "Adam",
    "rmsprop": "RMSProp", "8gaussians": "8 Gaussians", "25gaussians": "25 Gaussians",
    "swissroll": "swiss roll",
}  # fmt: skip
DEFAULT_LEFT = "gan_adam_lr0.0002"
DEFAULT_RIGHT = "wgan-gp_adam_lr0.0001"


def load(path: str | Path = "data/results/explorer.json") -> tuple[dict[str, Any], dict]:
    """The results JSON and its arrays (``explorer.npz`` beside it), checked for shape."""
    path = Path(path)
    npz = path.with_suffix(".npz")
    if not path.is_file() or not npz.is_file():
        raise FileNotFoundError(
            f"{path} or {npz} is missing: run `python -m wganlib.experiments.explorer` first"
        )
    meta = json.loads(path.read_text())
    with np.load(npz) as f:
        arrays = {k: f[k] for k in ("samples", "critic", "gradient")}
    r, t = len(meta["runs"]), meta["settings"]["n_frames"]
    if any(a.shape[:2] != (r, t) for a in arrays.values()):
        raise ValueError(f"{npz} does not match {path} ({r} runs x {t} frames): rerun the CLI")
    return meta, arrays


def target_samples(data: str, n: int, *, seed: int = TARGET_SEED) -> np.ndarray:
    """``(n, 2)`` samples of the target ``data``, rounded to 3 decimals (drawn under the model)."""
    x = toy.sample(data, n, generator=torch.Generator().manual_seed(seed))
    return np.round(x.double().numpy(), 3)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def data_scripts(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, str]:
    """One JavaScript statement per data set: ``{file name: text}``, in data-set order.

    Each sets ``window.wganExplorerData[data]`` to the base64 bytes of that data set's runs (in
    the order of ``meta["runs"]``): ``samples`` (uint8 ``(r, T, n, 2)``), ``critic`` (uint8
    ``(r, T, G, G)``), ``gradient`` (int8 ``(r, T, A, A, 2)``) and ``target`` (a list of
    points). The file name holds a digest of the text, so a stale copy is never used.
    """
    out = {}
    for data in meta["settings"]["datasets"]:
        idx = [i for i, r in enumerate(meta["runs"]) if r["data"] == data]
        payload = {k: _b64(arrays[k][idx]) for k in ("samples", "critic", "gradient")}
        payload["target"] = target_samples(data, meta["settings"]["n_shown"]).tolist()
        text = (
            "(window.wganExplorerData = window.wganExplorerData || {})"
            f"[{json.dumps(data)}] = {json.dumps(payload, separators=(',', ':'))};\n"
        )
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        out[f"explorer-{data}-{digest}.js"] = text
    return out


def _page_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("key", "data", "method", "optimizer", "lr", "clip", "iterations", "diverged")
    keep += ("frames", "w1", "estimate", "modes", "high_quality")
    runs = [{k: r[k] for k in keep if k in r} for r in meta["runs"]]
    for r in runs:
        r["diverged"] = bool(r.get("diverged"))
    schedule = max((r["frames"] for r in meta["runs"]), key=len)
    return {"settings": meta["settings"], "runs": runs, "schedule": schedule}


def explorer_html(
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    *,
    assets: str | None = None,
    data: str | None = None,
    left: str = DEFAULT_LEFT,
    right: str = DEFAULT_RIGHT,
    frame: int = -1,
    interval_ms: int = 350,
    element_id: str = "wgan-explorer",
) -> str:
    """The static explorer as an HTML fragment (styles, markup, data and script).

    Parameters
    ----------
    meta, arrays
        What :func:`load` returns.
    assets : str, optional
        ``None``: the data are inlined (a page that needs no other file). Otherwise the URL
        prefix, relative to the page, of the files of :func:`data_scripts`, which the caller
        serves (the book: ``"../_explorer/"``).
    data, left, right, frame
        The view shown when the URL names none: data set (default the first), the variant keys
        of the two panes (e.g. ``"gan_adam_lr0.0002"``) and the frame index (``-1``: the last).
    interval_ms
        Time between frames while playing.
    """
    s = meta["settings"]
    datasets = list(s["datasets"])
    data = datasets[0] if data is None else data
    if data not in datasets:
        raise ValueError(f"data set {data!r} is not in the grid; choose one of {datasets}")
    keys = {r["key"].split("__")[0] for r in meta["runs"] if r["data"] == data}
    for side, key in (("left", left), ("right", right)):
        if key not in keys:
            raise ValueError(f"{side}={key!r} is not a run of {data}; choose one of {sorted(keys)}")
    t = frame % s["n_frames"]
    files = data_scripts(meta, arrays)
    page = {
        **_page_meta(meta),
        "datasets": datasets,
        "labels": LABELS,
        "colors": COLORS,
        "colormap": COLORMAP.tobytes().hex(),
        "start": {"data": data, "left": left, "right": right, "t": t},
        "interval": int(interval_ms),
        "assets": assets,
        "files": None if assets is None else dict(zip(datasets, files, strict=True)),
    }
    blob = json.dumps(page, separators=(",", ":")).replace("</", "<\\/")
    inline = (
        "" if assets is not None else "".join(f"<script>{js}</script>" for js in files.values())
    )
    root_id = html.escape(element_id, quote=True)
    script = SCRIPT.replace("__ROOT_ID__", json.dumps(element_id))
    g = s["grid"] * CELL_PX
    return (
        f"<style>{_STYLE}</style>"
        f"<div class='wgan-explorer' id='{root_id}' data-wgan-explorer=''>"
        "<div class='wgan-explorer-shared'>"
        f"<label>Data set <select name='data'></select></label>"
        "<button type='button' name='play' aria-pressed='false'>Play</button>"
        f"<label class='wgan-explorer-time'>Training time <input type='range' name='frame' "
        f"min='0' max='{s['n_frames'] - 1}' step='1' value='{t}'></label>"
        "<output data-field='time'></output></div>"
        "<p class='wgan-explorer-note' data-field='note' role='status'></p>"
        "<div class='wgan-explorer-panes'>"
        + "".join(_pane(side, g) for side in ("left", "right"))
        + "</div>"
        f"<script type='application/json' class='wgan-explorer-meta'>{blob}</script>"
        f"{inline}<script>{script}</script></div>"
    )


def _pane(side: str, g: int) -> str:
    n = SAMPLES_PX
    selects = "".join(
        f"<label>{label} <select name='{name}'></select></label>"
        for name, label in (("method", "Method"), ("clip", "c"), ("optimizer", "Optimiser"))
    )
    fields = ("run", "iteration", "w1", "estimate", "modes", "high_quality", "diverged")
    return (
        f"<section class='wgan-explorer-pane' data-pane='{side}' aria-label='{side} run' "
        f"style='width:{n + g + 8}px'>"
        f"<div class='wgan-explorer-controls'>{selects}"
        "<label>Learning rate <select name='lr'></select></label></div>"
        "<div class='wgan-explorer-caption'><span>samples (orange) and data (grey)</span>"
        "<span>critic f (yellow high), gradient arrows</span></div>"
        "<div class='wgan-explorer-pictures'>"
        f"<canvas data-panel='samples' width='{n}' height='{n}' role='img' "
        "aria-label='generator samples (orange) over target samples (grey)'></canvas>"
        f"<div class='wgan-explorer-critic' style='width:{g}px;height:{g}px'>"
        f"<canvas data-panel='critic' width='{g}' height='{g}' role='img' "
        'aria-label="the critic\'s values (colour, yellow high) and its gradient (arrows)">'
        f"</canvas><canvas data-panel='arrows' width='{g}' height='{g}'></canvas></div>"
        "</div>"
        f"<canvas data-panel='curve' width='{n + g + 8}' height='130' role='img' "
        'aria-label="the critic\'s estimate and the exact W1 over training"></canvas>'
        "<p class='wgan-explorer-readout' aria-live='polite'>"
        + "".join(f"<span data-field='{f}'></span>" for f in fields)
        + "</p></section>"
    )


_STYLE = """
.wgan-explorer { margin: 0.5em 0 1em 0; font-size: 0.9em; }
.wgan-explorer-shared, .wgan-explorer-controls { display: flex; flex-wrap: wrap; gap: 0.4em 0.9em;
  align-items: center; margin: 0.3em 0; }
.wgan-explorer-time { display: flex; align-items: center; gap: 0.4em; flex: 1 1 14em; }
.wgan-explorer-time input { flex: 1 1 auto; }
.wgan-explorer-note { min-height: 1.2em; margin: 0.2em 0; color: #8a4b00; }
.wgan-explorer-panes { display: flex; flex-wrap: wrap; gap: 1.2em; }
.wgan-explorer-pane { flex: 0 0 auto; }
.wgan-explorer-pane .wgan-explorer-controls { gap: 0.2em 0.6em; }
.wgan-explorer-caption { display: flex; gap: 8px; font-size: 0.85em; color: #555; }
.wgan-explorer-caption span { flex: 1 1 0; }
.wgan-explorer canvas[data-panel=samples], .wgan-explorer-critic { outline: 1px solid #ccc; }
.wgan-explorer-pictures { display: flex; gap: 8px; }
.wgan-explorer-critic { position: relative; }
.wgan-explorer-critic canvas { position: absolute; left: 0; top: 0; }
.wgan-explorer canvas { display: block; }
.wgan-explorer-readout { display: flex; flex-wrap: wrap; gap: 0 0.8em; margin: 0.3em 0; }
.wgan-explorer-readout span { font-family: monospace; white-space: nowrap; }
.wgan-explorer-readout span[hidden] { display: none; }
.wgan-explorer-readout span[data-field=diverged] { color: #b00020; }
"""


def sample_pixel(
    x: float, y: float, sample_range: float, size: int = SAMPLES_PX
) -> tuple[int, int]:
    """Canvas pixel ``(column, row)`` of the point ``(x, y)`` on the samples panel."""

    def to_px(v: float) -> int:
        return math.floor((v + sample_range) / (2 * sample_range) * (size - 1) + 0.5)

    return to_px(x), size - 1 - to_px(y)


def critic_pixel(i: int, j: int, grid: int) -> tuple[int, int]:
    """Canvas pixel ``(column, row)`` at the centre of critic cell ``[i, j]`` (at ``(x_j, y_i)``)."""
    return j * CELL_PX + CELL_PX // 2, (grid - 1 - i) * CELL_PX + CELL_PX // 2
