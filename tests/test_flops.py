"""FLOP counting of one generator iteration and the time estimate built on it."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from wganlib.config import TrainConfig
from wganlib.flops import FlopCount, estimate_hours, iteration_flops, matmul_flops_per_second


def _cfg(**kw) -> TrainConfig:
    base = dict(
        data="noise", image_size=16, channels=3, generator="dcgan", critic="dcgan", ngf=8,
        ndf=8, batch_size=4, n_critic=3,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def test_flopcount_matches_2mnk_and_pytorch_counter():
    lin = torch.nn.Linear(7, 5, bias=False)
    x = torch.randn(3, 7)
    with FlopCount() as fc:
        lin(x)
    assert fc.total == 2 * 3 * 7 * 5
    with FlopCounterMode(display=False) as ref:
        lin(x).sum().backward()
    with FlopCount() as fc:
        lin(x).sum().backward()
    assert fc.total == ref.get_total_flops() == 2 * (2 * 3 * 7 * 5)  # x needs no gradient


def test_iteration_flops_adds_up_and_penalty_costs_more():
    clip = iteration_flops(_cfg())
    assert clip["iteration"] == 3 * clip["critic_step"] + clip["generator_step"]
    assert clip["critic_step"] > 0 and clip["generator_step"] > 0
    gp = iteration_flops(_cfg(lipschitz="gp", c_layer_norm=True))
    assert gp["critic_step"] > 1.5 * clip["critic_step"]  # the double backward
    doubled = iteration_flops(_cfg(batch_size=8))
    assert doubled["iteration"] == pytest.approx(2 * clip["iteration"], rel=1e-6)


def test_estimate_hours():
    # 1e12 FLOPs x 3600 iterations at 50% of 2 TFLOP/s = 3600 s = 1 h
    assert estimate_hours(1e12, 3600, 2.0, 0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="utilisation"):
        estimate_hours(1.0, 1, 1.0, 0.0)


def test_matmul_rate_is_positive():
    assert matmul_flops_per_second(64, 2) > 1e6
