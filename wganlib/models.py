r"""Generators :math:`g_\theta` and critics :math:`f_w`: MLPs for the toys, DCGAN for images.

Every critic returns raw scores of shape ``(B,)`` with **no sigmoid**: a WGAN critic's value, or
a GAN discriminator's logit (the objective decides, see :mod:`wganlib.objectives`).

The DCGAN pyramid follows the 2017 reference code: for an image size :math:`S` (a multiple of 16),
the generator starts from a :math:`4\times4` map with ``ngf * S / 8`` filters and doubles the
resolution while halving the filters; the critic mirrors it, from ``ndf`` filters at
:math:`S/2` up to a :math:`4\times4` map, then a :math:`4\times4` convolution to one number.
Convolutions have no bias, as in the reference code (pass ``bias=True`` to add them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "activation",
    "MLPGenerator",
    "MLPCritic",
    "ShiftGenerator",
    "DCGANGenerator",
    "DCGANCritic",
    "MLPImageGenerator",
    "init_dcgan_weights",
    "count_parameters",
]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
}


def activation(name: str) -> nn.Module:
    """A fresh activation layer: ``relu``, ``leaky_relu`` (slope 0.2), ``tanh``, ``elu``, ``softplus``, ``gelu``."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}"
        ) from None


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _mlp(
    in_dim: int, out_dim: int, width: int, depth: int, act: str, batch_norm: bool
) -> nn.Sequential:
    """``depth`` hidden layers ``Linear -> [BatchNorm] -> act`` of ``width`` units, then a Linear."""
    if depth < 0 or width < 1:
        raise ValueError(f"need depth >= 0 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width)]  # (B, width)
        if batch_norm:
            layers += [nn.BatchNorm1d(width)]
        layers += [activation(act)]
        d = width
    layers += [nn.Linear(d, out_dim)]  # (B, out_dim)
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Fully connected generator ``z (B, nz) -> x (B, out_dim)`` with ``depth`` hidden layers."""

    def __init__(
        self,
        nz: int,
        out_dim: int,
        width: int = 512,
        depth: int = 3,
        activation: str = "relu",
        batch_norm: bool = False,
    ):
        super().__init__()
        self.nz, self.out_dim = nz, out_dim
        self.net = _mlp(nz, out_dim, width, depth, activation, batch_norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPCritic(nn.Module):
    """Fully connected critic ``x -> (B,)``; inputs of any shape ``(B, ...)`` are flattened,
    so it also serves as the reference code's ``--mlp_D`` on images (``in_dim = nc*S*S``)."""

    def __init__(
        self,
        in_dim: int,
        width: int = 512,
        depth: int = 3,
        activation: str = "relu",
        batch_norm: bool = False,
    ):
        super().__init__()
        self.in_dim = in_dim
        self.net = _mlp(in_dim, 1, width, depth, activation, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=1)).view(-1)


class ShiftGenerator(nn.Module):
    r"""The parallel-lines family :math:`g_\theta(z) = z + \theta`.

    With ``axis=None`` :math:`\theta` is a learnable vector of length ``dim``; with ``axis=k``
    it is one learnable number moving coordinate ``k`` only (:math:`g_\theta(z) = z + \theta e_k`,
    the paper's Example 1 with ``z = (0, Z)`` and ``axis=0``). ``init`` is a float (the shift
    along ``axis``, or along the first coordinate when ``axis`` is None) or a full vector.
    """

    def __init__(self, dim: int = 2, init: float | Sequence[float] = 0.0, axis: int | None = None):
        super().__init__()
        self.nz = self.out_dim = dim
        self.axis = axis
        if axis is None:
            theta = torch.zeros(dim)
            if isinstance(init, Sequence):
                if len(init) != dim:
                    raise ValueError(f"init must have length dim={dim}, got {len(init)}")
                theta = torch.tensor([float(v) for v in init])
            else:
                theta[0] = float(init)
            self.theta = nn.Parameter(theta)
            self.register_buffer("direction", torch.ones(dim))
        else:
            if not 0 <= axis < dim:
                raise ValueError(f"axis must be in [0, {dim}), got {axis}")
            self.theta = nn.Parameter(torch.tensor([float(init)]))
            self.register_buffer(
                "direction", nn.functional.one_hot(torch.tensor(axis), dim).float()
            )

    @property
    def shift(self) -> torch.Tensor:
        """The vector added to ``z``, shape ``(dim,)``."""
        return self.theta * self.direction

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.shift


def _pyramid_steps(image_size: int) -> int:
    """Number of stride-2 (de)convolutions between 4x4 and ``image_size`` / 2."""
    if image_size < 16 or image_size % 16:
        raise ValueError(f"image_size must be a multiple of 16 (16, 32, 64, ...), got {image_size}")
    steps, size = 0, 4
    while size < image_size // 2:
        size, steps = size * 2, steps + 1
    if size != image_size // 2:
        raise ValueError(f"image_size must be 4 * 2**k (16, 32, 64, 128, ...), got {image_size}")
    return steps


def _norm2d(channels: int, batch_norm: bool, layer_norm: bool = False) -> list[nn.Module]:
    if batch_norm and layer_norm:
        raise ValueError("choose batch_norm or layer_norm, not both")
    if batch_norm:
        return [nn.BatchNorm2d(channels)]
    if layer_norm:  # normalise each example over (C, H, W), as WGAN-GP's critics do
        return [nn.GroupNorm(1, channels)]
    return []


class DCGANGenerator(nn.Module):
    """DCGAN generator ``z (B, nz) -> images (B, nc, S, S)`` in ``[-1, 1]``.

    ``constant_filters=True`` keeps ``ngf`` filters in every layer instead of the pyramid
    ``ngf * S/8, ..., ngf``: with ``batch_norm=False`` this is the weak generator of the paper's
    Figure 7 (about 10x fewer parameters). ``n_extra_layers`` adds 3x3 convolutions at the
    last resolution before the output, as the reference code does.
    """

    def __init__(
        self,
        image_size: int = 64,
        nz: int = 100,
        ngf: int = 64,
        nc: int = 3,
        batch_norm: bool = True,
        constant_filters: bool = False,
        n_extra_layers: int = 0,
        bias: bool = False,
    ):
        super().__init__()
        self.nz, self.image_size, self.nc = nz, image_size, nc
        steps = _pyramid_steps(image_size)
        c = ngf if constant_filters else ngf * 2**steps  # filters of the 4x4 map
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, c, 4, 1, 0, bias=bias),  # (B, c, 4, 4)
            *_norm2d(c, batch_norm),
            nn.ReLU(True),
        ]
        size = 4
        for _ in range(steps):
            c_out = c if constant_filters else c // 2
            layers += [
                nn.ConvTranspose2d(c, c_out, 4, 2, 1, bias=bias),  # (B, c_out, 2*size, 2*size)
                *_norm2d(c_out, batch_norm),
                nn.ReLU(True),
            ]
            c, size = c_out, size * 2
        for _ in range(n_extra_layers):
            layers += [nn.Conv2d(c, c, 3, 1, 1, bias=bias), *_norm2d(c, batch_norm), nn.ReLU(True)]
        layers += [
            nn.ConvTranspose2d(c, nc, 4, 2, 1, bias=bias),  # (B, nc, S, S)
            nn.Tanh(),
        ]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.nz, 1, 1))


class DCGANCritic(nn.Module):
    """DCGAN critic ``images (B, nc, S, S) -> (B,)``, LeakyReLU(0.2), no sigmoid.

    ``batch_norm`` as in the reference code (not on the first layer); ``layer_norm=True``
    instead gives WGAN-GP's per-example normalisation (safe with the gradient penalty).
    """

    def __init__(
        self,
        image_size: int = 64,
        ndf: int = 64,
        nc: int = 3,
        batch_norm: bool = True,
        n_extra_layers: int = 0,
        layer_norm: bool = False,
        bias: bool = False,
    ):
        super().__init__()
        self.image_size, self.nc = image_size, nc
        steps = _pyramid_steps(image_size)
        c = ndf
        layers: list[nn.Module] = [
            nn.Conv2d(nc, c, 4, 2, 1, bias=bias),  # (B, ndf, S/2, S/2)
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(n_extra_layers):
            layers += [
                nn.Conv2d(c, c, 3, 1, 1, bias=bias),
                *_norm2d(c, batch_norm, layer_norm),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        for _ in range(steps):
            layers += [
                nn.Conv2d(c, 2 * c, 4, 2, 1, bias=bias),  # (B, 2c, size/2, size/2)
                *_norm2d(2 * c, batch_norm, layer_norm),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c *= 2
        layers += [nn.Conv2d(c, 1, 4, 1, 0, bias=bias)]  # (B, c, 4, 4) -> (B, 1, 1, 1)
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


class MLPImageGenerator(nn.Module):
    """The paper's MLP image generator: ``depth`` ReLU layers of ``width`` units, then a linear
    map to ``nc*S*S`` pixels, reshaped to ``(B, nc, S, S)``.

    The paper's Figure 6 uses 4 layers of 512 units. The 2017 reference code's ``MLP_G`` has 3
    hidden layers and no output non-linearity; here ``tanh=True`` keeps images in ``[-1, 1]``
    like the DCGAN generator (``depth=3, tanh=False`` gives the reference network).
    """

    def __init__(
        self,
        nz: int = 100,
        image_size: int = 64,
        nc: int = 3,
        width: int = 512,
        depth: int = 4,
        tanh: bool = True,
    ):
        super().__init__()
        self.nz, self.image_size, self.nc = nz, image_size, nc
        layers = list(_mlp(nz, nc * image_size * image_size, width, depth, "relu", False))
        if tanh:
            layers.append(nn.Tanh())
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.main(z.reshape(z.shape[0], self.nz))  # (B, nc*S*S)
        return x.view(z.shape[0], self.nc, self.image_size, self.image_size)


@torch.no_grad()
def init_dcgan_weights(module: nn.Module, *, generator: torch.Generator | None = None) -> None:
    r"""DCGAN initialisation in place: convolution weights :math:`\mathcal N(0, 0.02^2)`,
    batch-norm weights :math:`\mathcal N(1, 0.02^2)` and biases 0 (other layers untouched)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)
