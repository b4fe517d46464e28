r"""Switches for the training step's fast paths, and the explicit input gradient of an MLP critic.

Each fast path computes the same mathematics as the plain path in fewer operations; each has a
switch here and a test (``tests/test_fastpaths.py``) that training with it on ends with the same
parameters as with it off, member by member, within float tolerance (the summation order of
some products changes, so results are not bit-equal). Turn one off for a comparison with
:func:`use`::

    with fastpaths.use(explicit_penalty=False):
        run = train(config)

``explicit_penalty`` (default on)
    The gradient penalty of an MLP critic (:class:`wganlib.models.MLPCritic`,
    :class:`wganlib.ensemble.EnsembleMLPCritic`; ReLU or leaky ReLU, no batch norm, no
    parametrised weights) from an explicit input-gradient pass
    (:func:`mlp_input_gradient`) instead of ``torch.autograd.grad(..., create_graph=True)``:
    the penalty then needs one ordinary backward pass, not a double backward, and 14% fewer
    matrix-product FLOPs (:func:`wganlib.flops.iteration_flops`, width 128). For a single
    MLP the trainer's WGAN-GP parameters stay bit-equal to the reference loop's.

``fused_adam`` (default off)
    Adam with ``fused=True`` (one kernel per parameter tensor instead of about ten
    operations) where every parameter is a float32 tensor on the CPU or a GPU
    (:func:`fused_adam_ok`). Equal within float tolerance, not bit for bit (it rounds
    differently), so it is off by default: the trainer stays bit-equal to
    :mod:`wganlib.reference` (``tests/test_reference.py``). RMSProp and SGD have no fused CPU
    kernel and are unchanged.

``keep_heap`` (default off)
    :class:`wganlib.train.Run` calls :func:`keep_heap`: glibc's ``malloc`` keeps freed
    memory instead of returning every large block to the system, so the image nets' big
    activations (16 MB for a DCGAN 64x64 layer at batch 64) stop costing page faults at every
    step (about 130,000 minor page faults per DCGAN generator iteration fall to about 5,000).
    Bit-equal: no arithmetic changes. Off by default because it changes the whole process
    (memory stays at its peak until exit).

The explicit pass. For :math:`f(x) = w_L^\top a_{L-1} + b_L`, :math:`a_l = \phi(h_l)`,
:math:`h_l = W_l a_{l-1} + b_l`, :math:`a_0 = x`, the chain rule written as forward operations
is

.. math::
    g_{L-1} = w_L \odot \phi'(h_{L-1}),\qquad g_{l-1} = (W_l^\top g_l) \odot \phi'(h_{l-1}),
    \qquad \nabla_x f = W_1^\top g_1,

with :math:`\phi'(h) = 1[h > 0]` for ReLU (:math:`1` or the slope for leaky ReLU). The masks
:math:`\phi'(h_l)` are piecewise constant, so their derivative with respect to the weights is
zero, as it is in autograd's double backward: both give the same gradient of the penalty.
The forward pass that finds the masks runs without a graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["SWITCHES", "enabled", "use", "fused_adam_ok", "keep_heap", "mlp_input_gradient"]

#: The switches and their defaults (on only where the equality test passes).
SWITCHES: dict[str, bool] = {"explicit_penalty": True, "fused_adam": False, "keep_heap": False}


def enabled(name: str) -> bool:
    """Whether the fast path ``name`` is on."""
    if name not in SWITCHES:
        raise ValueError(f"unknown fast path {name!r}; choose one of {', '.join(SWITCHES)}")
    return SWITCHES[name]


@contextlib.contextmanager
def use(**flags: bool) -> Iterator[None]:
    """Set fast-path switches inside a ``with`` block (restored afterwards)."""
    unknown = sorted(set(flags) - set(SWITCHES))
    if unknown:
        raise ValueError(f"unknown fast path(s) {unknown}; choose from {', '.join(SWITCHES)}")
    saved = dict(SWITCHES)
    SWITCHES.update({k: bool(v) for k, v in flags.items()})
    try:
        yield
    finally:
        SWITCHES.clear()
        SWITCHES.update(saved)


def fused_adam_ok(params: list[torch.Tensor]) -> bool:
    """Whether Adam over ``params`` may be fused: the switch is on and all are float32 tensors
    on the CPU or CUDA (parameter groups given as dicts are left to PyTorch's default)."""
    if not enabled("fused_adam") or not params:
        return False
    return all(
        isinstance(p, torch.Tensor)
        and p.dtype == torch.float32
        and p.device.type in ("cpu", "cuda")
        for p in params
    )


def keep_heap() -> bool:
    """Make glibc's ``malloc`` keep freed memory in the process (no ``mmap`` per large block,
    no trimming): ``mallopt(M_MMAP_THRESHOLD, 1 GiB)`` and ``mallopt(M_TRIM_THRESHOLD, 2 GiB)``.

    Returns whether it took effect (False where the C library is not glibc). Process-wide and
    not undone; it changes no result, only how often memory is handed back to the system.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 2 << 30))


def _slope(act: nn.Module) -> float | None:
    """The negative-side slope of a ReLU-like activation (None: not supported)."""
    if type(act) is nn.ReLU:
        return 0.0
    if type(act) is nn.LeakyReLU:
        return float(act.negative_slope)
    return None


def _layers(critic: nn.Module) -> tuple[str, list, list, list[float]] | None:
    """``(kind, linear layers, activations, slopes)`` of a supported MLP critic, or None."""
    from torch.nn.utils import parametrize

    from wganlib.ensemble import EnsembleLinear, EnsembleMLPCritic
    from wganlib.models import MLPCritic

    if type(critic) is MLPCritic:
        kind, linear = "plain", nn.Linear
    elif type(critic) is EnsembleMLPCritic:
        kind, linear = "ensemble", EnsembleLinear
    else:
        return None
    mods = list(critic.net)
    if len(mods) % 2 != 1:
        return None
    lins, acts = mods[0::2], mods[1::2]
    slopes = [_slope(a) for a in acts]
    if any(type(m) is not linear or parametrize.is_parametrized(m) for m in lins):
        return None
    if any(s is None for s in slopes) or any(
        m._forward_hooks or m._forward_pre_hooks for m in mods
    ):
        return None
    return kind, lins, acts, slopes  # type: ignore[return-value]


def _mask(h: torch.Tensor, slope: float) -> torch.Tensor:
    """:math:`\\phi'(h)`: 1 where ``h > 0``, else ``slope`` (as autograd's backward does)."""
    if slope == 0.0:
        return (h > 0).to(h.dtype)
    return torch.where(h > 0, 1.0, slope).to(h.dtype)


def mlp_input_gradient(critic: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    r""":math:`\nabla_x f(x)` per row, differentiable in the weights, from the explicit pass.

    Returns ``None`` when ``critic`` is not a supported MLP critic (the caller then uses
    autograd), or under autocast. The result has ``x``'s shape and a graph into the weights
    (not into ``x``).
    """
    found = _layers(critic)
    if found is None:
        return None
    if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(x.device.type):
        return None
    kind, lins, acts, slopes = found
    a = x.detach().flatten(start_dim=1)  # (N, d)
    if kind == "ensemble":
        from wganlib.ensemble import split_members

        a = split_members(a, critic.members)  # (K, B, d)
    masks = []
    with torch.no_grad():
        for lin, act, slope in zip(lins[:-1], acts, slopes, strict=True):
            h = lin(a)  # (N, width) or (K, B, width)
            masks.append(_mask(h, slope))
            a = act(h)
    last = lins[-1]
    if kind == "plain":  # nn.Linear: weight (out, in), d input = g @ W
        g = last.weight  # (1, width)
        for lin, m in zip(reversed(lins[:-1]), reversed(masks), strict=True):
            g = (g * m) @ lin.weight  # (N, width) -> (N, in)
        if len(lins) == 1:
            g = g.expand(x.shape[0], -1)
    else:  # EnsembleLinear: weight (K, in, out), d input = g @ W^T
        g = last.weight.transpose(1, 2)  # (K, 1, width)
        for lin, m in zip(reversed(lins[:-1]), reversed(masks), strict=True):
            g = torch.bmm(g * m, lin.weight.transpose(1, 2))  # (K, B, in)
        if len(lins) == 1:
            g = g.expand(critic.members, x.shape[0] // critic.members, -1)
    return g.reshape(x.shape)
