r"""Checkpoint files: atomic writes, ``weights_only`` loads, RNG state capture.

A checkpoint is a plain nested dict of tensors, numbers, strings, lists and dicts, so
``torch.load(path, weights_only=True)`` reads it (no pickled classes). It is written to a
temporary file in the destination folder, flushed to disk (``fsync``) and moved into place with
:func:`os.replace`: a reader sees the old file or the new one, never half a file, and a failure
while writing leaves the old checkpoint as it was.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from wganlib.history import NonFiniteError

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "check_finite",
    "require_keys",
    "global_rng_state",
    "set_global_rng_state",
]


def _tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")


def check_finite(obj: Any, *, iteration: int = -1) -> None:
    """Raise :class:`NonFiniteError` naming the first floating tensor in ``obj`` with NaN/inf."""
    for name, t in _tensors(obj):
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            bad = t[~torch.isfinite(t)].flatten()[0].item()
            raise NonFiniteError(name, iteration, bad)


def save_checkpoint(path: str | Path, state: dict[str, Any], *, finite: bool = True) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + fsync + ``os.replace``).

    Parameters
    ----------
    path : str or Path
        Destination; its folder is created if needed.
    state : dict
        Tensors, numbers, strings, lists, dicts (``weights_only``-loadable).
    finite : bool
        Refuse (raise :class:`NonFiniteError`) if a floating tensor holds NaN or inf.

    Returns
    -------
    Path
        The written path. On any error the previous file at ``path`` is untouched and the
        temporary file is removed.
    """
    path = Path(path)
    if finite:
        check_finite(state, iteration=int(state.get("iteration", -1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        buffer = io.BytesIO()  # serialise first: a failed write is then an OSError (ENOSPC)
        torch.save(state, buffer)
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk: name the checkpoint, not the removed temporary file
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (POSIX); not possible on every platform
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``torch.load(..., weights_only=True)``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a wganlib checkpoint (or is corrupt).
    """
    path = Path(path)
    _check_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # corrupt file, not a torch file, pickled classes
        raise ValueError(_unreadable(path, err)) from None
    if not isinstance(state, dict) or state.get("format") != "wganlib-checkpoint":
        raise ValueError(f"{path} is not a wganlib checkpoint (no 'format' marker)")
    return state


def require_keys(state: dict[str, Any], path: str | Path) -> None:
    """Raise ``ValueError`` (one line) when a run checkpoint lacks any of :data:`REQUIRED_KEYS`."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(
            f"{path} is an incomplete wganlib checkpoint (no {', '.join(missing)}); "
            "use another checkpoint or start a new run"
        )


#: Keys every checkpoint holds (what :meth:`wganlib.train.Run.load_state_dict` reads).
REQUIRED_KEYS = ("config", "iteration", "critic_steps", "wall_time", "generator", "critic")
REQUIRED_KEYS += ("opt_generator", "opt_critic", "rng", "history")


def _check_file(path: Path) -> None:
    """One line for what is not a checkpoint file at all: missing, a folder, empty."""
    if path.is_dir():
        hint = " (pass its checkpoint.pt)" if (path / "checkpoint.pt").is_file() else ""
        raise ValueError(f"{path} is a folder, not a checkpoint file{hint}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes: a copy or write that never finished)")


def _unreadable(path: Path, err: Exception) -> str:
    """The reason ``torch.load`` failed, in one line and without advice to load unsafely."""
    text = " ".join(str(err).split())
    if "WeightsUnpickler error:" in text:  # keep torch's reason, drop its advice
        text = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation")[0]
    if "Unsupported global" in text:
        return (
            f"{path} holds pickled Python objects, which wganlib checkpoints never do; it was "
            "not written by wganlib (load only checkpoints you trust, and not with wganlib)"
        )
    reason = text[:200] or type(err).__name__
    return f"{path} is not a readable checkpoint (damaged or truncated?): {reason}"


def global_rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU, and every CUDA device if CUDA is initialised)."""
    state: dict[str, Any] = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`global_rng_state` captured."""
    torch.set_rng_state(state["torch_cpu"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
