"""The graded test cases of each assignment, split in two halves that never share a process.

A :class:`Case` has a ``run`` half, executed in the sandbox after the student's notebook: it calls
the student's answer on inputs it builds itself from fixed seeds and returns raw outputs (no
verdict). The outputs cross to the trusted grader as plain data (:mod:`coursework.values`); there the
``check`` half rebuilds the same inputs, computes the expected answer with the library and compares.
Whatever the student's code does to its own process (replace ``torch.allclose``, the worker,
these modules) changes only the outputs it reports, which it could have returned anyway.

Each question is tested on trusted inputs: where an answer calls an earlier one, ``run`` first puts
a reference implementation under the earlier name in the notebook's namespace (the worker restores
the namespace after each case), so one mistake costs one question.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = ["Case", "Mismatch", "answer", "as_float", "as_tensor", "close", "load", "need"]


class Mismatch(AssertionError):
    """A failed check: what was checked, and (where safe to show) expected and got."""

    def __init__(self, what: str, expected: Any = None, got: Any = None):
        super().__init__(what)
        self.what, self.expected, self.got = what, expected, got


@dataclass(frozen=True)
class Case:
    """One graded test case (see the module docstring for the two halves)."""

    question: str
    name: str
    points: float
    run: Callable[[dict[str, Any]], Any] = field(repr=False)
    check: Callable[[Any], None] = field(repr=False)
    public: bool = False
    limit: int = 120  # seconds for ``run`` in the sandbox (a soft limit: SIGALRM)

    @property
    def key(self) -> str:
        return f"{self.question}:{self.name}"


def load(assignment: str) -> ModuleType:
    """The cases module of ``assignment`` (``CASES``, ``QUESTIONS``, ``WRITTEN``, ``CHECKED_NAMES``)."""
    if not assignment.replace("_", "").isalnum():
        raise ValueError(f"bad assignment name {assignment!r}")
    return importlib.import_module(f"coursework.cases.{assignment}")


def answer(ns: dict[str, Any], name: str) -> Any:
    """The student's ``name`` from the notebook namespace (a clear error if it is missing)."""
    if name not in ns:
        raise NameError(f"{name!r} is not defined (did the cell that defines it run?)")
    value = ns[name]
    if value is Ellipsis:
        raise NameError(f"{name!r} is still `...` (not answered)")
    return value


def need(condition: Any, what: str, expected: Any = None, got: Any = None) -> None:
    """Raise :class:`Mismatch` unless ``condition`` is true."""
    if condition is not True and not (isinstance(condition, bool) and condition):
        raise Mismatch(what, expected, got)


def as_float(got: Any, what: str = "a Python float") -> float:
    need(
        isinstance(got, (int, float)) and not isinstance(got, bool),
        f"expected {what}",
        "float",
        type(got).__name__,
    )
    return float(got)


def as_tensor(got: Any, shape: tuple[int, ...] | None = None, what: str = "a tensor"):
    import torch

    need(isinstance(got, torch.Tensor), f"expected {what}", "tensor", type(got).__name__)
    if shape is not None:
        need(tuple(got.shape) == tuple(shape), f"shape of {what}", tuple(shape), tuple(got.shape))
    return got


def close(got: Any, expected: Any, what: str, *, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """``got`` equals ``expected`` (numbers or tensors) within tolerances, else :class:`Mismatch`."""
    import torch

    if isinstance(got, torch.Tensor) and not isinstance(expected, torch.Tensor):
        expected = torch.tensor(float(expected), dtype=torch.float64)  # a 0-dim tensor expected
    if isinstance(expected, torch.Tensor):
        got_t = as_tensor(got, tuple(expected.shape), what).detach().to(torch.float64)
        exp_t = expected.detach().to(torch.float64)
        same_inf = torch.equal(torch.isinf(got_t), torch.isinf(exp_t))
        finite = torch.isfinite(exp_t)
        ok = (
            same_inf
            and bool(
                torch.all(
                    (got_t[finite] - exp_t[finite]).abs() <= atol + rtol * exp_t[finite].abs()
                )
            )
            and not bool(torch.isnan(got_t).any())
        )
        need(ok, what, _short(exp_t), _short(got_t))
        return
    g = as_float(got, what)
    e = float(expected)
    ok = (g == e) if math.isinf(e) else (math.isfinite(g) and abs(g - e) <= atol + rtol * abs(e))
    need(ok, what, e, g)


def _short(t: Any) -> str:
    import torch

    if isinstance(t, torch.Tensor) and t.numel() > 6:
        return f"tensor of shape {tuple(t.shape)}, first values {t.flatten()[:4].tolist()}"
    return repr(t.tolist() if isinstance(t, torch.Tensor) else t)
