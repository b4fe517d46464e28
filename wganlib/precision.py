r"""Mixed precision for the trainer: bf16 autocast, or fp16 autocast with gradient scaling.

A :class:`Precision` bundles what :func:`wganlib.steps.critic_step` and
:func:`~wganlib.steps.generator_step` need: an autocast context for the forward passes, and for
fp16 a :class:`torch.amp.GradScaler` (one per optimiser). The weights, the optimiser states and
the losses stay in float32; only the convolutions and matrix products run in 16 bits.

Why the WGAN objective survives it. The critic's loss
:math:`-(\frac1m\sum f(x_i) - \frac1m\sum f(g(z_i)))` is often negative; the scaler multiplies
it by a positive :math:`s` before ``backward`` and divides the gradients by :math:`s` before the
step (skipping a step whose gradients overflowed), so signs and directions are unchanged. The
scores are cast to float32 before the means and losses, so the mean itself is accumulated in 32
bits; but each score comes out of the last (autocast) layer in 16 bits, so the estimate is the
mean of *rounded* scores: bf16 keeps 8 significant bits, a relative rounding of up to
:math:`2^{-9} \approx 0.2\%` per score, which adds up to about 1% of a small estimate that is
the difference of two large means. fp16 keeps 11 bits.

Skipped steps. An fp16 gradient that overflows is normal: the scaler then skips the step and
halves its scale. Such a step's gradient norm is inf or NaN while the parameters stay finite;
:meth:`Precision.step` records it (:meth:`Precision.take_skipped`), the trainer writes the count
into the history's ``amp_skipped`` column, and a non-finite gradient norm in a row with skipped
steps is not treated as divergence (:class:`wganlib.history.Recorder`).

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
        self._skipped: torch.Tensor | None = None  # steps skipped since take_skipped()

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
        """``optimizer.step()``; for fp16 skipped on inf/NaN gradients, then the scale updates.

        A skipped step is counted on the device (no synchronisation): the scaler lowers its
        scale exactly when it skipped (it raises it or leaves it otherwise).
        """
        if self.scaler is None:
            optimizer.step()
            return
        scale = getattr(self.scaler, "_scale", None)
        before = None if scale is None else scale.detach().clone()
        self.scaler.step(optimizer)
        self.scaler.update()
        after = getattr(self.scaler, "_scale", None)
        if before is not None and after is not None:
            skipped = (after < before).sum()  # 0-d int64 tensor on the device
            self._skipped = skipped if self._skipped is None else self._skipped + skipped

    def take_skipped(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Steps skipped (fp16 overflow) since the last call, as a 0-d tensor; resets the count."""
        out, self._skipped = self._skipped, None
        if out is None:
            return torch.zeros((), device=device or "cpu")
        return out

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state (empty without one)."""
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
