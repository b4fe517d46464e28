r"""Mode collapse on toy mixtures: six methods, three data sets, several seeds, one table.

For every method (:data:`METHODS`: GAN, non-saturating GAN, WGAN with weight clipping, WGAN-GP,
WGAN-LP, WGAN with spectral normalisation) and toy data set (:data:`DATASETS`), one cell of the
resumable sweep engine (:mod:`wganlib.sweep`) trains ``seeds`` independent generator/critic
pairs side by side (``TrainConfig.members``, :mod:`wganlib.ensemble`). The grid also holds
``wgan-clip-official`` on the 8 Gaussians: clipping with the 2017 code's schedule (100 critic
steps for the first 25 generator iterations and every 500th), the setting of the paper's
Figure 4, for chapter 6.

During training (:data:`SCHEDULE`: every 50 generator iterations up to 500, then every 250),
each member is measured (:func:`measure`):

* on the mixtures, the VEEGAN protocol (:func:`wganlib.metrics.mode_coverage`): 2,500 samples,
  high quality within 3 standard deviations of a mode centre, modes covered, reverse KL; on the
  8 Gaussians also the mean distance to the circle (:func:`ring_error`);
* the exact :math:`W_1` (POT) between ``n_w1`` generated and ``n_w1`` fresh target samples;
* the critic's estimate on ``n_w1`` fresh samples a side (WGAN: of :math:`W_1`; GAN: the
  Jensen-Shannon lower bound).

At the end (:func:`final`) every member is evaluated once more, and member 0's critic is
recorded on a 64 x 64 grid and 1,000 of its samples are kept (for the critic surfaces of
chapter 5). Samples of member 0 at :data:`SNAPSHOTS` go to a compressed ``.npz`` beside the
results file. A method has *converged* in a cell when its mean W1 (and, on mixtures, its mean
high-quality fraction) over the last fifth of training is within the tolerance of the fifth
before (:func:`converged`).

Command line (resumable: run it again after a kill and it continues)::

    python -m wganlib.experiments.mode_collapse --seeds 5 --workers 2 \
        --state runs/sweeps/mode_collapse --out data/results/mode_collapse.json
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib import toy
from wganlib.config import TrainConfig
from wganlib.experiments.analysis import (
    METRICS,
    aggregate,
    converged,
    phase_points,
    seed_correlations,
    trace_curve,
)
from wganlib.experiments.provenance import code_version, provenance
from wganlib.experiments.toy_measures import (
    MIXTURES,
    TARGET_SEED,
    Tracker,
    evaluate,
    member_critic_on_grid,
    member_estimates,
    member_samples,
    ring_error,
)
from wganlib.sweep import Cell, ProgressBar, run_sweep, write_json_atomic, write_npz_atomic

__all__ = [
    "METHODS",
    "LABELS",
    "DATASETS",
    "METRICS",
    "MIXTURES",
    "ITERATIONS",
    "SCHEDULE",
    "N_W1",
    "method_config",
    "member_samples",
    "ring_error",
    "evaluate",
    "Tracker",
    "measure",
    "final",
    "grid_cells",
    "aggregate",
    "converged",
    "trace_curve",
    "seed_correlations",
    "phase_points",
    "sweep",
    "main",
]

#: Method name -> TrainConfig fields. Optimisers are each paper's defaults
#: (:func:`wganlib.config.optimizer_settings`): Adam 2e-4 for the GANs, RMSProp 5e-5 and
#: c = 0.01 for clipping (Algorithm 1), Adam 1e-4 (0.5, 0.9) for the penalties and spectral
#: norm. The GANs take one discriminator step per generator step (Goodfellow et al.), the WGANs
#: five. The penalty weight is the WGAN-GP reference code's choice for its toy tasks, 0.1 (its
#: image experiments use 10); the one-sided penalty (LP) uses the same weight.
METHODS: dict[str, dict[str, Any]] = {
    "gan": {"objective": "gan", "lipschitz": "none", "n_critic": 1},
    "nsgan": {"objective": "nsgan", "lipschitz": "none", "n_critic": 1},
    "wgan-clip": {"objective": "wgan", "lipschitz": "clip", "n_critic": 5},
    "wgan-gp": {"objective": "wgan", "lipschitz": "gp", "n_critic": 5, "gp_weight": 0.1},
    "wgan-lp": {"objective": "wgan", "lipschitz": "lp", "n_critic": 5, "gp_weight": 0.1},
    "wgan-sn": {"objective": "wgan", "lipschitz": "sn", "n_critic": 5},
    "wgan-clip-official": {
        "objective": "wgan",
        "lipschitz": "clip",
        "n_critic": 5,
        "schedule": "official",
        "clip_when": "before",
    },  # fmt: skip
}
LABELS: dict[str, str] = {
    "gan": "GAN",
    "nsgan": "GAN (-log D)",
    "wgan-clip": "WGAN (clip)",
    "wgan-gp": "WGAN-GP",
    "wgan-lp": "WGAN-LP",
    "wgan-sn": "WGAN (SN)",
    "wgan-clip-official": "WGAN (clip, 2017 schedule)",
}
#: The methods of the table (every data set); the extra cells run on the 8 Gaussians only.
TABLE_METHODS: tuple[str, ...] = ("gan", "nsgan", "wgan-clip", "wgan-gp", "wgan-lp", "wgan-sn")
EXTRA_CELLS: tuple[tuple[str, str], ...] = (("wgan-clip-official", "8gaussians"),)
DATASETS: tuple[str, ...] = ("8gaussians", "25gaussians", "swissroll")
#: Generator iterations per data set (the budget measured to fit the machine; see chapter 5).
ITERATIONS: dict[str, int] = {"8gaussians": 8000, "25gaussians": 2000, "swissroll": 1500}
#: Measurement points: dense early (the circle forms in the first hundreds of iterations).
SCHEDULE: tuple[int, ...] = (*range(50, 500, 50), *range(500, 100_001, 250))
#: Iterations at which member 0's samples are kept for pictures of training.
SNAPSHOTS: tuple[int, ...] = (100, 250, 500, 1000, 2000, 4000, 6000, 8000, 10000)
#: Axis range of the critic grid per data set.
GRID_RANGE: dict[str, float] = {"8gaussians": 2.0, "25gaussians": 2.0, "swissroll": 2.0}
SNAPSHOT_SAMPLES = 500
#: Samples a side for W1 and the critic's estimate during training (chapter 6 reads the 8
#: Gaussians' curves, hence 2,000 there); the end-of-run W1 uses twice as many.
N_W1: dict[str, int] = {"8gaussians": 2000, "25gaussians": 1000, "swissroll": 1000}
WIDTH, DEPTH, BATCH_SIZE = 128, 3, 256


def method_config(
    method: str,
    data: str,
    *,
    iterations: int,
    members: int = 1,
    seed: int = 0,
    width: int = WIDTH,
    depth: int = DEPTH,
    batch_size: int = BATCH_SIZE,
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


def measure(run: Any, iteration: int, *, n: int = 2500, n_w1: int = 1000) -> list[dict[str, Any]]:
    """One record per member: coverage (mixtures), ring error (8 Gaussians), W1, estimate.

    Member 0's record also holds ``samples`` (a list of ``[x, y]``, 3 decimals) at the
    :data:`SNAPSHOTS` iterations.
    """
    data = run.config.data
    xs = member_samples(run, max(n, n_w1))
    estimates = member_estimates(run, n_w1)
    out = []
    for k, x in enumerate(xs):
        rec: dict[str, Any] = {"iteration": int(iteration), "member": k}
        metrics = evaluate(x[:n], data, n_w1=n_w1, target_seed=TARGET_SEED + k)
        rec.update(metrics)
        if data == "8gaussians":
            rec["ring_error"] = ring_error(x[:n])
        rec["estimate"] = estimates[k]
        if k == 0 and iteration in SNAPSHOTS:
            rec["samples"] = np.round(x[:SNAPSHOT_SAMPLES].numpy().astype(float), 3).tolist()
        out.append(rec)
    return out


def final(run: Any, *, n_eval: int = 2500, n_w1: int = 2000) -> dict[str, Any]:
    """End of a cell: every member evaluated; member 0's critic on a grid and 1,000 samples."""
    data = run.config.data
    xs = member_samples(run, max(n_eval, n_w1))
    runs = []
    for k, x in enumerate(xs):
        metrics = evaluate(x[:n_eval], data, n_w1=min(n_w1, n_eval), target_seed=TARGET_SEED + k)
        if n_w1 > n_eval:
            metrics["w1"] = evaluate(x, data, n_w1=n_w1, target_seed=TARGET_SEED + k)["w1"]
        runs.append({"member": k, **metrics})
    lim = GRID_RANGE[data]
    grid = member_critic_on_grid(run, -lim, lim, 64)
    return {
        "runs": runs,
        "critic_grid": {"lo": -lim, "hi": lim, "values": np.round(grid, 5).tolist()},
        "samples": np.round(xs[0, :1000].numpy().astype(float), 4).tolist(),
    }


def grid_cells(
    methods: Sequence[str] = TABLE_METHODS,
    datasets: Sequence[str] = DATASETS,
    *,
    seeds: int = 5,
    iterations: dict[str, int] | None = None,
    extra: Iterable[tuple[str, str]] = EXTRA_CELLS,
    n_eval: int = 2500,
    n_w1: dict[str, int] | None = None,
    schedule: Sequence[int] = SCHEDULE,
    checkpoint_every: int = 200,
    **config: Any,
) -> list[Cell]:
    """The sweep's cells: ``methods x datasets`` plus ``extra`` (method, data) pairs.

    ``iterations`` maps a data set to its budget (default :data:`ITERATIONS`), ``n_w1`` to the
    samples a side of W1 and the estimate during training (default :data:`N_W1`; twice that at
    the end); ``config`` goes
    to :func:`method_config` (``width``, ``depth``, ``batch_size``, ``seed``, ``device``).
    """
    budget = {**ITERATIONS, **(iterations or {})}
    n_w1 = {**N_W1, **(n_w1 or {})}
    pairs = [(m, d) for m in methods for d in datasets]
    pairs += [(m, d) for m, d in extra if d in datasets and (m, d) not in pairs]
    return [
        Cell(
            key=f"{m}__{d}",
            config=method_config(m, d, iterations=budget[d], members=seeds, **config),
            measure=functools.partial(measure, n=n_eval, n_w1=n_w1[d]),
            schedule=tuple(schedule),
            final=functools.partial(final, n_eval=n_eval, n_w1=2 * n_w1[d]),
            checkpoint_every=checkpoint_every,
        )
        for m, d in pairs
    ]


def _w1_floor(data: str, n: int, repeats: int) -> dict[str, float]:
    """W1 between two independent target samples of size ``n`` (the metric's noise floor)."""
    from wganlib.distances import exact_w1

    vals = []
    for i in range(repeats):
        g = torch.Generator().manual_seed(TARGET_SEED + 1000 + i)
        vals.append(exact_w1(toy.sample(data, n, generator=g), toy.sample(data, n, generator=g)))
    v = np.array(vals)
    return {"mean": float(v.mean()), "se": float(v.std(ddof=1) / math.sqrt(len(v))), "n": len(v)}


def sweep(
    cells: Sequence[Cell],
    state: str | Path,
    *,
    workers: int = 1,
    threads: int = 1,
    progress: Any = None,
    version: tuple[str | None, bool | None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run (or resume) ``cells`` with :func:`wganlib.sweep.run_sweep` and tabulate them.

    Returns the results dict (without provenance) and the snapshot samples
    ``{"METHOD__DATA__ITERATION": array (n, 2)}``.
    """
    results = run_sweep(
        cells, state, workers=workers, threads=threads, progress=progress, version=version
    )
    runs, trace, cell_rows, finals = [], [], [], {}
    snapshots: dict[str, np.ndarray] = {}
    for cell, res in zip(cells, results, strict=True):
        method, data = cell.key.split("__")
        cfg = cell.config
        for r in res["final"]["runs"]:
            runs.append({"method": method, "data": data, "iterations": res["iterations"], **r})
        for r in res["trace"]:
            r = dict(r)
            if "samples" in r:
                snapshots[f"{cell.key}__{r['iteration']}"] = np.asarray(
                    r.pop("samples"), dtype=np.float16
                )
            trace.append({"method": method, "data": data, **r})
        finals[cell.key] = {k: res["final"][k] for k in ("critic_grid", "samples")}
        cell_rows.append({
            "method": method, "data": data, "iterations": res["iterations"],
            "members": cfg.members, "seconds": res["seconds"],
            "train_seconds": res["train_seconds"], "diverged": res["diverged"],
            "config": cfg.to_dict(), "convergence": converged(res["trace"]),
        })  # fmt: skip
    datasets = sorted({c.config.data for c in cells}, key=DATASETS.index)
    n_w1 = {c.config.data: int(c.measure.keywords["n_w1"]) for c in cells}
    return {
        "settings": {
            "methods": {m: METHODS[m] for m in dict.fromkeys(c.key.split("__")[0] for c in cells)},
            "datasets": datasets,
            "seeds": cells[0].config.members,
            "iterations": {c.config.data: c.config.iterations for c in cells},
            "measured_at": {c.config.data: c.points for c in cells},
            "n_eval": int(cells[0].measure.keywords.get("n", 2500)),
            "n_w1_trace": n_w1,
            "n_w1_final": {d: 2 * n for d, n in n_w1.items()},
            "workers": workers,
            "threads": threads,
        },
        "w1_floor": {d: _w1_floor(d, 2 * n_w1[d], 5) for d in datasets},
        "cells": cell_rows,
        "runs": runs,
        "aggregate": aggregate(runs),
        "trace": trace,
        "final": finals,
    }, snapshots


def _iterations(items: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        data, _, n = item.rpartition("=")
        targets = [data] if data else list(DATASETS)
        for d in targets:
            if d not in DATASETS:
                raise SystemExit(f"--iterations: unknown data set {d!r}; use {', '.join(DATASETS)}")
            try:
                out[d] = int(n)
            except ValueError:
                raise SystemExit(f"--iterations: {item!r} is not N or DATA=N") from None
            if out[d] < 1:
                raise SystemExit(f"--iterations must be positive, got {item!r}")
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wganlib.experiments.mode_collapse",
        description="Mode coverage and exact W1 of GAN / WGAN variants on toy mixtures "
        "(resumable: run the same command again to continue).",
    )
    p.add_argument("--methods", nargs="+", default=list(TABLE_METHODS), choices=list(METHODS))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--no-extra", action="store_true", help="leave out wgan-clip-official")
    p.add_argument("--seeds", type=int, default=5, help="independent runs per cell (default 5)")
    p.add_argument(
        "--iterations", nargs="+", default=[],
        help="generator iterations: N for every data set or DATA=N (default "
        + ", ".join(f"{d}={n}" for d, n in ITERATIONS.items()) + ")",
    )  # fmt: skip
    p.add_argument("--width", type=int, default=WIDTH)
    p.add_argument("--depth", type=int, default=DEPTH)
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="per run (Algorithm 1's m)")
    p.add_argument("--n-eval", type=int, default=2500, help="samples for mode coverage")
    p.add_argument(
        "--n-w1", type=int, default=0,
        help="samples a side for W1 during training (default per data set: "
        + ", ".join(f"{d}={n}" for d, n in N_W1.items()) + "; twice that at the end)",
    )  # fmt: skip
    p.add_argument("--every", type=int, default=0, help="measure every N iterations instead")
    p.add_argument("--checkpoint-every", type=int, default=200, help="generator iterations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes (one per core)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--state", type=Path, required=True, help="folder of the per-cell state")
    p.add_argument("--out", type=Path, required=True, help="JSON results file to write")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Command-line entry: run or resume the sweep; write the results once it is complete."""
    args = _parser().parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if args.seeds < 1 or args.workers < 1 or args.threads < 1:
        raise SystemExit("--seeds, --workers and --threads must be positive")
    schedule = tuple(range(args.every, 100_001, args.every)) if args.every > 0 else SCHEDULE
    cells = grid_cells(
        args.methods, args.datasets, seeds=args.seeds, iterations=_iterations(args.iterations),
        extra=() if args.no_extra else EXTRA_CELLS, n_eval=args.n_eval,
        n_w1={d: args.n_w1 for d in DATASETS} if args.n_w1 > 0 else None,
        schedule=schedule, checkpoint_every=args.checkpoint_every, width=args.width, depth=args.depth, batch_size=args.batch_size,
        seed=args.seed,
    )  # fmt: skip
    version = code_version()
    if version[1]:
        print("warning: the work tree has uncommitted changes; the results file will say "
              "git_dirty: true", file=sys.stderr)  # fmt: skip
    bar = ProgressBar()
    start = time.perf_counter()
    res, snapshots = sweep(
        cells, args.state, workers=args.workers, threads=args.threads, progress=bar,
        version=version,
    )  # fmt: skip
    bar.close()
    header = provenance("wganlib.experiments.mode_collapse", argv_list, threads=args.threads)
    header["seconds_last_session"] = time.perf_counter() - start
    header["seconds_all_cells"] = sum(c["seconds"] for c in res["cells"])
    out = {**header, **res}
    npz = args.out.with_name(args.out.stem + "_samples.npz")
    write_npz_atomic(npz, snapshots)
    write_json_atomic(args.out, out)
    print(f"wrote {args.out} and {npz}", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
