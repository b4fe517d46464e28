r"""Resumable downloads and all-or-nothing zip extraction (standard library only).

:func:`fetch` streams a URL into ``dest.part`` and renames it to ``dest`` once complete. A
``.part`` file left by an interrupted transfer is continued with an HTTP range request
(``Range: bytes=N-``) when the server honours it (status 206), and started over when it does
not (status 200). A failed transfer keeps the part file, so the next call continues it.

:func:`extract_zip` unpacks an archive into a temporary folder beside the destination and
renames the finished folder into place: a reader never sees half an extraction, and one left
over by a killed process is deleted by the next call.
"""

from __future__ import annotations

import http.client
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["DownloadError", "fetch", "extract_zip"]

Progress = Callable[[int, "int | None"], None]


class DownloadError(RuntimeError):
    """A transfer failed or ended early; the part file is kept for the next attempt."""


def _size(header: str | None) -> int | None:
    """The full size from a ``Content-Range: bytes a-b/N`` (or ``*/N``) header."""
    m = re.search(r"/(\d+)\s*$", header or "")
    return int(m.group(1)) if m else None


def fetch(
    url: str,
    dest: str | Path,
    *,
    timeout: float = 10.0,
    progress: Progress | None = None,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest``, continuing ``dest.part`` from an earlier attempt.

    ``progress(bytes_done, bytes_total_or_None)`` is called once at the start (with the bytes
    already in the part file) and after each chunk. Raises :class:`DownloadError` (the part file
    kept) on a network error or a short transfer; ``urllib.error.HTTPError`` for a status >= 400.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not have:
            raise
        # 416: nothing past byte `have`; the part is complete if it has the file's size
        if _size(err.headers.get("Content-Range")) != have:
            part.unlink()
            return fetch(url, dest, timeout=timeout, progress=progress, chunk_size=chunk_size)
        part.replace(dest)
        return dest
    with resp:
        if resp.status == 206:  # the server continues at byte `have`
            m = re.match(r"bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
            if m is None or int(m.group(1)) != have:
                part.unlink()
                raise DownloadError(f"{url}: the server sent another range; run again")
            total = _size(resp.headers.get("Content-Range"))
        else:  # 200: the whole file (the server ignores ranges)
            length = resp.headers.get("Content-Length")
            have, total = 0, int(length) if length and length.isdigit() else None
        done = have
        if progress is not None:
            progress(done, total)
        try:
            with open(part, "ab" if have else "wb") as f:
                while data := resp.read(chunk_size):
                    f.write(data)
                    done += len(data)
                    if progress is not None:
                        progress(done, total)
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
        ) as err:
            raise DownloadError(f"transfer of {url} stopped at byte {done} ({err})") from err
    if total is not None and done != total:
        raise DownloadError(f"transfer of {url} ended at byte {done} of {total}")
    part.replace(dest)
    return dest


def extract_zip(zip_path: str | Path, out: str | Path, member: str) -> Path:
    """Extract the folder ``member`` of a zip archive to ``out/member``, all or nothing.

    The archive is unpacked into ``out/.member.extracting`` (deleted first if a killed run
    left it), then that folder's ``member`` is renamed to ``out/member``. Raises
    ``zipfile.BadZipFile`` for a damaged archive, ``ValueError`` when a member would land outside
    ``out`` or when the archive holds no ``member/`` folder.
    """
    zip_path, out = Path(zip_path), Path(out)
    tmp = out / f".{member}.extracting"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    dest = tmp.resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                target = (dest / info.filename).resolve()
                if dest != target and dest not in target.parents:
                    raise ValueError(f"{zip_path}: member {info.filename!r} escapes {out}")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if not (tmp / member).is_dir():
            raise ValueError(f"{zip_path} holds no folder {member}/")
        final = out / member
        if final.exists():
            shutil.rmtree(final)
        (tmp / member).replace(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
