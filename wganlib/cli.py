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
``config --list``
    One line per config key: type and default.
``bench [ARGS ...]``
    Runs ``benchmarks/bench_trainer.py`` from a source checkout.

One run per output folder (:mod:`wganlib.rundir`: a lock naming the holder's pid); a new run
refuses a folder holding another run's files. Ctrl-C or SIGTERM stops at the end of the current
iteration, saves the checkpoint and prints where it is (status 130 / 143); ``--resume`` keeps the
checkpoint's target unless ``--set iterations=N`` is given, and refuses one below it.

Every error is one line on stderr: status 2 for bad input, bad data or a failed write (disk full),
1 for divergence (NaN/inf, or ``|estimate| > max_abs_estimate``), which keeps the last good
checkpoint. Under ``torchrun`` rank 0 prints set-up errors once (torchrun then adds its own
failure report). ``WGANLIB_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from wganlib.cli_train import (
    TRAINING,
    Reported,
    env_rank,
    one_line,
    say,
    train_command,
    write_samples,
)

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2 (argparse prints usage + message)
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("wganlib")
    except Exception:  # not installed (a source tree on PYTHONPATH)
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    from wganlib.config import valid_keys
    from wganlib.lsun import LSUN_CATEGORIES

    p = _Parser(
        prog="python -m wganlib",
        description="WGAN training and sampling.",
        epilog="examples:\n  python -m wganlib train configs/8gaussians_wgan_gp.toml "
        "--set iterations=2000 --out runs/gp\n  python -m wganlib config --list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"wganlib {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser(
        "train",
        help="train from a TOML config",
        epilog="exit status: 0 done, 1 diverged (NaN/inf or a blow-up), 2 bad input or a "
        "failed write, 130/143 stopped by Ctrl-C/SIGTERM (a checkpoint is saved first)",
    )
    t.add_argument("config", type=Path, help="a TOML file (see configs/)")
    t.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (repeatable); keys: " + ", ".join(valid_keys())
        + " (types and defaults: python -m wganlib config --list)",
    )  # fmt: skip
    t.add_argument("--out", type=Path, help="output folder (default: runs/<name>)")
    t.add_argument(
        "--resume", action="store_true",
        help="continue the checkpoint in --out, to its own target unless --set iterations=N",
    )  # fmt: skip
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("sample", help="draw samples from a checkpoint")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--n", type=int, default=1000, help="number of samples")
    s.add_argument("--out", type=Path, help="output .png, .npy or .pt (default: a PNG)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", help="where to run the generator (default: as trained, or cpu)")
    cats = ", ".join(LSUN_CATEGORIES)
    d = sub.add_parser(
        "data", help="download a data set",
        description=f"Download an LSUN scene database. Categories: {cats}. An interrupted "
        "download continues where it stopped when run again.",
    )  # fmt: skip
    d.add_argument("dataset", choices=["lsun"])
    d.add_argument("category", nargs="?", help=f"one of: {cats} (or --category)")
    d.add_argument("--category", dest="category_opt", metavar="CATEGORY", help="the same")
    d.add_argument("--out", type=Path, default=Path("data/lsun"))
    d.add_argument("--split", default="train", help="train or val")
    c = sub.add_parser("config", help="list the config keys (types and defaults)")
    c.add_argument("--list", action="store_true", help="one line per key (the default)")
    b = sub.add_parser("bench", help="run benchmarks/bench_trainer.py (source checkout)")
    b.add_argument("args", nargs=argparse.REMAINDER)
    return p


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
    say(f"samples: {write_samples(run, args.n, args.seed, out)}")
    return 0


def _data(args) -> int:
    from tqdm import tqdm

    from wganlib.lsun import LSUNDownloadError, download_lsun

    if args.category and args.category_opt and args.category != args.category_opt:
        raise ValueError(
            f"data lsun: two categories given ({args.category!r} and --category "
            f"{args.category_opt!r}); name one"
        )
    category = args.category_opt or args.category
    if not category:
        raise ValueError("data lsun: name a category, e.g. 'data lsun bedroom' or --category")
    bar = tqdm(desc=f"{category}_{args.split}", unit="B", unit_scale=True, file=sys.stderr)

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        path = download_lsun(category, args.out, split=args.split, progress=progress)
    except LSUNDownloadError as err:
        raise ValueError(str(err)) from None
    finally:
        bar.close()
    from wganlib.lsun import check_lmdb

    say(f"LSUN {category} ({args.split}): {path} ({check_lmdb(path)} images, checked)")
    return 0


def _config(args) -> int:
    from wganlib.config import key_help

    say(*key_help())
    return 0


def _bench(args) -> int:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_trainer.py"
    if not script.is_file():
        raise FileNotFoundError(f"{script} not found: benchmarks live in the source repository")
    return subprocess.call([sys.executable, str(script), *args.args])


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input, 1 for divergence).

    Every error is one line on stderr (under torchrun printed by rank 0 only); set
    ``WGANLIB_DEBUG=1`` for the traceback.
    """
    from wganlib.config import ConfigError

    try:
        args = _parser().parse_args(argv)
        handler = {"train": train_command, "sample": _sample, "data": _data, "bench": _bench}
        handler["config"] = _config
        return handler[args.command](args)
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        if env_rank() == 0:
            print("interrupted", file=sys.stderr)
        return 130
    except (_UsageError, Reported, ConfigError, ValueError, OSError, RuntimeError) as err:
        if os.environ.get("WGANLIB_DEBUG"):
            raise
        if env_rank() == 0 or (TRAINING[0] and not isinstance(err, Reported)):
            prefix = "error: " if env_rank() == 0 else f"error (rank {env_rank()}): "
            print(prefix + one_line(err), file=sys.stderr)
        return 2
