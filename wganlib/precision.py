r"""Mixed precision for the trainer: bf16 autocast, or fp16 autocast with gradient scaling.

A :class:`Precision` bundles what :func:`wganlib.steps.critic_step` and
:func:`~wganlib.steps.generator_step` need: an autocast context for the forward passes, and for
fp16 a :class:`torch.amp.GradScaler` (one per optimiser). The weights, the optimiser states and
the losses stay in float32; only the convolutions and matrix products run in 16 bits.

Why the WGAN objective survives it. The critic's loss
:math:`-(\frac1m\sum f(x_i) - \frac1m\sum f(g(z_i)))` is often negative; the scaler multiplies
it by a positive :math:`s` before ``backward`` and divides the gradients by :math:`s` before the
step (skipping a step whose gradients overflowed), so signs and directions are unchanged. The
scores are cast to float32 before the means, so the estimate is not rounded to 16 bits.

The gradient penalty needs :math:`\nabla_x f(\hat x)` inside the loss. In bf16 (float32's
exponent range) it is computed under autocast like the rest. In fp16 those input gradients can
underflow (a clipped critic's are tiny), so the penalty's forward and double backward run in
float32 with autocast switched off: slower, but the penalty is the same number as without AMP.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["Precision", "AMP_DTYPES"]

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast and (fp16) gradient scaling for one optimiser.

    Parameters
    ----------
    amp : {"none", "bf16", "fp16"}
    device : torch.device or str
        The training device (its type picks the autocast backend, e.g. ``cuda`` or ``cpu``).
    """

    def __init__(self, amp: str = "none", device: torch.device | str = "cpu") -> None:
        if amp not in AMP_DTYPES:
            raise ValueError(f"amp must be one of {', '.join(AMP_DTYPES)}, got {amp!r}")
        self.amp, self.device_type = amp, torch.device(device).type
        self.dtype = AMP_DTYPES[amp]
        self.scaler = torch.amp.GradScaler(self.device_type) if amp == "fp16" else None

    @property
    def enabled(self) -> bool:
        """True for bf16 or fp16."""
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager:
        """The forward passes' context: ``torch.autocast`` (or nothing for ``amp = none``)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def penalty_context(self) -> contextlib.AbstractContextManager:
        """Where the gradient penalty runs: float32 for fp16, autocast for bf16."""
        if self.amp == "fp16":
            return torch.autocast(self.device_type, enabled=False)
        return self.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled by the current scale for fp16."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the scale (fp16), e.g. before measuring their norm."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; for fp16 skipped on inf/NaN gradients, then the scale updates."""
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state (empty without one)."""
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
