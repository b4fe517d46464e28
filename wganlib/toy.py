r"""Toy distributions in one and two dimensions, sampled on the device, seeded explicitly.

Every sampler is vectorised (no Python loop over samples), so a trainer can call it at every
critic step. Randomness comes only from the ``generator`` argument (a :class:`torch.Generator`);
the same generator state gives the same samples.

Names and what they draw (scales as in the WGAN-GP reference code of 2017):

``"parallel_lines"``
    The paper's Example 1: :math:`(\theta, Z)` with :math:`Z \sim U[0, 1]`; parameter ``theta``
    (default 0, which is :math:`\mathbb{P}_0`).
``"gaussian1d"``
    One 1-D Gaussian :math:`\mathcal N(\mu, \sigma^2)`, shape ``(n, 1)``. ``which="real"``
    (:math:`\mu=-2.5`) or ``"fake"`` (:math:`\mu=+2.5`), :math:`\sigma=0.5`: two Gaussians ten
    standard deviations apart, the setting of the paper's Figure 3. ``loc``/``scale``
    override.
``"two_gaussians"``
    The same pair in 2-D: centres :math:`(\mp 2.5, 0)`, isotropic :math:`\sigma = 0.5`.
``"8gaussians"``
    Eight Gaussians on a circle of radius 2 with std 0.02, everything divided by 1.414
    (radius :math:`\approx 1.414`, std :math:`\approx 0.0141`).
``"25gaussians"``
    25 Gaussians on the grid :math:`\{-4,-2,0,2,4\}^2` with std 0.05, divided by 2.828.
``"swissroll"``
    scikit-learn's ``make_swiss_roll`` seen from above: :math:`t = \tfrac{3\pi}{2}(1 + 2u)`,
    :math:`u \sim U[0,1]`, point :math:`(t\cos t, t\sin t) + 0.25\,\varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, I_2)`, divided by 7.5.

Mixture components are chosen uniformly at random for each sample (the reference code shuffles
a fixed pre-drawn dataset instead; the law is the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

NAMES: tuple[str, ...] = (
    "parallel_lines",
    "gaussian1d",
    "two_gaussians",
    "8gaussians",
    "25gaussians",
    "swissroll",
)

# Two Gaussians far apart (Figure 3): centre of the "real" and of the "fake" one.
TWO_GAUSSIANS_LOC: dict[str, float] = {"real": -2.5, "fake": 2.5}
TWO_GAUSSIANS_STD = 0.5

_EIGHT_RADIUS, _EIGHT_STD, _EIGHT_SCALE = 2.0, 0.02, 1.414
_GRID_STEP, _GRID_STD, _GRID_SCALE = 2.0, 0.05, 2.828
_ROLL_NOISE, _ROLL_SCALE = 0.25, 7.5

_DIMS = {
    "parallel_lines": 2,
    "gaussian1d": 1,
    "two_gaussians": 2,
    "8gaussians": 2,
    "25gaussians": 2,
    "swissroll": 2,
}


def _check_name(name: str) -> None:
    if name not in _DIMS:
        raise ValueError(f"unknown toy distribution {name!r}; choose one of {', '.join(NAMES)}")


def dim(name: str) -> int:
    """Dimension of the samples of toy distribution ``name`` (1 or 2)."""
    _check_name(name)
    return _DIMS[name]


def centers(name: str) -> torch.Tensor:
    """Mode centres of a mixture, shape ``(k, d)``, in the same (scaled) units as the samples.

    ``"8gaussians"`` and ``"25gaussians"`` give their ``k = 8`` / ``25`` centres in 2-D;
    ``"two_gaussians"`` and ``"gaussian1d"`` give the real and the fake centre (``k = 2``).
    """
    _check_name(name)
    if name == "8gaussians":
        angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
        ring = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        return (ring * (_EIGHT_RADIUS / _EIGHT_SCALE)).float()
    if name == "25gaussians":
        axis = torch.arange(-2, 3, dtype=torch.float64) * _GRID_STEP
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
        return (grid / _GRID_SCALE).float()
    locs = torch.tensor([TWO_GAUSSIANS_LOC["real"], TWO_GAUSSIANS_LOC["fake"]])
    if name == "gaussian1d":
        return locs[:, None].float()
    if name == "two_gaussians":
        return torch.stack([locs, torch.zeros(2)], dim=1).float()
    raise ValueError(f"{name!r} is not a mixture of Gaussians; it has no centres")


def mode_std(name: str) -> float:
    """Standard deviation (per coordinate) of each mixture component, in sample units."""
    _check_name(name)
    if name == "8gaussians":
        return _EIGHT_STD / _EIGHT_SCALE
    if name == "25gaussians":
        return _GRID_STD / _GRID_SCALE
    if name in ("gaussian1d", "two_gaussians"):
        return TWO_GAUSSIANS_STD
    raise ValueError(f"{name!r} is not a mixture of Gaussians; it has no mode std")


def _mixture(means: torch.Tensor, std: float, n: int, gen, device) -> torch.Tensor:
    """``n`` draws from the uniform mixture of N(means[k], std^2 I)."""
    means = means.to(device)
    idx = torch.randint(len(means), (n,), generator=gen, device=device)
    noise = torch.randn(n, means.shape[1], generator=gen, device=device)
    return means[idx] + std * noise


def _two_gaussians(name, n, gen, device, which="real", loc=None, scale=TWO_GAUSSIANS_STD):
    if which not in TWO_GAUSSIANS_LOC:
        raise ValueError(f"which must be 'real' or 'fake', got {which!r}")
    d = _DIMS[name]
    centre = torch.zeros(d, device=device)
    centre[0] = TWO_GAUSSIANS_LOC[which] if loc is None else float(loc)
    return centre + scale * torch.randn(n, d, generator=gen, device=device)


def _swissroll(n, gen, device, noise=_ROLL_NOISE):
    u = torch.rand(n, generator=gen, device=device)
    t = 1.5 * math.pi * (1 + 2 * u)
    roll = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    roll = roll + noise * torch.randn(n, 2, generator=gen, device=device)
    return roll / _ROLL_SCALE


def sample(
    name: str,
    n: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    **params,
) -> torch.Tensor:
    r"""Draw ``n`` samples of toy distribution ``name``.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    n : int
        Number of samples.
    generator : torch.Generator, optional
        Source of randomness; the samples are drawn on its device (``device`` defaults to it).
        Without one, torch's default generator is used (not reproducible).
    device : torch.device or str, optional
        Where the returned tensor lives. If it differs from the generator's device, samples are
        drawn on the generator's device and moved.
    **params
        ``theta`` for ``"parallel_lines"``; ``which`` (``"real"``/``"fake"``), ``loc``,
        ``scale`` for the two-Gaussians pair; ``noise`` for ``"swissroll"``.

    Returns
    -------
    Tensor, shape ``(n, dim(name))``, float32.
    """
    _check_name(name)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    out_device = torch.device(device) if device is not None else None
    draw_device = generator.device if generator is not None else (out_device or "cpu")
    allowed = {
        "parallel_lines": {"theta"},
        "gaussian1d": {"which", "loc", "scale"},
        "two_gaussians": {"which", "loc", "scale"},
        "swissroll": {"noise"},
    }.get(name, set())
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"{name!r} takes parameters {sorted(allowed) or 'none'}, got {sorted(unknown)}"
        )

    if name == "parallel_lines":
        z = torch.rand(n, generator=generator, device=draw_device)
        x = torch.stack([torch.full_like(z, float(params.get("theta", 0.0))), z], dim=1)
    elif name in ("gaussian1d", "two_gaussians"):
        x = _two_gaussians(name, n, generator, draw_device, **params)
    elif name == "8gaussians":
        x = _mixture(centers(name), mode_std(name), n, generator, draw_device)
    elif name == "25gaussians":
        x = _mixture(centers(name), mode_std(name), n, generator, draw_device)
    else:
        x = _swissroll(n, generator, draw_device, **params)
    x = x.float()
    return x if out_device is None else x.to(out_device)


def sampler(
    name: str,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    **params,
) -> Callable[[int], torch.Tensor]:
    """A function ``n -> sample(name, n, ...)`` with the arguments bound (an infinite source)."""
    _check_name(name)

    def draw(n: int) -> torch.Tensor:
        return sample(name, n, generator=generator, device=device, **params)

    return draw
