r"""The training explorer's data: GAN and WGAN variants on toy data, recorded frame by frame.

A grid of single-seed runs on the resumable sweep engine (:mod:`wganlib.sweep`): data set
(:data:`DATASETS`) x variant (:func:`variants`: GAN and non-saturating GAN; WGAN with weight
clipping at :math:`c \in \{0.001, 0.01, 0.1\}` with RMSProp and with Adam; WGAN-GP, WGAN-LP and
spectral normalisation) x two learning rates (each optimiser's default and ten times it). Every
run trains the MLPs of chapter 5 (width 128, batch 256) for :data:`ITERATIONS` generator
iterations and is recorded at the :data:`FRAMES` iterations (:func:`frame`):

* :data:`N_SHOWN` generator samples from one fixed draw of the prior (the same :math:`z` in every
  frame, so that a point can be followed through training);
* the critic's values :math:`f(x)` on a :data:`GRID` x :data:`GRID` grid over
  :math:`[-R, R]^2` (:data:`RANGE`; the GAN's discriminator as a logit), and its gradient
  :math:`\nabla_x f` on a coarser :data:`ARROWS` x :data:`ARROWS` grid;
* the critic's estimate on fresh samples (WGAN: :math:`\frac1n\sum f(x_i) - \frac1n\sum
  f(g(z_i))`, GAN: the Jensen-Shannon lower bound), and the exact :math:`W_1` (POT) between
  :data:`N_MEASURE` generated and as many target samples; on the mixtures also the modes covered
  and the high-quality fraction (VEEGAN protocol, as in chapter 5).

:func:`pack` turns the finished grid into two files, small enough for a static page:
``explorer.json`` (provenance, the variants, and every scalar curve) and ``explorer.npz``
(quantised arrays: samples and critic values as ``uint8`` over their range, gradients as ``int8``
scaled by the frame's largest gradient norm; :func:`unpack` inverts it).

Command line (resumable: run it again after a kill and it continues)::

    python -m wganlib.experiments.explorer --workers 2 \
        --state runs/sweeps/explorer --out data/results/explorer.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wganlib.config import TrainConfig
from wganlib.experiments.provenance import code_version, provenance
from wganlib.experiments.toy_measures import (
    MIXTURES,
    evaluate,
    member_critic_on_grid,
    member_estimates,
    member_samples,
)
from wganlib.sweep import Cell, ProgressBar, run_sweep, write_json_atomic, write_npz_atomic

__all__ = [
    "DATASETS",
    "ITERATIONS",
    "FRAMES",
    "Variant",
    "variants",
    "cells",
    "frame",
    "pack",
    "unpack",
    "main",
]

DATASETS: tuple[str, ...] = ("8gaussians", "25gaussians", "swissroll")
ITERATIONS = 3000
#: Recorded generator iterations: dense early, where the picture changes fastest.
FRAMES: tuple[int, ...] = (
    10, 20, 30, 40, 50, 75, 100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500,
    600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000, 2200, 2400, 2600, 2800, 3000,
)  # fmt: skip
RANGE = 2.0  #: the square [-RANGE, RANGE]^2 shown (every target sample lies in it)
GRID = 28  #: critic values on GRID x GRID points
ARROWS = 11  #: gradient arrows on ARROWS x ARROWS points
N_SHOWN = 300  #: samples drawn per frame
N_MEASURE = 1000  #: samples a side for W1, the estimate and mode coverage
SAMPLE_RANGE = 2.5  #: samples are quantised over [-SAMPLE_RANGE, SAMPLE_RANGE] (clipped there)
WIDTH, DEPTH, BATCH_SIZE = 128, 3, 256

#: Each optimiser's default learning rate (the paper's RMSProp 5e-5; the WGAN-GP code's Adam
#: 1e-4; DCGAN's Adam 2e-4 for the GANs); the grid adds ten times each.
DEFAULT_LR = {("gan", "adam"): 2e-4, ("wgan", "rmsprop"): 5e-5, ("wgan", "adam"): 1e-4}
LR_FACTORS = (1, 10)
CLIP_VALUES = (0.001, 0.01, 0.1)


@dataclass(frozen=True)
class Variant:
    """One setting of the explorer: method, clipping bound, optimiser, learning rate."""

    method: str  # gan, nsgan, wgan-clip, wgan-gp, wgan-lp, wgan-sn
    optimizer: str  # adam or rmsprop
    lr: float
    clip: float | None = None

    @property
    def key(self) -> str:
        c = f"_c{self.clip:g}" if self.clip is not None else ""
        return f"{self.method}{c}_{self.optimizer}_lr{self.lr:g}"

    def config_fields(self) -> dict[str, Any]:
        objective = self.method.split("-")[0]
        lipschitz = self.method.split("-")[1] if "-" in self.method else "none"
        fields: dict[str, Any] = {
            "objective": objective,
            "lipschitz": lipschitz,
            "n_critic": 1 if objective in ("gan", "nsgan") else 5,
            "optimizer": self.optimizer,
            "lr": self.lr,
        }
        if self.clip is not None:
            fields["clip_value"] = self.clip
        if lipschitz in ("gp", "lp"):
            fields["gp_weight"] = 0.1  # the WGAN-GP reference code's toy setting (chapter 5)
        if self.optimizer == "adam":
            fields["beta1"], fields["beta2"] = (0.5, 0.999) if objective != "wgan" else (0.5, 0.9)
        return fields


def variants() -> list[Variant]:
    """The grid's settings, in the order the page lists them (22)."""
    out = []
    for method in ("gan", "nsgan"):
        out += [Variant(method, "adam", DEFAULT_LR["gan", "adam"] * f) for f in LR_FACTORS]
    for c in CLIP_VALUES:
        for opt in ("rmsprop", "adam"):
            out += [
                Variant("wgan-clip", opt, DEFAULT_LR["wgan", opt] * f, clip=c) for f in LR_FACTORS
            ]
    for method in ("wgan-gp", "wgan-lp", "wgan-sn"):
        out += [Variant(method, "adam", DEFAULT_LR["wgan", "adam"] * f) for f in LR_FACTORS]
    return out


def config(
    variant: Variant, data: str, *, iterations: int = ITERATIONS, seed: int = 0
) -> TrainConfig:
    """The :class:`TrainConfig` of one run of the grid."""
    if data not in DATASETS:
        raise ValueError(f"unknown data set {data!r}; choose one of {', '.join(DATASETS)}")
    return TrainConfig(
        name=f"explorer-{variant.key}-{data}", data=data, width=WIDTH, depth=DEPTH,
        batch_size=BATCH_SIZE, iterations=iterations, seed=seed, log_every=100,
        **variant.config_fields(),
    )  # fmt: skip


def _gradient_field(run: Any, size: int) -> np.ndarray:
    """``(size, size, 2)``: the critic's input gradient at ``(x_j, y_i)`` (rows along y), in eval
    mode (:func:`wganlib.plotting.critic_on_grid` on the run's single critic)."""
    from wganlib.plotting import critic_on_grid

    critic = run.critic
    was_training = critic.training
    critic.eval()
    try:
        return critic_on_grid(critic, RANGE, size)[3]
    finally:
        critic.train(was_training)


def frame(run: Any, iteration: int) -> list[dict[str, Any]]:
    """One record: what the explorer shows at ``iteration`` (see the module docstring)."""
    data = run.config.data
    x = member_samples(run, N_MEASURE)[0]
    metrics = evaluate(x, data, n_w1=N_MEASURE)
    rec: dict[str, Any] = {
        "iteration": int(iteration),
        "w1": metrics["w1"],
        "estimate": member_estimates(run, N_MEASURE)[0],
        "samples": np.round(x[:N_SHOWN].double().numpy(), 4).tolist(),
        "critic": member_critic_on_grid(run, -RANGE, RANGE, GRID).round(6).tolist(),
        "gradient": _gradient_field(run, ARROWS).round(6).tolist(),
    }
    if data in MIXTURES:
        rec["modes"], rec["high_quality"] = metrics["modes"], metrics["high_quality"]
    return [rec]


def cells(
    datasets: Sequence[str] = DATASETS, *, iterations: int = ITERATIONS, only: Sequence[str] = ()
) -> list[Cell]:
    """Every (variant, data set) cell; ``only`` keeps the variants whose key is listed."""
    keep = [v for v in variants() if not only or v.key in only]
    unknown = set(only) - {v.key for v in variants()}
    if unknown:
        raise ValueError(f"unknown variant(s) {sorted(unknown)}; see explorer.variants()")
    frames = [f for f in FRAMES if f < iterations] + [iterations]
    return [
        Cell(
            key=f"{v.key}__{d}",
            config=config(v, d, iterations=iterations),
            measure=frame,
            schedule=frames,
            checkpoint_every=500,
        )  # fmt: skip
        for d in datasets
        for v in keep
    ]


def _quantise(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``uint8`` codes of ``x`` over ``[lo, hi]`` (clipped): ``lo + code (hi - lo) / 255``."""
    if hi <= lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.round((x - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)


def pack(grid: Sequence[Cell], results: Sequence[dict[str, Any]]) -> tuple[dict, dict]:
    """The results JSON (without provenance) and the quantised arrays of the finished grid.

    Arrays (run ``r``, frame ``t``; a run that diverged repeats its last frame, and its
    ``frames`` list says how many are real): ``samples`` ``uint8 (R, T, N_SHOWN, 2)``,
    ``critic`` ``uint8 (R, T, GRID, GRID)`` (each frame over its own ``[min, max]``, stored in
    the JSON), ``gradient`` ``int8 (R, T, ARROWS, ARROWS, 2)`` (each frame divided by its largest
    norm, stored as ``gradient_scale``).
    """
    n_frames = max(len(c.points) for c in grid)
    r = len(grid)
    samples = np.zeros((r, n_frames, N_SHOWN, 2), np.uint8)
    critic = np.zeros((r, n_frames, GRID, GRID), np.uint8)
    gradient = np.zeros((r, n_frames, ARROWS, ARROWS, 2), np.int8)
    runs = []
    for i, (cell, res) in enumerate(zip(grid, results, strict=True)):
        variant_key, data = cell.key.split("__")
        v = next(v for v in variants() if v.key == variant_key)
        trace = sorted(res["trace"], key=lambda rec: rec["iteration"])
        row: dict[str, Any] = {
            "key": cell.key, "data": data, **asdict(v), "iterations": res["iterations"],
            "diverged": res["diverged"], "seconds": res["seconds"],
            "frames": [t["iteration"] for t in trace],
            "w1": [t["w1"] for t in trace], "estimate": [t["estimate"] for t in trace],
            "critic_min": [], "critic_max": [], "gradient_scale": [], "outside": [],
        }  # fmt: skip
        if data in MIXTURES:
            row["modes"] = [t["modes"] for t in trace]
            row["high_quality"] = [t["high_quality"] for t in trace]
        for t in range(n_frames):
            rec = trace[min(t, len(trace) - 1)]
            xs = np.asarray(rec["samples"])
            samples[i, t] = _quantise(xs, -SAMPLE_RANGE, SAMPLE_RANGE)
            f = np.asarray(rec["critic"])
            critic[i, t] = _quantise(f, float(f.min()), float(f.max()))
            g = np.asarray(rec["gradient"])
            scale = float(np.linalg.norm(g, axis=-1).max())
            gradient[i, t] = np.round(g / scale * 127).astype(np.int8) if scale > 0 else 0
            if t < len(trace):
                row["critic_min"].append(float(f.min()))
                row["critic_max"].append(float(f.max()))
                row["gradient_scale"].append(scale)
                row["outside"].append(float((np.abs(xs) > SAMPLE_RANGE).any(axis=1).mean()))
        runs.append(row)
    settings = {
        "datasets": sorted({c.config.data for c in grid}, key=DATASETS.index),
        "variants": [asdict(v) | {"key": v.key} for v in variants()
                     if any(c.key.startswith(v.key + "__") for c in grid)],
        "iterations": max(c.config.iterations for c in grid),
        "range": RANGE, "grid": GRID, "arrows": ARROWS, "n_shown": N_SHOWN,
        "n_measure": N_MEASURE, "sample_range": SAMPLE_RANGE,
        "width": WIDTH, "depth": DEPTH, "batch_size": BATCH_SIZE, "seed": grid[0].config.seed,
        "n_frames": n_frames,
    }  # fmt: skip
    return {"settings": settings, "runs": runs}, {
        "samples": samples,
        "critic": critic,
        "gradient": gradient,
    }


def unpack(meta: dict[str, Any], arrays: Any, run: int, t: int) -> dict[str, np.ndarray]:
    """Frame ``t`` of run ``run`` (an index into ``meta["runs"]``) back in data units."""
    s, row = meta["settings"], meta["runs"][run]
    last = len(row["frames"]) - 1
    k = min(t, last)
    lo, hi = row["critic_min"][k], row["critic_max"][k]
    sr = s["sample_range"]
    return {
        "samples": arrays["samples"][run, t].astype(np.float64) / 255 * 2 * sr - sr,
        "critic": lo + arrays["critic"][run, t].astype(np.float64) / 255 * (hi - lo),
        "gradient": arrays["gradient"][run, t].astype(np.float64) / 127 * row["gradient_scale"][k],
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wganlib.experiments.explorer",
        description="Record GAN/WGAN training on toy data for the training explorer "
        "(resumable: run the same command again to continue).",
    )
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--only", nargs="+", default=[], help="variant keys (default: all)")
    p.add_argument("--iterations", type=int, default=ITERATIONS)
    p.add_argument("--workers", type=int, default=1, help="processes (one per core)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--state", type=Path, required=True, help="folder of the per-run state")
    p.add_argument("--out", type=Path, required=True, help="JSON results file to write")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry: run or resume the grid; write both files once it is complete."""
    args = _parser().parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if args.iterations < 1 or args.workers < 1 or args.threads < 1:
        raise SystemExit("--iterations, --workers and --threads must be positive")
    try:
        grid = cells(args.datasets, iterations=args.iterations, only=args.only)
    except ValueError as err:
        raise SystemExit(f"--only: {err}") from None
    version = code_version()
    if version[1]:
        print("warning: the work tree has uncommitted changes; the results file will say "
              "git_dirty: true", file=sys.stderr)  # fmt: skip
    bar = ProgressBar()
    start = time.perf_counter()
    results = run_sweep(
        grid, args.state, workers=args.workers, threads=args.threads, progress=bar, version=version
    )
    bar.close()
    meta, arrays = pack(grid, results)
    header = provenance("wganlib.experiments.explorer", argv_list, threads=args.threads)
    header["seconds_last_session"] = time.perf_counter() - start
    header["seconds_all_runs"] = sum(r["seconds"] for r in meta["runs"])
    out = {**header, **meta}
    npz = args.out.with_suffix(".npz")
    write_npz_atomic(npz, arrays)
    write_json_atomic(args.out, out)
    print(f"wrote {args.out} and {npz}", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
