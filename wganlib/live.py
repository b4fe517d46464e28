r"""A long image run from a notebook: progress bar, live figures, resuming from its checkpoint.

:func:`train_live` is what Chapter 9 calls on a GPU. It trains one config into a folder the way
``python -m wganlib train`` does (the same callbacks of :mod:`wganlib.runlog`: sample grids from a
fixed prior batch, the sliced Wasserstein distance against fixed real images, the history as CSV,
a checkpoint every ``checkpoint_every`` iterations), and in a notebook it redraws one figure as
the run goes: the latest sample grid, the critic's estimate through a running median, and the
SWD. Run the cell again and it resumes from the folder's checkpoint (a finished run only shows
its figure). The figure is drawn with :mod:`wganlib.plotting`; outside IPython nothing is shown.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["train_live", "live_figure"]


def live_figure(run: Any, out: str | Path, *, window: int = 101) -> Any:
    """A matplotlib Figure: the latest sample grid, ``critic_estimate`` and the SWD so far."""
    import numpy as np
    from matplotlib.figure import Figure

    from wganlib import plotting

    out = Path(out)
    fig = Figure(figsize=(12.0, 3.8))
    ax_img, ax_est, ax_swd = fig.subplots(1, 3)
    grids = sorted((out / "samples").glob("samples_*.png"))
    if grids:
        import matplotlib.image as mpimg

        ax_img.imshow(mpimg.imread(grids[-1]))
        ax_img.set_title(grids[-1].stem.replace("samples_", "samples, iteration "), fontsize=9)
    ax_img.set_axis_off()
    h = run.history
    if len(h):
        it = h["iteration"]
        plotting.plot_history(
            {"iteration": it, "critic_estimate": h["critic_estimate"]}, ["critic_estimate"],
            ax=ax_est, x="iteration", window=min(window, max(1, len(it) // 2 * 2 - 1)),
        )  # fmt: skip
        ax_est.set_ylabel("critic estimate of W")
    swd = out / "swd.csv"
    if swd.is_file():
        with swd.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows:
            x = np.array([float(r["iteration"]) for r in rows])
            y = np.array([float(r["swd_mean"]) for r in rows])
            ax_swd.plot(x, y, marker="o")
    ax_swd.set_xlabel("iteration")
    ax_swd.set_ylabel(r"SWD $\times 10^3$ (paired protocol)")
    fig.suptitle(f"{run.config.name}: generator iteration {run.iteration}", fontsize=10)
    fig.tight_layout()
    return fig


def train_live(
    config_path: str | Path,
    out: str | Path,
    *,
    overrides: Iterable[str] = (),
    show_every: int | None = None,
    progress: bool = True,
) -> Any:
    """Train (or resume) ``config_path`` with ``overrides`` into ``out``; returns the run.

    Parameters
    ----------
    config_path : path of a TOML config (e.g. ``configs/lsun_dcgan_wgan_clip.toml``)
    out : the run's folder: ``checkpoint.pt``, ``history.csv``, ``samples/``, ``swd.csv``
    overrides : ``key=value`` strings (e.g. ``data_root=...``, ``device=cuda``)
    show_every : redraw the figure every so many iterations (default: ``sample_every``, or
        ``log_every``); in IPython only
    progress : a tqdm bar (``tqdm.auto``: a widget in Jupyter, text elsewhere)
    """
    from wganlib.config import load_config, to_toml
    from wganlib.history import Callback
    from wganlib.runlog import SampleGrids, SWDMonitor, real_images
    from wganlib.train import Run, load

    out = Path(out)
    cfg = load_config(config_path, list(overrides))
    ckpt = out / "checkpoint.pt"
    run = load(ckpt, overrides=cfg.to_dict()) if ckpt.is_file() else Run(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(to_toml(run.config), encoding="utf-8")
    handle = _display(None, run, out)
    if run.iteration >= cfg.iterations:
        return run
    cbs = []
    if cfg.sample_every:
        cbs.append(Callback(cfg.sample_every, SampleGrids(out / "samples", seed=cfg.seed + 1)))
    if cfg.swd_every:
        swd = SWDMonitor(real_images(run, cfg.swd_samples), out / "swd.csv", seed=cfg.seed)
        cbs.append(Callback(cfg.swd_every, swd))
    cbs.append(Callback(cfg.log_every, lambda r, _: r.history.to_csv(out / "history.csv")))
    every = show_every or cfg.sample_every or cfg.log_every
    cbs.append(Callback(every, lambda r, _: _display(handle, r, out), at_end=True))
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.iterations, initial=run.iteration, desc=cfg.name, unit="it")
        cbs.insert(0, Callback(1, lambda r, it: bar.update(it - bar.n), sync=False))
    try:
        run.fit(callbacks=cbs, checkpoint=ckpt)
    finally:
        if progress:
            bar.close()
    run.history.to_csv(out / "history.csv")
    return run


def _display(handle: Any, run: Any, out: Path) -> Any:
    """Show (or update) the live figure in IPython; returns the display handle (None outside)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    import io

    buf = io.BytesIO()  # a PNG, whatever matplotlib backend the notebook uses
    live_figure(run, out).savefig(buf, format="png", dpi=80)
    image = Image(data=buf.getvalue(), format="png")
    if handle is None:
        return display(image, display_id=True)
    handle.update(image)
    return handle
