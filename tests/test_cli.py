"""Tests for the command line (python -m wganlib)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from wganlib.cli import main

TINY = """
name = "tiny"
data = "8gaussians"
width = 16
depth = 2
batch_size = 32
iterations = 4
log_every = 2
checkpoint_every = 2
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


def test_train_writes_outputs_and_resume_continues(config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 0
    stdout = capsys.readouterr().out
    for name in ("checkpoint.pt", "history.csv", "samples.png", "config.toml"):
        assert (out / name).is_file()
        assert name in stdout
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 4
    # resume with more iterations: continues from 4
    args = ["train", str(config), "--out", str(out), "--resume", "--set", "iterations=6", "--quiet"]
    assert main(args) == 0
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 and rows[-1].startswith("6,")
    assert torch.load(out / "checkpoint.pt", weights_only=True)["iteration"] == 6
    # without --resume an existing run is not overwritten
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 2
    assert "--resume" in _one_error_line(capsys)


def test_sample_formats(config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 0
    ckpt = out / "checkpoint.pt"
    assert main(["sample", str(ckpt), "--n", "50", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    assert main(["sample", str(ckpt), "--n", "7", "--out", str(tmp_path / "s.pt")]) == 0
    assert torch.load(tmp_path / "s.pt", weights_only=True).shape == (7, 2)
    assert main(["sample", str(ckpt), "--n", "100"]) == 0
    assert (out / "checkpoint_samples.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["sample", str(ckpt), "--out", str(tmp_path / "s.txt")]) == 2
    assert ".png, .npy or .pt" in _one_error_line(capsys)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--set", "bach_size=3"], "did you mean 'batch_size'"),
        (["--set", "batch_size=three"], "must be int"),
        (["--set", "lipschitz=magic"], "unknown lipschitz 'magic'"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(config, tmp_path, capsys, extra, match):
    assert main(["train", str(config), "--out", str(tmp_path / "o"), *extra]) == 2
    assert match in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_missing_files_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in _one_error_line(capsys)
    assert main(["sample", str(tmp_path / "nope.pt")]) == 2
    assert "checkpoint not found" in _one_error_line(capsys)
    (tmp_path / "x.toml").write_text(TINY)
    assert main(["train", str(tmp_path / "x.toml"), "--out", str(tmp_path), "--resume"]) == 2
    assert "no checkpoint" in _one_error_line(capsys)


def test_nan_exits_1_and_keeps_checkpoint(tmp_path, capsys):
    path = tmp_path / "nan.toml"
    path.write_text(TINY)
    sets = ["lipschitz=none", "optimizer=sgd", "lr=1e30", "iterations=40"]
    args = ["train", str(path), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(args + [x for s in sets for x in ("--set", s)]) == 1
    assert "training stopped" in _one_error_line(capsys)
    assert (tmp_path / "o" / "history.csv").is_file()


def test_python_dash_m_entry_point(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "wganlib", "train", str(tmp_path / "missing.toml")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: config file not found: {tmp_path / 'missing.toml'}"
    ]
