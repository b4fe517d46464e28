r"""Mode collapse on toy mixtures: five methods, three data sets, several seeds, one table.

For every method (:data:`METHODS`: GAN, non-saturating GAN, WGAN with weight clipping, WGAN-GP,
WGAN with spectral normalisation) and toy data set (:data:`DATASETS`), one training run of
:func:`wganlib.train.train` trains ``seeds`` independent generator/critic pairs side by side
(``TrainConfig.members``, :mod:`wganlib.ensemble`), then each pair is measured:

* on the mixtures, the VEEGAN protocol (:func:`wganlib.metrics.mode_coverage`): 2,500 samples,
  high quality within 3 standard deviations of a mode centre, modes covered, reverse KL;
* everywhere, the exact :math:`W_1` (POT) between ``n_w1`` generated and ``n_w1`` fresh target
  samples, next to the floor :math:`W_1` between two target samples of that size.

The result (:func:`sweep`) is a JSON-ready dict with the command line, git commit, date,
settings, one record per run and the mean and standard error over seeds (:func:`aggregate`).
Command line::

    python -m wganlib.experiments.mode_collapse --seeds 5 --iterations 1000 \
        --out data/results/mode_collapse.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib import toy
from wganlib.config import TrainConfig
from wganlib.history import Callback

__all__ = [
    "METHODS",
    "DATASETS",
    "MIXTURES",
    "method_config",
    "member_samples",
    "ring_error",
    "evaluate",
    "Tracker",
    "run_grid_cell",
    "aggregate",
    "sweep",
    "main",
]

#: Method name -> TrainConfig fields. Optimisers are each paper's defaults
#: (:func:`wganlib.config.optimizer_settings`): Adam 2e-4 for the GANs, RMSProp 5e-5 for
#: clipping, Adam 1e-4 (0.5, 0.9) for the penalty and spectral norm. The GANs take one
#: discriminator step per generator step (Goodfellow et al.), the WGANs five (Algorithm 1).
#: The penalty weight is the WGAN-GP reference code's choice for its toy tasks, 0.1 (its
#: image experiments use 10).
METHODS: dict[str, dict[str, Any]] = {
    "gan": {"objective": "gan", "lipschitz": "none", "n_critic": 1},
    "nsgan": {"objective": "nsgan", "lipschitz": "none", "n_critic": 1},
    "wgan-clip": {"objective": "wgan", "lipschitz": "clip", "n_critic": 5},
    "wgan-gp": {"objective": "wgan", "lipschitz": "gp", "n_critic": 5, "gp_weight": 0.1},
    "wgan-sn": {"objective": "wgan", "lipschitz": "sn", "n_critic": 5},
}
LABELS: dict[str, str] = {
    "gan": "GAN",
    "nsgan": "GAN (-log D)",
    "wgan-clip": "WGAN (clip)",
    "wgan-gp": "WGAN-GP",
    "wgan-sn": "WGAN (SN)",
}
DATASETS: tuple[str, ...] = ("8gaussians", "25gaussians", "swissroll")
#: Data sets with mode centres (mode coverage is measured on these only).
MIXTURES: tuple[str, ...] = ("8gaussians", "25gaussians")
METRICS: tuple[str, ...] = ("modes", "high_quality", "reverse_kl", "w1")
EVAL_SEED = 12_345  # the prior draw of the evaluation samples
TARGET_SEED = 54_321  # the target draws W1 is measured against


def method_config(
    method: str,
    data: str,
    *,
    iterations: int,
    members: int = 1,
    seed: int = 0,
    width: int = 64,
    depth: int = 3,
    batch_size: int = 64,
    device: str = "cpu",
    **overrides: Any,
) -> TrainConfig:
    """The :class:`TrainConfig` of one grid cell: ``method`` (a key of :data:`METHODS`) on ``data``.

    ``members`` independent runs are trained side by side, each on ``batch_size`` samples per
    step; ``overrides`` are further config fields.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if data not in DATASETS:
        raise ValueError(f"unknown data set {data!r}; choose one of {', '.join(DATASETS)}")
    fields = {
        "name": f"{method}-{data}",
        "data": data,
        "width": width,
        "depth": depth,
        "batch_size": batch_size,
        "iterations": iterations,
        "members": members,
        "seed": seed,
        "device": device,
        "log_every": max(1, min(100, iterations)),
        **METHODS[method],
        **overrides,
    }
    return TrainConfig(**fields)


def member_samples(run: Any, n: int, *, seed: int = EVAL_SEED) -> torch.Tensor:
    """``n`` generator samples of each member of ``run``: a tensor ``(members, n, d)`` on the CPU.

    One prior draw (``seed``) of ``members * n`` rows goes through the ensemble; block ``k`` is
    member ``k``'s. A plain run (``members = 1``) gives shape ``(1, n, d)``.
    """
    k = getattr(run.config, "members", 1)
    x = run.sample(k * n, seed=seed).detach().cpu()
    return x.reshape(k, n, -1)


def ring_error(x: Any, radius: float | None = None) -> float:
    r"""Mean distance of 2-D samples to the circle of the 8 Gaussians, :math:`\frac1n\sum_i
    \bigl|\,\|x_i\| - r\bigr|`.

    ``radius`` defaults to the radius of the ``"8gaussians"`` centres. It measures how well the
    samples lie on the circle, whatever their angle: it is small for a ring and for the eight
    bumps alike (for the target itself it is about :math:`\sigma\sqrt{2/\pi}`).
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"x must have shape (n, 2) with n >= 1, got {tuple(x.shape)}")
    r = float(toy.centers("8gaussians").norm(dim=1)[0]) if radius is None else float(radius)
    return float((x.norm(dim=1) - r).abs().mean())


def evaluate(
    samples: Any, data: str, *, n_w1: int = 1000, target_seed: int = TARGET_SEED
) -> dict[str, float | int | None]:
    """Metrics of one generator's ``samples`` ``(n, 2)`` against toy distribution ``data``.

    Returns ``modes``, ``high_quality`` (a fraction), ``reverse_kl`` (None when no sample is of
    high quality) for mixtures (None otherwise), and ``w1``: exact :math:`W_1` between the first
    ``n_w1`` samples and ``n_w1`` target samples drawn with ``target_seed``.
    """
    from wganlib.distances import exact_w1
    from wganlib.metrics import mode_coverage

    x = torch.as_tensor(samples).detach().cpu().float()
    if len(x) < n_w1:
        raise ValueError(f"need at least n_w1={n_w1} samples, got {len(x)}")
    out: dict[str, float | int | None] = {"modes": None, "high_quality": None, "reverse_kl": None}
    if data in MIXTURES:
        cov = mode_coverage(x, toy.centers(data), toy.mode_std(data))
        kl = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None
        out.update(modes=cov.modes, high_quality=cov.high_quality, reverse_kl=kl)
    target = toy.sample(data, n_w1, generator=torch.Generator().manual_seed(target_seed))
    out["w1"] = exact_w1(x[:n_w1], target)
    return out


class Tracker:
    r"""A training callback that measures every member every ``every`` generator iterations.

    For each check it appends to ``records`` one dict per member: ``iteration``, ``member``,
    ``modes``, ``high_quality``, ``reverse_kl`` (mixtures) and ``ring_error`` (8 Gaussians),
    from ``n`` samples; with ``keep_samples`` the samples themselves go to ``samples``
    (``{iteration: tensor (members, n, 2)}``), for pictures of training. Use it as
    ``train(config, callbacks=[tracker.callback()])``.
    """

    def __init__(self, data: str, every: int, *, n: int = 2500, keep_samples: bool = False):
        if every <= 0:
            raise ValueError(f"every must be positive, got {every}")
        self.data, self.every, self.n, self.keep_samples = data, int(every), int(n), keep_samples
        self.records: list[dict[str, Any]] = []
        self.samples: dict[int, torch.Tensor] = {}

    def __call__(self, run: Any, iteration: int) -> None:
        from wganlib.metrics import mode_coverage

        xs = member_samples(run, self.n)
        if self.keep_samples:
            self.samples[iteration] = xs
        for k, x in enumerate(xs):
            rec: dict[str, Any] = {"iteration": int(iteration), "member": k}
            if self.data in MIXTURES:
                cov = mode_coverage(x, toy.centers(self.data), toy.mode_std(self.data))
                rec.update(modes=cov.modes, high_quality=cov.high_quality)
                rec["reverse_kl"] = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None
            if self.data == "8gaussians":
                rec["ring_error"] = ring_error(x)
            self.records.append(rec)

    def callback(self) -> Callback:
        """A :class:`~wganlib.history.Callback` that runs this tracker (and after the last step)."""
        return Callback(self.every, self, at_end=True, sync=False)


def run_grid_cell(
    method: str,
    data: str,
    *,
    iterations: int,
    seeds: int,
    seed: int = 0,
    n_eval: int = 2500,
    n_w1: int = 1000,
    trace_every: int = 0,
    **config: Any,
) -> dict[str, Any]:
    """Train ``seeds`` members of ``method`` on ``data`` in one run and measure each.

    Returns ``{"method", "data", "seconds", "runs": [per-member metrics], "trace": [...]}``;
    ``trace`` holds :class:`Tracker` records every ``trace_every`` iterations (0: none).
    """
    from wganlib.train import train

    cfg = method_config(method, data, iterations=iterations, members=seeds, seed=seed, **config)
    tracker = Tracker(data, trace_every, n=n_eval) if trace_every > 0 else None
    start = time.perf_counter()
    run = train(cfg, callbacks=[tracker.callback()] if tracker else [])
    seconds = time.perf_counter() - start
    runs = []
    for k, x in enumerate(member_samples(run, max(n_eval, n_w1))):
        metrics = evaluate(x[:n_eval], data, n_w1=min(n_w1, n_eval), target_seed=TARGET_SEED + k)
        if n_w1 > n_eval:  # W1 on its own (larger) sample
            metrics["w1"] = evaluate(x, data, n_w1=n_w1, target_seed=TARGET_SEED + k)["w1"]
        runs.append({"method": method, "data": data, "member": k, **metrics})
    return {
        "method": method,
        "data": data,
        "seconds": seconds,
        "train_seconds": run.wall_time,
        "runs": runs,
        "trace": []
        if tracker is None
        else [{"method": method, "data": data, **r} for r in tracker.records],
    }


def aggregate(
    records: Iterable[dict[str, Any]], metrics: Sequence[str] = METRICS
) -> list[dict[str, Any]]:
    r"""Mean and standard error over seeds, per (method, data).

    For each metric: ``mean``, ``se`` (sample std with ``ddof=1`` over :math:`\sqrt n`; None for
    one value) and ``n``, the number of runs where it is defined (values that are None, e.g. the
    reverse KL of a generator with no high-quality sample, are left out and counted in
    ``missing``). Groups keep the order of first appearance.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["method"], r["data"]), []).append(r)
    out = []
    for (method, data), rows in groups.items():
        row: dict[str, Any] = {"method": method, "data": data, "runs": len(rows)}
        for m in metrics:
            vals = np.array([r[m] for r in rows if r.get(m) is not None], dtype=float)
            if vals.size == 0:
                row[m] = None
                continue
            se = float(vals.std(ddof=1) / math.sqrt(vals.size)) if vals.size > 1 else None
            row[m] = {
                "mean": float(vals.mean()),
                "se": se,
                "n": int(vals.size),
                "missing": len(rows) - int(vals.size),
            }
        out.append(row)
    return out


def _w1_floor(data: str, n: int, repeats: int) -> dict[str, float]:
    """W1 between two independent target samples of size ``n`` (the metric's noise floor)."""
    from wganlib.distances import exact_w1

    vals = []
    for i in range(repeats):
        g = torch.Generator().manual_seed(TARGET_SEED + 1000 + i)
        vals.append(exact_w1(toy.sample(data, n, generator=g), toy.sample(data, n, generator=g)))
    v = np.array(vals)
    return {"mean": float(v.mean()), "se": float(v.std(ddof=1) / math.sqrt(len(v))), "n": len(v)}


def _git(*args: str) -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _cell(args: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    method, data, kwargs = args
    return run_grid_cell(method, data, **kwargs)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def sweep(
    methods: Sequence[str] = tuple(METHODS),
    datasets: Sequence[str] = DATASETS,
    *,
    seeds: int = 5,
    iterations: int = 1000,
    workers: int = 1,
    threads: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **cell: Any,
) -> dict[str, Any]:
    """Run the grid ``methods x datasets`` (``seeds`` members each) and aggregate.

    ``workers`` processes (each with ``threads`` torch threads) share the cells;
    ``cell`` goes to :func:`run_grid_cell` (``n_eval``, ``n_w1``, ``trace_every``, ``width``,
    ``depth``, ``batch_size``, ``seed``, ``device``). ``progress`` is called with each finished
    cell. Returns the results dict (no command line, commit or date: :func:`main` adds them).
    """
    # the cells with 5 critic steps first: they take longest, so the workers finish together
    order = sorted(
        ((m, d) for m in methods for d in datasets), key=lambda md: -METHODS[md[0]]["n_critic"]
    )
    tasks = [(m, d, {"iterations": iterations, "seeds": seeds, **cell}) for m, d in order]
    start = time.perf_counter()
    cells = []
    if workers <= 1:
        _init_worker(threads)
        for t in tasks:
            cells.append(_cell(t))
            if progress:
                progress(cells[-1])
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # no fork of a process that holds torch threads
        with ctx.Pool(workers, initializer=_init_worker, initargs=(threads,)) as pool:
            for res in pool.imap_unordered(_cell, tasks):
                cells.append(res)
                if progress:
                    progress(res)
    rank = {md: i for i, md in enumerate((m, d) for m in methods for d in datasets)}
    cells.sort(key=lambda c: rank[(c["method"], c["data"])])
    runs = [r for c in cells for r in c["runs"]]
    n_w1 = int(cell.get("n_w1", 1000))
    return {
        "settings": {
            "methods": {m: METHODS[m] for m in methods},
            "datasets": list(datasets),
            "seeds": seeds,
            "iterations": iterations,
            "config": method_config(
                methods[0],
                datasets[0],
                iterations=iterations,
                members=seeds,
                **{
                    k: v
                    for k, v in cell.items()
                    if k in ("width", "depth", "batch_size", "seed", "device")
                },
            ).to_dict(),  # fmt: skip
            "n_eval": int(cell.get("n_eval", 2500)),
            "n_w1": n_w1,
            "workers": workers,
            "threads": threads,
        },
        "w1_floor": {d: _w1_floor(d, n_w1, 5) for d in datasets},
        "seconds": time.perf_counter() - start,
        "cells": [{k: c[k] for k in ("method", "data", "seconds", "train_seconds")} for c in cells],
        "runs": runs,
        "aggregate": aggregate(runs),
        "trace": [r for c in cells for r in c["trace"]],
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wganlib.experiments.mode_collapse",
        description="Mode coverage and exact W1 of GAN / WGAN variants on toy mixtures.",
    )
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", type=int, default=5, help="independent runs per cell (default 5)")
    p.add_argument("--iterations", type=int, default=1000, help="generator iterations")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64, help="per run (Algorithm 1's m)")
    p.add_argument("--n-eval", type=int, default=2500, help="samples for mode coverage")
    p.add_argument("--n-w1", type=int, default=1000, help="samples per side for exact W1")
    p.add_argument("--trace-every", type=int, default=0, help="also measure during training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1, help="processes")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry: run :func:`sweep` and write the JSON results file."""
    args = _parser().parse_args(argv)
    if args.seeds < 1 or args.iterations < 1:
        raise SystemExit("--seeds and --iterations must be positive")

    def progress(cell: dict[str, Any]) -> None:
        print(f"{cell['method']:>10} {cell['data']:>12}: {cell['seconds']:.0f} s", flush=True)

    res = sweep(
        args.methods, args.datasets, seeds=args.seeds, iterations=args.iterations,
        workers=args.workers, threads=args.threads, progress=progress, width=args.width,
        depth=args.depth, batch_size=args.batch_size, n_eval=args.n_eval, n_w1=args.n_w1,
        trace_every=args.trace_every, seed=args.seed, device=args.device,
    )  # fmt: skip
    argv_list = list(sys.argv[1:] if argv is None else argv)
    status = _git("status", "--porcelain")
    res = {
        "command": "python -m wganlib.experiments.mode_collapse " + " ".join(argv_list),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
        },  # fmt: skip
        **res,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return res


if __name__ == "__main__":
    main()
