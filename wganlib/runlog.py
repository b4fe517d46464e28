r"""What a long image run writes while it trains: CSV always, TensorBoard when installed,
sample grids from a fixed batch of noise, and a periodic sliced Wasserstein distance.

The command line (:mod:`wganlib.cli`) attaches these as callbacks of
:meth:`wganlib.train.Run.fit`; under ``torchrun`` only the main process makes them (the others
hold the same weights). TensorBoard is optional: :class:`TensorBoardLog` imports
``torch.utils.tensorboard`` lazily and is a no-op (``enabled`` False) when the ``tensorboard``
package is missing; ``pip install wganlib[images]`` (and the README's set-up) installs it.

The sample grids all come from one fixed prior batch (``Run.sample(n, seed=...)``, which
leaves the training streams alone), so successive grids show the same :math:`z` mapped by a
generator that improves. The SWD (:func:`wganlib.image_metrics.sliced_wasserstein`, ProGAN
protocol, reported :math:`\times 10^3`) compares ``n`` generated images with ``n`` real images
drawn once at the start from the run's dataset.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

__all__ = ["TensorBoardLog", "SampleGrids", "SWDMonitor", "real_images", "tensorboard_available"]


def tensorboard_available() -> bool:
    """True when ``torch.utils.tensorboard`` can be imported (the ``tensorboard`` package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


class TensorBoardLog:
    """Scalars of the history's new rows to TensorBoard every call; no-op without tensorboard.

    ``resume_after``: the iteration a resumed run continues from. Events the killed run wrote
    past it are dropped (TensorBoard's ``purge_step``: events at steps >= ``resume_after + 1``
    from earlier files are discarded when read), and the first call writes the history's rows
    after it, so each step appears once.
    """

    def __init__(
        self, logdir: str | Path, *, enabled: bool | None = None, resume_after: int | None = None
    ) -> None:
        self.enabled = tensorboard_available() if enabled is None else bool(enabled)
        self._writer: Any = None
        self._after = -1 if resume_after is None else int(resume_after)
        self._written: int | None = 0 if resume_after is None else None
        if self.enabled:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_after is None else int(resume_after) + 1
            self._writer = SummaryWriter(str(logdir), purge_step=purge)

    def __call__(self, run: Any, iteration: int) -> None:
        if self._writer is None:
            return
        values, columns = run.history.values, run.history.columns
        if self._written is None:  # resumed: the rows up to resume_after were written before
            its = values[:, columns.index("iteration")]
            self._written = int((its <= self._after).sum())
        for row in values[self._written :]:
            step = int(row[columns.index("iteration")])
            for name, value in zip(columns, row, strict=True):
                if name != "iteration":
                    self._writer.add_scalar(name, float(value), step)
        self._written = len(values)
        self._writer.flush()

    def add_scalars(self, values: dict[str, float], step: int) -> None:
        """Log extra scalars (e.g. the SWD) at ``step``."""
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(name, float(value), step)

    def close(self) -> None:
        """Flush and close the writer."""
        if self._writer is not None:
            self._writer.close()


class SampleGrids:
    """Save ``n`` samples from one fixed prior batch as ``folder/samples_{iteration:07d}.png``."""

    def __init__(self, folder: str | Path, *, n: int = 64, seed: int = 1234) -> None:
        self.folder, self.n, self.seed = Path(folder), int(n), int(seed)
        self.paths: list[Path] = []

    def __call__(self, run: Any, iteration: int) -> None:
        from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

        from wganlib import plotting

        x = run.sample(self.n, seed=self.seed).float().cpu()
        self.folder.mkdir(parents=True, exist_ok=True)
        fig = Figure(figsize=(5.0, 5.0))
        ax = fig.add_subplot()
        plotting.plot_image_grid(x, ax=ax, title=f"{run.config.name}, iteration {iteration}")
        path = self.folder / f"samples_{iteration:07d}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        self.paths.append(path)


class SWDMonitor:
    """Every call: SWD between ``n`` generated and ``n`` fixed real images, appended to a CSV.

    Parameters
    ----------
    real : Tensor, shape (n, C, H, W)
        Real images in [-1, 1], drawn once (e.g. :func:`real_images`).
    path : str or Path
        CSV with columns ``iteration, swd_mean, swd_<resolution>...``.
    seed : int
        Seeds the generated batch (fixed: the same :math:`z` each time) and the SWD's
        random patches and directions.
    resume_after : int, optional
        A resumed run's checkpoint iteration: the rows of ``path`` up to it are kept (those a
        killed run wrote after it are dropped). None (a new run): ``path`` is started afresh.
    """

    def __init__(
        self,
        real: torch.Tensor,
        path: str | Path,
        *,
        seed: int = 0,
        tb=None,
        resume_after: int | None = None,
    ) -> None:
        self.real, self.path, self.seed, self.tb = real, Path(path), int(seed), tb
        self.rows: list[dict[str, float]] = []
        if resume_after is not None and self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as f:
                rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
            self.rows = [r for r in rows if r["iteration"] <= resume_after]

    def __call__(self, run: Any, iteration: int) -> None:
        from wganlib.image_metrics import sliced_wasserstein

        fake = run.sample(len(self.real), seed=self.seed + 1).float().cpu()
        res = sliced_wasserstein(self.real, fake, seed=self.seed, min_resolution=_min_res(fake))
        row = {"iteration": float(iteration), "swd_mean": res.mean}
        row.update({f"swd_{r}": v for r, v in zip(res.resolutions, res.levels, strict=True)})
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            w.writeheader()
            w.writerows(self.rows)
        if self.tb is not None:
            self.tb.add_scalars({"swd_mean": res.mean}, iteration)


def _min_res(x: torch.Tensor) -> int:
    return min(16, x.shape[-1])


def real_images(run: Any, n: int) -> torch.Tensor:
    """``n`` real images drawn from the run's dataset with a separate, fixed stream."""
    import dataclasses

    from wganlib.build import build_data

    cfg = dataclasses.replace(run.config, num_workers=0, device="cpu")
    src = build_data(cfg, device="cpu", seed=cfg.seed + 99_991)
    out, have = [], 0
    while have < n:
        x = src.next().float().cpu()
        out.append(x)
        have += len(x)
    return torch.cat(out)[:n]
