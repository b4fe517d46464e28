r"""How close each Lipschitz method's critic comes to the exact :math:`W_1`, over seeds and time.

The critic of chapter 7 (an MLP with 5 hidden ReLU layers of 128 units) is trained alone between
two fixed distributions (by default the ring of 8 Gaussians and the 5x5 grid of 25 Gaussians)
with each method -- weight clipping (RMSProp 5e-5, :math:`c = 0.01`), the gradient penalty, its
one-sided variant (Adam 1e-4, (0.5, 0.9), :math:`\lambda = 10`) and spectral normalisation (the
same Adam) -- for ``steps`` steps and ``seeds`` seeds (the seed sets the initial weights and the
batches). Every ``every`` steps the critic's estimate

.. math:: \widehat W = \frac1n \sum_i f(x_i) - \frac1n \sum_i f(\tilde x_i)

is measured on held-out samples (the same for all runs), next to the exact :math:`W_1` between
those samples (POT). At the end, :func:`wganlib.diagnostics.summarize_critic` adds the critic's
empirical Lipschitz constant and its median gradient norm on interpolates. Chapter 7's
exercise on longer runs uses it::

    python -m wganlib.experiments.lipschitz_sweep --steps 5000 --seeds 0 1 2 \
        --out /tmp/lipschitz_sweep.json

(about 25 minutes of one CPU core; the gradient penalty's double backward pass dominates).
The book's results file ``data/results/lipschitz_sweep.json`` is made by the command recorded
in it.

Resumable: one record per (method, seed) in ``--state`` (default
``runs/sweeps/lipschitz_sweep``), skipped when present; records made by another commit of the
code are refused rather than mixed into one file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib import toy
from wganlib.diagnostics import summarize_critic
from wganlib.distances import exact_w1
from wganlib.experiments.provenance import provenance
from wganlib.history import Callback
from wganlib.models import MLPCritic
from wganlib.steps import fit_critic
from wganlib.sweep import write_json_atomic

__all__ = ["METHODS", "held_out", "run_method", "main"]

#: label -> (Lipschitz method, fit_critic keyword arguments); each with its paper's optimiser.
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "clip 0.01": ("clip", {"clip_value": 0.01}),
    "GP": ("gp", {}),
    "LP": ("lp", {}),
    "SN": ("sn", {}),
}

HELD_OUT_SEED = 123  # the evaluation samples, never seen in training (chapter 7 uses the same)


def held_out(real: str, fake: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` held-out samples of each distribution, drawn as chapter 7 draws them."""
    g = torch.Generator().manual_seed(HELD_OUT_SEED)
    x = toy.sample(real, n, generator=g)
    return x, toy.sample(fake, n, generator=g)


def new_critic(seed: int, width: int = 128, depth: int = 5) -> MLPCritic:
    """The chapter's critic, with initial weights drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLPCritic(2, width=width, depth=depth)


def run_method(
    label: str,
    seed: int,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    *,
    real: str,
    fake: str,
    steps: int,
    every: int,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Train one critic; return its held-out estimate every ``every`` steps and its summary."""
    method, params = METHODS[label]
    critic = new_critic(seed)
    curve: list[tuple[int, float]] = []

    def measure(f: torch.nn.Module, step: int) -> None:
        was = f.training
        f.eval()
        with torch.no_grad():
            curve.append((step, float(f(x_real).mean() - f(x_fake).mean())))
        f.train(was)

    start = time.perf_counter()
    hist = fit_critic(
        critic, real, fake, objective="wgan", lipschitz=method, steps=steps,
        batch_size=batch_size, seed=seed + 3, callbacks=[Callback(every, measure)], **params,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    s = summarize_critic(critic, x_real, x_fake, c=params.get("clip_value"), seed=4)
    return {
        "method": label,
        "seed": seed,
        "steps": [c[0] for c in curve],
        "estimate": [c[1] for c in curve],
        "batch_estimate_last100": float(np.median(hist["critic_estimate"][-100:])),
        "final_estimate": s.estimate,
        "lipschitz": s.lipschitz,
        "interpolate_norm_median": float(np.median(s.interpolate_norms)),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: every method x seed, one record each, then one results file."""
    p = argparse.ArgumentParser(
        prog="python -m wganlib.experiments.lipschitz_sweep", description=__doc__.split("\n")[0]
    )
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--every", type=int, default=250, help="steps between measurements")
    p.add_argument("--real", default="8gaussians")
    p.add_argument("--fake", default="25gaussians")
    p.add_argument("--n-eval", type=int, default=2000, help="held-out samples per side")
    p.add_argument("--out", default="data/results/lipschitz_sweep.json")
    p.add_argument("--state", default="runs/sweeps/lipschitz_sweep", help="per-run records")
    a = p.parse_args(argv)
    if a.steps < 1 or a.every < 1:
        raise SystemExit("--steps and --every must be positive")
    torch.set_num_threads(1)  # tiny networks: one thread is fastest
    out = Path(a.out)
    run_dir = Path(a.state)
    run_dir.mkdir(parents=True, exist_ok=True)
    x_real, x_fake = held_out(a.real, a.fake, a.n_eval)
    header: dict[str, Any] = {
        **provenance(
            "wganlib.experiments.lipschitz_sweep", sys.argv[1:] if argv is None else argv, threads=1
        ),
        "settings": {
            "real": a.real,
            "fake": a.fake,
            "steps": a.steps,
            "every": a.every,
            "n_eval": a.n_eval,
            "seeds": a.seeds,
            "width": 128,
            "depth": 5,
            "batch_size": 256,
            "methods": {k: METHODS[k] for k in a.methods},
        },  # fmt: skip
        "exact_w1": exact_w1(x_real, x_fake),
    }
    wanted = {
        "steps": a.steps,
        "every": a.every,
        "real": a.real,
        "fake": a.fake,
        "n_eval": a.n_eval,
    }
    start = time.perf_counter()
    for seed in a.seeds:
        for label in a.methods:
            path = run_dir / f"{label.replace(' ', '_')}_s{seed}.json"
            if path.exists():
                _check_record(json.loads(path.read_text()), path, header["git_commit"], wanted)
                continue
            rec = run_method(
                label, seed, x_real, x_fake, real=a.real, fake=a.fake, steps=a.steps, every=a.every
            )
            rec.update(git_commit=header["git_commit"], settings=wanted)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rec, indent=1))
            tmp.replace(path)
    header["seconds_last_invocation"] = time.perf_counter() - start
    names = {f"{k.replace(' ', '_')}_s{seed}.json" for k in a.methods for seed in a.seeds}
    recs = [json.loads((run_dir / f).read_text()) for f in sorted(names)]
    header["seconds_all_runs"] = sum(r["seconds"] for r in recs)
    order = {k: i for i, k in enumerate(METHODS)}
    recs.sort(key=lambda r: (order[r["method"]], r["seed"]))
    result = {**header, "runs": recs}
    write_json_atomic(out, result)
    return result


def _check_record(rec: dict[str, Any], path: Path, commit: str | None, wanted: dict) -> None:
    """Refuse a finished record made by other code or other settings (one line, what to do)."""
    if rec.get("git_commit") != commit or rec.get("settings") != wanted:
        raise SystemExit(
            f"{path} was made by commit {rec.get('git_commit')} with {rec.get('settings')}; this "
            f"is commit {commit} with {wanted}: use another --state folder or delete that one"
        )


if __name__ == "__main__":
    main()
