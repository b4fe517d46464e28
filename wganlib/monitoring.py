r"""Measurements taken *during* training: the optimiser's step against the gradient, and the
exact W1 of the generator over time.

Step-gradient cosine
    The paper (Arjovsky et al. 2017, Section 4) reports that with Adam on the critic "the cosine
    between the Adam step and the gradient usually turned negative" when the loss blew up.
    An optimiser minimising a loss with gradient :math:`g` moves the parameters by
    :math:`\Delta w = -\alpha\, d`; the step goes downhill when

    .. math::
        \cos(d, g) = \frac{\langle d, g\rangle}{\|d\|\,\|g\|} > 0 .

    For RMSProp :math:`d = g / (\sqrt{v} + \epsilon)` with :math:`v \ge 0`, so the cosine is
    always positive. For Adam :math:`d = \hat m / (\sqrt{\hat v} + \epsilon)` with the momentum
    :math:`\hat m`, an average of *past* gradients: when the gradient turns round faster than
    :math:`\beta_1` forgets, the step goes against it. :func:`step_direction` reads :math:`d`
    from the optimiser's state right after ``optimizer.step()`` (the parameters' ``.grad`` still
    holds :math:`g`); :func:`step_gradient_cosine` returns the cosine over all parameters at once.

W1 over training
    :class:`W1Tracker` is a trainer callback: every ``every`` generator iterations it draws ``n``
    generator samples and ``n`` fresh target samples and records their exact W1
    (:func:`wganlib.distances.exact_w1`), next to the median of the critic's estimate over the
    iterations since the last record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "step_direction",
    "step_gradient_cosine",
    "StepCosineRecorder",
    "W1Tracker",
    "negative_fraction",
]


def _params_with_grad(optimizer: torch.optim.Optimizer) -> list[torch.nn.Parameter]:
    return [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]


@torch.no_grad()
def step_direction(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    r"""The direction :math:`d` of the optimiser's last step, :math:`\Delta w = -\alpha d`.

    Read from the optimiser state after ``optimizer.step()`` (one tensor per parameter that has
    a gradient, in ``param_groups`` order), ignoring weight decay:

    * Adam: :math:`d = \dfrac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}`;
    * RMSProp (not centred, no momentum): :math:`d = g / (\sqrt{v_t} + \epsilon)`;
    * SGD: the momentum buffer (or :math:`g` without momentum).

    Raises
    ------
    ValueError
        For another optimiser or option, or when no step has been taken yet.
    """
    out = []
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            state = optimizer.state.get(p, {})
            if isinstance(optimizer, torch.optim.Adam):
                if "exp_avg" not in state:
                    raise ValueError("no Adam step taken yet: call optimizer.step() first")
                b1, b2 = group["betas"]
                t = float(state["step"])
                denom = (state["exp_avg_sq"] / (1 - b2**t)).sqrt() + group["eps"]
                out.append(state["exp_avg"] / (1 - b1**t) / denom)
            elif isinstance(optimizer, torch.optim.RMSprop):
                if group["centered"] or group["momentum"] != 0:
                    raise ValueError("step_direction supports RMSprop without centering/momentum")
                if "square_avg" not in state:
                    raise ValueError("no RMSprop step taken yet: call optimizer.step() first")
                out.append(p.grad / (state["square_avg"].sqrt() + group["eps"]))
            elif isinstance(optimizer, torch.optim.SGD):
                buf = state.get("momentum_buffer")
                out.append(p.grad.clone() if buf is None else buf.clone())
            else:
                raise ValueError(
                    f"step_direction supports Adam, RMSprop and SGD, not {type(optimizer).__name__}"
                )
    return out


@torch.no_grad()
def step_gradient_cosine(optimizer: torch.optim.Optimizer) -> float:
    r""":math:`\cos(d, g)` between the last step's direction and the gradient (all parameters
    flattened into one vector); positive when the step went downhill, NaN if either is zero.

    Call it after ``optimizer.step()`` and before the gradients are cleared.
    """
    params = _params_with_grad(optimizer)
    if not params:
        raise ValueError("no parameter has a gradient: call it after backward() and step()")
    d = torch.cat([t.reshape(-1) for t in step_direction(optimizer)]).double()
    g = torch.cat([p.grad.reshape(-1) for p in params]).double()
    nd, ng = d.norm(), g.norm()
    if nd == 0 or ng == 0:
        return math.nan
    return float(d @ g / (nd * ng))


@dataclass
class StepCosineRecorder:
    r"""Record the step-gradient cosine of an optimiser at every step, or after each iteration.

    Two ways to use it:

    * ``recorder.attach(run.opt_critic)`` registers a hook that runs after *every*
      ``optimizer.step()`` (every critic step); ``recorder.detach()`` removes it. ``steps``
      counts the steps seen, ``iterations`` holds ``run.iteration`` at each step when a ``run``
      was given to :meth:`attach` (the generator iteration in progress, 0-based).
    * As a trainer callback, ``Callback(1, recorder, sync=False)``: after each generator
      iteration the critic's ``.grad`` still holds the gradient of its *last* critic step, so
      this records the cosine of that step only.
    """

    iterations: list[int] = field(default_factory=list)
    cosines: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._handle = None

    def __call__(self, run: Any, iteration: int) -> None:
        self.iterations.append(int(iteration))
        self.cosines.append(step_gradient_cosine(run.opt_critic))

    def attach(self, optimizer: torch.optim.Optimizer, run: Any = None) -> StepCosineRecorder:
        """Record after every ``optimizer.step()`` (a post-step hook); returns ``self``."""
        self.detach()

        def hook(opt, args, kwargs):
            self.iterations.append(int(run.iteration) if run is not None else len(self.cosines))
            self.cosines.append(step_gradient_cosine(opt))

        self._handle = optimizer.register_step_post_hook(hook)
        return self

    def detach(self) -> None:
        """Remove the hook that :meth:`attach` registered (if any)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @property
    def steps(self) -> int:
        """Number of cosines recorded."""
        return len(self.cosines)

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(iterations, cosines)`` as numpy arrays."""
        return np.asarray(self.iterations), np.asarray(self.cosines, dtype=float)


def negative_fraction(values: Iterable[float], mask: Iterable[bool] | None = None) -> float:
    """Fraction of the (finite) values that are negative, optionally only where ``mask`` holds."""
    v = np.asarray(list(values), dtype=float)
    if mask is not None:
        m = np.asarray(list(mask), dtype=bool)
        if m.shape != v.shape:
            raise ValueError(f"mask has shape {m.shape}, values {v.shape}")
        v = v[m]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan
    return float((v < 0).mean())


@dataclass
class W1Tracker:
    r"""Trainer callback recording the exact W1 between generator and target samples.

    Parameters
    ----------
    data : str
        Toy distribution name (:func:`wganlib.toy.sample`), normally ``run.config.data``.
    n : int
        Samples per side (the exact solver's cost grows fast with ``n``; 500-1000 is cheap).
    seed : int
        Seeds the target samples and the generator's prior (independent of training).

    After training, ``iterations``, ``w1`` and ``estimate`` (the median of the history's
    ``critic_estimate`` over the iterations since the previous record) are lists of equal length.
    Use with ``Callback(every, tracker)`` (the default ``sync=True`` keeps the history current).
    """

    data: str
    n: int = 500
    seed: int = 0
    iterations: list[int] = field(default_factory=list)
    w1: list[float] = field(default_factory=list)
    estimate: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.n < 2:
            raise ValueError(f"W1Tracker needs n >= 2 samples per side, got {self.n}")
        self._target_gen = torch.Generator().manual_seed(int(self.seed))

    def __call__(self, run: Any, iteration: int) -> None:
        from wganlib import toy
        from wganlib.distances import exact_w1

        k = len(self.iterations)
        fake = run.sample(self.n, seed=self.seed * 100_003 + k).detach().cpu()
        real = toy.sample(self.data, self.n, generator=self._target_gen)
        est = np.asarray(run.history["critic_estimate"])
        it = np.asarray(run.history["iteration"])
        last = self.iterations[-1] if self.iterations else 0
        window = est[(it > last) & (it <= iteration)]
        self.iterations.append(int(iteration))
        self.w1.append(exact_w1(fake, real))
        self.estimate.append(float(np.median(window)) if window.size else math.nan)

    def as_dict(self) -> dict[str, list[float]]:
        """``{"iteration": [...], "w1": [...], "estimate": [...]}`` (JSON-friendly)."""
        return {"iteration": list(self.iterations), "w1": list(self.w1),
                "estimate": list(self.estimate)}  # fmt: skip
