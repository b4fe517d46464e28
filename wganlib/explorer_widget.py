"""The training explorer live in Jupyter: ipywidgets controls over a matplotlib figure.

Reads the same files as the static page (:func:`wganlib.explorer_page.load`) and shows the same
three panels for two runs side by side: generator samples over target samples, the critic's
values with its gradient arrows, and the estimate against the exact W1 with a cursor. Controls:
data set and training time (slider with a play button) shared; method, clipping bound c,
optimiser and learning rate per pane. Options that do not apply are disabled; a combination
outside the grid picks the nearest run and says so in the pane's note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from wganlib.experiments.explorer import unpack
from wganlib.explorer_page import COLORMAP, COLORS, DEFAULT_LEFT, DEFAULT_RIGHT, LABELS
from wganlib.explorer_page import target_samples as _targets

__all__ = ["lr_rank", "nearest_run", "explorer_widget"]


def lr_rank(meta: Mapping[str, Any], i: int) -> int:
    """Rank of run ``i``'s learning rate among its setting's (0: the default, 1: ten times it)."""
    r = meta["runs"][i]
    lrs = sorted(
        {
            q["lr"]
            for q in meta["runs"]
            if (q["data"], q["method"], q["clip"], q["optimizer"])
            == (r["data"], r["method"], r["clip"], r["optimizer"])
        }
    )
    return lrs.index(r["lr"])


def nearest_run(
    meta: Mapping[str, Any],
    data: str,
    method: str,
    clip: float | None,
    optimizer: str,
    rank: int,
) -> tuple[int, bool]:
    """Index of the run of ``data`` nearest to the setting asked for, and whether it is exact.

    Distance: a different method costs 1000, a clip bound ``10 |log10(c / c')|`` (100 if one
    has none), a different optimiser 5, and each step of learning-rate rank (0: the optimiser's
    default, 1: ten times it) 1; the same rule as the page's script.
    """
    best, score = -1, math.inf
    for i, r in enumerate(meta["runs"]):
        if r["data"] != data:
            continue
        s = 1000.0 * (r["method"] != method)
        if r["clip"] != clip:
            s += 100 if None in (r["clip"], clip) else 10 * abs(math.log10(r["clip"] / clip))
        s += 5 * (r["optimizer"] != optimizer) + abs(lr_rank(meta, i) - rank)
        if s < score:
            best, score = i, s
    if best < 0:
        raise ValueError(f"no run of data set {data!r} in the grid")
    return best, score == 0


def _run_index(meta: Mapping[str, Any], data: str, key: str) -> int:
    for i, r in enumerate(meta["runs"]):
        if r["data"] == data and r["key"].split("__")[0] == key:
            return i
    raise ValueError(f"no run {key!r} for {data!r} in the grid")


def explorer_widget(
    meta: Mapping[str, Any] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    *,
    data: str | None = None,
    left: str = DEFAULT_LEFT,
    right: str = DEFAULT_RIGHT,
) -> Any:
    """A live explorer (``ipywidgets.VBox``); needs a kernel.

    The box has extra attributes for programs and tests: ``controls`` (``data``, ``frame``,
    ``play`` and per pane ``left``/``right`` dicts of ``method``, ``clip``, ``optimizer``,
    ``lr``), ``figure``, ``artists`` (per pane ``samples``, ``critic``, ``arrows``, ``cursor``,
    ``w1``, ``estimate``), ``notes`` and ``state()`` (data set, run keys and frame).
    """
    import ipywidgets as widgets
    from matplotlib.colors import ListedColormap

    from wganlib import plotting

    if meta is None or arrays is None:
        from wganlib.explorer_page import load

        meta, arrays = load()
    s = meta["settings"]
    data = s["datasets"][0] if data is None else data
    runs = meta["runs"]
    panes = [_run_index(meta, data, left), _run_index(meta, data, right)]
    schedule = max((r["frames"] for r in runs), key=len)
    cmap = ListedColormap(COLORMAP / 255.0)
    sr, rng = s["sample_range"], s["range"]
    axis = np.linspace(-rng, rng, s["arrows"])
    ax_x, ax_y = np.meshgrid(axis, axis)

    fig, axes = plotting.plt.subplots(2, 3, figsize=(11, 6.6), gridspec_kw={"hspace": 0.45})
    plotting.plt.close(fig)
    artists: list[dict[str, Any]] = []
    for row in axes:
        a_s, a_c, a_w = row
        a_s.set(xlim=(-sr, sr), ylim=(-sr, sr), aspect="equal")
        target = a_s.scatter([], [], s=3, c=COLORS["target"])
        samples = a_s.scatter([], [], s=5, c=COLORS["generator"])
        ext = rng * (1 + 1 / (s["grid"] - 1))
        critic = a_c.imshow(
            np.zeros((s["grid"],) * 2), origin="lower", extent=(-ext, ext, -ext, ext), cmap=cmap
        )
        arrows = a_c.quiver(ax_x, ax_y, ax_x * 0, ax_y * 0, color="white", scale=12)
        (w1,) = a_w.plot([], [], color=COLORS["w1"], label="exact W1")
        (est,) = a_w.plot([], [], color=COLORS["estimate"], label="critic's estimate")
        cursor = a_w.axvline(schedule[0], color=COLORS["cursor"])
        a_w.set_xscale("log")
        a_w.legend(fontsize=8)
        artists.append(dict(target=target, samples=samples, critic=critic, arrows=arrows))
        artists[-1].update(w1=w1, estimate=est, cursor=cursor)

    def dropdown(desc: str, options: list, value: Any) -> Any:
        return widgets.Dropdown(options=options, value=value, description=desc)

    data_dd = dropdown("data", [(LABELS.get(d, d), d) for d in s["datasets"]], data)
    frame = widgets.IntSlider(
        value=s["n_frames"] - 1, min=0, max=s["n_frames"] - 1, description="frame"
    )
    play = widgets.Play(value=frame.value, min=0, max=s["n_frames"] - 1, interval=400)
    widgets.jslink((play, "value"), (frame, "value"))
    controls: dict[str, Any] = {"data": data_dd, "frame": frame, "play": play}
    notes = [widgets.HTML(), widgets.HTML()]
    out = widgets.Output()
    busy = [False]

    def fill(p: int) -> None:
        r = runs[panes[p]]
        c = controls["left" if p == 0 else "right"]
        mine = [q for q in runs if q["data"] == r["data"]]
        c["method"].options = [
            (LABELS.get(m, m), m) for m in dict.fromkeys(q["method"] for q in mine)
        ]
        c["method"].value = r["method"]
        same = [q for q in mine if q["method"] == r["method"]]
        clips = sorted({q["clip"] for q in same if q["clip"] is not None})
        c["clip"].options = [("n/a", None)] if r["clip"] is None else [(f"{v:g}", v) for v in clips]
        c["clip"].value, c["clip"].disabled = r["clip"], r["clip"] is None or len(clips) < 2
        same = [q for q in same if q["clip"] == r["clip"]]
        opts = list(dict.fromkeys(q["optimizer"] for q in same))
        c["optimizer"].options = [(LABELS.get(o, o), o) for o in opts]
        c["optimizer"].value, c["optimizer"].disabled = r["optimizer"], len(opts) < 2
        lrs = sorted({q["lr"] for q in same if q["optimizer"] == r["optimizer"]})
        c["lr"].options = [(f"{v:.0e}", v) for v in lrs]
        c["lr"].value, c["lr"].disabled = r["lr"], len(lrs) < 2

    def draw() -> None:
        t = frame.value
        for p, i in enumerate(panes):
            r, art = runs[i], artists[p]
            k = min(t, len(r["frames"]) - 1)
            f = unpack(meta, arrays, i, t)
            art["target"].set_offsets(_targets(r["data"], s["n_shown"]))
            art["samples"].set_offsets(f["samples"])
            art["critic"].set_data(f["critic"])
            art["critic"].set_clim(f["critic"].min(), f["critic"].max() + 1e-12)
            g = f["gradient"] / max(r["gradient_scale"][k], 1e-12)
            art["arrows"].set_UVC(g[..., 0], g[..., 1])
            art["w1"].set_data(r["frames"], r["w1"])
            art["estimate"].set_data(r["frames"], r["estimate"])
            art["cursor"].set_xdata([r["frames"][k], r["frames"][k]])
            ax_w = art["w1"].axes
            ax_w.relim()
            ax_w.autoscale_view()
            title = f"{r['key'].split('__')[0]}, iteration {r['frames'][k]}"
            if r.get("diverged"):
                title += f" (diverged at iteration {r['iterations']})"
            art["samples"].axes.set_title(title, fontsize=9, loc="left")
            text = f"W1 {r['w1'][k]:.3f}, estimate {r['estimate'][k]:.3f}"
            if "modes" in r:
                text += f", modes {r['modes'][k]}, high quality {100 * r['high_quality'][k]:.1f}%"
            art["w1"].axes.set_title(text, fontsize=9)
        with out:
            out.clear_output(wait=True)
            from IPython.display import display

            display(fig)

    def refresh() -> None:
        busy[0] = True
        try:
            fill(0)
            fill(1)
        finally:
            busy[0] = False
        draw()

    def on_pane(p: int, name: str) -> Any:
        def handler(change: dict) -> None:
            if busy[0]:
                return
            c = controls["left" if p == 0 else "right"]
            r = runs[panes[p]]
            method, clip, opt, rank = (
                r["method"],
                r["clip"],
                r["optimizer"],
                lr_rank(meta, panes[p]),
            )
            if name == "method":
                method = c["method"].value
                clip = None if method != "wgan-clip" else (clip if clip is not None else 0.01)
            elif name == "clip":
                clip = c["clip"].value
            elif name == "optimizer":
                opt = c["optimizer"].value
            else:
                rank = sorted({q["lr"] for q in runs if q["data"] == r["data"] and q["method"] == method
                               and q["clip"] == clip and q["optimizer"] == opt}).index(c["lr"].value)  # fmt: skip
            panes[p], exact = nearest_run(meta, data_dd.value, method, clip, opt, rank)
            # a new method takes the nearest of its own settings; other controls must match
            exact = exact or name == "method"
            notes[p].value = "" if exact else "not in the grid; showing the nearest run"
            refresh()

        return handler

    for p, side in enumerate(("left", "right")):
        c = {n: dropdown(n, [("", None)], None) for n in ("method", "clip", "optimizer", "lr")}
        controls[side] = c
        for n, w in c.items():
            w.observe(on_pane(p, n), names="value")

    def on_data(change: dict) -> None:
        for p in range(2):
            r = runs[panes[p]]
            panes[p], exact = nearest_run(
                meta, data_dd.value, r["method"], r["clip"], r["optimizer"], lr_rank(meta, panes[p])
            )
            notes[p].value = "" if exact else "not in the grid; showing the nearest run"
        refresh()

    data_dd.observe(on_data, names="value")
    frame.observe(lambda change: draw(), names="value")
    refresh()
    row = [
        widgets.VBox([*controls[side].values(), notes[p]])
        for p, side in enumerate(("left", "right"))
    ]
    box = widgets.VBox([widgets.HBox([data_dd, play, frame]), widgets.HBox(row), out])
    box.controls, box.figure, box.artists, box.notes = controls, fig, artists, notes
    box.state = lambda: {
        "data": data_dd.value,
        "left": runs[panes[0]]["key"],
        "right": runs[panes[1]]["key"],
        "t": frame.value,
    }
    return box
