"""Tests for wganlib.images: digits, image folders, skip counting, the uint8 .npy export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from wganlib.images import (
    DataError,
    ImageFolderDataset,
    NpyImageDataset,
    TensorImageDataset,
    decode_image,
    digits_dataset,
    export_npy,
    to_uint8,
    to_unit_range,
)


def test_digits_shapes_range_and_labels():
    ds = digits_dataset(32)
    assert len(ds) == 1797 and ds.images.shape == (1797, 1, 32, 32)
    assert ds.images.dtype == torch.float32
    assert ds.images.min() == -1.0 and ds.images.max() == 1.0
    x, y = ds[5]
    assert x.shape == (1, 32, 32) and isinstance(y, int)
    counts = torch.bincount(ds.labels, minlength=10)
    assert counts.min() >= 170 and counts.sum() == 1797  # ~180 images per class
    assert torch.equal(ds.labels, torch.from_numpy(load_digits().target))


def test_digits_values_match_sklearn_pixels():
    raw = load_digits().images
    ds = digits_dataset(16, mode="nearest")  # each 8x8 pixel becomes a 2x2 block
    blocks = ds.images[:, 0, ::2, ::2]
    np.testing.assert_allclose(blocks.numpy(), raw / 8.0 - 1.0, atol=1e-6)
    assert torch.equal(ds.images[:, 0, ::2, ::2], ds.images[:, 0, 1::2, 1::2])


@pytest.mark.parametrize("size", [16, 64])
def test_digits_sizes_channels_and_bicubic_clamped(size):
    ds = digits_dataset(size, nc=3, mode="bicubic")
    assert ds.images.shape == (1797, 3, size, size)
    assert ds.images.min() >= -1.0 and ds.images.max() <= 1.0
    assert torch.equal(ds.images[:, 0], ds.images[:, 2])


def test_digits_split_is_disjoint_and_seeded():
    train, test = digits_dataset(16, split="train"), digits_dataset(16, split="test")
    assert len(train) + len(test) == 1797 and len(test) == round(0.2 * 1797)
    rows = {tuple(r) for r in train.images.flatten(1).numpy().round(4).tolist()}
    overlap = sum(tuple(r) in rows for r in test.images.flatten(1).numpy().round(4).tolist())
    assert overlap <= 5  # the digits contain a few exact duplicates; the indices are disjoint
    again = digits_dataset(16, split="test")
    other = digits_dataset(16, split="test", seed=1)
    assert torch.equal(again.images, test.images)
    assert not torch.equal(other.images, test.images)


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match="nc"):
        digits_dataset(32, nc=2)
    with pytest.raises(ValueError, match="split"):
        digits_dataset(32, split="val")
    with pytest.raises(ValueError, match="at least 8"):
        digits_dataset(4)


def test_uint8_round_trip():
    u = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(to_uint8(to_unit_range(u)), u)
    assert to_unit_range(u)[0] == -1.0 and to_unit_range(u)[-1] == 1.0


def _stripes(width: int, height: int) -> Image.Image:
    """Left third red, middle third green, right third blue (wide), for the centre crop."""
    a = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    a[:, :third, 0] = 255
    a[:, third : 2 * third, 1] = 255
    a[:, 2 * third :, 2] = 255
    return Image.fromarray(a)


@pytest.fixture()
def photo_folder(tmp_path):
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    _stripes(96, 32).save(root / "a_wide.png")
    _stripes(90, 30).save(root / "sub" / "b_wide.jpg", quality=95)
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(root / "sub" / "deeper" / "c.webp")
    (root / "sub" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png at all")
    (root / "notes.txt").write_text("not an image")
    return root


def test_image_folder_crops_resizes_and_skips_corrupt(photo_folder):
    ds = ImageFolderDataset(photo_folder, image_size=16)
    names = [p.name for p in ds.files]
    assert names == ["a_wide.png", "b_wide.jpg", "bad.png", "c.webp"]
    x = ds[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    # the centre crop keeps only the green middle third
    assert x[1].min() > 0.9 and x[0].max() < -0.9 and x[2].max() < -0.9
    assert ds[1][1].mean() > 0.8  # JPEG: green, up to compression
    assert ds.num_skipped == 0
    bad = names.index("bad.png")
    assert torch.equal(ds[bad], ds[bad + 1])  # replaced by the next image
    assert ds.num_skipped == 1 and ds.skipped_indices() == [bad]
    _ = [ds[i] for i in range(len(ds))]
    assert ds.num_skipped == 1  # counted once
    grey = ImageFolderDataset(photo_folder, image_size=8, nc=1)[3]
    assert grey.shape == (1, 8, 8) and torch.allclose(grey, torch.full_like(grey, 200 / 127.5 - 1))


def test_image_folder_skip_count_seen_across_workers(photo_folder):
    ds = ImageFolderDataset(photo_folder, image_size=8)
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    batches = list(loader)
    assert sum(len(b) for b in batches) == 4  # batches keep their size
    assert ds.num_skipped == 1  # flagged inside a worker, seen here


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no image files"):
        ImageFolderDataset(tmp_path / "empty")


def test_decode_image_rejects_garbage():
    with pytest.raises(OSError):
        decode_image(b"garbage", 8)


def test_all_corrupt_raises(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of its 1 entries from index 0 decodes") as info:
        ImageFolderDataset(tmp_path)[0]
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)


def test_export_npy_round_trip_with_labels(tmp_path):
    ds = digits_dataset(16, nc=3, split="test")
    path = export_npy(ds, tmp_path / "digits16", batch_size=100)
    assert path.name == "digits16.npy"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["shape"] == [len(ds), 3, 16, 16] and "digits" in meta["source"]
    back = NpyImageDataset(path)
    assert len(back) == len(ds) and back.has_labels
    arr = np.load(path, mmap_mode="r")
    assert arr.dtype == np.uint8 and arr.shape == (len(ds), 3, 16, 16)
    for i in (0, 17, len(ds) - 1):
        x, y = back[i]
        assert y == ds[i][1]
        assert (x - ds[i][0]).abs().max() <= 0.5 / 127.5 + 1e-6  # uint8 quantisation only
    loader = DataLoader(back, batch_size=64, num_workers=2)  # memmap opened in each worker
    xs = torch.cat([b[0] for b in loader])
    assert (xs - ds.images).abs().max() <= 0.5 / 127.5 + 1e-6


def test_export_npy_without_labels_and_errors(tmp_path, photo_folder):
    folder = ImageFolderDataset(photo_folder, image_size=8)
    path = export_npy(folder, tmp_path / "photos.npy")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["labels"] is None and meta["num_skipped"] == 1
    back = NpyImageDataset(path)
    assert not back.has_labels and back[0].shape == (3, 8, 8)
    with pytest.raises(FileNotFoundError, match="export_npy"):
        NpyImageDataset(tmp_path / "nothing.npy")


def test_tensor_dataset_validates():
    with pytest.raises(ValueError, match="N, C, H, W"):
        TensorImageDataset(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="labels"):
        TensorImageDataset(torch.zeros(3, 1, 8, 8), torch.zeros(2))


def test_all_corrupt_in_a_worker_is_the_same_one_line(tmp_path):
    from torch.utils.data import DataLoader

    for i in range(2):
        (tmp_path / f"x{i}.png").write_bytes(b"nope")
    loader = DataLoader(ImageFolderDataset(tmp_path), batch_size=1, num_workers=1)
    with pytest.raises(DataError) as info:
        next(iter(loader))
    msg = str(info.value)
    assert msg.startswith("ImageFolderDataset(") and "\n" not in msg and "Traceback" not in msg
