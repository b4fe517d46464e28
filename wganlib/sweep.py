r"""A resumable sweep engine: a grid of training runs that survives being killed.

A sweep is a list of :class:`Cell` s. A cell is one call of the trainer (its
:class:`~wganlib.config.TrainConfig` may train ``members`` seeds side by side, see
:mod:`wganlib.ensemble`) plus a *measure*: a picklable function ``measure(run, iteration)``
returning a list of JSON-ready records, called at the iterations of the cell's ``schedule``
(and after the last iteration), and an optional ``final(run)`` that returns one JSON-ready
dict when the cell is done.

Every cell keeps its state in its own folder ``STATE/<key>/``:

``checkpoint.pt``
    the run's full state (:meth:`wganlib.train.Run.save`, atomic), written at the first
    measurement point at least ``checkpoint_every`` iterations after the last one, and at the end;
``trace.json``
    the measurement records so far and the seconds spent, written (atomically) *before* the
    checkpoint, so that after a kill the trace is never behind the checkpoint; records past the
    checkpoint's iteration are dropped on resume and measured again (training resumes
    bit-identically, so they come out the same);
``result.json``
    the finished cell: trace, final dict, seconds; a cell with a result is not run again
    unless its iteration target has grown, in which case it continues from its checkpoint.

:func:`run_sweep` runs the cells not yet done on ``workers`` processes (``threads`` torch
threads each; on a 2-core machine, 2 x 1) and reports progress through a callback that
receives a :class:`Progress` snapshot every ``poll`` seconds. It never writes the sweep's
results file: the caller does, once every cell is done (:func:`write_json_atomic`).

The folder also holds ``sweep.json`` with the git commit that made the state: resuming with
other code would mix two versions in one table, so :func:`run_sweep` refuses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from wganlib.config import TrainConfig

__all__ = [
    "Cell",
    "Progress",
    "ProgressBar",
    "SweepStateError",
    "run_cell",
    "run_sweep",
    "write_json_atomic",
    "write_npz_atomic",
]

Measure = Callable[[Any, int], list]
Final = Callable[[Any], dict]


class SweepStateError(RuntimeError):
    """The state folder belongs to another version of the code or another sweep."""


@dataclass(frozen=True)
class Cell:
    """One training run of a sweep and what to measure on it.

    Parameters
    ----------
    key : str
        Unique name, used as the folder name (letters, digits, ``-``, ``_``, ``.``).
    config : TrainConfig
        The run; ``config.iterations`` is its target.
    measure : callable
        ``measure(run, iteration) -> list[dict]``, a module-level function (or a
        :func:`functools.partial` of one) so that worker processes can receive it.
    schedule : sequence of int
        Generator iterations after which ``measure`` runs (the last iteration is added).
    final : callable, optional
        ``final(run) -> dict`` once the cell is done.
    checkpoint_every : int
        Checkpoint at the first measurement point this many iterations after the last
        checkpoint (and at the end).
    """

    key: str
    config: TrainConfig
    measure: Measure
    schedule: Sequence[int] = ()
    final: Final | None = None
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        if not self.key or not all(ch.isalnum() or ch in "-_." for ch in self.key):
            raise ValueError(f"cell key {self.key!r} must be letters, digits, '-', '_' or '.'")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")

    @property
    def points(self) -> list[int]:
        """The measurement iterations: the schedule within the target, plus the target."""
        n = self.config.iterations
        return sorted({int(i) for i in self.schedule if 0 < int(i) < n} | {n})

    @property
    def work(self) -> int:
        """Seed-iterations of the cell (generator iterations times members)."""
        return self.config.iterations * self.config.members


@dataclass
class Progress:
    """A snapshot of a sweep: cells done, seed-iterations done, seconds elapsed."""

    cells_done: int
    cells: int
    work_done: int
    work: int
    seconds: float
    running: dict[str, int] = field(default_factory=dict)  # key -> iteration reached

    @property
    def fraction(self) -> float:
        return self.work_done / self.work if self.work else 1.0


def _write_atomic(path: str | Path, write: Callable[[Any], None], mode: str) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then :func:`os.replace` it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the results file private
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` through a temporary file and :func:`os.replace`."""

    def write(fh: Any) -> None:
        json.dump(obj, fh, indent=1)
        fh.write("\n")

    return _write_atomic(path, write, "w")


def write_npz_atomic(path: str | Path, arrays: dict[str, Any]) -> Path:
    """Write ``arrays`` as a compressed ``.npz`` to ``path``, atomically like :func:`write_json_atomic`."""
    import numpy as np

    return _write_atomic(path, lambda fh: np.savez_compressed(fh, **arrays), "wb")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _reached(folder: Path, cell: Cell) -> int:
    """Generator iterations of ``cell`` done so far, from its files (0: not started)."""
    result, trace = folder / "result.json", folder / "trace.json"
    try:
        if result.exists():
            return min(int(_read_json(result)["iterations"]), cell.config.iterations)
        if trace.exists():
            return min(int(_read_json(trace)["iteration"]), cell.config.iterations)
    except (OSError, ValueError, KeyError):
        pass
    return 0


def _check_same_config(saved: TrainConfig, wanted: TrainConfig, path: Path) -> None:
    from wganlib.train import RESUMABLE

    a, b = saved.to_dict(), wanted.to_dict()
    bad = [k for k in a if k not in RESUMABLE and a[k] != b[k]]
    if bad:
        raise SweepStateError(
            f"{path} was trained with other settings ({', '.join(bad)}); "
            "start over with a new --state folder"
        )


def run_cell(cell: Cell, state: str | Path) -> dict[str, Any]:
    """Run (or resume, or just read) one cell; returns its result dict.

    The result holds ``key``, ``iterations``, ``trace`` (the measure's records in order),
    ``final`` (``cell.final(run)`` or None), ``seconds`` (all time spent on the cell, over
    every resume), ``train_seconds`` (the trainer's own clock) and ``diverged`` (None, or
    the :class:`~wganlib.history.NonFiniteError` message: the run stopped at its last good
    checkpoint, which ``final`` then measures).
    """
    folder = Path(state) / cell.key
    folder.mkdir(parents=True, exist_ok=True)
    with _cell_lock(folder):
        return _run_locked(cell, folder)


@contextlib.contextmanager
def _cell_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/lock`` (``flock``) while a process runs the cell; a second one is refused."""
    import fcntl

    with open(folder / "lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise SweepStateError(
                f"{folder} is being trained by another process (pid {fh.read().strip() or '?'}); "
                "wait for it to finish or stop it first"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_locked(cell: Cell, folder: Path) -> dict[str, Any]:
    from wganlib.history import Callback, NonFiniteError
    from wganlib.train import Run, load

    result_path, trace_path, ckpt = (
        folder / "result.json", folder / "trace.json", folder / "checkpoint.pt",
    )  # fmt: skip
    target = cell.config.iterations

    if result_path.exists():
        done = _read_json(result_path)
        if done["iterations"] >= target or done.get("diverged"):
            return done
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    seconds = 0.0
    if ckpt.exists():
        run = load(ckpt, overrides={"iterations": target})
        _check_same_config(run.config, cell.config, ckpt)
        if trace_path.exists():
            saved = _read_json(trace_path)
            records = [r for r in saved["records"] if r["iteration"] <= run.iteration]
            seconds = float(saved["seconds"])
    else:
        run = Run(cell.config)
    points = set(cell.points)

    def save_state(run: Any, iteration: int) -> None:
        spent = seconds + time.perf_counter() - started
        write_json_atomic(
            trace_path, {"iteration": iteration, "seconds": spent, "records": records}
        )
        run.save(ckpt)

    last_saved = run.iteration

    def on_iteration(run: Any, iteration: int) -> None:
        nonlocal last_saved
        if iteration not in points:
            return
        records.extend(cell.measure(run, iteration))
        if iteration - last_saved >= cell.checkpoint_every or iteration == target:
            save_state(run, iteration)
            last_saved = iteration

    diverged = None
    if run.iteration < target:
        try:
            run.fit(target, callbacks=[Callback(1, on_iteration, sync=False)])
        except NonFiniteError as err:  # keep the last good state and say so
            diverged = str(err)
            run = load(ckpt) if ckpt.exists() else Run(cell.config)
            records = [r for r in records if r["iteration"] <= run.iteration]
    elif run.iteration not in {r["iteration"] for r in records}:
        records.extend(cell.measure(run, run.iteration))
    result = {
        "key": cell.key,
        "iterations": run.iteration if diverged else target,
        "members": cell.config.members,
        "trace": records,
        "final": cell.final(run) if cell.final else None,
        "seconds": seconds + time.perf_counter() - started,
        "train_seconds": run.wall_time,
        "diverged": diverged,
    }
    write_json_atomic(result_path, result)
    return result


def _die_with_parent() -> None:
    """Worker initialiser: on Linux, get SIGKILL when the sweep's process dies (``kill -9``
    of the command would otherwise leave its workers training, and writing, on their own)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _run_cell_in_worker(args: tuple[Cell, str, int]) -> dict[str, Any]:
    cell, state, threads = args
    torch.set_num_threads(threads)
    return run_cell(cell, state)


def _check_state(state: Path, commit: str | None, dirty: bool | None) -> None:
    """Record (first run) or compare (resume) the code version that owns ``state``."""
    marker = state / "sweep.json"
    if marker.exists():
        owner = _read_json(marker)
        if owner.get("commit") != commit or owner.get("dirty") != dirty:
            raise SweepStateError(
                f"the sweep state in {state} was made by commit {owner.get('commit')} "
                f"(dirty: {owner.get('dirty')}), this code is {commit} (dirty: {dirty}); "
                "continue it with that code, or start over with a new --state folder"
            )
    else:
        write_json_atomic(marker, {"commit": commit, "dirty": dirty})


def run_sweep(
    cells: Sequence[Cell],
    state: str | Path,
    *,
    workers: int = 1,
    threads: int = 1,
    progress: Callable[[Progress], None] | None = None,
    poll: float = 5.0,
    version: tuple[str | None, bool | None] | None = None,
) -> list[dict[str, Any]]:
    """Run every cell (resuming what ``state`` holds); results in the order of ``cells``.

    ``workers`` processes (``spawn``ed, ``threads`` torch threads each) take the cells longest
    first. ``version`` = ``(commit, dirty)`` ties the state folder to one version of the code
    (:class:`SweepStateError` on a mismatch); None skips the check (tests).
    """
    state = Path(state)
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError("cell keys must be unique")
    state.mkdir(parents=True, exist_ok=True)
    if version is not None:
        _check_state(state, *version)
    start = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    # longest first (cost ~ seed-iterations x (critic steps + 1)), so the workers end together
    order = sorted(cells, key=lambda c: -c.work * (c.config.n_critic + 1))
    total = sum(c.work for c in cells)

    def snapshot() -> Progress:
        running, work_done = {}, 0
        for c in cells:
            if c.key in results:
                work_done += c.work
                continue
            it = _reached(state / c.key, c)
            work_done += it * c.config.members
            if it:
                running[c.key] = it
        return Progress(len(results), len(cells), work_done, total,
                        time.perf_counter() - start, running)  # fmt: skip

    stop = threading.Event()

    def report() -> None:
        while not stop.wait(poll):
            progress(snapshot())

    reporter = threading.Thread(target=report, daemon=True) if progress else None
    if reporter:
        progress(snapshot())
        reporter.start()
    try:
        tasks = [(c, str(state), threads) for c in order]
        if workers <= 1:
            torch.set_num_threads(threads)
            for c in order:
                results[c.key] = run_cell(c, state)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # no fork of a process that holds torch threads
            with ctx.Pool(workers, initializer=_die_with_parent) as pool:
                for res in pool.imap_unordered(_run_cell_in_worker, tasks):
                    results[res["key"]] = res
    finally:
        stop.set()
        if reporter:
            reporter.join()
    if progress:
        progress(snapshot())
    return [results[k] for k in keys]


class ProgressBar:
    """A :func:`run_sweep` progress callback: a tqdm bar over seed-iterations (on stderr) plus a
    status line (cells done, cells running at which iteration)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, p: Progress) -> None:
        from tqdm.auto import tqdm

        if self._bar is None:
            self._bar = tqdm(total=p.work, unit="seed-it", file=sys.stderr, smoothing=0.1)
        self._bar.n = p.work_done
        running = ", ".join(f"{k}@{it}" for k, it in sorted(p.running.items()))
        self._bar.set_postfix_str(f"cells {p.cells_done}/{p.cells}; running {running or '-'}")
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
