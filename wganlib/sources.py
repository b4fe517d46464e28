r"""What the trainer trains on and with: data sources, the prior, and the two networks.

A **data source** hands out one fresh batch of real samples per call (:meth:`DataSource.next`)
on the training device, forever, and can save and restore its position (:meth:`state_dict`), so
a resumed run continues with exactly the batches it would have seen.

* :class:`ToySource` -- a toy distribution of :mod:`wganlib.toy`, sampled on the device with its
  own :class:`torch.Generator`.
* :class:`TensorSource` -- images held in one tensor (the digits): each epoch is a permutation
  drawn from ``(seed, epoch)``; batches are slices of it (``drop_last``).
* :class:`LoaderSource` -- any map-style dataset (image folder, LSUN) through a
  :class:`~torch.utils.data.DataLoader` whose sampler yields the same ``(seed, epoch)``
  permutation and can start mid-epoch.
* :class:`NoiseImageSource` -- uniform noise images in [-1, 1], for benchmarks and dry runs.

The builders that turn a :class:`~wganlib.config.TrainConfig` into a data source and nets
live in :mod:`wganlib.build`; ``build_data``, ``build_generator``, ``build_critic`` and
``data_shape`` are still importable from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from wganlib.config import TrainConfig

__all__ = [
    "DataSource",
    "ToySource",
    "TensorSource",
    "LoaderSource",
    "NoiseImageSource",
    "sample_prior",
]

_MOVED = ("build_data", "build_generator", "build_critic", "data_shape")


class DataSource(Protocol):
    """An infinite source of real batches with a saveable position."""

    batch_size: int

    def next(self) -> torch.Tensor:  # (batch_size, *data_shape) on the device
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


class ToySource:
    """Batches of a toy distribution (:func:`wganlib.toy.sample`) drawn on ``device``."""

    def __init__(self, name: str, batch_size: int, *, seed: int, device: torch.device | str):
        from wganlib import toy

        self.name, self.batch_size = name, int(batch_size)
        self.device = torch.device(device)
        self.generator = _generator(seed, self.device)
        self._sample = toy.sample

    def next(self) -> torch.Tensor:
        return self._sample(self.name, self.batch_size, generator=self.generator)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rng"])


class NoiseImageSource:
    """Uniform noise images in [-1, 1], shape ``(batch_size, channels, size, size)``."""

    def __init__(self, batch_size: int, channels: int, size: int, *, seed: int, device):
        self.batch_size, self.shape = int(batch_size), (int(channels), int(size), int(size))
        self.device = torch.device(device)
        self.generator = _generator(seed, self.device)

    def next(self) -> torch.Tensor:
        x = torch.rand((self.batch_size, *self.shape), generator=self.generator, device=self.device)
        return x.mul_(2).sub_(1)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rng"])


def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g)


class TensorSource:
    """Shuffled batches (``drop_last``) of an in-memory image tensor, moved to ``device``."""

    def __init__(self, images: torch.Tensor, batch_size: int, *, seed: int, device):
        if len(images) < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {len(images)} images")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.epoch, self.position = 0, 0
        self._perm = _epoch_permutation(len(images), self.seed, 0).to(self.device)

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.images):
            self.epoch, self.position = self.epoch + 1, 0
            self._perm = _epoch_permutation(len(self.images), self.seed, self.epoch)
            self._perm = self._perm.to(self.device)
        idx = self._perm[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.images[idx]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._perm = _epoch_permutation(len(self.images), self.seed, self.epoch).to(self.device)


class _EpochSampler(Sampler[int]):
    """Indices of the ``(seed, epoch)`` permutation, starting at ``start``; infinite."""

    def __init__(self, n: int, seed: int, epoch: int = 0, start: int = 0) -> None:
        self.n, self.seed, self.epoch, self.start = n, seed, epoch, start

    def __iter__(self) -> Iterator[int]:
        epoch, start = self.epoch, self.start
        while True:
            yield from _epoch_permutation(self.n, self.seed, epoch)[start:].tolist()
            epoch, start = epoch + 1, 0

    def __len__(self) -> int:  # DataLoader asks; the sampler never ends
        return 2**62


class LoaderSource:
    """Batches of a map-style dataset through a DataLoader (workers, pinned memory)."""

    def __init__(
        self, dataset: Dataset, batch_size: int, *, seed: int, device, num_workers=0, rank=0,
        world=1,
    ):  # fmt: skip
        self.dataset, self.batch_size, self.seed = dataset, int(batch_size), int(seed)
        # under torchrun each process loads only its block of every global batch
        self.rank, self.world, self.sharded = int(rank), int(world), int(world) > 1
        self.n = len(dataset)  # type: ignore[arg-type]
        if self.n == 0:
            raise ValueError("the dataset is empty")
        self.device, self.num_workers = torch.device(device), int(num_workers)
        self.consumed = 0  # samples handed out so far
        self._it: Iterator | None = None

    def _start(self) -> None:
        epoch, start = divmod(self.consumed, self.n)
        sampler: Sampler[int] = _EpochSampler(self.n, self.seed, epoch, start)
        if self.sharded:
            from wganlib.distributed import ShardedEpochSampler

            sampler = ShardedEpochSampler(
                self.n, self.seed, _epoch_permutation, batch_size=self.batch_size // self.world,
                rank=self.rank, world=self.world, start=self.consumed,
            )  # fmt: skip
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size // self.world,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            persistent_workers=self.num_workers > 0,
        )
        self._it = iter(loader)

    def next(self) -> torch.Tensor:
        if self._it is None:
            self._start()
        batch = next(self._it)  # type: ignore[arg-type]
        if isinstance(batch, (list, tuple)):  # (image, label) datasets
            batch = batch[0]
        self.consumed += self.batch_size
        return batch.to(self.device, non_blocking=True)

    def state_dict(self) -> dict[str, Any]:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.consumed, self._it = int(state["consumed"]), None


def sample_prior(
    config: TrainConfig, n: int, generator: torch.Generator, device: torch.device | str
) -> torch.Tensor:
    r"""Draw :math:`z \sim \mathcal N(0, I)`, shape ``(n, nz)``, from ``generator``."""
    return torch.randn(n, config.latent_dim, generator=generator, device=device)


def __getattr__(name: str) -> Any:  # the builders moved to wganlib.build (no import circle)
    if name in _MOVED:
        from wganlib import build

        return getattr(build, name)
    raise AttributeError(f"module 'wganlib.sources' has no attribute {name!r}")
