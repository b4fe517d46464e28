r"""Safety stops the trainer applies at each log point, beside its NaN/inf check.

* A **finite blow-up**: a critic whose estimate runs away (:math:`|\hat W| \sim 10^{11}`) is as
  useless as a NaN, but stays finite for a long time. :class:`EstimateBoundError` (a
  :class:`~wganlib.history.NonFiniteError`, so it stops a run the same way) is raised when
  :math:`|\hat W|` exceeds ``config.max_abs_estimate`` (0: off).
* **Bad images**: the ``bad_images`` history column counts the distinct undecodable entries met so
  far (summed over processes); past ``config.max_bad_fraction`` of the images read the run stops
  with :class:`~wganlib.imagebase.DataError` (:func:`wganlib.imagebase.check_bad_images`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from wganlib.history import History, NonFiniteError
from wganlib.imagebase import check_bad_images

__all__ = ["EstimateBoundError", "check_rows", "pad_history"]


class EstimateBoundError(NonFiniteError):
    """The critic's estimate left ``[-bound, bound]``: a finite blow-up, treated like NaN."""

    def __init__(self, quantity: str, iteration: int, value: float, bound: float) -> None:
        self.quantity, self.iteration, self.value, self.bound = quantity, iteration, value, bound
        FloatingPointError.__init__(
            self,
            f"training stopped: |{quantity}| = {abs(value):.3g} exceeds max_abs_estimate = "
            f"{bound:g} at generator iteration {iteration} (a blow-up: try a lower learning "
            "rate or a stronger Lipschitz constraint; raise max_abs_estimate if it is expected)",
        )


def check_rows(history: History, start: int, config: Any, *, read: int, what: str) -> int:
    """Check the history's rows from ``start`` on; returns the number of rows checked so far.

    Raises :class:`EstimateBoundError` for an estimate beyond ``config.max_abs_estimate`` and
    :class:`~wganlib.imagebase.DataError` when ``bad_images`` (its latest value) exceeds
    ``config.max_bad_fraction`` of ``read`` images read so far.
    """
    n = len(history)
    if n <= start:
        return n
    values, cols = history.values[start:], history.columns
    bound = float(config.max_abs_estimate)
    if bound > 0 and "critic_estimate" in cols:
        est = values[:, cols.index("critic_estimate")]
        over = np.flatnonzero(np.abs(est) > bound)
        if over.size:
            i = int(over[0])
            it = int(values[i, cols.index("iteration")]) if "iteration" in cols else -1
            raise EstimateBoundError("critic_estimate", it, float(est[i]), bound)
    if "bad_images" in cols:
        bad = values[-1, cols.index("bad_images")]
        if math.isfinite(bad) and bad > 0:
            check_bad_images(round(bad), read, float(config.max_bad_fraction), what=what)
    return n


def pad_history(state: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """A history state of an older checkpoint with missing columns added (zeros), in order."""
    have = list(state["columns"])
    if have == list(columns) or not set(have) <= set(columns):
        return state
    old = state["values"].double()
    values = torch.zeros(len(old), len(columns), dtype=torch.float64)
    for j, name in enumerate(columns):
        if name in have:
            values[:, j] = old[:, have.index(name)]
    return {"columns": list(columns), "values": values}
