"""Where a results file came from: command, git commit (and whether the tree was clean), date,
machine. Every experiment module stamps its results file with :func:`provenance`."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["git", "code_version", "machine", "provenance"]

_ROOT = Path(__file__).resolve().parents[2]


def git(*args: str) -> str | None:
    """Output of ``git ARGS`` in the repository holding this package (None without git)."""
    try:
        out = subprocess.run(
            ["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def code_version() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout this package runs from."""
    status = git("status", "--porcelain")
    return git("rev-parse", "HEAD"), None if status is None else bool(status)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int | None = None) -> dict[str, Any]:
    """The machine: CPU model and count, Python, torch, and the torch threads per process."""
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": threads if threads is not None else torch.get_num_threads(),
        "platform": platform.platform(),
    }


def provenance(module: str, argv: Sequence[str], *, threads: int | None = None) -> dict[str, Any]:
    """The header of a results file written by ``python -m MODULE ARGV``."""
    commit, dirty = code_version()
    return {
        "command": " ".join(["python -m", module, *argv]),
        "git_commit": commit,
        "git_dirty": dirty,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(threads),
    }
