r"""Training history: one record per generator iteration, cheap to record, easy to tabulate.

The hot loop never calls ``.item()``: each iteration stacks its scalars into one small tensor on
the training device (:meth:`Recorder.record`); every ``log_every`` iterations the pending rows move
to the host in one transfer (:meth:`Recorder.flush`) and are checked for NaN/inf there. Host-side
values (the iteration number, the wall time) are stored next to them.

A :class:`History` is a column table: ``history.columns``, ``history["critic_estimate"]`` (a
float64 numpy array), ``len(history)``, ``to_dict()``, ``to_csv(path)``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["History", "Recorder", "Callback", "NonFiniteError"]


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf; names the quantity and the generator iteration.

    Attributes
    ----------
    quantity : str
        The column (e.g. ``"critic_loss"``) or tensor (e.g. ``"critic.net.0.weight"``).
    iteration : int
        The generator iteration at which it was first seen (-1 if unknown).
    """

    def __init__(self, quantity: str, iteration: int, value: float = math.nan) -> None:
        self.quantity, self.iteration, self.value = quantity, iteration, value
        where = f"at generator iteration {iteration}" if iteration >= 0 else ""
        super().__init__(
            f"training stopped: {quantity} is {value} {where}; the last checkpoint is left "
            "untouched (try a lower learning rate, a smaller clip value or more critic steps)"
        )


class History:
    r"""A table of per-iteration records.

    Parameters
    ----------
    columns : sequence of str
        Column names, in order.
    values : array, shape (n, len(columns)), optional
        Existing rows (float64).
    """

    def __init__(self, columns: Sequence[str], values: np.ndarray | None = None) -> None:
        self._columns = list(columns)
        if values is None:
            values = np.zeros((0, len(self._columns)))
        values = np.asarray(values, dtype=np.float64).reshape(-1, len(self._columns))
        self._chunks: list[np.ndarray] = [values]

    @property
    def columns(self) -> list[str]:
        """The column names."""
        return list(self._columns)

    @property
    def values(self) -> np.ndarray:
        """All rows as one float64 array of shape (n, len(columns))."""
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks, axis=0)]
        return self._chunks[0]

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self):
        """Iterate over the column names (a History reads like a mapping column -> array)."""
        return iter(list(self._columns))

    def keys(self) -> list[str]:
        """The column names (mapping protocol)."""
        return self.columns

    def __getitem__(self, name: str) -> np.ndarray:
        """One column as a float64 numpy array (a copy)."""
        try:
            j = self._columns.index(name)
        except ValueError:
            raise KeyError(
                f"no column '{name}' in the history; columns: {', '.join(self._columns)}"
            ) from None
        return self.values[:, j].copy()

    def __repr__(self) -> str:
        return f"History({len(self)} rows, columns={self._columns})"

    def append(self, rows: np.ndarray) -> None:
        """Append rows, shape (k, len(columns))."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(self._columns))
        self._chunks.append(rows)

    def last(self) -> dict[str, float]:
        """The latest record as ``{column: value}`` (empty dict when there is none)."""
        if len(self) == 0:
            return {}
        return dict(zip(self._columns, self.values[-1].tolist(), strict=True))

    def to_dict(self) -> dict[str, list[float]]:
        """``{column: list of floats}``, e.g. for ``pandas.DataFrame(history.to_dict())``."""
        v = self.values
        return {c: v[:, j].tolist() for j, c in enumerate(self._columns)}

    def to_csv(self, path: str | Path) -> Path:
        """Write a CSV with a header row; returns the path."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(self._columns)
            for row in self.values.tolist():
                w.writerow([int(x) if float(x).is_integer() and abs(x) < 2**53 else x for x in row])
        return path

    def median_filtered(self, name: str, window: int = 101) -> np.ndarray:
        """A column through a centred running median (the paper's curves are shown this way)."""
        from wganlib.metrics import running_median

        return running_median(self[name], window)

    def state_dict(self) -> dict[str, Any]:
        """``{"columns": [...], "values": float64 tensor}``, loadable with ``weights_only=True``."""
        return {"columns": self.columns, "values": torch.from_numpy(self.values.copy())}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> History:
        """Inverse of :meth:`state_dict`."""
        return cls(state["columns"], state["values"].numpy())


class Recorder:
    r"""Collect per-iteration scalars on the device, move them to the host in chunks.

    Parameters
    ----------
    history : History
        The table to append to. Its first columns are ``host_columns`` then ``device_columns``.
    host_columns : sequence of str
        Columns known on the host (e.g. ``iteration``, ``wall_time``).
    device_columns : sequence of str
        Columns computed on the device; :meth:`record` takes them as one stacked tensor.
    skip_column : str, optional
        A column that counts skipped optimiser steps (fp16 overflow, ``amp_skipped``). In a row
        where it is positive, NaN/inf in the ``skippable`` columns (the gradient norms of the
        skipped steps) is expected and not an error.
    skippable : sequence of str
        See ``skip_column``.
    """

    def __init__(
        self,
        history: History,
        host_columns: Sequence[str],
        device_columns: Sequence[str],
        *,
        skip_column: str | None = None,
        skippable: Sequence[str] = (),
    ) -> None:
        if history.columns != list(host_columns) + list(device_columns):
            raise ValueError("history columns must be host_columns + device_columns")
        self.history = history
        cols = history.columns
        self._skip = None if skip_column is None else cols.index(skip_column)
        self._skippable = [cols.index(c) for c in skippable]
        self.host_columns, self.device_columns = list(host_columns), list(device_columns)
        self._host: list[Sequence[float]] = []
        self._device: list[torch.Tensor] = []

    @property
    def pending(self) -> int:
        """Rows recorded but not yet moved to the host."""
        return len(self._host)

    def record(self, host_values: Sequence[float], device_values: torch.Tensor) -> None:
        """Keep one row; ``device_values`` is a detached 1-D tensor (no sync happens here)."""
        self._host.append(host_values)
        self._device.append(device_values)

    def flush(self) -> None:
        """Move pending rows to the host (one transfer) and append them to the history.

        Raises
        ------
        NonFiniteError
            If a value is NaN or inf; the rows are still appended so the history shows them.
        """
        if not self._host:
            return
        dev = torch.stack(self._device).to("cpu", torch.float64).numpy()
        rows = np.concatenate([np.asarray(self._host, dtype=np.float64), dev], axis=1)
        self._host, self._device = [], []
        self.history.append(rows)
        bad = ~np.isfinite(rows)
        if self._skip is not None and self._skippable:
            skipped = np.nan_to_num(rows[:, self._skip]) > 0  # (k,) rows with a skipped step
            bad[np.ix_(skipped, self._skippable)] = False
        if bad.any():
            i, j = np.argwhere(bad)[0]
            it = int(rows[i, 0]) if self.host_columns[:1] == ["iteration"] else -1
            raise NonFiniteError(self.history.columns[j], it, float(rows[i, j]))


@dataclass(frozen=True)
class Callback:
    r"""Call ``fn(run, iteration)`` every ``every`` generator iterations (and at the end).

    ``iteration`` counts completed generator iterations (1, 2, ...). With ``at_end=True`` the
    callback also runs after the last iteration when that is not a multiple of ``every``. With
    ``sync=True`` (default) the history is flushed to the host first, so ``run.history`` is up to
    date (one device-to-host transfer); a progress bar that runs every iteration passes
    ``sync=False`` and sees the history as of the last log point.
    """

    every: int
    fn: Callable[[Any, int], Any]
    at_end: bool = False
    sync: bool = True

    def __post_init__(self) -> None:
        if self.every <= 0:
            raise ValueError(f"Callback.every must be positive, got {self.every}")

    def due(self, iteration: int) -> bool:
        """True when the callback runs after this iteration."""
        return iteration % self.every == 0


def as_callbacks(callbacks: Iterable[Callback | Callable] | None) -> list[Callback]:
    """Normalise: a bare callable runs every iteration."""
    out = []
    for cb in callbacks or ():
        out.append(cb if isinstance(cb, Callback) else Callback(every=1, fn=cb))
    return out
