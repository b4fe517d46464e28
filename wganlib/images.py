r"""Image datasets for the image chapters and the trainer.

Every dataset here returns float tensors of shape ``(C, H, W)`` with values in :math:`[-1, 1]`
(the range of a ``tanh`` generator), plus an integer label where the data has one:

* :func:`digits_dataset` -- scikit-learn's 1,797 handwritten digits (8x8, shipped inside the
  package, no download), upsampled to 16, 32 or 64 pixels; ``(image, label)``.
* :class:`ImageFolderDataset` -- any folder of photos (jpg/png/webp/bmp, recursive), centre-cropped
  and resized; ``image``.
* :class:`wganlib.lsun.LSUNDataset` -- the official LSUN LMDB databases; ``image``.
* :class:`NpyImageDataset` -- a one-off uint8 export (:func:`export_npy`) read back memory-mapped.

Decoding and the skipping base class live in :mod:`wganlib.imagebase` (re-exported here).
Datasets that decode files (folder, LSUN) **skip undecodable entries**: the bad index is flagged
and the next index (``i + 1``, ``i + 2``, ... modulo the length) is returned instead, so batches keep
their size and the order stays deterministic. The flags live in a shared-memory tensor, so the count
(:attr:`SkippingImageDataset.num_skipped`) is correct in the main process even when the entries
were decoded in ``DataLoader`` worker processes. Each bad entry is counted once however often it is hit; the trainer records the count
(``bad_images``) and stops past ``max_bad_fraction``; data that is all bad raises
:class:`~wganlib.imagebase.DataError`.

``LSUNDataset`` and ``write_lsun_lmdb`` live in :mod:`wganlib.lsun`; they can also be imported from
here (loaded on first access, so this module does not import ``lmdb``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from wganlib.imagebase import (  # noqa: F401  (re-exported: the generic pieces live there)
    DECODE_ERRORS,
    DataError,
    SkippingImageDataset,
    center_crop_resize,
    decode_image,
    pil_to_tensor,
    to_uint8,
    to_unit_range,
)

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class TensorImageDataset(Dataset):
    """Images held in memory as one tensor ``(N, C, H, W)`` in [-1, 1], with optional labels."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, name: str = "tensor"
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images = images
        self.labels = labels
        self.name = name

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, int]:
        if self.labels is None:
            return self.images[index]
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, n={len(self)}, shape={tuple(self.images.shape[1:])})"


@lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


def digits_dataset(
    image_size: int = 32,
    nc: int = 1,
    *,
    split: str = "all",
    test_fraction: float = 0.2,
    seed: int = 0,
    mode: str = "bilinear",
    device: torch.device | str | None = None,
) -> TensorImageDataset:
    r"""scikit-learn's handwritten digits (1,797 images of 8x8, 10 classes) as a GAN dataset.

    Pixel values :math:`v \in [0, 16]` become :math:`v / 8 - 1 \in [-1, 1]`; the 8x8 images are
    upsampled to ``image_size`` with ``torch.nn.functional.interpolate`` (``mode`` "bilinear",
    "bicubic" -- clamped to [-1, 1] since it overshoots -- or "nearest") once for the whole set.

    Parameters
    ----------
    image_size : output height and width (e.g. 16, 32, 64; at least 8).
    nc : 1 channel, or 3 (the grey image repeated, for RGB models).
    split : "all", or "train" / "test": a random split of ``test_fraction`` of the images drawn
        with ``seed`` (the same seed gives the same, disjoint train and test sets).
    device : where the image tensor lives (the default: CPU).

    Returns
    -------
    TensorImageDataset whose items are ``(image, label)``; ``.images`` and ``.labels`` hold all.
    """
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 (the digits are 8x8), got {image_size}")
    if nc not in (1, 3):
        raise ValueError(f"nc must be 1 or 3, got {nc}")
    if mode not in ("bilinear", "bicubic", "nearest"):
        raise ValueError(f"mode must be 'bilinear', 'bicubic' or 'nearest', got {mode!r}")
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    raw, target = _digits_raw()
    x = torch.from_numpy(raw).unsqueeze(1) / 8.0 - 1.0
    if image_size != 8:
        kw = {} if mode == "nearest" else {"align_corners": False}
        x = F.interpolate(x, size=(image_size, image_size), mode=mode, **kw).clamp_(-1.0, 1.0)
    y = torch.from_numpy(target)
    if split != "all":
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        n_test = round(test_fraction * len(x))
        idx = perm[:n_test] if split == "test" else perm[n_test:]
        x, y = x[idx], y[idx]
    if nc == 3:
        x = x.repeat(1, 3, 1, 1)
    x = x.contiguous()
    if device is not None:
        x, y = x.to(device), y.to(device)
    return TensorImageDataset(x, y, name=f"digits {split} {image_size}px")


class ImageFolderDataset(SkippingImageDataset):
    """Every image file under ``root`` (recursively, sorted), centre-cropped and resized.

    Items are float tensors ``(nc, image_size, image_size)`` in [-1, 1]; no labels. Undecodable files
    are skipped and counted (see :class:`SkippingImageDataset`).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        image_size: int = 64,
        *,
        nc: int = 3,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        recursive: bool = True,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist or is not a folder")
        if nc not in (1, 3):
            raise ValueError(f"nc must be 1 or 3, got {nc}")
        exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
        pattern = "**/*" if recursive else "*"
        self.files = sorted(
            p for p in self.root.glob(pattern) if p.is_file() and p.suffix.lower() in exts
        )
        if not self.files:
            raise ValueError(f"no image files ({', '.join(sorted(exts))}) found under {self.root}")
        self.image_size, self.nc = int(image_size), nc
        self.has_labels = False
        self._init_flags(len(self.files))

    def _load(self, index: int) -> torch.Tensor:
        return decode_image(self.files[index], self.image_size, self.nc)

    def __repr__(self) -> str:
        return f"ImageFolderDataset({str(self.root)!r}, image_size={self.image_size}, nc={self.nc}, n={len(self)})"


def _npy_paths(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    p = Path(path)
    if p.suffix != ".npy":
        p = p.with_name(p.name + ".npy")
    return p, p.with_suffix(".json"), p.with_name(p.stem + "_labels.npy")


def export_npy(
    dataset: Dataset,
    path: str | os.PathLike,
    *,
    batch_size: int = 256,
    num_workers: int = 0,
) -> Path:
    """Write a dataset once to a uint8 array file ``(N, C, H, W)`` for fast epochs.

    The pixels go to ``path`` (``.npy``, written through ``np.lib.format.open_memmap`` so the
    export never holds the whole set in memory); a JSON header ``path.with_suffix(".json")``
    records shape, source (the dataset's repr) and skipped entries; labels, when the dataset has
    them, go to ``<stem>_labels.npy``. Read it back with :class:`NpyImageDataset`.
    Returns the ``.npy`` path.
    """
    npy, header, labels_path = _npy_paths(path)
    n = len(dataset)
    if n == 0:
        raise ValueError("cannot export an empty dataset")
    first = dataset[0]
    has_labels = isinstance(first, tuple | list)
    shape = tuple((first[0] if has_labels else first).shape)
    npy.parent.mkdir(parents=True, exist_ok=True)
    arr = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint8, shape=(n, *shape))
    labels = np.empty(n, dtype=np.int64) if has_labels else None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    i = 0
    for batch in loader:
        x = batch[0] if has_labels else batch
        arr[i : i + len(x)] = to_uint8(x).cpu().numpy()
        if labels is not None:
            labels[i : i + len(x)] = batch[1].cpu().numpy()
        i += len(x)
    arr.flush()
    del arr
    if labels is not None:
        np.save(labels_path, labels)
    meta = {
        "shape": [n, *shape],
        "dtype": "uint8",
        "value_range": [-1.0, 1.0],
        "encoding": "x = u / 127.5 - 1",
        "source": repr(dataset),
        "labels": labels_path.name if labels is not None else None,
        "num_skipped": int(getattr(dataset, "num_skipped", 0)),
    }
    header.write_text(json.dumps(meta, indent=2))
    return npy


class NpyImageDataset(Dataset):
    """Read back an :func:`export_npy` file, memory-mapped (opened lazily in each process).

    Items are float tensors in [-1, 1], with the label when the export had labels.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path, header, labels_path = _npy_paths(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} not found; write it first with export_npy(...)")
        if not header.is_file():
            raise FileNotFoundError(f"header {header} missing next to {self.path}")
        self.meta = json.loads(header.read_text())
        arr = np.load(self.path, mmap_mode="r")
        if list(arr.shape) != list(self.meta["shape"]) or arr.dtype != np.uint8:
            raise ValueError(
                f"{self.path} holds {arr.dtype} {arr.shape}, header says uint8 {self.meta['shape']}"
            )
        self.shape = tuple(arr.shape)
        del arr
        self.labels = np.load(labels_path) if self.meta.get("labels") else None
        self.has_labels = self.labels is not None
        self._arr: np.ndarray | None = None
        self._pid = -1

    def _array(self) -> np.ndarray:
        if self._arr is None or self._pid != os.getpid():
            self._arr, self._pid = np.load(self.path, mmap_mode="r"), os.getpid()
        return self._arr

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arr"], state["_pid"] = None, -1
        return state

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, int]:
        x = to_unit_range(torch.from_numpy(np.array(self._array()[index])))
        if self.labels is None:
            return x
        return x, int(self.labels[index])

    def __repr__(self) -> str:
        return f"NpyImageDataset({str(self.path)!r}, shape={self.shape})"


def __getattr__(name: str) -> Any:
    # LSUNDataset and write_lsun_lmdb live in wganlib.lsun (which needs lmdb); import on demand.
    if name in ("LSUNDataset", "write_lsun_lmdb"):
        from wganlib import lsun

        return getattr(lsun, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
