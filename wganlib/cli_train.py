"""The ``train`` command of :mod:`wganlib.cli`: set-up, the run's folder, progress, outputs.

Also the pieces the other commands share: the one-line error text (:func:`one_line`), the
sample writer (:func:`write_samples`) and :class:`Reported` (an error another process found,
printed by rank 0 only).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

__all__ = ["train_command", "write_samples", "one_line", "Reported", "env_rank", "say"]


TRAINING = [False]  # errors in the training loop may be one process's own: every rank prints


class Reported(Exception):
    """An error another process reported (under torchrun): exit 2, printed by rank 0 only."""


def env_rank() -> int:
    """This process's rank under torchrun (0 otherwise), read before the group exists."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or repr(err)
    if isinstance(err, OSError) and not isinstance(err, FileNotFoundError) and err.strerror:
        where = f": {err.filename}" if err.filename else ""
        text = f"could not write or read{where} ({err.strerror}); free space or fix permissions"
        if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            text += " (the last complete checkpoint, if any, is left as it was)"
    return text


def say(*lines: str) -> None:
    print("\n".join(lines), flush=True)


def _save_png(run, samples, path: Path) -> Path:
    """Samples over the target (toys) or an image grid, via :mod:`wganlib.plotting`."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # a file writer: no display needed
    import matplotlib.pyplot as plt
    import torch

    from wganlib import plotting

    cfg, title = run.config, f"{run.config.name}, generator iteration {run.iteration}"
    if cfg.is_toy:
        from wganlib import toy

        target = toy.sample(cfg.data, len(samples), generator=torch.Generator().manual_seed(0))
        mixture = cfg.data in ("8gaussians", "25gaussians")
        centers = toy.centers(cfg.data) if mixture else None
        ax = plotting.plot_samples(samples, target, centers=centers, title=title)
    else:
        ax = plotting.plot_image_grid(samples[:64], title=title)
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    return path


def write_samples(run, n: int, seed: int, path: Path) -> Path:
    samples = run.sample(n, seed=seed).cpu()
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".pt":
        import torch

        torch.save(samples, path)
    elif suffix == ".npy":
        import numpy as np

        np.save(path, samples.numpy())
    elif suffix == ".png":
        _save_png(run, samples, path)
    else:
        raise ValueError(f"--out must end in .png, .npy or .pt, got '{path.name}'")
    return path


def _agree(message: str | None, world: int) -> None:
    """All processes learn whether any failed a set-up step; then all stop with one line.

    Raises :class:`Reported` with the first failure's message (rank 0 prints it).
    """
    if world > 1:
        import torch.distributed as dist

        messages: list[str | None] = [None] * world
        dist.all_gather_object(messages, message)
        message = next((m for m in messages if m), None)
    if message:
        raise Reported(message)


def _stop_agreement(world: int):
    """Under torchrun: a stop flag all processes share (any process signalled -> all stop)."""
    if world == 1:
        return None
    import torch
    import torch.distributed as dist

    def agree(flag: bool) -> bool:
        t = torch.tensor([float(flag)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    return agree


def train_command(args) -> int:
    from wganlib import distributed
    from wganlib.config import load_config

    cfg = load_config(args.config, args.set)  # every process, the same error: rank 0 prints
    info = distributed.setup(cfg.device)  # torchrun: join the group; else nothing
    try:
        return _train_process(args, info, cfg)
    finally:
        distributed.teardown()


def _image_logs(run, out: Path, resumed: bool) -> list:
    """Sample grids, SWD and TensorBoard callbacks for the main process (wganlib.runlog)."""
    from wganlib.history import Callback
    from wganlib.runlog import SampleGrids, SWDMonitor, TensorBoardLog, real_images

    cfg, cbs = run.config, []
    after = run.iteration if resumed else None
    tb_after = None if after is None else after // cfg.log_every * cfg.log_every
    tb = TensorBoardLog(out / "tensorboard", resume_after=tb_after)
    if tb.enabled:
        cbs.append(Callback(cfg.log_every, tb))
    if cfg.sample_every and not cfg.is_toy:
        cbs.append(Callback(cfg.sample_every, SampleGrids(out / "samples", seed=cfg.seed + 1)))
    if cfg.swd_every and not cfg.is_toy:
        real = real_images(run, cfg.swd_samples)
        swd = SWDMonitor(real, out / "swd.csv", seed=cfg.seed, tb=tb, resume_after=after)
        cbs.append(Callback(cfg.swd_every, swd))
    return cbs


def _make_run(args, cfg, ckpt: Path):
    """A new run, or the checkpoint's run with its own target unless --set iterations= is given."""
    from wganlib.checkpoint import load_checkpoint
    from wganlib.rundir import resume_target
    from wganlib.train import Run, load

    if not args.resume:
        return Run(cfg)
    state = load_checkpoint(ckpt)
    target = resume_target(state["config"]["iterations"], int(state["iteration"]), args.set)
    del state
    return load(ckpt, overrides={**cfg.to_dict(), "iterations": target})


def _bad_images_watch(write):
    """A callback writing a line whenever the count of undecodable images grows."""
    seen = [0]

    def watch(run, it):
        bad = int(run.history.last().get("bad_images", 0))
        if bad > seen[0]:
            seen[0] = bad
            what = getattr(run.data, "dataset", run.config.data)
            write(f"warning: {bad} undecodable image(s) skipped so far in {what!r} "
                  f"(iteration {it}; column bad_images of history.csv)")  # fmt: skip

    return watch


def _divergence_line(err, ckpt: Path) -> str:
    from wganlib.guards import EstimateBoundError

    if isinstance(err, EstimateBoundError):
        text = str(err)
    else:
        where = f" at generator iteration {err.iteration}" if err.iteration >= 0 else ""
        text = (
            f"training stopped: {err.quantity} is {err.value}{where} (try a lower learning "
            "rate, a smaller clip value or more critic steps)"
        )
    if ckpt.is_file():
        return f"{text}; last good checkpoint: {ckpt}"
    return f"{text}; no checkpoint was written (checkpoint_every = 0 or not reached yet)"


def _train_process(args, info, cfg) -> int:
    from tqdm import tqdm

    from wganlib import distributed, rundir
    from wganlib.config import to_toml
    from wganlib.history import Callback, NonFiniteError
    from wganlib.imagebase import TooManyBadImages

    device = distributed.local_device(cfg.device)
    if device != cfg.device:
        cfg = cfg.with_overrides({"device": device})
    main = info.is_main
    out = args.out if args.out is not None else Path("runs") / cfg.name
    ckpt = out / "checkpoint.pt"
    # signals from here on stop the run at the end of an iteration (set-up is not cut short)
    stop = rundir.StopRequest(notify=_notify(main), agree=_stop_agreement(info.world_size))
    stop.install()
    lock, failure = None, None
    try:  # the folder: checked by the main process, the verdict shared by all
        rundir.check_out(out)
        if main:
            lock = rundir.RunLock(out).acquire()
            rundir.prepare(out, resume=args.resume)
    except (ValueError, OSError) as err:
        failure = one_line(err)
    try:
        _agree(failure, info.world_size)
        run = _make_run(args, cfg, ckpt)
        cfg = run.config
        if main:
            (out / "config.toml").write_text(to_toml(cfg), encoding="utf-8")
        return _fit(args, run, out, ckpt, main, stop, tqdm, Callback)
    except NonFiniteError as err:
        if main:
            print("error: " + _divergence_line(err, ckpt), file=sys.stderr)
        return 1
    except TooManyBadImages as err:  # the same verdict on every process: rank 0 says it
        raise Reported(str(err)) from None
    finally:
        stop.restore()
        if lock is not None:
            lock.release()


def _notify(main: bool):
    def write(line: str) -> None:
        if main:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)

    return write


def _fit(args, run, out: Path, ckpt: Path, main: bool, stop, tqdm, Callback) -> int:
    from wganlib.rundir import Interrupted

    cfg = run.config
    bar = tqdm(
        total=cfg.iterations, initial=run.iteration, file=sys.stderr,
        disable=args.quiet or not main,
        desc=cfg.name, unit="it", dynamic_ncols=True,
    )  # fmt: skip

    write = _notify(main)
    world = run.dist.world_size

    def tick(r, it):
        bar.update(it - bar.n)

    def postfix(r, it):
        last = r.history.last()
        bar.set_postfix(W=f"{last.get('critic_estimate', float('nan')):.4f}", refresh=False)

    callbacks = [Callback(1, tick, sync=False), Callback(cfg.log_every, postfix)]
    callbacks.append(Callback(cfg.log_every, _bad_images_watch(write)))
    if main:
        callbacks += _image_logs(run, out, resumed=args.resume)
    if cfg.checkpoint_every and main:
        callbacks.append(
            Callback(cfg.checkpoint_every, lambda r, it: r.history.to_csv(out / "history.csv"))
        )
    callbacks.append(Callback(1 if world == 1 else cfg.log_every, stop.callback, sync=False))
    TRAINING[0] = True
    try:
        run.fit(callbacks=callbacks, checkpoint=ckpt)
    except Interrupted as sig:
        bar.close()
        run.save(ckpt)  # the state at the end of the iteration just completed
        if main:
            run.history.to_csv(out / "history.csv")
            print(
                f"stopped by {sig.signame} after generator iteration {sig.iteration}; "
                f"checkpoint: {ckpt} (continue with: python -m wganlib train {args.config} "
                f"--out {out} --resume)",
                file=sys.stderr,
            )
        return 130 if sig.signame == "SIGINT" else 143
    except BaseException:
        bar.close()
        if main:
            run.history.to_csv(out / "history.csv")
        raise
    bar.close()
    if not main:
        return 0
    csv = run.history.to_csv(out / "history.csv")
    png = write_samples(run, 2000 if cfg.is_toy else 64, 0, out / "samples.png")
    lines = [
        f"trained {cfg.name}: {run.iteration} generator iterations",
        f"checkpoint: {ckpt}",
        f"history:    {csv}",
        f"samples:    {png}",
        f"config:     {out / 'config.toml'}",
    ]
    if cfg.amp == "fp16":  # overflow skips of the gradient scaler: normal, not divergence
        lines.append(
            f"fp16:       {run.skipped_steps} optimiser steps skipped by the gradient scaler"
        )
    if not cfg.is_toy and cfg.data != "noise" and cfg.data != "digits":
        bad = int(run.history.last().get("bad_images", 0))
        lines.append(f"bad images: {bad} undecodable, skipped (column bad_images)")
    from wganlib.runlog import tensorboard_available

    if tensorboard_available():
        lines.append(f"tensorboard: tensorboard --logdir {out / 'tensorboard'}")
    else:
        lines.append("tensorboard: not installed (pip install tensorboard); history.csv has it all")
    say(*lines)
    return 0
