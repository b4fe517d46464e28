"""Fault injection: every failure gives one clear line and its documented exit status, and
nothing is lost (issue 14). Damaged data, interrupted downloads, concurrent runs, kill -9 and
signals, bad values, broken checkpoints, a full disk."""

from __future__ import annotations

import csv
import functools
import http.server
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch

from wganlib.cli import main
from wganlib.lsun import check_lmdb, download_lsun, write_lsun_lmdb
from wganlib.runlog import tensorboard_available

REPO = Path(__file__).resolve().parents[1]
TOY = """
name = "toy"
data = "8gaussians"
width = 16
depth = 2
batch_size = 32
iterations = 4
log_every = 2
checkpoint_every = 2
"""


def _image_toml(root: Path, **extra) -> str:
    keys = dict(
        name="img", data="folder", data_root=str(root), image_size=16, generator="mlp_image",
        critic="dcgan", width=32, depth=1, ndf=8, batch_size=8, n_critic=1, iterations=3,
        log_every=1, num_workers=0,
    )  # fmt: skip
    keys.update(extra)
    return "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in keys.items())


def _line(capsys, start: str = "error: ") -> str:
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.strip()]
    assert len(err) == 1, err
    assert err[0].startswith(start) and "Traceback" not in err[0], err
    return err[0]


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1")
    env.pop("WGANLIB_DEBUG", None)
    return env


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wganlib", *args], env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, **kw,
    )  # fmt: skip


@pytest.fixture
def toy(tmp_path) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    return path


# ------------------------------------------------------------------------- data path
@pytest.fixture(scope="module")
def lmdb_db(tmp_path_factory) -> Path:
    g = torch.Generator().manual_seed(0)
    imgs = [torch.rand(3, 32, 32, generator=g) * 2 - 1 for _ in range(60)]
    root = tmp_path_factory.mktemp("lsun")
    return write_lsun_lmdb(root / "bedroom_train_lmdb", imgs, format="png")


def _copy_db(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _lsun_train(tmp_path, db, capsys) -> tuple[int, str]:
    cfg = tmp_path / "l.toml"
    cfg.write_text(_image_toml(db).replace('"folder"', '"lsun"'))
    rc = main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"])
    return rc, _line(capsys)


def test_truncated_lmdb_is_one_line_not_a_bus_error(tmp_path, lmdb_db, capsys):
    db = _copy_db(lmdb_db, tmp_path / "bedroom_train_lmdb")
    data = db / "data.mdb"
    os.truncate(data, data.stat().st_size // 3)  # reading past the end would be SIGBUS
    rc, line = _lsun_train(tmp_path, db, capsys)
    assert rc == 2 and "truncated" in line and str(data) in line and "again" in line


def test_page_corrupted_lmdb_is_one_line(tmp_path, lmdb_db, capsys):
    db = _copy_db(lmdb_db, tmp_path / "bedroom_train_lmdb")
    raw = bytearray((db / "data.mdb").read_bytes())
    leaf = next(
        p for p in range(2, len(raw) // 4096) if raw[p * 4096 + 10] == 0x02
    )  # LMDB page flags at offset 10: P_LEAF = 0x02 (holds the keys)
    raw[leaf * 4096 + 16 : (leaf + 1) * 4096] = b"\xab" * (4096 - 16)
    (db / "data.mdb").write_bytes(bytes(raw))
    rc, line = _lsun_train(tmp_path, db, capsys)
    assert rc == 2 and "damaged" in line and str(db) in line and "again" in line


def _folder(root: Path, good: int, bad: int) -> Path:
    from PIL import Image

    root.mkdir()
    g = torch.Generator().manual_seed(1)
    for i in range(good):
        arr = (torch.rand(20, 24, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(root / f"g{i:03d}.png")
    for i in range(bad):
        (root / f"b{i:03d}.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def test_corrupt_images_counted_logged_and_in_history(tmp_path, capsys):
    root = _folder(tmp_path / "imgs", good=30, bad=1)
    cfg = tmp_path / "f.toml"
    cfg.write_text(_image_toml(root, iterations=5, max_bad_fraction=0.05))
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "warning: 1 undecodable image(s) skipped" in cap.err  # the log line
    assert "bad images: 1 undecodable" in cap.out  # the summary
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert rows[-1]["bad_images"] == "1" and rows[0]["bad_images"] in ("0", "1")


def test_too_many_bad_images_stop_the_run(tmp_path, capsys):
    root = _folder(tmp_path / "imgs", good=20, bad=2)
    cfg = tmp_path / "f.toml"
    cfg.write_text(_image_toml(root, iterations=20, max_bad_fraction=0.0))
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    line = _line(capsys)
    assert "failed to decode, more than max_bad_fraction = 0" in line and "--set" in line


def test_all_bad_images_is_one_line(tmp_path, capsys):
    root = _folder(tmp_path / "imgs", good=0, bad=3)
    cfg = tmp_path / "f.toml"
    cfg.write_text(_image_toml(root, batch_size=2))
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "none of its 3 entries" in _line(capsys)


# ------------------------------------------------------------------------- downloads
class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support; ``cut`` bytes into a body it hangs up (once)."""

    cut: list[int] = []
    ranges: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return self.send_error(404)
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        self.ranges.append(rng or "")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.cut:
            body = body[: self.cut.pop()]  # the connection drops mid-transfer
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    _RangeHandler.cut, _RangeHandler.ranges = [], []
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(www))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _zip_db(db: Path, zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for f in sorted(db.iterdir()):
            zf.write(f, f"bedroom_train_lmdb/{f.name}")
    return zip_path.stat().st_size


def test_interrupted_download_resumes_with_a_range_request(tmp_path, server, lmdb_db):
    www, base = server
    size = _zip_db(lmdb_db, www / "bedroom_train_lmdb.zip")
    out = tmp_path / "data"
    _RangeHandler.cut = [size // 3]
    with pytest.raises(Exception, match="continue from byte"):
        download_lsun("bedroom", out, base_url=base, timeout=5)
    part = out / "bedroom_train_lmdb.zip.part"
    assert part.stat().st_size == size // 3  # kept, not deleted
    assert not (out / "bedroom_train_lmdb").exists()
    seen = []
    db = download_lsun("bedroom", out, base_url=base, progress=lambda d, t: seen.append((d, t)))
    assert _RangeHandler.ranges[-1] == f"bytes={size // 3}-"  # continued, not restarted
    assert seen[0] == (size // 3, size) and seen[-1] == (size, size)
    assert check_lmdb(db) == 60 and not list(out.glob("*.zip*")) and not list(out.glob(".*"))


def test_interrupted_extraction_is_never_reported_done(tmp_path, server, lmdb_db):
    www, base = server
    _zip_db(lmdb_db, www / "bedroom_train_lmdb.zip")
    out = tmp_path / "data"
    # a killed extraction leaves only the temporary folder: it is cleaned and redone
    left = out / ".bedroom_train_lmdb.extracting" / "bedroom_train_lmdb"
    left.mkdir(parents=True)
    (left / "data.mdb").write_bytes(b"\0" * 5000)
    db = download_lsun("bedroom", out, base_url=base)
    assert check_lmdb(db) == 60 and not left.parent.exists()
    # a partial database in place (copied by hand, or an old version's extraction): refused
    data = db / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    with pytest.raises(ValueError, match="truncated.*delete"):
        download_lsun("bedroom", out, base_url=base)


def test_category_given_twice_is_refused(tmp_path, capsys):
    assert main(["data", "lsun", "bedroom", "--category", "kitchen"]) == 2
    assert "two categories" in _line(capsys)


# ------------------------------------------------------------------------- the output folder
_HOLD = "import sys, time; from wganlib.rundir import RunLock; RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"


def test_second_run_into_a_held_folder_names_the_pid_and_a_dead_holder_is_taken_over(
    toy, tmp_path, capsys
):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)], env=_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["train", str(toy), "--out", str(out), "--quiet"]) == 2
        line = _line(capsys)
        assert f"pid {holder.pid}" in line and "in use by another run" in line
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.kill()  # kill -9: the lock file stays behind with a dead pid
        holder.wait()
    assert (out / ".lock").read_text().strip() == str(holder.pid)
    assert main(["train", str(toy), "--out", str(out), "--quiet"]) == 0
    assert (out / "checkpoint.pt").is_file() and not (out / ".lock").exists()


def test_fresh_run_refuses_another_runs_files_and_out_naming_a_file(toy, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "swd.csv").write_text("iteration,swd_mean\n1,2.0\n")
    assert main(["train", str(toy), "--out", str(out), "--quiet"]) == 2
    assert "holds another run's files (swd.csv)" in _line(capsys)
    assert (out / "swd.csv").read_text().count("\n") == 2  # untouched
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert main(["train", str(toy), "--out", str(afile), "--quiet"]) == 2
    assert "is a file, not a folder" in _line(capsys)


def test_resume_keeps_the_target_refuses_a_lower_one_and_removes_stale_temp_files(
    toy, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(["train", str(toy), "--out", str(out), "--quiet"]) == 0  # to iteration 4
    toy.write_text(TOY.replace("iterations = 4", "iterations = 50"))  # the TOML moves on
    stale = out / ".checkpoint.pt.abc123.tmp"
    stale.write_bytes(b"\0" * 1000)
    capsys.readouterr()
    assert main(["train", str(toy), "--out", str(out), "--resume", "--quiet"]) == 0
    assert "4 generator iterations" in capsys.readouterr().out and not stale.exists()
    args = ["train", str(toy), "--out", str(out), "--resume", "--quiet", "--set"]
    assert main([*args, "iterations=6"]) == 0
    assert "6 generator iterations" in capsys.readouterr().out
    assert main([*args, "iterations=5"]) == 2
    assert "below the checkpoint's iteration 6" in _line(capsys)


@pytest.mark.parametrize(
    "setting, match",
    [
        ("lr=inf", "'lr' must be a finite number"),
        ("gp_weight=nan", "'gp_weight' must be a finite number"),
        ("clip_value=nan", "'clip_value' must be a finite number"),
        ("clip_value=inf", "'clip_value' must be a finite number"),
        ("momentum=nan", "'momentum' must be a finite number"),
        ("device=cudaX", "device must be 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ("device=cuda:abc", "device must be 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ("device=mps", "MPS is not available"),
        ("max_bad_fraction=2", "max_bad_fraction must be in [0, 1]"),
    ],
)
def test_bad_values_and_devices_are_one_line(toy, tmp_path, capsys, setting, match):
    assert main(["train", str(toy), "--out", str(tmp_path / "o"), "--set", setting]) == 2
    assert match in _line(capsys)
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_blow_up_stops_like_nan_and_says_whether_a_checkpoint_exists(toy, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", str(toy), "--out", str(out), "--quiet", "--set", "max_abs_estimate=1e-12"]
    assert main([*args, "--set", "checkpoint_every=0"]) == 1
    line = _line(capsys)
    assert "exceeds max_abs_estimate = 1e-12" in line and "no checkpoint was written" in line
    assert "left untouched" not in line


def _save_bad(path: Path, kind: str, good: Path) -> None:
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickled":
        torch.save({"format": "wganlib-checkpoint", "x": Path("p")}, path)
    else:
        state = torch.load(good, weights_only=True)
        if kind == "missing":
            del state["critic"]
        else:  # wrong shapes
            state["generator"] = {k: v[..., :1] for k, v in state["generator"].items()}
        torch.save(state, path)


@pytest.mark.parametrize(
    "kind, match",
    [
        ("folder", "is a folder, not a checkpoint file"),
        ("empty", "is empty (0 bytes"),
        ("pickled", "holds pickled Python objects"),
        ("missing", "incomplete wganlib checkpoint (no critic)"),
        ("shapes", "does not fit the config it records"),
    ],
)
def test_broken_checkpoints_are_one_line(toy, tmp_path, capsys, kind, match):
    good = tmp_path / "good"
    assert main(["train", str(toy), "--out", str(good), "--quiet"]) == 0
    bad = tmp_path / "bad.pt"
    _save_bad(bad, kind, good / "checkpoint.pt")
    capsys.readouterr()
    assert main(["sample", str(bad)]) == 2
    line = _line(capsys)
    assert match in line and "weights_only=False" not in line


# ------------------------------------------------------------------------- signals and kill -9
def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.05)


@pytest.mark.parametrize(
    "sig, status, when",  # config.toml: just after set-up; checkpoint.pt: well into training
    [(signal.SIGINT, 130, "config.toml"), (signal.SIGTERM, 143, "checkpoint.pt")],
)
def test_signal_saves_a_checkpoint_at_the_end_of_the_iteration(toy, tmp_path, sig, status, when):
    from wganlib.checkpoint import load_checkpoint

    toy.write_text(TOY.replace("iterations = 4", "iterations = 100000"))
    out = tmp_path / "run"
    proc = _cli("train", str(toy), "--out", str(out), "--quiet", "--set", "checkpoint_every=20")
    _wait_for(out / when, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == status, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"stopped by {sig.name} after generator iteration ")
    it = int(last.split("iteration ")[1].split(";")[0])
    assert f"checkpoint: {out / 'checkpoint.pt'}" in last and "--resume" in last
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["iteration"] == it > 0 and len(state["history"]["values"]) == it
    assert not (out / ".lock").exists()


@pytest.mark.slow
def test_kill_9_then_resume_leaves_side_logs_without_repeats(tmp_path):
    root = _folder(tmp_path / "imgs", good=16, bad=0)
    cfg = tmp_path / "f.toml"
    cfg.write_text(
        _image_toml(root, iterations=100000, swd_every=1, swd_samples=16, checkpoint_every=3)
    )
    out = tmp_path / "run"
    proc = _cli("train", str(cfg), "--out", str(out), "--quiet")
    _wait_for(out / "checkpoint.pt", proc)
    while len((out / "swd.csv").read_text().splitlines()) < 6:  # rows past the checkpoint
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    rows = [r["iteration"] for r in csv.DictReader((out / "swd.csv").open())]
    ckpt_it = int(torch.load(out / "checkpoint.pt", weights_only=True)["iteration"])
    res = _cli("train", str(cfg), "--out", str(out), "--resume", "--quiet", "--set", "iterations=9")
    _, err = res.communicate(timeout=300)
    assert res.returncode == 0, err
    swd = [int(float(r["iteration"])) for r in csv.DictReader((out / "swd.csv").open())]
    assert swd == list(range(1, 10)), (rows, swd)  # each iteration once, in order
    hist = [int(r["iteration"]) for r in csv.DictReader((out / "history.csv").open())]
    assert hist == list(range(1, 10))
    tb = out / "tensorboard"
    if tensorboard_available():  # the killed run's TensorBoard steps past the checkpoint purged
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(tb))
        acc.Reload()
        steps = [e.step for e in acc.Scalars("critic_estimate")]
        assert steps == list(range(1, 10)), steps
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

        last = sorted(tb.glob("events.out.tfevents.*"), key=os.path.getmtime)[-1]
        events = list(EventFileLoader(str(last)).Load())
        purge = [e.step for e in events if e.HasField("session_log")]
        new = [e.step for e in events for v in e.summary.value if v.tag == "critic_estimate"]
        assert purge == [ckpt_it + 1] and new == list(range(ckpt_it + 1, 10)), (purge, new)


# ------------------------------------------------------------------------- a full disk
def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_disk_full_while_saving_is_one_line_and_leaves_no_partial_file(toy, tmp_path):
    toy.write_text(TOY.replace("width = 16", "width = 256"))  # a checkpoint of ~2 MB
    out = tmp_path / "run"
    proc = _cli("train", str(toy), "--out", str(out), "--quiet", preexec_fn=_limit_file_size)
    _, err = proc.communicate(timeout=300)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err
    assert "File too large" in lines[0] and "checkpoint" in lines[0]
    assert not (out / "checkpoint.pt").exists() and not list(out.glob(".checkpoint.pt.*"))


# ------------------------------------------------------------------------- torchrun
@pytest.mark.slow
def test_torchrun_error_is_printed_once_by_rank_0(toy, tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)], env=_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        with socket.socket() as sock:  # a free port for the rendezvous
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cmd += ["--master_port", str(port), "-m", "wganlib", "train", str(toy), "--out", str(out)]
        res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    ours = [x for x in res.stderr.splitlines() if x.startswith("error")]
    assert res.returncode != 0 and len(ours) == 1, res.stderr
    assert f"pid {holder.pid}" in ours[0]


def test_help_texts_list_keys_categories_and_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("wganlib ")
    assert main(["config", "--list"]) == 0
    assert "max_bad_fraction (float) = 0.01" in capsys.readouterr().out
    assert main(["train", "--help"]) == 0
    assert "gp_weight" in " ".join(capsys.readouterr().out.split())
    assert main(["data", "--help"]) == 0
    assert "church_outdoor" in capsys.readouterr().out
