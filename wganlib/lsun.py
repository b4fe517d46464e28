r"""LSUN scenes: download, locate, read and write the official LMDB databases.

The LSUN release (Yu et al. 2015) stores each category and split in one LMDB database, e.g.
``bedroom_train_lmdb/`` (``data.mdb`` + ``lock.mdb``, about 3M images and 43 GB for bedrooms):
keys are image ids (40 hex digits), values the encoded image bytes (WebP in the release; JPEG and
PNG are read too). The project's download script fetches
``http://dl.yf.io/lsun/scenes/{category}_{split}_lmdb.zip``; :func:`download_lsun` builds the same
URL. Typical layout after ``python -m wganlib data lsun --category bedroom --out DIR``::

    DIR/bedroom_train_lmdb/data.mdb
    DIR/bedroom_train_lmdb/lock.mdb

:class:`LSUNDataset` opens the database read-only and lock-free, lazily in each process (the LMDB
environment is never pickled into ``DataLoader`` workers; only the key list travels).
:func:`write_lsun_lmdb` writes databases in the same format (tests, the book, small experiments).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib.imagebase import DataError, SkippingImageDataset, decode_image, to_uint8

LSUN_BASE_URL = "http://dl.yf.io/lsun/scenes"
LSUN_CATEGORIES: tuple[str, ...] = (
    "bedroom",
    "bridge",
    "church_outdoor",
    "classroom",
    "conference_room",
    "dining_room",
    "kitchen",
    "living_room",
    "restaurant",
    "tower",
)
SPLITS = ("train", "val")
_CLI_HINT = "python -m wganlib data lsun --category {category} --out DIR"


class LSUNDownloadError(RuntimeError):
    """The LSUN archive could not be fetched; the message says what to download by hand."""


def _check(category: str, split: str) -> None:
    if category not in LSUN_CATEGORIES:
        raise ValueError(f"unknown LSUN scene category {category!r}; one of {LSUN_CATEGORIES}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def lsun_url(category: str, split: str = "train", base_url: str = LSUN_BASE_URL) -> str:
    """The download URL of one category and split, as the LSUN project's download script builds it."""
    _check(category, split)
    return f"{base_url.rstrip('/')}/{category}_{split}_lmdb.zip"


def _layout(root: Path | str, category: str, split: str) -> str:
    db = Path(root) / f"{category}_{split}_lmdb"
    return f"{db}{os.sep}data.mdb (and lock.mdb)"


def find_lsun_lmdb(
    root: str | os.PathLike, category: str = "bedroom", split: str = "train"
) -> Path:
    """Resolve ``root/{category}_{split}_lmdb`` and check that it holds an LMDB database.

    Raises ``FileNotFoundError`` saying how to get the data when it is missing.
    """
    _check(category, split)
    db = Path(root) / f"{category}_{split}_lmdb"
    if not (db / "data.mdb").is_file():
        raise FileNotFoundError(
            f"no LSUN database at {db}. Expected {_layout(root, category, split)}. Download it with "
            f"`{_CLI_HINT.format(category=category)}` (DIR={root}) or fetch "
            f"{lsun_url(category, split)} by hand and unzip it into {root}."
        )
    return db


def download_lsun(
    category: str,
    out: str | os.PathLike,
    split: str = "train",
    *,
    base_url: str = LSUN_BASE_URL,
    timeout: float = 10.0,
    keep_zip: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download, unzip and check one LSUN scene database; returns ``out/{category}_{split}_lmdb``.

    Streams ``{base_url}/{category}_{split}_lmdb.zip`` to ``*.zip.part``; a part file left by an
    interrupted run is continued with an HTTP range request (:func:`wganlib.download.fetch`).
    The archive is extracted into a temporary folder renamed into place
    (:func:`wganlib.download.extract_zip`), and the database is opened and checked
    (:func:`check_lmdb`: size, first and last entries, count) before the path is returned; an
    existing database is checked the same way instead of being trusted. Without network it fails
    with :class:`LSUNDownloadError` naming the URL to fetch by hand and the folder layout.
    ``progress(bytes_done, bytes_total_or_None)`` is called after each chunk.
    """
    from wganlib.download import DownloadError, extract_zip, fetch

    url = lsun_url(category, split, base_url)
    out = Path(out)
    name = f"{category}_{split}_lmdb"
    db = out / name
    if (db / "data.mdb").is_file():
        check_lmdb(db, hint=f"delete {db} and run the download again")
        return db
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / f"{name}.zip"
    if not zip_path.is_file():
        try:
            fetch(url, zip_path, timeout=timeout, progress=progress)
        except (urllib.error.URLError, TimeoutError, DownloadError, ConnectionError) as exc:
            part = zip_path.with_name(zip_path.name + ".part")
            kept = part.stat().st_size if part.is_file() else 0
            again = f"; run the same command again to continue from byte {kept}" if kept else ""
            raise LSUNDownloadError(
                f"could not download {url} ({exc}){again}. Or download it by hand (about 43 GB "
                f"for bedroom_train) and unzip it into {out}, so that "
                f"{_layout(out, category, split)} exists; then point the dataset at {db}."
            ) from exc
    try:
        extract_zip(zip_path, out, name)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path} is damaged ({exc}); delete it and download again") from exc
    except ValueError as exc:
        raise DataError(f"{exc}; delete {zip_path} and download again") from exc
    check_lmdb(db, hint=f"delete {db} and {zip_path} and download again")
    if not keep_zip:
        zip_path.unlink()
    return db


def check_lmdb(path: str | os.PathLike, *, hint: str | None = None) -> int:
    """Check an LMDB database before it is mapped for reading; returns its number of entries.

    Reading a page past the end of a truncated ``data.mdb`` kills the process with SIGBUS, so
    the file's size is compared first with what the database's meta page says it needs,
    ``(last_pgno + 1) * psize``; then the first and last entries are read. Raises
    :class:`~wganlib.imagebase.DataError` (one line naming the file and what to do) when the
    file is truncated, damaged, empty or not an LMDB database.
    """
    import lmdb

    path = Path(path)
    subdir = path.is_dir()
    data = _data_file(path, subdir)
    todo = hint or f"fetch it again (`{_CLI_HINT.format(category='bedroom')}`)"
    size = data.stat().st_size
    try:
        env = _readonly_env(path, subdir, 126, check=True)
    except lmdb.Error as exc:
        raise DataError(f"{data} is not a readable LMDB database ({exc}); {todo}") from exc
    try:
        need = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
        if size < need:
            raise DataError(
                f"{data} is truncated: {size} bytes, the database needs {need} (an interrupted "
                f"download, extraction or copy); {todo}"
            )
        entries = env.stat()["entries"]
        with env.begin(write=False) as txn:
            cur = txn.cursor()
            for end, move in (("first", cur.first), ("last", cur.last)):
                if entries and not (move() and cur.value() is not None):
                    raise DataError(f"{data}: its {end} entry cannot be read; {todo}")
    except lmdb.Error as exc:
        raise DataError(f"{data} is damaged ({exc}); {todo}") from exc
    if entries == 0:
        raise DataError(f"{data} holds no entries (an incomplete download?); {todo}")
    return int(entries)


def _encode(item: Any, fmt: str, quality: int) -> bytes:
    """Encode one image (bytes pass through unchanged) in the given Pillow format."""
    from PIL import Image

    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, torch.Tensor):
        if item.ndim != 3 or item.shape[0] not in (1, 3):
            raise ValueError(
                f"tensor images must be (C, H, W) with C in (1, 3), got {tuple(item.shape)}"
            )
        u8 = item if item.dtype == torch.uint8 else to_uint8(item)
        item = u8.permute(1, 2, 0).squeeze(-1).cpu().numpy()
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8 (H, W[, C]), got {item.dtype}")
        item = Image.fromarray(item)
    if not isinstance(item, Image.Image):
        raise TypeError(
            f"cannot encode {type(item).__name__}: pass tensors, uint8 arrays, PIL images or bytes"
        )
    buf = io.BytesIO()
    kw = {} if fmt == "PNG" else {"quality": quality}
    item.convert("RGB").save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_lsun_lmdb(
    path: str | os.PathLike,
    images: Iterable[Any],
    *,
    format: str = "webp",
    quality: int = 90,
    keys: Iterable[bytes | str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write images into an LMDB database laid out like the LSUN release.

    ``images`` may hold float tensors ``(C, H, W)`` in [-1, 1] (or uint8 tensors), uint8 arrays
    ``(H, W[, C])``, PIL images, or ``bytes`` written verbatim (e.g. a corrupt entry for a test).
    Images are stored as RGB ``format`` ("webp" as in the release, "jpeg" or "png"). Keys default
    to 40-hex-digit ids (the SHA-1 of the running number), like the release's. Returns ``path``.
    """
    import lmdb

    fmt = {"webp": "WEBP", "jpeg": "JPEG", "jpg": "JPEG", "png": "PNG"}.get(format.lower())
    if fmt is None:
        raise ValueError(f"format must be 'webp', 'jpeg' or 'png', got {format!r}")
    path = Path(path)
    if (path / "data.mdb").exists():
        if not overwrite:
            raise FileExistsError(f"{path} already holds an LMDB database (pass overwrite=True)")
        _evict(path)
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    key_iter = iter(keys) if keys is not None else None
    map_size = 1 << 24
    env = lmdb.open(str(path), map_size=map_size, subdir=True, meminit=False)
    try:
        pending: list[tuple[bytes, bytes]] = []

        def flush() -> None:
            nonlocal map_size
            while True:
                try:
                    with env.begin(write=True) as txn:
                        for k, v in pending:
                            txn.put(k, v)
                    break
                except lmdb.MapFullError:
                    map_size *= 2
                    env.set_mapsize(map_size)
            pending.clear()

        for i, item in enumerate(images):
            key = (
                next(key_iter)
                if key_iter is not None
                else hashlib.sha1(str(i).encode()).hexdigest()
            )
            pending.append(
                (
                    key.encode("ascii") if isinstance(key, str) else bytes(key),
                    _encode(item, fmt, quality),
                )
            )
            if len(pending) >= 256:
                flush()
        if pending:
            flush()
    finally:
        env.close()
    return path


# One read-only environment per database and process: LMDB forbids opening the same files twice in
# one process (py-lmdb raises), and an environment must not be used across fork(). Entries record
# the pid that opened them; a forked DataLoader worker closes its inherited copies and reopens.
_ENVS: dict[str, tuple[int, int, Any]] = {}


def _data_file(path: Path, subdir: bool) -> Path:
    return path / "data.mdb" if subdir else path


def _readonly_env(path: Path, subdir: bool, max_readers: int, *, check: bool = False) -> Any:
    """The process's read-only, lock-free environment for ``path`` (opened on first use).

    ``check`` re-stats the data file and reopens when the database was replaced since.
    """
    import lmdb

    key = str(path.resolve())
    entry = _ENVS.get(key)
    ino = os.stat(_data_file(path, subdir)).st_ino if check or entry is None else None
    if entry is not None:
        pid, cached_ino, env = entry
        if pid == os.getpid() and (ino is None or ino == cached_ino):
            return env
        env.close()  # inherited through fork (the parent's copy stays open), or replaced
        del _ENVS[key]
    env = lmdb.open(
        key,
        subdir=subdir,
        readonly=True,
        lock=False,
        readahead=False,
        meminit=False,
        max_readers=max_readers,
    )
    _ENVS[key] = (os.getpid(), ino, env)
    return env


def _evict(path: Path) -> None:
    entry = _ENVS.pop(str(path.resolve()), None)
    if entry is not None:
        entry[2].close()


def _damaged(path: Path, exc: Exception) -> DataError:
    return DataError(
        f"LMDB database {path} is damaged ({type(exc).__name__}: {exc}); fetch it again "
        f"(`{_CLI_HINT.format(category='bedroom')}`) or copy it again from its source"
    )


class LSUNDataset(SkippingImageDataset):
    """Images of an LSUN LMDB database, centre-cropped and resized to ``image_size`` (64, 32, 128...).

    Items are float tensors ``(nc, image_size, image_size)`` in [-1, 1]; no labels. The database is
    opened with ``lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False)`` once
    per process (a module-level cache; a forked ``DataLoader`` worker closes the handle it inherited
    and opens its own); the dataset itself holds no environment, so it pickles to workers. Keys are held as one numpy bytes array (cheap to send to workers; keys must not end in NUL
    bytes). Undecodable values are flagged, counted (:attr:`num_skipped`, correct across workers)
    and replaced by the next entry.

    Parameters
    ----------
    path : the database folder (``.../bedroom_train_lmdb``) or its ``data.mdb`` file.
    max_images : use only the first ``max_images`` keys (quick experiments).
    key_cache : optional ``.npy`` file for the key list: read when it matches the database, written
        otherwise (listing 3M keys takes a while; the official loaders cache them too).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        image_size: int = 64,
        *,
        nc: int = 3,
        max_images: int | None = None,
        key_cache: str | os.PathLike | None = None,
        max_readers: int = 126,
    ) -> None:
        import lmdb

        self.path = Path(path)
        if nc not in (1, 3):
            raise ValueError(f"nc must be 1 or 3, got {nc}")
        if not self.path.exists():
            sub = (
                sorted(p.name for p in self.path.parent.glob("*_lmdb"))
                if self.path.parent.is_dir()
                else []
            )
            hint = f" Folders found next to it: {sub}." if sub else ""
            raise FileNotFoundError(
                f"LSUN database {self.path} not found.{hint} Download it with "
                f"`{_CLI_HINT.format(category='bedroom')}` and pass DIR/bedroom_train_lmdb "
                f"(the folder holding data.mdb), or fetch {lsun_url('bedroom')} by hand and unzip it."
            )
        self._subdir = self.path.is_dir()
        if self._subdir and not (self.path / "data.mdb").is_file():
            inside = sorted(p.name for p in self.path.glob("*_lmdb") if (p / "data.mdb").is_file())
            hint = f" It contains {inside}: pass one of those." if inside else ""
            raise FileNotFoundError(
                f"{self.path} holds no data.mdb.{hint} Pass the LMDB folder itself, e.g. "
                f"DIR/bedroom_train_lmdb as made by `{_CLI_HINT.format(category='bedroom')}`"
            )
        self.image_size, self.nc, self.max_readers = int(image_size), nc, max_readers
        self.has_labels = False
        entries = check_lmdb(self.path)  # before any page is read: no SIGBUS on a short file
        env = _readonly_env(self.path, self._subdir, max_readers)
        want = entries if max_images is None else min(entries, int(max_images))
        keys = None
        if key_cache is not None and Path(key_cache).is_file():
            cached = np.load(key_cache)
            keys = cached[:want] if len(cached) == entries else None  # stale cache: relist
        if keys is None:
            n_list = entries if key_cache is not None else want
            try:
                with env.begin(write=False) as txn:
                    it = txn.cursor().iternext(keys=True, values=False)
                    keys = np.array(list(itertools.islice(it, n_list)), dtype=np.bytes_)
            except lmdb.Error as exc:
                raise _damaged(self.path, exc) from exc
            if key_cache is not None:
                np.save(key_cache, keys)
            keys = keys[:want]
        if len(keys) == 0:
            raise DataError(
                f"LSUN database {self.path} is empty; the download was probably incomplete. "
                f"Fetch it again with `{_CLI_HINT.format(category='bedroom')}`."
            )
        self.keys = keys
        self._init_flags(len(keys))

    def _load(self, index: int) -> torch.Tensor:
        import lmdb

        env = _readonly_env(self.path, self._subdir, self.max_readers)
        try:
            with env.begin(write=False) as txn:
                data = txn.get(bytes(self.keys[index]))
        except lmdb.Error as exc:  # a damaged page: the file, not one image, is bad
            raise _damaged(self.path, exc) from exc
        if data is None:
            raise OSError(f"key {self.keys[index]!r} missing from {self.path}")
        return decode_image(data, self.image_size, self.nc)

    def __repr__(self) -> str:
        return f"LSUNDataset({str(self.path)!r}, image_size={self.image_size}, nc={self.nc}, n={len(self)})"
