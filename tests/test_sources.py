"""Tests for wganlib.sources: data sources (fresh batches, saveable position) and builders."""

from __future__ import annotations

import pytest
import torch

from wganlib.config import TrainConfig
from wganlib.images import TensorImageDataset
from wganlib.sources import (
    LoaderSource,
    NoiseImageSource,
    TensorSource,
    ToySource,
    build_critic,
    build_data,
    build_generator,
    data_shape,
)


def _resumes(make, n_before: int = 3, n_after: int = 4) -> None:
    """Batches after a save/load equal the batches an uninterrupted source gives."""
    a = make()
    straight = [a.next() for _ in range(n_before + n_after)]
    b = make()
    for _ in range(n_before):
        b.next()
    c = make()
    c.load_state_dict(b.state_dict())
    for want in straight[n_before:]:
        assert torch.equal(c.next(), want)


def test_toy_source_fresh_batches_and_resume():
    src = ToySource("8gaussians", 16, seed=0, device="cpu")
    x, y = src.next(), src.next()
    assert x.shape == (16, 2) and not torch.equal(x, y)
    _resumes(lambda: ToySource("8gaussians", 16, seed=0, device="cpu"))


def test_noise_source():
    src = NoiseImageSource(4, 3, 16, seed=1, device="cpu")
    x = src.next()
    assert x.shape == (4, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    _resumes(lambda: NoiseImageSource(4, 3, 16, seed=1, device="cpu"))


def test_tensor_source_epochs_are_permutations_and_resume():
    images = torch.arange(10.0).view(10, 1, 1, 1)
    src = TensorSource(images, 4, seed=0, device="cpu")
    first = torch.cat([src.next(), src.next()]).flatten()  # 8 of 10, then a new epoch
    assert len(set(first.tolist())) == 8
    assert src.next().shape == (4, 1, 1, 1) and src.epoch == 1
    _resumes(lambda: TensorSource(images, 4, seed=0, device="cpu"), n_before=2, n_after=5)
    with pytest.raises(ValueError, match="exceeds"):
        TensorSource(images, 11, seed=0, device="cpu")


def test_loader_source_resumes_mid_epoch():
    images = torch.arange(12.0).view(12, 1, 1, 1)
    ds = TensorImageDataset(images, torch.arange(12))  # (image, label) items
    assert LoaderSource(ds, 5, seed=3, device="cpu").next().shape == (5, 1, 1, 1)
    _resumes(lambda: LoaderSource(ds, 5, seed=3, device="cpu"), n_before=3, n_after=4)
    # the same permutations as the in-memory source
    a, b = LoaderSource(ds, 5, seed=3, device="cpu"), TensorSource(images, 5, seed=3, device="cpu")
    assert torch.equal(a.next(), b.next())


def test_builders_follow_the_config():
    cfg = TrainConfig(width=32, depth=2, nz=3)
    g, c = build_generator(cfg), build_critic(cfg)
    assert g(torch.zeros(5, 3)).shape == (5, 2) and c(torch.zeros(5, 2)).shape == (5,)
    img = TrainConfig(
        data="digits", channels=1, image_size=16, generator="dcgan", critic="dcgan",
        ngf=4, ndf=4, batch_size=8,
    )  # fmt: skip
    assert data_shape(img) == (1, 16, 16)
    x = build_data(img).next()
    assert x.shape == (8, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert build_generator(img)(torch.zeros(2, 100)).shape == (2, 1, 16, 16)
    assert build_critic(img)(x).shape == (8,)
    mlp = TrainConfig(
        data="noise", image_size=16, generator="mlp_image", critic="dcgan", width=16, depth=2
    )
    assert build_generator(mlp)(torch.zeros(2, 100)).shape == (2, 3, 16, 16)
