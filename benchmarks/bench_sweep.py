"""Seed-iterations per second of the toy sweep engine against the readable reference loop.

    python benchmarks/bench_sweep.py [--members 5] [--iters 10] [--repeats 3]
                                     [--widths 512 128] [--methods clip lp sn gan gp]

The grid is the book's toy setting: 8 Gaussians, MLPs of depth 3 and width 128 (and 512),
batch 256 per seed, each method with its usual critic steps (5 for the WGANs, 1 for the GAN).

engine
    :func:`wganlib.train.Run` with ``members = K`` (K seeds batched in one network, the
    explicit-gradient penalty of :mod:`wganlib.fastpaths`), in **two worker processes with
    one thread each** (one per core, started together), ``2 K`` seeds at a time.
reference
    the readable loop run **one seed at a time in one process with two intra-op threads**
    (PyTorch's use of both cores for one run; ``--reference-threads 1`` on an oversubscribed
    machine, where two OpenMP threads thrash): :func:`wganlib.reference.reference_wgan_gp`
    for GP, :func:`~wganlib.reference.reference_algorithm1` for clip; for LP, SN and the GAN,
    which have no readable reference, the library's plain loop (``members = 1``, all fast
    paths off). With ``--reference-processes`` also as two one-thread processes, one seed each
    (``ref x2``), the throughput of the plain loop run two seeds at a time.

Timings are interleaved (the order alternates each repeat) and the median is reported. Before
timing, each method's maths is checked: after ``--check-iters`` iterations every member of
the engine equals a separate reference run on its blocks of the same random draws
(:func:`wganlib.replay.replay_member`), largest difference printed. FLOPs per seed-iteration
are :func:`wganlib.flops.iteration_flops` (matrix products only; the engine's explicit
penalty needs fewer than the double backward), and the fraction of the FLOP floor is the
achieved rate over the measured two-thread ``torch.mm`` rate (2048 x 2048). The machine is
shared: its load (``uptime``) is printed at the start and the end. The last line reads
``seed-iterations/s: engine X, reference Y, ratio Z`` for the GP grid at width 128.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import statistics
import subprocess
import time

import torch

from wganlib import fastpaths
from wganlib.config import TrainConfig
from wganlib.flops import iteration_flops, matmul_flops_per_second
from wganlib.reference import reference_algorithm1, reference_wgan_gp
from wganlib.train import Run

METHODS = {
    "clip": {"objective": "wgan", "lipschitz": "clip", "n_critic": 5},
    "gp": {"objective": "wgan", "lipschitz": "gp", "n_critic": 5},
    "lp": {"objective": "wgan", "lipschitz": "lp", "n_critic": 5},
    "sn": {"objective": "wgan", "lipschitz": "sn", "n_critic": 5},
    "gan": {"objective": "gan", "lipschitz": "none", "n_critic": 1},
    "nsgan": {"objective": "nsgan", "lipschitz": "none", "n_critic": 1},
}
OFF = {k: False for k in fastpaths.SWITCHES}


def config(method: str, width: int, members: int, seed: int = 0) -> TrainConfig:
    return TrainConfig(
        name=f"bench_{method}", data="8gaussians", width=width, depth=3, batch_size=256,
        members=members, seed=seed, log_every=100_000, **METHODS[method],
    )  # fmt: skip


# ---------------------------------------------------------------- engine workers
_BARRIER = None


def _init_worker(barrier) -> None:
    global _BARRIER
    _BARRIER = barrier
    torch.set_num_threads(1)


def _engine_task(args: tuple[dict, int]) -> tuple[float, float]:
    """In a worker: build the run, one warm-up iteration, wait for the other, time ``iters``."""
    cfg_dict, iters = args
    run = Run(TrainConfig(**cfg_dict))
    run.fit(until=1)
    _BARRIER.wait()
    t0 = time.monotonic()
    run.fit(until=1 + iters)
    return t0, time.monotonic()


def time_engine(pool, method: str, width: int, members: int, iters: int, rep: int) -> float:
    """Seed-iterations per second of two engine processes (K members each)."""
    tasks = [(config(method, width, members, seed=100 * rep + w).to_dict(), iters) for w in (0, 1)]
    spans = pool.map(_engine_task, tasks)
    wall = max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans)
    return 2 * members * iters / wall


def _reference_run(cfg: TrainConfig, iters: int) -> float:
    """Wall seconds of ``iters`` iterations of the reference (or plain) loop, one seed."""
    run = Run(cfg)
    args = (run.generator, run.critic, lambda m: run.sample_real(), run.sample_prior)
    if cfg.lipschitz == "gp":
        kw = dict(lr=1e-4, betas=(0.5, 0.9), lam=cfg.gp_weight, m=cfg.batch_size)
        kw.update(n_critic=cfg.n_critic, penalty_generator=run.penalty_generator)
        reference_wgan_gp(*args, iterations=1, **kw)
        t = time.perf_counter()
        reference_wgan_gp(*args, iterations=iters, **kw)
    elif cfg.lipschitz == "clip":
        kw = dict(alpha=5e-5, c=cfg.clip_value, m=cfg.batch_size, n_critic=cfg.n_critic)
        reference_algorithm1(*args, iterations=1, **kw)
        t = time.perf_counter()
        reference_algorithm1(*args, iterations=iters, **kw)
    else:
        with fastpaths.use(**OFF):
            run = Run(cfg)
            run.fit(until=1)
            t = time.perf_counter()
            run.fit(until=1 + iters)
    return time.perf_counter() - t


def _reference_task(args: tuple[dict, int]) -> tuple[float, float]:
    cfg_dict, iters = args
    _BARRIER.wait()
    t0 = time.monotonic()
    _reference_run(TrainConfig(**cfg_dict), iters)
    return t0, time.monotonic()


def time_reference(method: str, width: int, iters: int, rep: int, threads: int = 2) -> float:
    """Seed-iterations per second of the reference, one seed, ``threads`` intra-op threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return iters / _reference_run(config(method, width, 1, seed=rep), iters)
    finally:
        torch.set_num_threads(before)


def time_reference_x2(pool, method: str, width: int, iters: int, rep: int) -> float:
    """Seed-iterations per second of two one-thread reference processes (includes set-up)."""
    tasks = [(config(method, width, 1, seed=100 * rep + w).to_dict(), iters) for w in (0, 1)]
    spans = pool.map(_reference_task, tasks)
    return 2 * iters / (max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans))


# ---------------------------------------------------------------- the maths check
def check_members(method: str, width: int, members: int, iters: int) -> float:
    """Largest |difference| between engine members and separate reference runs."""
    from wganlib.replay import member_module, record_draws, replay_member

    cfg = dataclasses.replace(config(method, width, members), iterations=iters)
    engine = Run(cfg).fit()
    draws = record_draws(cfg, iters)
    worst = 0.0
    for k in range(members):
        gen, critic = replay_member(cfg, draws, k, iters)
        ours = [member_module(engine.generator, k), member_module(engine.critic, k)]
        for mine, theirs in zip(ours, (gen, critic), strict=True):
            for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
                worst = max(worst, (a.detach() - b.detach()).abs().max().item())
    return worst


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=5, help="seeds batched per engine process")
    ap.add_argument("--iters", type=int, default=10, help="timed iterations at width 128")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--widths", type=int, nargs="+", default=[512, 128])
    ap.add_argument("--methods", nargs="+", default=["clip", "lp", "sn", "gan", "gp"])
    ap.add_argument("--check-iters", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--reference-processes", action="store_true")
    ap.add_argument(
        "--reference-threads", type=int, default=2,
        help="intra-op threads of the one-seed reference (1 on an oversubscribed machine)",
    )  # fmt: skip
    args = ap.parse_args()
    bad = sorted(set(args.methods) - set(METHODS))
    if bad:
        ap.error(f"unknown methods {bad}; choose from {', '.join(METHODS)}")
    torch.set_num_threads(1)
    print(f"load at start: {_uptime()}")
    print(f"cores: {os.cpu_count()}, torch {torch.__version__}, fast paths {fastpaths.SWITCHES}")
    print(
        f"engine: 2 processes x 1 thread, {args.members} seeds each; reference: one seed at a "
        f"time, {args.reference_threads} thread(s)"
        + ("; ref x2: 2 processes x 1 thread, one seed each" if args.reference_processes else "")
    )
    torch.set_num_threads(2)
    mm_rate = matmul_flops_per_second(2048)
    torch.set_num_threads(1)
    print(f"torch.mm 2048 on two threads: {mm_rate / 1e9:.0f} GFLOP/s (the FLOP floor's rate)")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    last = None
    with ctx.Pool(2, initializer=_init_worker, initargs=(barrier,)) as pool:
        for width in args.widths:
            iters = max(2, round(args.iters * (128 / width) ** 2))
            for method in args.methods:
                diff = check_members(method, width, args.members, args.check_iters)
                if not diff <= args.tolerance:
                    raise SystemExit(
                        f"{method} width {width}: engine members differ from the reference "
                        f"by {diff:.2e} > {args.tolerance:.0e}; the engine is wrong, fix it first"
                    )
                rates: dict[str, list[float]] = {"engine": [], "reference": [], "ref x2": []}
                for rep in range(args.repeats):
                    order = ["engine", "reference", "ref x2"]
                    if not args.reference_processes:
                        order.remove("ref x2")
                    for name in order if rep % 2 == 0 else order[::-1]:
                        if name == "engine":
                            r = time_engine(pool, method, width, args.members, iters, rep)
                        elif name == "reference":
                            r = time_reference(method, width, iters, rep, args.reference_threads)
                        else:
                            r = time_reference_x2(pool, method, width, iters, rep)
                        rates[name].append(r)
                med = {k: statistics.median(v) for k, v in rates.items() if v}
                with fastpaths.use(**OFF):
                    f_ref = iteration_flops(config(method, width, 1))["iteration"]
                f_eng = iteration_flops(config(method, width, 1))["iteration"]
                e, r = med["engine"], med["reference"]
                x2 = f", ref x2 {med['ref x2']:.1f}" if "ref x2" in med else ""
                print(
                    f"{method:5s} width {width:3d}: engine {e:7.1f}, reference {r:6.1f}{x2} "
                    f"seed-it/s, ratio {e / r:4.2f}; GFLOP/seed-it {f_eng / 1e9:.2f} / "
                    f"{f_ref / 1e9:.2f}; floor fraction {e * f_eng / mm_rate:.2f} / "
                    f"{r * f_ref / mm_rate:.2f}; members equal to {diff:.1e}",
                    flush=True,
                )
                if method == "gp" and width == 128:
                    last = (e, r)
    print(f"load at end: {_uptime()}")
    if last is not None:
        e, r = last
        print(f"seed-iterations/s: engine {e:.1f}, reference {r:.1f}, ratio {e / r:.2f}")


if __name__ == "__main__":
    main()
