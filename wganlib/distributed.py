r"""Multi-process training with PyTorch's distributed engine (``torchrun``), small helpers.

``torchrun --nproc_per_node N -m wganlib train CONFIG.toml`` starts N processes and sets the
environment variables ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT``. :func:`setup` reads them and joins the process group (``nccl`` on CUDA,
``gloo`` on the CPU, :func:`backend_for`); without them it does nothing and the run is the
ordinary single-process one.

How a batch is split. ``config.batch_size`` is the **global** batch :math:`m` of Algorithm 1,
whatever the number of processes :math:`N`; each process takes a contiguous block of
:math:`m/N` rows (:func:`shard`) of the batch a single process would draw, and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients. Because every loss
is a mean over the batch,

.. math::
    \frac1N\sum_{r=1}^{N}\nabla\Bigl(\frac{N}{m}\sum_{i\in B_r}\ell_i\Bigr)
    = \nabla\Bigl(\frac1m\sum_{i=1}^{m}\ell_i\Bigr),

so N processes compute the same update as one process on the whole batch, up to rounding --
provided each example's loss depends on that example only. Batch norm breaks this: in training
mode each process normalises with the mean and variance of *its* block, not of the global
batch, so the nets see different activations (``SyncBatchNorm`` would restore it, at the cost
of a collective per layer).

Every process holds the same random streams (the same seeds): the real-batch indices and the
prior are drawn for the global batch everywhere and each process keeps its block, so one
process's checkpoint is the state of all of them (:func:`is_main_process` writes it). The
gradient penalty's interpolation weights :math:`t` are drawn per block from the shared stream,
so each process uses the same :math:`t` values for its own examples: the penalty's expectation
is unchanged and resuming stays exact, but a WGAN-GP run on N processes is not the one-process
run draw for draw (a clipped WGAN without batch norm is, up to rounding).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

__all__ = [
    "DistInfo",
    "backend_for",
    "env_world_size",
    "setup",
    "teardown",
    "is_distributed",
    "rank",
    "world_size",
    "is_main_process",
    "info",
    "local_device",
    "wrap_ddp",
    "unwrap",
    "shard",
    "ShardedEpochSampler",
    "all_reduce_mean",
    "barrier",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` in ``[0, world_size)``, its ``local_rank`` on the node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def is_main(self) -> bool:
        """True for rank 0, the process that writes logs, samples and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def backend_for(device: str | torch.device) -> str:
    """``"nccl"`` for CUDA devices, ``"gloo"`` otherwise (CPU; also the backend the tests use)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when torchrun did not start this process)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_device(device: str) -> str:
    """The device of this process: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun."""
    if device == "cuda" and env_world_size() > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def setup(device: str = "cpu", *, backend: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment variables.

    Does nothing (and returns rank 0 of 1) when ``WORLD_SIZE`` is unset or 1, or when the
    group is already initialised (then it describes that group). On CUDA it also selects the
    process's GPU, ``cuda:LOCAL_RANK``.

    Raises
    ------
    ValueError
        ``WORLD_SIZE > 1`` but ``RANK``/``MASTER_ADDR``/``MASTER_PORT`` are missing (start
        the processes with ``torchrun``).
    """
    if dist.is_available() and dist.is_initialized():
        return info()
    if env_world_size() <= 1:
        return DistInfo()
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={env_world_size()} but {', '.join(missing)} unset: launch with "
            "'torchrun --nproc_per_node N -m wganlib train ...'"
        )
    backend = backend or backend_for(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(backend=backend)
    return info()


def teardown() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True for the process that writes files (rank 0; always True without a group)."""
    return rank() == 0


def info() -> DistInfo:
    """The current :class:`DistInfo` (rank 0 of 1 without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    local = int(os.environ.get("LOCAL_RANK", str(dist.get_rank())))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, str(dist.get_backend()))


def wrap_ddp(module: nn.Module, device: torch.device | str) -> nn.Module:
    """``DistributedDataParallel(module)`` inside a process group, else ``module`` itself.

    DDP broadcasts rank 0's parameters and buffers at construction and averages gradients in
    ``backward``. Weight clipping and the gradient penalty's double backward work through it:
    ``torch.autograd.grad`` with respect to the *inputs* does not touch the parameter
    gradients, so DDP's hooks fire once, in the final ``backward``.
    """
    if not is_distributed():
        return module
    device = torch.device(device)
    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DDP (or ``torch.compile``) wrapper."""
    while True:
        inner = getattr(module, "module", None) or getattr(module, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner


def shard(x: torch.Tensor, rank_: int | None = None, world: int | None = None) -> torch.Tensor:
    """Rows ``[r m/N, (r+1) m/N)`` of a global batch ``x`` of ``m`` rows, for process ``r`` of ``N``.

    Raises
    ------
    ValueError
        ``m`` is not a multiple of ``N`` (choose a batch size divisible by the process count).
    """
    r = rank() if rank_ is None else rank_
    n = world_size() if world is None else world
    if n == 1:
        return x
    if len(x) % n:
        raise ValueError(
            f"batch of {len(x)} rows cannot be split over {n} processes; "
            f"choose batch_size divisible by {n}"
        )
    k = len(x) // n
    return x[r * k : (r + 1) * k]


class ShardedEpochSampler(Sampler[int]):
    """This process's share of an infinite stream of epoch permutations.

    The stream is ``permutation(seed, epoch)`` for epoch 0, 1, ... (``permutation`` a function
    ``(n, seed, epoch) -> LongTensor``), cut into global batches of ``batch_size * world``
    indices; process ``rank`` yields the ``rank``-th block of ``batch_size`` of each. ``start``
    is a position in the global stream (a multiple of the global batch), so a resumed run
    continues where it stopped. With ``world = 1`` it is the plain stream.
    """

    def __init__(
        self, n: int, seed: int, permutation, *, batch_size: int, rank: int = 0,
        world: int = 1, start: int = 0,
    ) -> None:  # fmt: skip
        self.n, self.seed, self.permutation = int(n), int(seed), permutation
        self.batch_size, self.rank, self.world, self.start = batch_size, rank, world, int(start)

    def __iter__(self) -> Iterator[int]:
        epoch, pos = divmod(self.start, self.n)
        perm = self.permutation(self.n, self.seed, epoch).tolist()
        g = self.batch_size * self.world
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        while True:
            block = []
            while len(block) < g:  # a global batch may straddle two epochs
                if pos == self.n:
                    epoch, pos = epoch + 1, 0
                    perm = self.permutation(self.n, self.seed, epoch).tolist()
                take = min(g - len(block), self.n - pos)
                block += perm[pos : pos + take]
                pos += take
            yield from block[lo:hi]

    def __len__(self) -> int:  # the DataLoader asks; the stream never ends
        return 2**62


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over all processes (``x`` itself without a group); out of place."""
    if not is_distributed():
        return x
    y = x.clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y.div_(world_size())


def barrier() -> None:
    """Wait for every process (no-op without a group)."""
    if is_distributed():
        dist.barrier()
