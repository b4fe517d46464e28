r"""One place that turns a :class:`~wganlib.config.TrainConfig` into the objects of a run.

Following a config from :func:`wganlib.train` leads here and nowhere else:

=========================  =========================================================
:func:`build_data`         the data source ``config.data`` names (:mod:`wganlib.sources`)
:func:`build_generator`    the generator :math:`g_\theta` (:mod:`wganlib.models`)
:func:`build_critic`       the critic :math:`f_w` (spectral norm comes from the method)
:func:`build_objective`    GAN, non-saturating GAN or WGAN (:mod:`wganlib.objectives`)
:func:`make_lipschitz`     clip, gp, lp, sn or none (:mod:`wganlib.lipschitz`)
:func:`make_optimizer`     RMSProp / Adam / SGD with the method's defaults
                           (:func:`wganlib.config.optimizer_settings`)
:func:`critic_steps_at`    critic steps of generator iteration ``i`` (the schedule)
=========================  =========================================================

The nets draw their initial weights from torch's global CPU generator; the trainer seeds it
inside :func:`torch.random.fork_rng` (:class:`wganlib.train.Run`). Nothing here trains:
the two updates live in :mod:`wganlib.steps`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from wganlib import fastpaths
from wganlib.config import TrainConfig
from wganlib.lipschitz import LipschitzMethod, get_lipschitz
from wganlib.objectives import Objective, get_objective
from wganlib.sources import (
    DataSource,
    LoaderSource,
    NoiseImageSource,
    TensorSource,
    ToySource,
)

__all__ = [
    "build_data",
    "build_generator",
    "build_critic",
    "build_objective",
    "make_lipschitz",
    "make_optimizer",
    "critic_steps_at",
    "data_shape",
]


def build_data(
    config: TrainConfig,
    *,
    device: torch.device | str | None = None,
    seed: int | None = None,
    rank: int = 0,
    world: int = 1,
) -> DataSource:
    """The data source ``config.data`` names, seeded with ``seed`` (default ``config.seed``).

    ``rank``/``world``: under torchrun a data-loader source reads only process ``rank``'s block
    of each global batch (its ``sharded`` attribute is True); the others hand out whole
    batches, which the trainer slices (:func:`wganlib.distributed.shard`).
    """
    device = torch.device(device or config.device)
    b = config.batch_size * config.members  # one block of batch_size rows per member
    seed = config.seed if seed is None else seed
    if config.is_toy:
        return ToySource(config.data, b, seed=seed, device=device)
    if config.data == "noise":
        return NoiseImageSource(b, config.channels, config.image_size, seed=seed, device=device)
    from wganlib import images

    if config.data == "digits":
        ds = images.digits_dataset(config.image_size, config.channels)
        return TensorSource(ds.images, b, seed=seed, device=device)
    if config.data == "folder":
        ds = images.ImageFolderDataset(config.data_root, config.image_size, nc=config.channels)
    else:  # lsun
        from wganlib.lsun import LSUNDataset

        ds = LSUNDataset(config.data_root, image_size=config.image_size, nc=config.channels)
    return LoaderSource(
        ds, b, seed=seed, device=device, num_workers=config.num_workers, rank=rank, world=world
    )


def data_shape(config: TrainConfig) -> tuple[int, ...]:
    """Shape of one real sample: ``(d,)`` for toys, ``(C, H, W)`` for images."""
    if config.is_toy:
        from wganlib import toy

        return (toy.dim(config.data),)
    return (config.channels, config.image_size, config.image_size)


def _opt(value: bool | None) -> dict[str, bool]:
    return {} if value is None else {"batch_norm": value}


def build_generator(config: TrainConfig) -> nn.Module:
    """The generator ``config.generator`` names (uses the global RNG for the initial weights)."""
    from wganlib import models

    nz = config.latent_dim
    if config.members > 1:  # independent toy MLPs side by side
        from wganlib.ensemble import EnsembleMLPGenerator

        return EnsembleMLPGenerator(
            config.members, nz, data_shape(config)[0], width=config.width,
            depth=config.depth, activation=config.activation,
        )  # fmt: skip
    if config.generator == "mlp":
        return models.MLPGenerator(
            nz,
            data_shape(config)[0],
            width=config.width,
            depth=config.depth,
            activation=config.activation,
            **_opt(config.g_batch_norm),
        )
    if config.generator == "dcgan":
        g = models.DCGANGenerator(
            image_size=config.image_size,
            nz=nz,
            ngf=config.ngf,
            nc=config.channels,
            constant_filters=config.constant_filters,
            n_extra_layers=config.n_extra_layers,
            **_opt(config.g_batch_norm),
        )
        models.init_dcgan_weights(g)
        return g
    return models.MLPImageGenerator(
        nz=nz,
        image_size=config.image_size,
        nc=config.channels,
        width=config.width,
        depth=config.depth,
    )


def build_critic(config: TrainConfig) -> nn.Module:
    """The critic ``config.critic`` names (spectral norm is applied by the Lipschitz method)."""
    from wganlib import models

    if config.members > 1:  # independent toy MLPs side by side
        from wganlib.ensemble import EnsembleMLPCritic

        return EnsembleMLPCritic(
            config.members, data_shape(config)[0], width=config.width, depth=config.depth,
            activation=config.activation,
        )  # fmt: skip
    if config.critic == "mlp":
        return models.MLPCritic(
            data_shape(config)[0],
            width=config.width,
            depth=config.depth,
            activation=config.activation,
            **_opt(config.c_batch_norm),
        )
    c = models.DCGANCritic(
        image_size=config.image_size,
        ndf=config.ndf,
        nc=config.channels,
        n_extra_layers=config.n_extra_layers,
        layer_norm=config.c_layer_norm,
        **_opt(
            False if config.c_layer_norm and config.c_batch_norm is None else config.c_batch_norm
        ),
    )
    models.init_dcgan_weights(c)
    return c


def build_objective(config: TrainConfig) -> Objective:
    """The objective ``config.objective`` names (``wgan``, ``gan`` or ``nsgan``)."""
    return get_objective(config.objective)


def make_lipschitz(config: TrainConfig) -> LipschitzMethod:
    """The Lipschitz method the config names, with its parameters."""
    if config.lipschitz == "clip":
        return get_lipschitz(
            "clip", c=config.clip_value, when=config.clip_when,
            include_batch_norm=config.clip_batch_norm,
        )  # fmt: skip
    if config.lipschitz in ("gp", "lp"):
        return get_lipschitz(config.lipschitz, lam=config.gp_weight)
    return get_lipschitz(config.lipschitz)


def make_optimizer(
    params: Iterable[nn.Parameter], settings: dict[str, Any]
) -> torch.optim.Optimizer:
    """RMSProp / Adam / SGD from :func:`wganlib.config.optimizer_settings` (Adam fused where
    :func:`wganlib.fastpaths.fused_adam_ok` allows)."""
    name, lr = settings["name"], settings["lr"]
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adam":
        params = list(params)
        fused = fastpaths.fused_adam_ok(params)  # one kernel per tensor (wganlib.fastpaths)
        return torch.optim.Adam(params, lr=lr, betas=settings["betas"], fused=fused or None)
    return torch.optim.SGD(params, lr=lr, momentum=settings["momentum"])


def critic_steps_at(config: TrainConfig, iteration: int) -> int:
    """Critic steps for generator iteration ``iteration`` (0-based; ``official``: 100 early/every 500)."""
    if config.schedule == "official" and (iteration < 25 or iteration % 500 == 0):
        return 100
    return config.n_critic
