r"""Several independent toy MLPs trained side by side, as one module (seeds in parallel).

A toy network of width 128-256 is too small to keep a CPU busy: one training step costs mostly
Python and dispatch overhead, not arithmetic. :class:`EnsembleMLPGenerator` and
:class:`EnsembleMLPCritic` hold :math:`K` independent MLPs ("members") whose weights are stacked,
so one batched matrix product (:func:`torch.baddbmm`) evaluates all of them: :math:`K` runs cost
about as much as one.

Rows are split into :math:`K` contiguous blocks: an input of shape ``(K * B, d)`` is read as
``(K, B, d)``, block :math:`k` goes through member :math:`k` only, and the output has ``K * B``
rows again. A training loss that averages over all rows,
:math:`\frac1{KB}\sum_{k,b}\ell(x_{kb}) = \frac1K \sum_k L_k`, gives member :math:`k` the
gradient :math:`\frac1K \nabla L_k`; a gradient hook on every parameter multiplies it back by
:math:`K`, so each member receives exactly the gradient of its own loss :math:`L_k` and follows
the same optimiser trajectory as a separate run (Adam, RMSProp and weight clipping act
element-wise; the gradient penalty is a per-row term). Set ``members`` in a
:class:`~wganlib.config.TrainConfig` to train this way.

Spectral normalisation (:func:`wganlib.lipschitz.apply_spectral_norm`) divides each member's
weight matrix by its own largest singular value (:func:`ensemble_spectral_norm`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "EnsembleLinear",
    "EnsembleMLPGenerator",
    "EnsembleMLPCritic",
    "ensemble_spectral_norm",
    "split_members",
]


def split_members(x: torch.Tensor, members: int) -> torch.Tensor:
    """View rows ``(K * n, ...)`` as ``(K, n, ...)``: block ``k`` belongs to member ``k``."""
    if x.shape[0] % members:
        raise ValueError(
            f"{x.shape[0]} rows cannot be split among {members} ensemble members; "
            f"use a multiple of {members}"
        )
    return x.reshape(members, x.shape[0] // members, *x.shape[1:])


class EnsembleLinear(nn.Module):
    r"""``K`` independent affine maps :math:`x \mapsto x W_k + b_k` on inputs ``(K, B, in)``.

    ``weight`` has shape ``(K, in, out)``, ``bias`` ``(K, 1, out)``; both start like
    :class:`torch.nn.Linear`'s, :math:`U(-1/\sqrt{in}, 1/\sqrt{in})`, drawn from torch's
    global RNG (the trainer forks it).
    """

    def __init__(self, members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features))
        bound = 1.0 / math.sqrt(in_features)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (K, B, in) -> (K, B, out)
        return torch.baddbmm(self.bias, x, self.weight)


class _EnsembleSpectralNorm(nn.Module):
    r"""Parametrisation :math:`W_k \mapsto W_k / \sigma_k` with one power iteration per forward.

    Member by member the same as :func:`torch.nn.utils.parametrizations.spectral_norm` on a
    :class:`torch.nn.Linear` whose weight is :math:`M_k = W_k^\top` (``(out, in)``): ``u``
    (K, out) and ``v`` (K, in) are the running singular-vector estimates, each power iteration
    updates :math:`u_k \leftarrow M_k v_k / \|M_k v_k\|` first, then
    :math:`v_k \leftarrow M_k^\top u_k / \|M_k^\top u_k\|`, without gradient in training
    mode, and :math:`\sigma_k = u_k^\top M_k v_k` is differentiated with them fixed.
    """

    def __init__(self, weight: torch.Tensor, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        k, n_in, n_out = weight.shape
        self.n_power_iterations, self.eps = int(n_power_iterations), float(eps)
        u = nn.functional.normalize(weight.new_empty(k, n_out).normal_(0, 1), dim=1, eps=eps)
        v = nn.functional.normalize(weight.new_empty(k, n_in).normal_(0, 1), dim=1, eps=eps)
        self.register_buffer("u", u)
        self.register_buffer("v", v)
        self._power_method(weight.detach(), 15)

    @torch.no_grad()
    def _power_method(self, w: torch.Tensor, steps: int) -> None:
        for _ in range(steps):  # w: (K, in, out) = M_k^T
            mv = torch.bmm(self.v[:, None, :], w)[:, 0]  # (K, out) = M_k v_k
            self.u.copy_(nn.functional.normalize(mv, dim=1, eps=self.eps))
            mtu = torch.bmm(w, self.u[:, :, None])[..., 0]  # (K, in) = M_k^T u_k
            self.v.copy_(nn.functional.normalize(mtu, dim=1, eps=self.eps))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._power_method(w.detach(), self.n_power_iterations)
        u, v = self.u.clone(), self.v.clone()
        sigma = torch.einsum("ko,kio,ki->k", u, w, v)  # (K,) u_k^T M_k v_k
        return w / sigma[:, None, None]


def ensemble_spectral_norm(module: nn.Module, *, n_power_iterations: int = 1) -> nn.Module:
    """Spectrally normalise every :class:`EnsembleLinear` of ``module``, member by member."""
    from torch.nn.utils import parametrize

    for sub in list(module.modules()):
        if isinstance(sub, EnsembleLinear) and not parametrize.is_parametrized(sub, "weight"):
            sn = _EnsembleSpectralNorm(sub.weight, n_power_iterations)
            parametrize.register_parametrization(sub, "weight", sn)
    return module


def _stack(
    members: int, in_dim: int, out_dim: int, width: int, depth: int, act: str
) -> nn.Sequential:
    from wganlib.models import activation

    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [EnsembleLinear(members, d, width), activation(act)]  # (K, B, width)
        d = width
    layers += [EnsembleLinear(members, d, out_dim)]  # (K, B, out_dim)
    return nn.Sequential(*layers)


def _scale_gradients(module: nn.Module, factor: float) -> None:
    """Multiply every parameter's gradient by ``factor`` (undoes the 1/K of a mean over K runs)."""
    for p in module.parameters():
        p.register_hook(lambda g, f=factor: g * f)


class _Ensemble(nn.Module):
    def __init__(self, members: int, in_dim: int, out_dim: int, width: int, depth: int, act: str):
        super().__init__()
        if members < 1 or depth < 0 or width < 1:
            raise ValueError(
                f"need members >= 1, depth >= 0 and width >= 1, got {members}, {depth}, {width}"
            )
        self.members, self.activation = members, act
        self.net = _stack(members, in_dim, out_dim, width, depth, act)
        _scale_gradients(self, float(members))

    def _blocks(self, x: torch.Tensor) -> torch.Tensor:
        blocks = split_members(x.flatten(start_dim=1), self.members)  # (K, B, in)
        return self.net(blocks)  # (K, B, out)


class EnsembleMLPGenerator(_Ensemble):
    """``K`` MLP generators (as :class:`wganlib.models.MLPGenerator`): ``(K*B, nz) -> (K*B, d)``."""

    def __init__(
        self, members: int, nz: int, out_dim: int, width: int = 512, depth: int = 3,
        activation: str = "relu",
    ) -> None:  # fmt: skip
        super().__init__(members, nz, out_dim, width, depth, activation)
        self.nz, self.out_dim = nz, out_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._blocks(z).reshape(z.shape[0], self.out_dim)


class EnsembleMLPCritic(_Ensemble):
    """``K`` MLP critics (as :class:`wganlib.models.MLPCritic`): ``(K*B, d) -> (K*B,)``."""

    def __init__(
        self, members: int, in_dim: int, width: int = 512, depth: int = 3,
        activation: str = "relu",
    ) -> None:  # fmt: skip
        super().__init__(members, in_dim, 1, width, depth, activation)
        self.in_dim = in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._blocks(x).reshape(-1)
