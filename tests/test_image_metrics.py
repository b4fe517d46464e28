"""Tests for wganlib.image_metrics: the ProGAN sliced Wasserstein distance and digit-class coverage."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from wganlib.image_metrics import (
    class_coverage,
    class_histogram,
    laplacian_pyramid,
    sliced_wasserstein,
    train_digit_classifier,
)
from wganlib.images import digits_dataset


@pytest.fixture(scope="module")
def digits32() -> torch.Tensor:
    return digits_dataset(32).images


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = torch.arange(-3, 4, dtype=torch.float32)
    k = torch.exp(-(r**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (3, 3, 0, 0), mode="reflect"), k.view(1, 1, 1, 7))
    return F.conv2d(F.pad(x, (0, 0, 3, 3), mode="reflect"), k.view(1, 1, 7, 1))


def _noisy(x: torch.Tensor, level: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    return (x + level * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def test_laplacian_pyramid_shapes_and_constant_images():
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    levels = laplacian_pyramid(x, 3)
    assert [tuple(v.shape[2:]) for v in levels] == [(32, 32), (16, 16), (8, 8)]
    const = laplacian_pyramid(torch.full((1, 1, 32, 32), 0.3), 3)
    assert const[0].abs().max() < 1e-6 and const[1].abs().max() < 1e-6  # no band-pass content
    assert torch.allclose(const[2], torch.full_like(const[2], 0.3))


def test_swd_identical_sets_is_zero_and_levels_follow_protocol(digits32):
    r = sliced_wasserstein(digits32[:64], digits32[:64], num_directions=64)
    assert r.resolutions == (32, 16) and len(r.levels) == 2
    assert r.mean == 0.0
    assert sliced_wasserstein(digits32[:8, :, :8, :8], digits32[8:16, :, :8, :8]).resolutions == (
        8,
    )
    big = torch.zeros(4, 1, 64, 64)
    assert sliced_wasserstein(big, big, num_directions=8).resolutions == (64, 32, 16)


def test_swd_grows_with_noise_and_blur(digits32):
    a, b = digits32[:64], digits32[64:128]
    kw = {"num_directions": 64}
    base = sliced_wasserstein(a, b, **kw).mean  # two samples of the same distribution
    noise = [sliced_wasserstein(a, _noisy(b, s), **kw).mean for s in (0.05, 0.1, 0.2, 0.4)]
    assert base < noise[0] and all(u < v for u, v in zip(noise, noise[1:], strict=False))
    blur = [sliced_wasserstein(a, _blur(b, s), **kw) for s in (0.7, 1.5, 3.0)]
    assert base < blur[0].mean < blur[1].mean < blur[2].mean
    assert blur[2].levels[0] > 2 * sliced_wasserstein(a, b, **kw).levels[0]  # the fine level


def test_swd_is_seeded(digits32):
    a, b = digits32[:64], _noisy(digits32[64:128], 0.1)
    kw = {"num_directions": 64}
    assert sliced_wasserstein(a, b, seed=3, **kw) == sliced_wasserstein(a, b, seed=3, **kw)
    other = sliced_wasserstein(a, b, seed=4, **kw)
    assert other != sliced_wasserstein(a, b, seed=3, **kw)
    assert math.isclose(other.mean, sliced_wasserstein(a, b, seed=3, **kw).mean, rel_tol=0.3)


def test_swd_threaded_sort_gives_the_same_result(digits32):
    a, b = digits32[:32], _noisy(digits32[32:64], 0.1)
    one = sliced_wasserstein(a, b, num_directions=32)
    torch.set_num_threads(2)  # numpy sorts the two sets in two threads
    try:
        two = sliced_wasserstein(a, b, num_directions=32)
    finally:
        torch.set_num_threads(1)
    assert two.levels == pytest.approx(one.levels, rel=1e-5)  # matmul rounding only


def test_swd_handles_rgb_and_unequal_sizes(digits32):
    rgb = digits32[:100].repeat(1, 3, 1, 1)
    r = sliced_wasserstein(rgb, rgb[:40], num_directions=32)
    assert len(r.levels) == 2 and r.mean > 0.0


def test_swd_rejects_bad_input(digits32):
    with pytest.raises(ValueError, match="equal C, H, W"):
        sliced_wasserstein(digits32[:4], digits32[:4, :, :16, :16])
    with pytest.raises(ValueError, match="smaller than"):
        sliced_wasserstein(torch.zeros(4, 1, 6, 6), torch.zeros(4, 1, 6, 6))
    with pytest.raises(ValueError, match="at least 2"):
        sliced_wasserstein(digits32[:1], digits32[:1])


@pytest.fixture(scope="module")
def trained():
    return train_digit_classifier(32, seed=0)


def test_classifier_is_accurate_and_seeded(trained):
    clf, acc = trained
    assert acc > 0.9
    assert not clf.training
    assert train_digit_classifier(32, seed=0, epochs=2).test_accuracy == pytest.approx(
        train_digit_classifier(32, seed=0, epochs=2).test_accuracy
    )


def test_classifier_accepts_other_sizes_and_rgb(trained):
    clf, _ = trained
    test = digits_dataset(64, nc=3, split="test")
    hist = class_histogram(clf, test.images)
    assert hist.shape == (10,) and int(hist.sum()) == len(test)
    with torch.no_grad():
        pred = clf(test.images).argmax(dim=1)
    assert (pred == test.labels).float().mean() > 0.85


def test_class_coverage_real_digits_vs_one_digit(trained):
    clf, _ = trained
    real = digits_dataset(32, split="test").images
    cov = class_coverage(clf, real)
    assert cov.classes == 10 and sum(cov.histogram) == len(real)
    assert cov.reverse_kl < 0.05 and cov.confident > 0.5
    zero = digits_dataset(32).images[:1]  # the first digit is a 0
    copies = class_coverage(clf, zero.repeat(50, 1, 1, 1))
    assert copies.classes == 1 and max(copies.histogram) == 50
    assert copies.reverse_kl == pytest.approx(math.log(10))
    with pytest.raises(ValueError, match="at least one"):
        class_coverage(clf, real[:0])
