r"""The output folder of a command-line run: one run at a time, nothing lost, nothing mixed.

* :class:`RunLock` -- ``DIR/.lock`` holds the pid of the run that owns the folder, under an
  exclusive ``fcntl.flock`` kept for the run's life. The kernel drops the lock when the process
  ends, however it ends, so a lock file left by a dead process is simply taken over; a second
  live run gets :class:`RunDirError` naming the holder's pid.
* :func:`prepare` -- checks the folder before a run: ``--out`` naming a file, a fresh run into a
  folder holding another run's files (refused), stale ``.checkpoint.pt.*.tmp`` files of a killed
  save (removed).
* :func:`resume_target` -- what ``--resume`` trains to: the checkpoint's own target unless
  ``--set iterations=N`` is given; a target below the checkpoint's iteration is refused.
* :class:`StopRequest` -- SIGINT / SIGTERM ask the run to stop at the end of the current
  generator iteration (a trainer callback raises :class:`Interrupted` there); the command line
  then saves a checkpoint and says where it is. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "RunDirError",
    "RunLock",
    "prepare",
    "RUN_FILES",
    "resume_target",
    "StopRequest",
    "Interrupted",
]

#: What a run writes into its folder; a fresh run refuses a folder holding any of them.
RUN_FILES = ("checkpoint.pt", "history.csv", "swd.csv", "config.toml", "tensorboard", "samples")


class RunDirError(ValueError):
    """The output folder cannot be used for this run; the message says what to do."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """An exclusive lock on an output folder, held until :meth:`release` (or process exit).

    Use as a context manager. ``DIR/.lock`` records the holder's pid; :meth:`acquire` raises
    :class:`RunDirError` when another live process holds it.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                alive = holder.isdigit() and _pid_alive(int(holder))
                state = "running" if alive else "holding it"
                raise RunDirError(
                    f"{self.folder} is in use by another run (pid {holder}, {state}); wait for "
                    "it to finish, stop it, or choose another --out"
                ) from None
            try:  # the file may have been removed by its last holder meanwhile: lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that is a file (or lies under one)."""
    for p in (out, *out.parents):
        if p.exists() and not p.is_dir():
            raise RunDirError(f"--out {out}: {p} is a file, not a folder; choose a folder")


def prepare(out: str | Path, *, resume: bool) -> list[Path]:
    """Check ``out`` for a run (call it holding the folder's :class:`RunLock`).

    A fresh run refuses a folder holding another run's files (:data:`RUN_FILES`); ``--resume``
    needs ``out/checkpoint.pt``. Stale temporary checkpoints (``.checkpoint.pt.*.tmp``, left by a
    process killed while saving) are removed; returns the removed paths.
    """
    out = Path(out)
    check_out(out)
    ckpt = out / "checkpoint.pt"
    if resume and not ckpt.is_file():
        raise RunDirError(f"--resume: no checkpoint at {ckpt}; run without --resume")
    if not resume:
        found = [name for name in RUN_FILES if (out / name).exists()]
        if found:
            what = "pass --resume to continue it" if "checkpoint.pt" in found else "delete them"
            raise RunDirError(
                f"{out} holds another run's files ({', '.join(found)}); {what}, "
                "or choose another --out"
            )
    stale = sorted(out.glob(".checkpoint.pt.*.tmp")) if out.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def resume_target(saved_iterations: int, iteration: int, overrides: list[str]) -> int:
    """The target of a resumed run: ``--set iterations=N`` when given, else the checkpoint's.

    Raises :class:`RunDirError` when the target is below ``iteration`` (the checkpoint's).
    """
    from wganlib.config import parse_override

    target = saved_iterations
    for item in overrides:
        key, value = parse_override(item)
        if key == "iterations":
            target = int(value)
    if target < iteration:
        raise RunDirError(
            f"--set iterations={target} is below the checkpoint's iteration {iteration}; "
            "give a larger target (or start a new run in another --out)"
        )
    return target


class Interrupted(Exception):
    """Raised by :meth:`StopRequest.callback` at the end of an iteration after a signal."""

    def __init__(self, signame: str, iteration: int) -> None:
        self.signame, self.iteration = signame, iteration
        super().__init__(f"{signame} at generator iteration {iteration}")


class StopRequest:
    """SIGINT/SIGTERM handlers that ask the training loop to stop after the current iteration.

    ``install()`` replaces the handlers (main thread only) and ``restore()`` puts the old ones
    back. ``callback(run, iteration)`` is a trainer callback that raises :class:`Interrupted`
    once a signal has arrived; ``agree`` (e.g. an all-reduce over processes) turns the local
    flag into one every process shares. A second SIGINT raises ``KeyboardInterrupt`` at once.
    """

    def __init__(
        self,
        notify: Callable[[str], None] | None = None,
        agree: Callable[[bool], bool] | None = None,
    ) -> None:
        self.signame: str | None = None
        self._notify, self._agree = notify, agree
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signame is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signame = name
        if self._notify is not None:
            self._notify(f"{name}: stopping after this iteration (Ctrl-C again to stop at once)")

    def install(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def callback(self, run: Any, iteration: int) -> None:
        requested = self.signame is not None
        if self._agree is not None:
            requested = self._agree(requested)
        if requested:
            raise Interrupted(self.signame or "SIGTERM", iteration)
