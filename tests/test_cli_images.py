"""The command line on a tiny LSUN-format database: train, logs, grids, SWD, resume."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from wganlib.cli import main
from wganlib.images import digits_dataset
from wganlib.lsun import write_lsun_lmdb

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lmdb_path(tmp_path_factory) -> Path:
    images = digits_dataset(image_size=16, nc=3).images[:48]
    return write_lsun_lmdb(tmp_path_factory.mktemp("lsun") / "digits_lmdb", list(images))


def _args(db: Path, out: Path, *extra: str) -> list[str]:
    sets = {
        "data_root": str(db), "device": "cpu", "image_size": 16, "ngf": 4, "ndf": 4,
        "batch_size": 8, "schedule": "constant", "n_critic": 2, "num_workers": 0,
        "iterations": 4, "log_every": 1, "sample_every": 2, "swd_every": 4, "swd_samples": 16,
    }  # fmt: skip
    args = ["train", str(ROOT / "configs" / "lsun_dcgan_wgan_clip.toml"), "--out", str(out)]
    args += ["--quiet"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    for e in extra:
        args += ["--set", e]
    return args


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_train_on_lsun_lmdb_writes_logs_grids_and_swd(lmdb_path, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(lmdb_path, out)) == 0
    hist = _rows(out / "history.csv")
    assert [int(float(r["iteration"])) for r in hist] == [1, 2, 3, 4]
    assert all(float(r["images_per_sec"]) > 0 for r in hist)
    grids = sorted(p.name for p in (out / "samples").glob("*.png"))
    assert grids == ["samples_0000002.png", "samples_0000004.png"]
    swd = _rows(out / "swd.csv")
    assert len(swd) == 1 and float(swd[0]["swd_mean"]) > 0 and swd[0]["iteration"] == "4.0"
    assert (out / "checkpoint.pt").is_file() and "trained" in capsys.readouterr().out
    # resume to 6 iterations: the history continues, the grids go on from the same noise
    assert main(_args(lmdb_path, out, "iterations=6") + ["--resume"]) == 0
    assert len(_rows(out / "history.csv")) == 6
    assert (out / "samples" / "samples_0000006.png").is_file()


def test_bf16_on_the_command_line(lmdb_path, tmp_path):
    out = tmp_path / "bf16"
    assert main(_args(lmdb_path, out, "amp=bf16", "channels_last=true", "swd_every=0")) == 0
    est = [float(r["critic_estimate"]) for r in _rows(out / "history.csv")]
    assert len(est) == 4 and all(torch.isfinite(torch.tensor(est)))


def test_data_command_rejects_an_unknown_category_without_network(capsys):
    assert main(["data", "lsun", "bedrooms", "--out", "unused"]) == 2
    assert "bedroom" in capsys.readouterr().err


def test_data_command_takes_the_category_as_an_option(capsys):
    assert main(["data", "lsun", "--category", "bedrooms", "--out", "unused"]) == 2
    assert "bedroom" in capsys.readouterr().err
    assert main(["data", "lsun", "--out", "unused"]) == 2
    assert "category" in capsys.readouterr().err
