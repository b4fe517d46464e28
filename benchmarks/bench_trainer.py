"""Time the trainer against the readable reference loops (wganlib.reference), on the CPU.

    python benchmarks/bench_trainer.py [--repeats 3] [--iters-gp 10] [--iters-dcgan 2]

(a) WGAN-GP on 8 Gaussians: MLPs of width 512, batch 256, 5 critic steps, Adam
    (reference: ``reference_wgan_gp``).
(b) WGAN with weight clipping, DCGAN 64x64 generator and critic, batch 64, 5 critic steps,
    RMSProp, random-noise images as data (reference: ``reference_algorithm1``); also the FLOPs
    of one generator iteration (:func:`wganlib.flops.iteration_flops`) and the fraction of the
    machine's measured float32 ``torch.mm`` rate (2048 x 2048) that each loop reaches.

Both loops start from the same weights and random streams; runs are interleaved (the order
alternates), each timed ``--repeats`` times, and the median is reported, with the ratio
trainer / reference in generator iterations per second. After each pair the two results are
checked to be equal (the trainer may be faster, not different). The machine's speed drifts:
compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
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


def bench(
    name: str, cfg: TrainConfig, iters: int, repeats: int, variants: dict[str, TrainConfig]
) -> dict[str, float]:
    """Interleaved timings of the trainer (and config variants of it) and the reference."""
    fns = {"trainer": (run_trainer, cfg), "reference": (run_reference, cfg)}
    fns.update({f"trainer, {k}": (run_trainer, v) for k, v in variants.items()})
    for fn, c in fns.values():
        fn(c, 1)  # warm-up (first-call costs: imports, allocator)
    times: dict[str, list[float]] = {k: [] for k in fns}
    worst: dict[str, float] = {k: 0.0 for k in fns if k != "reference"}
    for r in range(repeats):
        order = list(fns) if r % 2 == 0 else list(reversed(fns))
        runs = {}
        for which in order:
            fn, c = fns[which]
            t, runs[which] = fn(c, iters)
            times[which].append(t)
        for k in worst:
            worst[k] = max(worst[k], _same(runs[k], runs["reference"]))
    ips = {k: iters / statistics.median(v) for k, v in times.items()}
    print(f"{name} (median of {repeats} runs of {iters} generator iterations):", flush=True)
    for k, v in ips.items():
        extra = ""
        if k != "reference":
            extra = f"  x{v / ips['reference']:.2f} vs reference, max |param diff| {worst[k]:.1e}"
        print(f"  {k:26s} {v:8.3f} it/s{extra}", flush=True)
    return ips


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
        name = "(a) WGAN-GP 8 Gaussians, MLP 512, batch 256"
        bench(name, cfgs["gp"], args.iters_gp, args.repeats, {})
    if args.only != "gp":
        name = "(b) WGAN-clip DCGAN 64x64, batch 64"
        cl = dataclasses.replace(cfgs["dcgan"], channels_last=True)
        res = bench(name, cfgs["dcgan"], args.iters_dcgan, args.repeats, {"channels_last": cl})
        flops_report(cfgs["dcgan"], res)


def flops_report(cfg: TrainConfig, res: dict[str, float]) -> dict[str, float]:
    """FLOPs per generator iteration (wganlib.flops) and the fraction of a measured big
    float32 torch.mm rate that the trainer and the reference reach, in the same run."""
    from wganlib.flops import iteration_flops, matmul_flops_per_second

    f = iteration_flops(cfg)["iteration"]
    mm = matmul_flops_per_second(2048, 3)
    out = {"gflop_per_iteration": f / 1e9, "matmul_gflops": mm / 1e9}
    print(
        f"  {f / 1e9:.1f} GFLOP per generator iteration; a 2048x2048 float32 torch.mm runs at "
        f"{mm / 1e9:.1f} GFLOP/s",
        flush=True,
    )
    for which, its in res.items():
        out[f"{which}_gflops"], out[f"{which}_fraction"] = f * its / 1e9, f * its / mm
        print(f"  {which:26s} {f * its / 1e9:8.1f} GFLOP/s = {f * its / mm:.0%} of it", flush=True)
    return out


if __name__ == "__main__":
    main()
