r"""The generic image pieces below every dataset: decoding, pixel ranges, skipping bad entries.

:mod:`wganlib.images` (digits, folders, ``.npy`` exports) and :mod:`wganlib.lsun` (LMDB) both
build on this module and neither imports the other at load time.

* :func:`decode_image` -- bytes or a file through Pillow, centre-cropped and resized, as a float
  tensor ``(C, H, W)`` in :math:`[-1, 1]`; raises one of :data:`DECODE_ERRORS` on bad data.
* :class:`SkippingImageDataset` -- a dataset whose undecodable entries are flagged, counted and
  replaced by the next good one.
* :class:`DataError` -- the data cannot be used (damaged database, every entry bad, too many bad
  entries): its message is one line that names the data and says what to do.
* :func:`check_bad_images` -- the stopping rule for runs that meet too many bad entries.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = [
    "DECODE_ERRORS",
    "DataError",
    "TooManyBadImages",
    "to_unit_range",
    "to_uint8",
    "center_crop_resize",
    "pil_to_tensor",
    "decode_image",
    "SkippingImageDataset",
    "bad_image_count",
    "check_bad_images",
]

# What Pillow raises on truncated, garbage or unsupported bytes (UnidentifiedImageError is an OSError).
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
)


class DataError(ValueError):
    """The training data cannot be used; the message is one line saying what to do.

    Raised inside a ``DataLoader`` worker, it reaches the main process rebuilt from the worker's
    formatted traceback (``torch.utils.data`` re-raises ``type(err)(traceback_text)``); the
    constructor then keeps only the original one-line message.
    """

    def __init__(self, message: str = "") -> None:
        text = str(message)
        if "Original Traceback" in text and "DataError: " in text:
            text = text.rsplit("DataError: ", 1)[1].strip().splitlines()[0]
        super().__init__(text)


class TooManyBadImages(DataError):
    """More images failed to decode than ``max_bad_fraction`` allows (the same on every process)."""


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    r"""Map uint8 pixels :math:`u \in \{0..255\}` to floats :math:`u / 127.5 - 1 \in [-1, 1]`."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    r"""Map floats in :math:`[-1, 1]` to uint8 pixels :math:`\mathrm{round}((x + 1)\cdot 127.5)` (clamped)."""
    return ((x.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def center_crop_resize(img: Any, image_size: int) -> Any:
    """Centre-crop a PIL image to a square (its shorter side) and resize it to ``image_size``.

    The DCGAN/WGAN reference pipeline resizes the shorter side, then centre-crops; cropping first
    gives the same image without pixels from outside the crop bleeding in at its edges. Pillow's
    bicubic resampling is antialiased when it shrinks.
    """
    from PIL import Image

    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    square = img.crop((left, top, left + s, top + s))
    return square.resize((image_size, image_size), Image.Resampling.BICUBIC)


def pil_to_tensor(img: Any, nc: int = 3) -> torch.Tensor:
    """A PIL image as a float tensor ``(nc, H, W)`` in [-1, 1] (RGB for ``nc=3``, luminance for 1)."""
    if nc not in (1, 3):
        raise ValueError(f"nc must be 1 (grey) or 3 (RGB), got {nc}")
    arr = np.asarray(img.convert("RGB" if nc == 3 else "L"), dtype=np.uint8)
    t = torch.from_numpy(arr.copy())
    t = t.unsqueeze(0) if nc == 1 else t.permute(2, 0, 1)
    return to_unit_range(t)


def decode_image(data: bytes | str | os.PathLike, image_size: int, nc: int = 3) -> torch.Tensor:
    """Decode encoded image bytes (or a file) with Pillow, centre-crop and resize to ``image_size``.

    Raises one of :data:`DECODE_ERRORS` when the data is not a decodable image.
    """
    from PIL import Image

    src = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    with Image.open(src) as img:
        img.draft("RGB", (image_size, image_size))  # JPEG: decode at a reduced scale (>= size)
        img.load()
        return pil_to_tensor(center_crop_resize(img, image_size), nc)


class SkippingImageDataset(Dataset):
    """Base class: entries that fail to decode are flagged, counted and replaced by the next one.

    Subclasses implement ``_load(index) -> Tensor`` (raising one of :data:`DECODE_ERRORS` for a bad
    entry) and call ``_init_flags(n)`` in ``__init__``. The flags are a shared-memory uint8 tensor,
    one byte per entry: writes from ``DataLoader`` workers are seen by the main process, and writing
    the same flag twice is harmless, so :attr:`num_skipped` counts distinct bad entries.

    When ``max_consecutive_failures`` entries in a row (or all of them) are bad,
    ``__getitem__`` raises :class:`DataError`: the data is damaged, not merely a few images.
    """

    max_consecutive_failures: int = 64

    def _init_flags(self, n: int) -> None:
        self._bad = torch.zeros(n, dtype=torch.uint8).share_memory_()

    def _load(self, index: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def num_skipped(self) -> int:
        """How many distinct entries failed to decode so far (in any process)."""
        return int(self._bad.sum())

    def skipped_indices(self) -> list[int]:
        """The indices of the entries that failed to decode so far."""
        return self._bad.nonzero().flatten().tolist()

    def __len__(self) -> int:
        return len(self._bad)

    def __getitem__(self, index: int) -> torch.Tensor:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} images")
        index %= n
        tries = min(n, self.max_consecutive_failures)
        for step in range(tries):
            j = (index + step) % n
            if self._bad[j]:
                continue
            try:
                return self._load(j)
            except DECODE_ERRORS:
                self._bad[j] = 1
        what = f"its {n}" if tries == n else f"{tries} consecutive"
        raise DataError(
            f"{self!r}: none of {what} entries from index {index} decodes as an image; "
            "the data is damaged or not images: check the path or fetch the data again"
        )


def bad_image_count(source: Any) -> int:
    """Distinct undecodable entries met so far by a data source (0 when it decodes nothing)."""
    return int(getattr(getattr(source, "dataset", None), "num_skipped", 0))


def check_bad_images(bad: int, read: int, max_fraction: float, *, what: str = "the data") -> None:
    r"""Raise :class:`DataError` when too many entries were bad.

    The rule: stop when :math:`\mathrm{bad} > f \cdot \max(\mathrm{read}, 100)`, with ``read``
    the entries read so far (good and bad) and :math:`f` = ``max_fraction``. The floor of 100
    keeps one bad image among the first few from stopping a run; ``max_fraction = 1`` never stops.
    """
    if bad > max_fraction * max(read, 100):
        raise TooManyBadImages(
            f"{bad} of {read} images read from {what} failed to decode, more than "
            f"max_bad_fraction = {max_fraction:g}; repair or re-download the data, or raise "
            "max_bad_fraction (--set max_bad_fraction=...) to train on the rest"
        )
