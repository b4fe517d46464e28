"""The DCGAN 64x64 clip loop (batch 64, 5 critic steps): the trainer's options against the reference.

    python benchmarks/bench_dcgan.py [--repeats 3] [--iters 2] [--threads 2]

Each trial runs in a fresh process (``keep_heap`` changes the whole process, so it cannot be
switched off again in one), one warm-up iteration, then ``--iters`` timed generator
iterations; the variants alternate order each repeat and medians are reported:

``reference``       :func:`wganlib.reference.reference_algorithm1`
``trainer``         :class:`wganlib.train.Run` as configured by default
``keep_heap``       the trainer with :func:`wganlib.fastpaths.keep_heap` (bit-equal)
``channels_last``   the trainer with ``channels_last = true`` (not bit-equal)

Every variant starts from the same weights and random streams; the largest parameter
difference from the reference after the timed iterations is printed (0 = bit-equal), with the
minor page faults per iteration and the fraction of the measured two-thread ``torch.mm`` rate
(:func:`wganlib.flops.iteration_flops` FLOPs per iteration). Print the machine load with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

VARIANTS = ("reference", "trainer", "keep_heap", "channels_last")

_TRIAL = r"""
import json, resource, sys, time, torch
from wganlib import fastpaths
from wganlib.config import TrainConfig
from wganlib.reference import reference_algorithm1
from wganlib.train import Run
variant, iters, threads, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
cfg = TrainConfig(name="bench_dcgan", data="noise", image_size=64, channels=3, generator="dcgan",
                  critic="dcgan", lipschitz="clip", batch_size=64, n_critic=5, log_every=10_000,
                  channels_last=variant == "channels_last")
with fastpaths.use(keep_heap=variant == "keep_heap"):
    run = Run(cfg)
if variant == "reference":
    args = (run.generator, run.critic, lambda m: run.sample_real(), run.sample_prior)
    step = lambda n: reference_algorithm1(*args, iterations=n, alpha=5e-5, c=cfg.clip_value,
                                          m=cfg.batch_size, n_critic=cfg.n_critic)
else:
    step = lambda n: run.fit(until=run.iteration + n)
step(1)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t = time.perf_counter()
step(iters)
dt = time.perf_counter() - t
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
params = [p.detach().contiguous() for p in [*run.generator.parameters(), *run.critic.parameters()]]
torch.save(params, out + ".pt")
json.dump({"seconds": dt, "faults": faults}, open(out + ".json", "w"))
"""


def main() -> None:
    import json

    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load at start: {load}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    secs: dict[str, list[float]] = {v: [] for v in VARIANTS}
    faults: dict[str, list[float]] = {v: [] for v in VARIANTS}
    diff: dict[str, float] = {v: 0.0 for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            order = VARIANTS if rep % 2 == 0 else VARIANTS[::-1]
            for v in order:
                out = str(Path(tmp) / v)
                cmd = [sys.executable, "-c", _TRIAL, v, str(args.iters), str(args.threads), out]
                subprocess.run(cmd, check=True, env=env)
                res = json.load(open(out + ".json"))
                secs[v].append(res["seconds"] / args.iters)
                faults[v].append(res["faults"] / args.iters)
            ref = torch.load(Path(tmp) / "reference.pt")
            for v in VARIANTS[1:]:
                mine = torch.load(Path(tmp) / f"{v}.pt")
                d = max((a - b).abs().max().item() for a, b in zip(mine, ref, strict=True))
                diff[v] = max(diff[v], d)
    from wganlib.config import TrainConfig
    from wganlib.flops import iteration_flops, matmul_flops_per_second

    cfg = TrainConfig(
        data="noise", image_size=64, channels=3, generator="dcgan", critic="dcgan",
        lipschitz="clip", batch_size=64, n_critic=5,
    )  # fmt: skip
    flops = iteration_flops(cfg)["iteration"]
    torch.set_num_threads(args.threads)
    mm = matmul_flops_per_second(2048, 3)
    print(
        f"DCGAN 64x64 clip, batch 64, {args.threads} threads, median of {args.repeats} x "
        f"{args.iters} iterations; {flops / 1e9:.0f} GFLOP/iteration, torch.mm 2048 at "
        f"{mm / 1e9:.0f} GFLOP/s"
    )
    ref = statistics.median(secs["reference"])
    for v in VARIANTS:
        s = statistics.median(secs[v])
        print(
            f"  {v:14s} {s:7.2f} s/it  x{ref / s:4.2f} vs reference  max |param diff| "
            f"{diff[v]:.1e}  minor faults/it {statistics.median(faults[v]):9.0f}  "
            f"floor fraction {flops / s / mm:.2f}"
        )
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load at end: {load}")


if __name__ == "__main__":
    main()
