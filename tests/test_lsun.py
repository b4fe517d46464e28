"""Tests for wganlib.lsun: the LSUN LMDB writer/reader, locating and downloading databases.

The databases are written here in the release's format (hex keys, WebP values); the network is never
contacted: downloads go to a closed localhost port or a local http.server.
"""

from __future__ import annotations

import functools
import http.server
import pickle
import socket
import threading
import time
import zipfile

import lmdb
import pytest
import torch
from torch.utils.data import DataLoader

from wganlib.images import digits_dataset
from wganlib.lsun import (
    LSUNDataset,
    LSUNDownloadError,
    download_lsun,
    find_lsun_lmdb,
    lsun_url,
    write_lsun_lmdb,
)

N_GOOD = 12
BAD_AT = 4  # position of the garbage entry among the keys


def _coloured_digits(n: int, size: int = 32) -> torch.Tensor:
    """Digits upsampled to ``size`` and tinted (a different colour per channel)."""
    x = digits_dataset(size).images[:n]
    tint = torch.tensor([1.0, 0.6, 0.2]).view(1, 3, 1, 1)
    return (x + 1.0) * tint - 1.0


def _keys(n: int) -> list[str]:
    return [f"{i:040x}" for i in range(n)]  # 40 hex digits; LMDB order = this order


@pytest.fixture(scope="module")
def sources() -> torch.Tensor:
    return _coloured_digits(N_GOOD)


@pytest.fixture(scope="module")
def lsun_db(tmp_path_factory, sources):
    """A bedroom_train_lmdb-like database: WebP values, one corrupt entry at BAD_AT."""
    items = list(sources)
    items.insert(BAD_AT, b"RIFF\x00\x00\x00\x00WEBPVP8 garbage, not an image")
    root = tmp_path_factory.mktemp("lsun")
    return write_lsun_lmdb(root / "bedroom_train_lmdb", items, keys=_keys(len(items)))


def test_writer_uses_release_format(tmp_path, sources):
    items = [*sources[:3], b"verbatim bytes"]
    db = write_lsun_lmdb(tmp_path / "bedroom_train_lmdb", items)  # default keys
    assert (db / "data.mdb").is_file() and (db / "lock.mdb").is_file()
    env = lmdb.open(str(db), readonly=True, lock=False)
    with env.begin() as txn:
        entries = list(txn.cursor())
    env.close()
    assert len(entries) == 4
    for key, _ in entries:
        assert len(key) == 40 and all(c in b"0123456789abcdef" for c in key)
    values = [v for _, v in entries]
    assert b"verbatim bytes" in values
    webp = [v for v in values if v != b"verbatim bytes"]
    assert len(webp) == 3 and all(v[:4] == b"RIFF" and v[8:12] == b"WEBP" for v in webp)


def test_reader_decodes_images_close_to_sources(lsun_db, sources):
    ds = LSUNDataset(lsun_db, image_size=32)
    assert len(ds) == N_GOOD + 1 and ds.keys[0] == b"0" * 40
    x = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert (x - sources[0]).abs().mean() < 0.05  # WebP at quality 90 is lossy, but close
    assert ds.num_skipped == 0
    small = LSUNDataset(lsun_db, image_size=16, nc=1)[1]
    assert small.shape == (1, 16, 16)


def test_corrupt_entry_is_counted_and_skipped(lsun_db):
    ds = LSUNDataset(lsun_db, image_size=16)
    bad = ds[BAD_AT]
    assert ds.num_skipped == 1 and ds.skipped_indices() == [BAD_AT]
    assert torch.equal(bad, ds[BAD_AT + 1])  # deterministic replacement: the next entry
    _ = [ds[i] for i in range(len(ds))]
    assert ds.num_skipped == 1


def test_dataloader_workers_open_lazily_and_report_skips(lsun_db):
    ds = LSUNDataset(lsun_db, image_size=16)
    first = ds[0]  # the environment is now open in this process, before the workers fork
    assert not any(isinstance(v, lmdb.Environment) for v in vars(ds).values())
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned worker receives
    assert torch.equal(clone[0], first) and len(clone.keys) == len(ds)
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert [len(b) for b in batches] == [4, 4, 4, 1]
    assert torch.equal(batches[0][0], first)
    assert ds.num_skipped == 1  # flagged in a worker, counted here
    again = LSUNDataset(lsun_db, image_size=16)  # a second dataset on the same files
    assert torch.equal(again[0], first)


def test_jpeg_png_values_and_key_cache(tmp_path, sources):
    for fmt in ("jpeg", "png"):
        db = write_lsun_lmdb(tmp_path / f"{fmt}_lmdb", sources[:3], format=fmt)
        ds = LSUNDataset(db, image_size=32)
        err = (torch.stack([ds[i] for i in range(3)]).mean() - sources[:3].mean()).abs()
        assert len(ds) == 3 and err < 0.05
    cache = tmp_path / "keys.npy"
    first = LSUNDataset(tmp_path / "png_lmdb", max_images=2, key_cache=cache)
    assert cache.is_file() and len(first) == 2
    again = LSUNDataset(tmp_path / "png_lmdb", key_cache=cache)
    assert len(again) == 3 and list(again.keys[:2]) == list(first.keys)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_lsun_lmdb(tmp_path / "png_lmdb", sources[:1])
    with pytest.raises(ValueError, match="format"):
        write_lsun_lmdb(tmp_path / "gif_lmdb", sources[:1], format="gif")


def test_wrong_path_and_empty_database_are_clear_errors(tmp_path, lsun_db):
    with pytest.raises(FileNotFoundError, match="python -m wganlib data lsun"):
        LSUNDataset(tmp_path / "bedroom_train_lmdb")
    (tmp_path / "not_a_db").mkdir()
    with pytest.raises(FileNotFoundError, match="data.mdb"):
        LSUNDataset(tmp_path / "not_a_db")
    with pytest.raises(FileNotFoundError, match="bedroom_train_lmdb.*pass one of those"):
        LSUNDataset(lsun_db.parent)  # the download folder instead of the database
    empty = write_lsun_lmdb(tmp_path / "empty_lmdb", [])
    with pytest.raises(ValueError, match="empty"):
        LSUNDataset(empty)


def test_find_lsun_lmdb(tmp_path, lsun_db):
    assert find_lsun_lmdb(lsun_db.parent, "bedroom", "train") == lsun_db
    with pytest.raises(FileNotFoundError, match="tower_val_lmdb"):
        find_lsun_lmdb(tmp_path, "tower", "val")
    with pytest.raises(ValueError, match="category"):
        find_lsun_lmdb(tmp_path, "bedrooms")


def test_reexported_from_images():
    from wganlib import images

    assert images.LSUNDataset is LSUNDataset and images.write_lsun_lmdb is write_lsun_lmdb


def test_url_follows_the_lsun_download_script():
    assert lsun_url("bedroom") == "http://dl.yf.io/lsun/scenes/bedroom_train_lmdb.zip"
    assert lsun_url("church_outdoor", "val", "http://x/") == "http://x/church_outdoor_val_lmdb.zip"
    with pytest.raises(ValueError, match="split"):
        lsun_url("bedroom", "test")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture()
def http_root(tmp_path):
    """A local http.server on 127.0.0.1 serving tmp_path/www (a missing file gives 404)."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_fails_fast_offline(tmp_path):
    out = tmp_path / "data"
    base = f"http://127.0.0.1:{_closed_port()}/lsun/scenes"
    t0 = time.perf_counter()
    with pytest.raises(LSUNDownloadError) as info:
        download_lsun("bedroom", out, base_url=base, timeout=2.0)
    assert time.perf_counter() - t0 < 5.0
    msg = str(info.value)
    assert f"{base}/bedroom_train_lmdb.zip" in msg  # what to fetch by hand
    assert "bedroom_train_lmdb" in msg and "data.mdb" in msg and str(out) in msg  # where it goes
    assert not list(out.glob("*.part"))


def test_download_404_is_reported(tmp_path, http_root):
    _, base = http_root
    with pytest.raises(LSUNDownloadError, match="404"):
        download_lsun("kitchen", tmp_path / "data", split="val", base_url=base, timeout=2.0)


def test_download_from_local_server_unzips_a_readable_database(tmp_path, http_root, sources):
    www, base = http_root
    db = write_lsun_lmdb(tmp_path / "made" / "bedroom_train_lmdb", sources[:5])
    with zipfile.ZipFile(www / "bedroom_train_lmdb.zip", "w") as zf:
        for f in sorted(db.iterdir()):
            zf.write(f, f"bedroom_train_lmdb/{f.name}")
    seen = []
    out = tmp_path / "data"
    got = download_lsun("bedroom", out, base_url=base, progress=lambda d, t: seen.append((d, t)))
    assert got == out / "bedroom_train_lmdb" == find_lsun_lmdb(out)
    assert seen and seen[-1][0] == seen[-1][1] == (www / "bedroom_train_lmdb.zip").stat().st_size
    assert not list(out.glob("*.zip*"))  # archive removed after extraction
    ds = LSUNDataset(got, image_size=32)
    assert len(ds) == 5 and (ds[0].mean() - sources[:5].mean()).abs() < 0.5
    assert download_lsun("bedroom", out, base_url="http://127.0.0.1:1") == got  # already there
