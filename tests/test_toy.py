"""Tests for wganlib.toy: seeded, vectorised toy samplers at the reference scales."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wganlib import toy


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", toy.NAMES)
def test_deterministic_given_generator_and_seed_dependent(name):
    a = toy.sample(name, 500, generator=gen(0))
    b = toy.sample(name, 500, generator=gen(0))
    c = toy.sample(name, 500, generator=gen(1))
    assert a.shape == (500, toy.dim(name))
    assert a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", toy.NAMES)
def test_device_argument_and_meta_device(name):
    x = toy.sample(name, 10, generator=gen(0), device="cpu")
    assert x.device.type == "cpu"
    # the same code path works for any device: the meta device needs no generator state
    m = toy.sample(name, 10, device="meta")
    assert m.device.type == "meta" and m.shape == (10, toy.dim(name))


def test_8gaussians_radius_std_and_modes():
    x = toy.sample("8gaussians", 20_000, generator=gen(0))
    radius = x.norm(dim=1)
    assert abs(radius.mean().item() - 2 / 1.414) < 2e-3
    c = toy.centers("8gaussians")
    assert c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2 / 1.414))
    nearest = torch.cdist(x, c).argmin(dim=1)
    counts = torch.bincount(nearest, minlength=8).float()
    assert (counts / len(x) - 1 / 8).abs().max() < 0.02  # components drawn uniformly
    resid = x - c[nearest]
    assert abs(resid.std().item() - toy.mode_std("8gaussians")) < 1e-3
    assert math.isclose(toy.mode_std("8gaussians"), 0.02 / 1.414)


def test_25gaussians_grid_and_std():
    c = toy.centers("25gaussians")
    assert c.shape == (25, 2)
    assert torch.allclose(c.unique(), torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0]) / 2.828)
    x = toy.sample("25gaussians", 20_000, generator=gen(0))
    nearest = torch.cdist(x, c).argmin(dim=1)
    assert torch.bincount(nearest, minlength=25).min() > 600  # every mode is drawn
    resid = x - c[nearest]
    assert abs(resid.std().item() - 0.05 / 2.828) < 1e-3


def test_swissroll_matches_sklearn_statistics():
    from sklearn.datasets import make_swiss_roll

    x = toy.sample("swissroll", 20_000, generator=gen(0)).numpy()
    ref, _ = make_swiss_roll(20_000, noise=0.25, random_state=0)
    ref = ref[:, [0, 2]] / 7.5
    np.testing.assert_allclose(x.mean(0), ref.mean(0), atol=0.03)
    np.testing.assert_allclose(x.std(0), ref.std(0), atol=0.03)
    r, r_ref = np.linalg.norm(x, axis=1), np.linalg.norm(ref, axis=1)
    np.testing.assert_allclose(
        np.quantile(r, [0.1, 0.5, 0.9]), np.quantile(r_ref, [0.1, 0.5, 0.9]), atol=0.03
    )


def test_parallel_lines_theta():
    x = toy.sample("parallel_lines", 1000, generator=gen(0), theta=0.7)
    assert torch.all(x[:, 0] == 0.7)
    assert x[:, 1].min() >= 0 and x[:, 1].max() <= 1
    assert abs(x[:, 1].mean().item() - 0.5) < 0.03


def test_two_gaussians_far_apart():
    real = toy.sample("two_gaussians", 2000, generator=gen(0), which="real")
    fake = toy.sample("two_gaussians", 2000, generator=gen(1), which="fake")
    c = toy.centers("two_gaussians")
    assert torch.allclose(real.mean(0), c[0], atol=0.05)
    assert torch.allclose(fake.mean(0), c[1], atol=0.05)
    assert (c[1] - c[0]).norm() / toy.mode_std("two_gaussians") >= 10
    one = toy.sample("gaussian1d", 2000, generator=gen(0), loc=3.0, scale=0.1)
    assert one.shape == (2000, 1)
    assert abs(one.mean().item() - 3.0) < 0.01 and abs(one.std().item() - 0.1) < 0.01


def test_sampler_is_an_infinite_source():
    g = gen(3)
    draw = toy.sampler("8gaussians", generator=g)
    a, b = draw(64), draw(64)
    assert a.shape == (64, 2) and not torch.equal(a, b)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="choose one of"):
        toy.sample("9gaussians", 3)
    with pytest.raises(ValueError, match="takes parameters"):
        toy.sample("8gaussians", 3, theta=1.0)
    with pytest.raises(ValueError, match="no centres"):
        toy.centers("swissroll")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_generator_samples_on_the_gpu():
    g = torch.Generator(device="cuda").manual_seed(0)
    x = toy.sample("25gaussians", 100, generator=g)
    assert x.is_cuda
    y = toy.sample("25gaussians", 100, generator=torch.Generator(device="cuda").manual_seed(0))
    assert torch.equal(x, y)
