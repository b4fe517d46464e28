r"""Does the critic's estimate follow the true distance? The critic's estimate against exact W1.

For each variant (:data:`VARIANTS`) and seed, one run of :func:`wganlib.train.train` on a toy
distribution records, every ``every`` generator iterations (:class:`wganlib.monitoring.W1Tracker`):

* the exact :math:`W_1` (POT) between ``n`` generator samples and ``n`` fresh target samples;
* the median of the critic's estimate over the iterations since the previous record (WGAN:
  :math:`\frac1m\sum f(x) - \frac1m\sum f(g(z))`, that is :math:`-\text{Loss}_D`; GAN: the
  Jensen-Shannon lower bound :math:`\tfrac12 L(D, g) + \log 2`).

The agreement of the two curves is their Spearman rank correlation
(:func:`wganlib.metrics.rank_correlation`), taken after ``burn_in`` iterations (the critic is
still far from its optimum at the start; the official code's schedule, ``schedule="official"``,
is the other remedy). The variants are the three methods (WGAN with
clipping, WGAN-GP, GAN) and three ways to break the WGAN curve (a learning rate 100 times too
high, Adam with momentum, one critic step per generator step), plus ``gp-official``: WGAN-GP
with a penalty weight of 1, the official schedule, width 64 and batches of 64, the setting in
which the critic is kept near its optimum (a variant may fix ``width`` and ``batch_size``; see
:data:`VARIANTS`). Besides the rank correlation after ``burn_in``, the summary holds the rank
correlation over the second half of the checks, Pearson's correlation over all checks after
``burn_in``, and the first and last estimate and W1.

Command line (the results file the book loads)::

    python -m wganlib.experiments.meaningful_loss --seeds 2 --iterations 400 --every 25 --n 250 \
        --out data/results/meaningful_loss.json
    python -m wganlib.experiments.meaningful_loss --variants gp-official --seeds 3 \
        --iterations 1000 --every 50 --n 500 --burn-in 0 --jobs 2 \
        --out data/results/meaningful_loss_tracking.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib.config import TrainConfig
from wganlib.history import Callback, NonFiniteError
from wganlib.metrics import rank_correlation
from wganlib.monitoring import W1Tracker

__all__ = ["VARIANTS", "LABELS", "variant_config", "track", "summarise", "sweep", "main"]

#: The WGAN baseline: weight clipping, RMSProp (at twice the paper's learning rate, to move
#: faster on a small budget), 5 critic steps per generator step.
_CLIP = {"objective": "wgan", "lipschitz": "clip", "optimizer": "rmsprop", "lr": 1e-4}
#: Width and batch size unless a variant (or the caller) sets them.
_SIZE = {"width": 128, "batch_size": 256}
#: Variant name -> TrainConfig fields (``width``/``batch_size`` here override :data:`_SIZE`).
VARIANTS: dict[str, dict[str, Any]] = {
    "wgan-clip": dict(_CLIP),
    "wgan-gp": {"objective": "wgan", "lipschitz": "gp"},
    "gan": {"objective": "gan", "lipschitz": "none", "n_critic": 1},
    "clip-high-lr": {**_CLIP, "lr": 1e-2},
    "clip-adam-momentum": {**_CLIP, "optimizer": "adam", "beta1": 0.9, "beta2": 0.999},
    "clip-ncritic-1": {**_CLIP, "n_critic": 1},
    "gp-official": {"objective": "wgan", "lipschitz": "gp", "gp_weight": 1.0,
                    "schedule": "official", "width": 64, "batch_size": 64},
}  # fmt: skip
LABELS: dict[str, str] = {
    "wgan-clip": "WGAN (clip, RMSProp 1e-4)",
    "wgan-gp": "WGAN-GP",
    "gan": "GAN",
    "clip-high-lr": "WGAN (clip), lr 1e-2",
    "clip-adam-momentum": "WGAN (clip), Adam beta1=0.9",
    "clip-ncritic-1": "WGAN (clip), n_critic = 1",
    "gp-official": "WGAN-GP (lambda 1, official schedule)",
}


def variant_config(
    variant: str,
    *,
    data: str = "8gaussians",
    iterations: int = 1000,
    seed: int = 0,
    width: int | None = None,
    batch_size: int | None = None,
    **overrides: Any,
) -> TrainConfig:
    """The :class:`TrainConfig` of ``variant`` (a key of :data:`VARIANTS`) on toy ``data``.

    ``width`` and ``batch_size`` default to the variant's own (else 128 and 256); any argument
    given explicitly, and any ``overrides`` (TrainConfig fields), win over the variant's fields.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    explicit = {
        k: v for k, v in {"width": width, "batch_size": batch_size}.items() if v is not None
    }
    fields = {"name": variant, "data": data, "iterations": iterations, "seed": seed,
              "log_every": 50, **_SIZE, **VARIANTS[variant], **explicit, **overrides}  # fmt: skip
    return TrainConfig(**fields)


def track(
    config: TrainConfig,
    *,
    every: int = 50,
    n: int = 500,
    w1_seed: int = 1,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train ``config`` and record exact W1 and the critic's estimate every ``every`` iterations.

    ``callbacks`` are further trainer callbacks (e.g. to keep samples at checkpoints).

    Returns ``{"iteration", "w1", "estimate"}`` lists, ``cpu_seconds`` and ``diverged`` (True
    when training stopped on a NaN/inf; the lists then end there). The returned ``run`` key
    holds the :class:`wganlib.train.Run` (drop it before writing JSON).
    """
    from wganlib.train import Run

    tracker = W1Tracker(config.data, n=n, seed=w1_seed)
    run = Run(config)
    t0, diverged = time.process_time(), False
    try:
        run.fit(callbacks=[Callback(every, tracker), *callbacks])
    except NonFiniteError:
        diverged = True
    return {**tracker.as_dict(), "cpu_seconds": time.process_time() - t0,
            "diverged": diverged, "run": run}  # fmt: skip


def summarise(record: dict[str, Any], *, burn_in: int = 100) -> dict[str, float]:
    r"""Agreement of the estimate with W1 over the checks after ``burn_in`` iterations.

    Returns ``rank_correlation`` (Spearman), ``pearson`` and, over the checks in the second half
    of training (iteration :math:`> t_{\text{last}}/2`), ``rank_correlation_second_half``
    (NaN where fewer than 3 checks); and ``first_w1``, ``final_w1``, ``first_estimate``,
    ``final_estimate`` (the first and last check).
    """
    it = np.asarray(record["iteration"])
    est, w1 = np.asarray(record["estimate"], float), np.asarray(record["w1"], float)
    ok = np.isfinite(est) & np.isfinite(w1)
    keep = (it > burn_in) & ok
    late = (it > it[-1] / 2) & ok if len(it) else keep
    rho = rank_correlation(est[keep], w1[keep]) if keep.sum() >= 3 else math.nan
    rho_late = rank_correlation(est[late], w1[late]) if late.sum() >= 3 else math.nan
    pearson = float(np.corrcoef(est[keep], w1[keep])[0, 1]) if keep.sum() >= 3 else math.nan

    def _at(v: np.ndarray, i: int) -> float:
        return float(v[i]) if len(v) else math.nan

    return {"rank_correlation": rho, "final_w1": _at(w1, -1),
            "rank_correlation_second_half": rho_late, "pearson": pearson,
            "first_w1": _at(w1, 0), "first_estimate": _at(est, 0),
            "final_estimate": _at(est, -1)}  # fmt: skip


def _mean(values: Sequence[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def _job(args: tuple[str, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    variant, cfg_kw, track_kw = args
    torch.set_num_threads(1)
    rec = track(variant_config(variant, **cfg_kw), **track_kw)
    rec.pop("run")
    return {"variant": variant, "seed": cfg_kw["seed"], **rec}


def sweep(
    variants: Sequence[str] = tuple(VARIANTS),
    *,
    seeds: int = 3,
    data: str = "8gaussians",
    iterations: int = 1500,
    every: int = 50,
    n: int = 500,
    burn_in: int = 100,
    jobs: int = 1,
) -> dict[str, Any]:
    """Every variant x seed; returns ``{"settings", "runs", "summary"}`` (JSON-ready).

    ``summary[variant]`` holds the mean and the list over seeds of the rank correlation and of
    the final W1.
    """
    cfg = {"data": data, "iterations": iterations}
    work = [
        (v, {**cfg, "seed": s}, {"every": every, "n": n}) for v in variants for s in range(seeds)
    ]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            runs = list(pool.map(_job, work))
    else:
        runs = [_job(w) for w in work]
    summary = {}
    for v in variants:
        stats = [summarise(r, burn_in=burn_in) for r in runs if r["variant"] == v]
        summary[v] = {"label": LABELS[v]}
        for key in ("rank_correlation", "final_w1", "rank_correlation_second_half", "pearson",
                    "first_w1", "first_estimate", "final_estimate"):  # fmt: skip
            values = [s[key] for s in stats]
            summary[v][key], summary[v][f"{key}_mean"] = values, _mean(values)
    configs = {v: variant_config(v, **cfg) for v in variants}
    settings = {"variants": {v: {**VARIANTS[v], "width": c.width, "batch_size": c.batch_size}
                             for v, c in configs.items()},
                "seeds": seeds, "data": data,
                "iterations": iterations, "every": every, "n": n, "burn_in": burn_in,
                "width": _SIZE["width"], "batch_size": _SIZE["batch_size"]}  # fmt: skip
    return {"settings": settings, "runs": runs, "summary": summary}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wganlib.experiments.meaningful_loss",
        description="Critic estimate vs exact W1 over training, per variant and seed.",
    )
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--data", default="8gaussians")
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--n", type=int, default=500, help="samples per side for exact W1")
    p.add_argument("--burn-in", type=int, default=100)
    p.add_argument("--jobs", type=int, default=1, help="parallel processes (1 thread each)")
    p.add_argument("--out", default="data/results/meaningful_loss.json")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run :func:`sweep` from the command line and write the JSON results file."""
    args = _parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    results = sweep(
        args.variants, seeds=args.seeds, data=args.data, iterations=args.iterations,
        every=args.every, n=args.n, burn_in=args.burn_in, jobs=args.jobs,
    )  # fmt: skip
    out = {"command": "python -m wganlib.experiments.meaningful_loss " + " ".join(argv),
           "commit": _git_commit(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(),
           **results}  # fmt: skip
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":  # pragma: no cover
    main()
