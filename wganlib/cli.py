"""Command line: ``python -m wganlib train | sample | data | bench``.

``train CONFIG.toml [--set key=value ...] [--out DIR] [--resume]``
    Trains with a progress bar on stderr and writes into ``DIR`` (default ``runs/<name>``):
    ``config.toml`` (the resolved config), ``checkpoint.pt`` (every ``checkpoint_every``
    iterations and at the end), ``history.csv`` and ``samples.png``. ``--resume`` continues the
    checkpoint in ``DIR`` (bit-identically on the CPU), e.g. with ``--set iterations=...``.
``sample CHECKPOINT [--n N] [--out FILE] [--seed S]``
    Writes ``N`` generator samples as ``.pt``, ``.npy`` or a ``.png`` figure.
``data lsun CATEGORY [--out DIR] [--split train]``
    Downloads an LSUN scene database (needs network).
``bench [ARGS ...]``
    Runs ``benchmarks/bench_trainer.py`` from a source checkout.

Bad input (a missing file, an unknown key or method) prints one line on stderr and exits with
status 2; a NaN/inf during training exits with status 1 and keeps the last good checkpoint.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2 (argparse prints usage + message)
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m wganlib", description="WGAN training and sampling.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train from a TOML config")
    t.add_argument("config", type=Path, help="a TOML file (see configs/)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override")
    t.add_argument("--out", type=Path, help="output folder (default: runs/<name>)")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("sample", help="draw samples from a checkpoint")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--n", type=int, default=1000, help="number of samples")
    s.add_argument("--out", type=Path, help="output .png, .npy or .pt (default: a PNG)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", help="where to run the generator (default: as trained, or cpu)")
    d = sub.add_parser("data", help="download a data set")
    d.add_argument("dataset", choices=["lsun"])
    d.add_argument("category", nargs="?", help="e.g. bedroom (or --category)")
    d.add_argument("--category", dest="category_opt", metavar="CATEGORY", help="e.g. bedroom")
    d.add_argument("--out", type=Path, default=Path("data/lsun"))
    d.add_argument("--split", default="train")
    b = sub.add_parser("bench", help="run benchmarks/bench_trainer.py (source checkout)")
    b.add_argument("args", nargs=argparse.REMAINDER)
    return p


def _say(*lines: str) -> None:
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


def _write_samples(run, n: int, seed: int, path: Path) -> Path:
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


def _train(args) -> int:
    from wganlib import distributed

    cfg_device = _peek_device(args)
    info = distributed.setup(cfg_device)  # torchrun: join the group; else nothing
    try:
        return _train_process(args, info)
    finally:
        distributed.teardown()


def _peek_device(args) -> str:
    from wganlib.config import load_config

    return load_config(args.config, args.set).device


def _image_logs(run, out: Path) -> list:
    """Sample grids, SWD and TensorBoard callbacks for the main process (wganlib.runlog)."""
    from wganlib.history import Callback
    from wganlib.runlog import SampleGrids, SWDMonitor, TensorBoardLog, real_images

    cfg, cbs = run.config, []
    tb = TensorBoardLog(out / "tensorboard")
    if tb.enabled:
        cbs.append(Callback(cfg.log_every, tb))
    if cfg.sample_every and not cfg.is_toy:
        cbs.append(Callback(cfg.sample_every, SampleGrids(out / "samples", seed=cfg.seed + 1)))
    if cfg.swd_every and not cfg.is_toy:
        swd = SWDMonitor(real_images(run, cfg.swd_samples), out / "swd.csv", seed=cfg.seed, tb=tb)
        cbs.append(Callback(cfg.swd_every, swd))
    return cbs


def _train_process(args, info) -> int:
    from tqdm import tqdm

    from wganlib import distributed
    from wganlib.config import load_config, to_toml
    from wganlib.history import Callback, NonFiniteError
    from wganlib.train import Run, load

    cfg = load_config(args.config, args.set)
    device = distributed.local_device(cfg.device)
    if device != cfg.device:
        cfg = cfg.with_overrides({"device": device})
    main = info.is_main
    out = args.out if args.out is not None else Path("runs") / cfg.name
    ckpt = out / "checkpoint.pt"
    if args.resume:
        if not ckpt.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; run without --resume")
        run = load(ckpt, overrides=cfg.to_dict())
    else:
        if ckpt.exists():
            raise ValueError(f"{ckpt} exists; pass --resume to continue it or choose another --out")
        run = Run(cfg)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(to_toml(run.config), encoding="utf-8")
    bar = tqdm(
        total=cfg.iterations, initial=run.iteration, file=sys.stderr,
        disable=args.quiet or not main,
        desc=cfg.name, unit="it", dynamic_ncols=True,
    )  # fmt: skip

    def tick(r, it):
        bar.update(it - bar.n)

    def postfix(r, it):
        last = r.history.last()
        bar.set_postfix(W=f"{last.get('critic_estimate', float('nan')):.4f}", refresh=False)

    callbacks = [Callback(1, tick, sync=False), Callback(cfg.log_every, postfix)]
    if main:
        callbacks += _image_logs(run, out)
    if cfg.checkpoint_every and main:
        callbacks.append(
            Callback(cfg.checkpoint_every, lambda r, it: r.history.to_csv(out / "history.csv"))
        )
    try:
        run.fit(callbacks=callbacks, checkpoint=ckpt)
    except NonFiniteError as err:
        bar.close()
        if not main:
            return 1
        run.history.to_csv(out / "history.csv")
        kept = f"; last good checkpoint: {ckpt}" if ckpt.is_file() else ""
        print(f"error: {err}{kept}", file=sys.stderr)
        return 1
    bar.close()
    if not main:
        return 0
    csv = run.history.to_csv(out / "history.csv")
    png = _write_samples(run, 2000 if cfg.is_toy else 64, 0, out / "samples.png")
    if cfg.amp == "fp16":  # overflow skips of the gradient scaler: normal, not divergence
        _say(f"fp16:       {run.skipped_steps} optimiser steps skipped by the gradient scaler")
    _say(
        f"trained {cfg.name}: {run.iteration} generator iterations",
        f"checkpoint: {ckpt}",
        f"history:    {csv}",
        f"samples:    {png}",
        f"config:     {out / 'config.toml'}",
    )
    return 0


def _sample(args) -> int:
    from wganlib.train import load

    if args.n <= 0:
        raise ValueError(f"--n must be positive, got {args.n}")
    device = args.device
    if device is None:
        import torch

        device = None if torch.cuda.is_available() else "cpu"
    run = load(args.checkpoint, device=device)
    out = args.out or args.checkpoint.with_name(args.checkpoint.stem + "_samples.png")
    _say(f"samples: {_write_samples(run, args.n, args.seed, out)}")
    return 0


def _data(args) -> int:
    from wganlib.lsun import LSUNDownloadError, download_lsun

    category = args.category_opt or args.category
    if not category:
        raise ValueError("data lsun: name a category, e.g. 'data lsun bedroom' or --category")
    try:
        path = download_lsun(category, args.out, split=args.split)
    except LSUNDownloadError as err:
        raise ValueError(str(err)) from None
    _say(f"LSUN {category} ({args.split}): {path}")
    return 0


def _bench(args) -> int:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_trainer.py"
    if not script.is_file():
        raise FileNotFoundError(f"{script} not found: benchmarks live in the source repository")
    return subprocess.call([sys.executable, str(script), *args.args])


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input)."""
    from wganlib.config import ConfigError

    try:
        args = _parser().parse_args(argv)
        handler = {"train": _train, "sample": _sample, "data": _data, "bench": _bench}
        return handler[args.command](args)
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    except (_UsageError, ConfigError, FileNotFoundError, ValueError) as err:
        if os.environ.get("WGANLIB_DEBUG"):
            raise
        print("error: " + (" ".join(str(err).split("\n")) or repr(err)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
