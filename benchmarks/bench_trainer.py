"""Time the trainer against the readable reference loops (wganlib.reference), on the CPU.

    python benchmarks/bench_trainer.py [--repeats 3] [--iters-gp 10] [--iters-dcgan 2]

(a) WGAN-GP on 8 Gaussians: MLPs of width 512, batch 256, 5 critic steps, Adam
    (reference: ``reference_wgan_gp``).
(b) WGAN with weight clipping, DCGAN 64x64 generator and critic, batch 64, 5 critic steps,
    RMSProp, random-noise images as data (reference: ``reference_algorithm1``).

Both loops start from the same weights and random streams; runs are interleaved (the order
alternates), each timed ``--repeats`` times, and the median is reported, with the ratio
trainer / reference in generator iterations per second. After each pair the two results are
checked to be equal (the trainer may be faster, not different). The machine's speed drifts:
compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from wganlib.config import TrainConfig
from wganlib.reference import reference_algorithm1, reference_wgan_gp
from wganlib.train import Run


def _configs() -> dict[str, TrainConfig]:
    return {
        "gp": TrainConfig(
            name="bench_gp", data="8gaussians", lipschitz="gp", width=512, depth=3,
            batch_size=256, n_critic=5, log_every=10_000,
        ),
        "dcgan": TrainConfig(
            name="bench_dcgan", data="noise", image_size=64, channels=3, generator="dcgan",
            critic="dcgan", lipschitz="clip", batch_size=64, n_critic=5, log_every=10_000,
        ),
    }  # fmt: skip


def run_trainer(cfg: TrainConfig, iters: int) -> tuple[float, Run]:
    run = Run(cfg)
    t = time.perf_counter()
    run.fit(until=iters)
    return time.perf_counter() - t, run


def run_reference(cfg: TrainConfig, iters: int) -> tuple[float, Run]:
    run = Run(cfg)  # the same initial weights and random streams as the trainer's
    args = (run.generator, run.critic, lambda m: run.sample_real(), run.sample_prior)
    t = time.perf_counter()
    if cfg.lipschitz == "gp":
        reference_wgan_gp(
            *args, iterations=iters, lr=1e-4, betas=(0.5, 0.9), lam=cfg.gp_weight,
            m=cfg.batch_size, n_critic=cfg.n_critic, penalty_generator=run.penalty_generator,
        )  # fmt: skip
    else:
        reference_algorithm1(
            *args, iterations=iters, alpha=5e-5, c=cfg.clip_value, m=cfg.batch_size,
            n_critic=cfg.n_critic,
        )  # fmt: skip
    return time.perf_counter() - t, run


def _same(a: Run, b: Run) -> float:
    pa = list(a.generator.parameters()) + list(a.critic.parameters())
    pb = list(b.generator.parameters()) + list(b.critic.parameters())
    return max((x - y).abs().max().item() for x, y in zip(pa, pb, strict=True))


def bench(name: str, cfg: TrainConfig, iters: int, repeats: int) -> dict[str, float]:
    run_trainer(cfg, 1)  # warm-up (first-call costs: imports, allocator)
    run_reference(cfg, 1)
    times: dict[str, list[float]] = {"trainer": [], "reference": []}
    worst = 0.0
    for r in range(repeats):
        order = ("trainer", "reference") if r % 2 == 0 else ("reference", "trainer")
        runs = {}
        for which in order:
            fn = run_trainer if which == "trainer" else run_reference
            t, runs[which] = fn(cfg, iters)
            times[which].append(t)
        worst = max(worst, _same(runs["trainer"], runs["reference"]))
    ips = {k: iters / statistics.median(v) for k, v in times.items()}
    ratio = ips["trainer"] / ips["reference"]
    print(
        f"{name}: trainer {ips['trainer']:.3f} it/s, reference {ips['reference']:.3f} it/s, "
        f"speed-up x{ratio:.2f} (median of {repeats}, {iters} generator iterations each; "
        f"max |param difference| {worst:.1e})",
        flush=True,
    )
    return {"trainer_its": ips["trainer"], "reference_its": ips["reference"], "ratio": ratio}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--iters-gp", type=int, default=10)
    p.add_argument("--iters-dcgan", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--only", choices=["gp", "dcgan"], help="run one of the two")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    cfgs = _configs()
    if args.only != "dcgan":
        bench(
            "(a) WGAN-GP 8 Gaussians, MLP 512, batch 256", cfgs["gp"], args.iters_gp, args.repeats
        )
    if args.only != "gp":
        bench("(b) WGAN-clip DCGAN 64x64, batch 64", cfgs["dcgan"], args.iters_dcgan, args.repeats)


if __name__ == "__main__":
    main()
