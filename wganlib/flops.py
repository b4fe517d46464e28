r"""How much arithmetic one generator iteration costs, and what that means in hours on a GPU.

:func:`iteration_flops` counts the floating-point operations of one generator iteration of
Algorithm 1 -- ``n_critic`` critic steps (the generator's forward pass without a graph, the
critic on a real and a fake batch, the penalty's double backward where there is one, the
backward pass) and one generator step -- with PyTorch's own counter
(:class:`torch.utils.flop_counter.FlopCounterMode`, which counts matrix products and
convolutions: :math:`2mnk` for an :math:`(m\times k)(k\times n)` product; :class:`FlopCount`
applies the same per-operator formulas, ``torch.utils.flop_counter.flop_registry``, without
``FlopCounterMode``'s module tracking, which fails inside the gradient penalty's
``torch.autograd.grad``). It runs the
trainer's own :func:`~wganlib.steps.critic_step` and :func:`~wganlib.steps.generator_step` on
the ``meta`` device, so nothing is computed and the count takes a second even at full size.

:func:`estimate_hours` turns a count into a time at an assumed fraction of a GPU's peak rate,

.. math:: T = \frac{\text{iterations}\times \text{FLOPs per iteration}}
               {\text{utilisation}\times\text{peak FLOP/s}},

an *estimate*: the peaks in :data:`GPU_PEAKS` are the vendors' dense (no sparsity) figures and
the utilisation is an assumption, not a measurement.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from wganlib.build import (
    build_critic,
    build_generator,
    build_objective,
    data_shape,
    make_lipschitz,
    make_optimizer,
)
from wganlib.config import TrainConfig, optimizer_settings
from wganlib.steps import critic_step, generator_step

__all__ = ["FlopCount", "GPU_PEAKS", "iteration_flops", "estimate_hours", "matmul_flops_per_second"]

#: Vendor dense peak rates in TFLOP/s (no sparsity): bf16 tensor cores and plain fp32.
#: Stated assumptions for estimates, from the data sheets (SXM parts where there are several).
GPU_PEAKS: dict[str, dict[str, float]] = {
    "NVIDIA A100 80GB SXM": {"bf16": 312.0, "fp32": 19.5},
    "NVIDIA H100 SXM": {"bf16": 989.0, "fp32": 67.0},
    "NVIDIA H200 SXM": {"bf16": 989.0, "fp32": 67.0},
    "NVIDIA L4": {"bf16": 121.0, "fp32": 30.3},
    "NVIDIA RTX 4090": {"bf16": 165.2, "fp32": 82.6},
}


class FlopCount(TorchDispatchMode):
    """Count FLOPs of every operator run inside ``with FlopCount() as fc:`` (``fc.total``)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.utils.flop_counter import flop_registry

        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def iteration_flops(config: TrainConfig, *, n_critic: int | None = None) -> dict[str, float]:
    r"""FLOPs of one generator iteration of ``config`` (batch ``config.batch_size``).

    Parameters
    ----------
    config : TrainConfig
        Image or toy config; its nets, batch, objective and Lipschitz method are used.
    n_critic : int, optional
        Critic steps per iteration (default ``config.n_critic``; the ``official`` schedule's
        100-step iterations are rare and not counted).

    Returns
    -------
    dict
        ``critic_step`` (one critic step, the generator's no-grad forward included),
        ``generator_step``, ``iteration`` (``n_critic`` critic steps + one generator step),
        ``n_critic`` and ``batch_size``.
    """
    k = config.n_critic if n_critic is None else int(n_critic)
    cfg = dataclasses.replace(config, device="cpu", members=1)
    with torch.random.fork_rng(devices=[]):
        generator = build_generator(cfg).to("meta")
        lip = make_lipschitz(cfg)
        critic = lip.prepare(build_critic(cfg)).to("meta")
    settings = optimizer_settings(cfg)
    opt_c = make_optimizer(critic.parameters(), settings)
    opt_g = make_optimizer(generator.parameters(), settings)
    obj = build_objective(cfg)
    b, nz = cfg.batch_size, cfg.latent_dim
    real = torch.empty((b, *data_shape(cfg)), device="meta")
    counts = {}
    with FlopCount() as counter:
        with torch.no_grad():
            fake = generator(torch.empty(b, nz, device="meta"))
        critic_step(critic, opt_c, obj, lip, real, fake, stats=True)
    counts["critic_step"] = float(counter.total)
    with FlopCount() as counter:
        generator_step(generator, critic, opt_g, obj, torch.empty(b, nz, device="meta"))
    counts["generator_step"] = float(counter.total)
    counts["iteration"] = k * counts["critic_step"] + counts["generator_step"]
    counts["n_critic"], counts["batch_size"] = float(k), float(b)
    return counts


def estimate_hours(
    flops_per_iteration: float, iterations: int, peak_tflops: float, utilisation: float = 0.4
) -> float:
    """Hours for ``iterations`` at ``utilisation`` of a ``peak_tflops`` TFLOP/s device (an estimate)."""
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation}")
    if peak_tflops <= 0:
        raise ValueError(f"peak_tflops must be positive, got {peak_tflops}")
    seconds = iterations * flops_per_iteration / (utilisation * peak_tflops * 1e12)
    return seconds / 3600.0


def matmul_flops_per_second(
    n: int = 1024, repeats: int = 5, *, device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> float:  # fmt: skip
    """The measured rate of an ``n x n`` by ``n x n`` ``torch.mm`` (best of ``repeats``), FLOP/s."""
    import time

    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=g, device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g, device=device, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        torch.mm(a, b)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best
