r"""Ways to keep a critic (roughly) 1-Lipschitz, and a way to measure how Lipschitz it is.

The WGAN critic must lie in a :math:`K`-Lipschitz family for
:math:`\max_f \mathbb E f(x) - \mathbb E f(g(z))` to be :math:`K \cdot W_1`. Methods:

``"clip"``  (Arjovsky et al. 2017)
    clamp every weight to :math:`[-c, c]` (:func:`clip_weights_`), with :math:`c = 0.01`.
``"gp"``  (WGAN-GP, Gulrajani et al. 2017)
    add :math:`\lambda\,\mathbb E_{\hat x}(\|\nabla f(\hat x)\| - 1)^2` (:func:`gradient_penalty`).
``"lp"``  (WGAN-LP, Petzka et al. 2018)
    the one-sided :math:`\lambda\,\mathbb E_{\hat x}\max(0, \|\nabla f(\hat x)\| - 1)^2`.
``"sn"``  (Miyato et al. 2018)
    divide every weight matrix by its largest singular value (:func:`apply_spectral_norm`).
``"none"``
    nothing (a GAN discriminator, or to show what goes wrong).

A trainer uses them through one strategy object, :class:`LipschitzMethod`, built by
:func:`get_lipschitz`::

    critic = method.prepare(critic)          # once, before making the optimiser
    for each critic step:
        method.before_critic_step(critic)
        loss = objective.critic_loss(f(real), f(fake)) + method.penalty(critic, real, fake, gen)
        loss.backward(); opt.step()
        method.after_critic_step(critic)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wganlib import fastpaths

__all__ = [
    "NORM_LAYERS",
    "clipped_parameters",
    "clip_weights_",
    "interpolates",
    "gradient_penalty",
    "apply_spectral_norm",
    "refuse_batch_norm",
    "empirical_lipschitz",
    "weight_max_abs",
    "LipschitzMethod",
    "NoConstraint",
    "WeightClipping",
    "GradientPenalty",
    "SpectralNorm",
    "get_lipschitz",
]

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_SN_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


# ---------------------------------------------------------------- weight clipping
def clipped_parameters(
    module: nn.Module, *, include_batch_norm: bool = True
) -> list[tuple[str, nn.Parameter]]:
    """The ``(name, parameter)`` pairs that :func:`clip_weights_` clamps.

    With ``include_batch_norm=True`` that is every parameter, the affine weight and bias of
    normalisation layers included (as the official 2017 code does); with ``False`` the
    parameters of normalisation layers (:data:`NORM_LAYERS`) are left alone.
    """
    if include_batch_norm:
        return list(module.named_parameters())
    out = []
    for prefix, sub in module.named_modules():
        if isinstance(sub, NORM_LAYERS):
            continue
        for name, p in sub.named_parameters(recurse=False):
            out.append((f"{prefix}.{name}" if prefix else name, p))
    return out


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float, *, include_batch_norm: bool = True) -> None:
    r"""Clamp parameters to :math:`[-c, c]` in place (see :func:`clipped_parameters` for which)."""
    if c <= 0:
        raise ValueError(f"the clipping bound c must be positive, got {c}")
    for _, p in clipped_parameters(module, include_batch_norm=include_batch_norm):
        p.clamp_(-c, c)


# ---------------------------------------------------------------- gradient penalty
def interpolates(
    real: torch.Tensor, fake: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Points :math:`\hat x_i = t_i x_i + (1 - t_i)\tilde x_i` with one :math:`t_i \sim U[0,1]`
    **per example** (shape ``(B, 1, ..., 1)``, drawn from ``generator`` on ``real``'s device),
    detached from both inputs."""
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {real.shape} and {fake.shape}"
        )
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    t = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    return (t * real.detach() + (1 - t) * fake.detach()).detach()


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    one_sided: bool = False,
) -> torch.Tensor:
    r"""The WGAN-GP penalty, **not** multiplied by :math:`\lambda`.

    .. math::
        \frac1B \sum_i \bigl(\|\nabla_x f(\hat x_i)\|_2 - 1\bigr)^2
        \quad\text{or, one-sided (WGAN-LP),}\quad
        \frac1B \sum_i \max\bigl(0, \|\nabla_x f(\hat x_i)\|_2 - 1\bigr)^2,

    with :math:`\hat x_i` from :func:`interpolates` and the norm over all non-batch dimensions
    (channels, height and width together). The gradient is taken with ``create_graph=True`` so
    the penalty backpropagates into the critic's weights; for an MLP critic it comes from an
    explicit input-gradient pass instead (:mod:`wganlib.fastpaths`, the same values, one
    ordinary backward). The critic must treat examples
    independently (no batch norm in training mode), as in the WGAN-GP paper.
    """
    x_hat = interpolates(real, fake, generator=generator)
    grad = None
    if fastpaths.enabled("explicit_penalty"):  # MLP critics: one backward, no double backward
        grad = fastpaths.mlp_input_gradient(critic, x_hat)
    if grad is None:
        x_hat.requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    excess = grad.flatten(start_dim=1).norm(dim=1) - 1.0
    if one_sided:
        excess = excess.clamp(min=0.0)
    return excess.pow(2).mean()


# ---------------------------------------------------------------- spectral norm
def apply_spectral_norm(module: nn.Module, *, n_power_iterations: int = 1) -> nn.Module:
    r"""Put :func:`torch.nn.utils.parametrizations.spectral_norm` on every Linear and Conv layer.

    Each weight becomes :math:`W / \sigma(W)`, :math:`\sigma` the largest singular value of the
    weight reshaped to ``(out, -1)`` (for a convolution this bounds, but is not exactly, the
    operator norm of the layer), estimated by ``n_power_iterations`` of the power method at
    every forward pass in training mode. Layers already normalised are left as they are.
    The stacked layers of :mod:`wganlib.ensemble` are normalised member by member
    (:func:`wganlib.ensemble.ensemble_spectral_norm`). Returns ``module`` (modified in place).
    """
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm

    from wganlib.ensemble import ensemble_spectral_norm

    for sub in list(module.modules()):
        if isinstance(sub, _SN_LAYERS) and not parametrize.is_parametrized(sub, "weight"):
            spectral_norm(sub, n_power_iterations=n_power_iterations)
    return ensemble_spectral_norm(module, n_power_iterations=n_power_iterations)


# ---------------------------------------------------------------- measuring
def weight_max_abs(params: list[torch.Tensor]) -> torch.Tensor:
    """:math:`\\max_i |w_i|` over a list of parameters, as a 0-d tensor on their device."""
    return torch.stack([p.detach().abs().max() for p in params]).max()


def empirical_lipschitz(critic: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    r"""A lower bound on the Lipschitz constant of ``critic``, from samples.

    Without ``y``: :math:`\max_i \|\nabla f(x_i)\|_2` (autograd, norm over all non-batch dims).
    With ``y``: :math:`\max_{i,j} |f(x_i) - f(y_j)| / \|x_i - y_j\|_2` over all pairs (pairs at
    distance 0 are skipped). Put a critic with batch norm in ``eval()`` mode first.
    """
    if y is None:
        xg = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(critic(xg).sum(), xg)
        return grad.flatten(start_dim=1).norm(dim=1).max().item()
    with torch.no_grad():
        fx, fy = critic(x).reshape(-1), critic(y).reshape(-1)
        dist = torch.cdist(x.flatten(start_dim=1)[None], y.flatten(start_dim=1)[None])[0]
        diff = (fx[:, None] - fy[None, :]).abs()
        ok = dist > 0
        if not ok.any():
            raise ValueError("x and y must contain at least one pair of distinct points")
        return (diff[ok] / dist[ok]).max().item()


def refuse_batch_norm(critic: nn.Module, method: str) -> None:
    r"""Raise :class:`wganlib.config.ConfigError` (one line) if ``critic`` has a batch-norm layer.

    A gradient penalty, its one-sided variant and spectral normalisation assume a critic that
    treats each example alone: with batch norm the penalty's gradient at :math:`\hat x_i`
    depends on the other examples of the batch (batch statistics), the interpolates pass through
    the running statistics, and a normalised layer's Lipschitz constant depends on the batch
    variance, which spectral norm does not bound.
    """
    from wganlib.config import ConfigError

    for name, sub in critic.named_modules():
        if isinstance(sub, _BATCH_NORMS):
            raise ConfigError(
                f"lipschitz = '{method}' needs a critic without batch norm (found "
                f"{type(sub).__name__} at '{name}'): set c_layer_norm = true (DCGAN critic, as "
                "WGAN-GP does) or c_batch_norm = false"
            )


# ---------------------------------------------------------------- the strategy
@dataclass(frozen=True)
class LipschitzMethod:
    """A way to constrain the critic, as hooks the trainer calls. The base class does nothing."""

    name: str = "none"

    @property
    def has_penalty(self) -> bool:
        """Whether :meth:`penalty` adds anything (so a trainer can skip computing it)."""
        return False

    def prepare(self, critic: nn.Module) -> nn.Module:
        """Called once on a new critic, before its optimiser is made; returns the critic."""
        return critic

    def before_critic_step(self, critic: nn.Module) -> None:
        """Called before each critic update (before its forward passes)."""

    def after_critic_step(self, critic: nn.Module) -> None:
        """Called after each critic update (after ``optimizer.step()``)."""

    def penalty(
        self,
        critic: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The term added to the critic loss (already weighted): zero here."""
        return torch.zeros((), device=real.device, dtype=real.dtype)


@dataclass(frozen=True)
class NoConstraint(LipschitzMethod):
    """No constraint (``"none"``)."""

    name: str = "none"


@dataclass(frozen=True)
class WeightClipping(LipschitzMethod):
    """Clamp the critic's parameters to ``[-c, c]``.

    ``when="after"`` clamps after each optimiser step (the paper's Algorithm 1), so the
    generator always sees a clipped critic; ``when="before"`` clamps before each critic step,
    as the official 2017 code does (the generator then sees the critic as updated after its
    last clamp). ``include_batch_norm=True`` also clamps batch-norm weights and biases, as the
    official code does.
    """

    name: str = "clip"
    c: float = 0.01
    when: str = "after"
    include_batch_norm: bool = True

    def __post_init__(self):
        if self.when not in ("after", "before"):
            raise ValueError(f"when must be 'after' or 'before', got {self.when!r}")
        if self.c <= 0:
            raise ValueError(f"the clipping bound c must be positive, got {self.c}")

    def before_critic_step(self, critic):
        if self.when == "before":
            clip_weights_(critic, self.c, include_batch_norm=self.include_batch_norm)

    def after_critic_step(self, critic):
        if self.when == "after":
            clip_weights_(critic, self.c, include_batch_norm=self.include_batch_norm)


@dataclass(frozen=True)
class GradientPenalty(LipschitzMethod):
    r"""``lam`` times :func:`gradient_penalty` (two-sided: ``"gp"``; ``one_sided``: ``"lp"``)."""

    name: str = "gp"
    lam: float = 10.0
    one_sided: bool = False

    @property
    def has_penalty(self) -> bool:
        return True

    def prepare(self, critic):
        refuse_batch_norm(critic, self.name)
        return critic

    def penalty(self, critic, real, fake, generator=None):
        gp = gradient_penalty(critic, real, fake, generator=generator, one_sided=self.one_sided)
        return self.lam * gp


@dataclass(frozen=True)
class SpectralNorm(LipschitzMethod):
    """Spectral normalisation of every Linear/Conv layer of the critic (``"sn"``)."""

    name: str = "sn"
    n_power_iterations: int = 1

    def prepare(self, critic):
        refuse_batch_norm(critic, self.name)
        return apply_spectral_norm(critic, n_power_iterations=self.n_power_iterations)


def get_lipschitz(name: str, **params) -> LipschitzMethod:
    """Build a :class:`LipschitzMethod`.

    ``"clip"`` (``c``, ``when``, ``include_batch_norm``), ``"gp"`` and ``"lp"`` (``lam``, also
    accepted as ``lambda``), ``"sn"`` (``n_power_iterations``), ``"none"``.
    """
    if "lambda" in params:
        params["lam"] = params.pop("lambda")
    builders = {
        "none": NoConstraint,
        "clip": WeightClipping,
        "gp": GradientPenalty,
        "lp": lambda **p: GradientPenalty(name="lp", one_sided=True, **p),
        "sn": SpectralNorm,
    }
    if name not in builders:
        raise ValueError(f"unknown Lipschitz method {name!r}; choose one of {', '.join(builders)}")
    try:
        return builders[name](**params)
    except TypeError as err:
        raise ValueError(
            f"bad parameters {sorted(params)} for Lipschitz method {name!r}: {err}"
        ) from None
