"""Tests for wganlib.models: shapes, parameter counts, no sigmoid, DCGAN init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wganlib.models import (
    DCGANCritic,
    DCGANGenerator,
    MLPCritic,
    MLPGenerator,
    MLPImageGenerator,
    ShiftGenerator,
    count_parameters,
    init_dcgan_weights,
)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_dcgan_shapes(size):
    z = torch.randn(3, 100)
    g = DCGANGenerator(image_size=size, ngf=8, nc=3)
    x = g(z)
    assert x.shape == (3, 3, size, size)
    assert x.abs().max() <= 1.0
    d = DCGANCritic(image_size=size, ndf=8, nc=3)
    assert d(x).shape == (3,)


def test_dcgan_pyramid_channels_at_64():
    g = DCGANGenerator(image_size=64, ngf=64)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs] == [512, 256, 128, 64, 3]
    d = DCGANCritic(image_size=64, ndf=64)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [64, 128, 256, 512, 1]


def test_extra_layers_and_variants_shapes():
    z = torch.randn(2, 100, 1, 1)  # the (B, nz, 1, 1) layout of the reference code also works
    g = DCGANGenerator(
        image_size=32, ngf=8, n_extra_layers=2, batch_norm=False, constant_filters=True
    )
    assert g(z).shape == (2, 3, 32, 32)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    d = DCGANCritic(image_size=32, ndf=8, nc=1, batch_norm=False, layer_norm=True, n_extra_layers=1)
    assert d(torch.randn(2, 1, 32, 32)).shape == (2,)
    assert any(isinstance(m, nn.GroupNorm) for m in d.modules())


def test_constant_filter_generator_is_much_smaller():
    full = count_parameters(DCGANGenerator(image_size=64))
    small = count_parameters(DCGANGenerator(image_size=64, batch_norm=False, constant_filters=True))
    assert full / small >= 5


def test_bad_image_size():
    with pytest.raises(ValueError, match="multiple of 16"):
        DCGANGenerator(image_size=40)
    with pytest.raises(ValueError, match="4 \\* 2\\*\\*k"):
        DCGANCritic(image_size=48)


def test_critics_have_no_sigmoid():
    torch.manual_seed(0)
    critic = MLPCritic(2, width=16, depth=2)
    with torch.no_grad():
        critic.net[-1].bias.fill_(3.0)
    assert critic(torch.zeros(4, 2)).min() > 1.0
    with torch.no_grad():
        critic.net[-1].bias.fill_(-3.0)
    assert critic(torch.zeros(4, 2)).max() < 0.0
    d = DCGANCritic(image_size=16, ndf=4, batch_norm=False)
    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(0.05)  # positive weights on positive pixels: positive and large
    out = d(torch.rand(2, 3, 16, 16))
    assert out.min() > 1.0
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())


def test_mlp_generator_and_critic_shapes():
    g = MLPGenerator(2, 2, width=32, depth=3, activation="leaky_relu", batch_norm=True)
    assert g(torch.randn(5, 2)).shape == (5, 2)
    assert sum(isinstance(m, nn.Linear) for m in g.modules()) == 4  # 3 hidden + output
    c = MLPCritic(3 * 8 * 8, width=16)
    assert c(torch.randn(5, 3, 8, 8)).shape == (5,)  # images are flattened
    with pytest.raises(ValueError, match="choose one of"):
        MLPCritic(2, activation="swish")


def test_mlp_image_generator():
    g = MLPImageGenerator(nz=10, image_size=16, nc=1, width=32)
    x = g(torch.randn(4, 10))
    assert x.shape == (4, 1, 16, 16) and x.abs().max() <= 1
    assert sum(isinstance(m, nn.ReLU) for m in g.modules()) == 4
    ref = MLPImageGenerator(nz=10, image_size=16, nc=1, width=32, depth=3, tanh=False)
    assert sum(isinstance(m, nn.Linear) for m in ref.modules()) == 4


def test_shift_generator():
    z = torch.stack([torch.zeros(5), torch.rand(5)], dim=1)
    g = ShiftGenerator(dim=2, init=0.5, axis=0)
    x = g(z)
    assert torch.allclose(x[:, 0], torch.full((5,), 0.5)) and torch.equal(x[:, 1], z[:, 1])
    x[:, 0].sum().backward()
    assert g.theta.grad.item() == pytest.approx(5.0)
    v = ShiftGenerator(dim=2, init=[1.0, -1.0])
    assert torch.allclose(v(torch.zeros(1, 2)), torch.tensor([[1.0, -1.0]]))
    assert count_parameters(v) == 2 and count_parameters(g) == 1


def test_init_dcgan_weights_is_seeded_and_has_the_right_moments():
    g = DCGANGenerator(image_size=32, ngf=32)
    init_dcgan_weights(g, generator=torch.Generator().manual_seed(0))
    w = g.main[0].weight
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn = g.main[1]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and torch.all(bn.bias == 0)
    before = w.clone()
    init_dcgan_weights(g, generator=torch.Generator().manual_seed(0))
    assert torch.equal(g.main[0].weight, before)
