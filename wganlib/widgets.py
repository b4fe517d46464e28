r"""The theta slider of chapter 1, in two forms.

* :func:`parallel_lines_slider_html`: a self-contained HTML slider for the built book. Every
  frame (a PNG of the two lines and of the four distances) for every :math:`\theta` on a grid
  that is finer near 0 (down to :math:`\theta = \pm 0.001`) is written into the page; a few
  lines of inline JavaScript swap the frame when the range input moves and compute the four
  distances and the derivatives :math:`dW/d\theta`, :math:`dJS/d\theta` from the closed forms
  of Example 1 in the page. No kernel, no network, no widget library.
* :func:`parallel_lines_widget`: a live ipywidgets slider for Jupyter, any :math:`\theta` in a
  range, redrawn by the kernel on every move.

Both show the same picture (:func:`wganlib.plotting.parallel_lines_figure`) and the same
numbers (:func:`wganlib.distances.parallel_lines`, formatted by :func:`format_distances`).

The static slider's markup is a stable interface for tests: the root ``div.wgan-theta-slider``
carries ``data-theta`` (the value shown) and ``data-index``; inside it are
``input.wgan-theta-input`` (a range over frame indices), ``output.wgan-theta-value``,
``img.wgan-theta-frame`` (with ``data-theta``) and one ``[data-distance=KEY]`` cell per
quantity (``w1``, ``js``, ``kl``, ``tv``, ``dw1``, ``djs``) whose text is the formatted value and
whose ``data-value`` is the full-precision value (``inf`` for an infinite KL, ``nan`` for a
derivative that does not exist, at :math:`\theta = 0`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from wganlib.distances import parallel_lines

__all__ = [
    "DISTANCE_KEYS",
    "DERIVATIVE_KEYS",
    "default_thetas",
    "derivatives",
    "format_theta",
    "format_distances",
    "parallel_lines_slider_html",
    "parallel_lines_widget",
]

#: The four distances shown, in display order, with their labels.
DISTANCE_KEYS: dict[str, str] = {"w1": "W", "js": "JS", "kl": "KL", "tv": "TV"}
#: The two derivatives shown beside them.
DERIVATIVE_KEYS: dict[str, str] = {"dw1": "dW/d\u03b8", "djs": "dJS/d\u03b8"}
#: The positive grid points below 0.1 (the fine part of :func:`default_thetas`).
FINE_STEPS: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02)


def default_thetas(theta_max: float = 1.0, steps_per_side: int = 20) -> np.ndarray:
    r"""A symmetric grid on :math:`[-\theta_{\max}, \theta_{\max}]` that holds 0 exactly.

    Uniform steps of :math:`\theta_{\max} / \text{steps\_per\_side}`, plus the points of
    :data:`FINE_STEPS` (scaled by :math:`\theta_{\max}`) that fall inside the first step, so that
    the slider reaches :math:`\theta = \pm 0.001`, where the two lines look the same and JS has
    already jumped to :math:`\log 2`.
    """
    if theta_max <= 0 or steps_per_side < 1:
        raise ValueError("theta_max must be positive and steps_per_side at least 1")
    h = theta_max / steps_per_side
    fine = [f * theta_max for f in FINE_STEPS if f * theta_max < h * (1 - 1e-9)]
    k = np.arange(1, steps_per_side + 1)
    positive = np.concatenate([fine, k * h])
    return np.concatenate([-positive[::-1], [0.0], positive])


def derivatives(theta: float) -> dict[str, float]:
    r""":math:`dW/d\theta = \operatorname{sign}\theta` and :math:`dJS/d\theta = 0` for
    :math:`\theta \neq 0`; both ``nan`` at 0 (a kink of :math:`|\theta|`, a jump of JS)."""
    t = float(theta)
    if t == 0:
        return {"dw1": math.nan, "djs": math.nan}
    return {"dw1": math.copysign(1.0, t), "djs": 0.0}


def format_theta(theta: float) -> str:
    """The displayed value of theta: sign and three decimals (``+0.001``)."""
    return f"{float(theta):+.3f}"


def format_distances(theta: float, *, digits: int = 3) -> dict[str, str]:
    r"""The four distances and two derivatives at ``theta`` as display strings.

    ``"+∞"`` for an infinite KL; a derivative that does not exist (at 0) reads ``"none"``.
    """
    values = parallel_lines(float(theta))
    out = {key: _format_value(values[key], digits) for key in DISTANCE_KEYS}
    d = derivatives(theta)
    out["dw1"] = "none" if math.isnan(d["dw1"]) else f"{d['dw1']:+.0f}"
    out["djs"] = "none" if math.isnan(d["djs"]) else "0"
    return out


def _format_value(value: float, digits: int) -> str:
    return "+\u221e" if math.isinf(value) else f"{value:.{digits}f}"


def _frame_png(theta: float, *, dpi: int, colors: int | None) -> bytes:
    from wganlib.plotting import figure_png, parallel_lines_figure

    return figure_png(parallel_lines_figure(theta), dpi=dpi, colors=colors)


# ----------------------------------------------------------------------------- static HTML

_SCRIPT = """
(function () {
  var root = document.currentScript ? document.currentScript.parentElement : null;
  if (!root || !root.classList.contains("wgan-theta-slider")) {
    root = document.getElementById(%(root_id)s);
  }
  var data = JSON.parse(root.querySelector("script.wgan-theta-data").textContent);
  var input = root.querySelector("input.wgan-theta-input");
  var img = root.querySelector("img.wgan-theta-frame");
  var shown = root.querySelector("output.wgan-theta-value");
  // Example 1 in closed form, computed here for the theta shown (wganlib.distances.parallel_lines)
  function quantities(t) {
    var off = t !== 0;
    return {
      w1: Math.abs(t), js: off ? Math.LN2 : 0, kl: off ? Infinity : 0, tv: off ? 1 : 0,
      dw1: off ? (t > 0 ? 1 : -1) : NaN, djs: off ? 0 : NaN
    };
  }
  function text(key, v) {
    if (key === "dw1") { return isNaN(v) ? "none" : (v > 0 ? "+1" : "-1"); }
    if (key === "djs") { return isNaN(v) ? "none" : "0"; }
    return v === Infinity ? "+\\u221e" : v.toFixed(3);
  }
  function show(index) {
    var i = Math.max(0, Math.min(data.thetas.length - 1, parseInt(index, 10)));
    var theta = data.thetas[i];
    var q = quantities(theta);
    var label = (theta < 0 ? "-" : "+") + Math.abs(theta).toFixed(3);
    img.src = "data:image/png;base64," + data.frames[i];
    img.setAttribute("data-theta", theta);
    img.alt = data.alts[i];
    shown.textContent = label;
    input.setAttribute("aria-valuetext", "theta = " + label);
    root.setAttribute("data-theta", theta);
    root.setAttribute("data-index", i);
    Object.keys(q).forEach(function (key) {
      var cell = root.querySelector('[data-distance="' + key + '"]');
      cell.textContent = text(key, q[key]);
      cell.setAttribute("data-value", q[key] === Infinity ? "inf" : (isNaN(q[key]) ? "nan" : q[key]));
    });
  }
  input.addEventListener("input", function () { show(input.value); });
  input.addEventListener("change", function () { show(input.value); });
  show(input.value);
})();
"""

_STYLE = """
.wgan-theta-slider { max-width: 760px; margin: 0.5em 0 1em 0; }
.wgan-theta-slider .wgan-theta-controls { display: flex; align-items: center; gap: 0.75em; }
.wgan-theta-slider input.wgan-theta-input { flex: 1 1 auto; }
.wgan-theta-slider output.wgan-theta-value { font-family: monospace; min-width: 4.5em; }
.wgan-theta-slider img.wgan-theta-frame { width: 100%; height: auto; display: block; }
.wgan-theta-slider table.wgan-theta-values { margin: 0.25em 0; border-collapse: collapse; }
.wgan-theta-slider table.wgan-theta-values th,
.wgan-theta-slider table.wgan-theta-values td { padding: 0.15em 0.8em; text-align: center; }
.wgan-theta-slider table.wgan-theta-values td { font-family: monospace; }
"""


def parallel_lines_slider_html(
    thetas: Sequence[float] | np.ndarray | None = None,
    *,
    theta: float = 0.5,
    dpi: int = 90,
    colors: int | None = 64,
    element_id: str | None = None,
) -> str:
    r"""A self-contained HTML slider over :math:`\theta` for the parallel-lines example.

    Parameters
    ----------
    thetas : sequence of float, optional
        The grid of frames, strictly increasing (default :func:`default_thetas`: -1 to 1 by
        0.05, and 0.001, 0.002, 0.005, 0.01, 0.02 on either side of 0).
    theta : float
        The frame shown first: the grid point nearest to it.
    dpi, colors : int
        Resolution of each frame and size of its PNG palette (``None``: full colour).
    element_id : str, optional
        The id of the root element; by default derived from the grid, so builds are reproducible.

    Returns
    -------
    str
        An HTML fragment (styles, markup, the frames as base64 PNGs in a JSON block, and an
        inline script) for ``IPython.display.HTML``. It needs nothing from the network.
    """
    grid = default_thetas() if thetas is None else np.asarray(thetas, dtype=float).ravel()
    if grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError("thetas must be at least two finite values in strictly increasing order")
    start = int(np.argmin(np.abs(grid - theta)))
    labels = [format_theta(t) for t in grid]
    frames = [base64.b64encode(_frame_png(t, dpi=dpi, colors=colors)).decode("ascii") for t in grid]
    exact = {**parallel_lines(float(grid[start])), **derivatives(grid[start])}
    data = {
        "thetas": [float(t) for t in grid],
        "labels": labels,
        "alts": [_alt_text(t) for t in grid],
        "frames": frames,
    }
    if element_id is None:
        digest = hashlib.sha1(json.dumps(data["thetas"]).encode()).hexdigest()[:10]
        element_id = f"wgan-theta-slider-{digest}"
    root_id = html.escape(element_id, quote=True)
    first = format_distances(grid[start])
    shown_keys = {**DISTANCE_KEYS, **DERIVATIVE_KEYS}
    header = "".join(f"<th scope='col'>{label}</th>" for label in shown_keys.values())
    cells = "".join(
        f"<td data-distance='{key}' data-value='{_json_number(exact[key])}'>{first[key]}</td>"
        for key in shown_keys
    )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        f"<style>{_STYLE}</style>"
        f"<div class='wgan-theta-slider' id='{root_id}' data-theta='{float(grid[start])!r}' "
        f"data-index='{start}'>"
        "<div class='wgan-theta-controls'>"
        f"<label for='{root_id}-input'>&theta; =</label>"
        f"<output class='wgan-theta-value' for='{root_id}-input'>{labels[start]}</output>"
        f"<input type='range' class='wgan-theta-input' id='{root_id}-input' min='0' "
        f"max='{grid.size - 1}' step='1' value='{start}' "
        f"aria-label='theta' aria-valuetext='theta = {labels[start]}'>"
        "</div>"
        f"<img class='wgan-theta-frame' data-theta='{float(grid[start])!r}' "
        f"alt='{html.escape(_alt_text(grid[start]), quote=True)}' "
        f"src='data:image/png;base64,{frames[start]}'>"
        "<table class='wgan-theta-values'>"
        f"<thead><tr>{header}</tr></thead><tbody><tr>{cells}</tr></tbody></table>"
        f"<script type='application/json' class='wgan-theta-data'>{payload}</script>"
        f"<script>{_SCRIPT % {'root_id': json.dumps(element_id)}}</script>"
        "</div>"
    )


def _json_number(value: float) -> str:
    """A float as text that both JavaScript and Python parse back (``inf``, ``nan``)."""
    if math.isnan(value):
        return "nan"
    return "inf" if math.isinf(value) else repr(float(value))


def _alt_text(theta: float) -> str:
    values = format_distances(theta)
    numbers = ", ".join(f"{DISTANCE_KEYS[k]} = {values[k]}" for k in DISTANCE_KEYS)
    return f"P0 and P_theta for theta = {format_theta(theta)}; {numbers}"


# ----------------------------------------------------------------------------- live widget


def parallel_lines_widget(
    theta: float = 0.5,
    *,
    theta_max: float = 1.0,
    step: float = 0.001,
    dpi: int = 80,
) -> Any:
    r"""A live ipywidgets slider over :math:`\theta` (for Jupyter; it needs a running kernel).

    Returns an ``ipywidgets.VBox`` with children ``(slider, image, values)``: a
    ``FloatSlider`` (steps of ``step``, 0.001 by default), an ``Image`` holding the PNG of
    :func:`wganlib.plotting.parallel_lines_figure` and an ``HTML`` table of the four distances and
    the two derivatives. Moving the slider redraws both in the kernel.
    """
    import ipywidgets as widgets

    slider = widgets.FloatSlider(
        value=float(theta),
        min=-float(theta_max),
        max=float(theta_max),
        step=float(step),
        description="\u03b8",
        continuous_update=True,
        readout_format="+.3f",
        layout=widgets.Layout(width="min(100%, 640px)"),
    )
    image = widgets.Image(format="png", layout=widgets.Layout(width="min(100%, 760px)"))
    values = widgets.HTML()

    def redraw(change: dict | None = None) -> None:
        t = float(slider.value)
        image.value = _frame_png(t, dpi=dpi, colors=None)
        text = format_distances(t)
        keys = {**DISTANCE_KEYS, **DERIVATIVE_KEYS}
        cells = "".join(
            f"<td style='padding:0 0.8em;font-family:monospace' data-distance='{k}'>{text[k]}</td>"
            for k in keys
        )
        head = "".join(f"<th style='padding:0 0.8em'>{v}</th>" for v in keys.values())
        values.value = f"<table><tr>{head}</tr><tr>{cells}</tr></table>"

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, image, values])
