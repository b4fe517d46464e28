"""The GPU check's whole path on the CPU (``--device cpu --quick``): data, runs, sweep, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wganlib.experiments import gpu_check


def test_photo_crops_are_real_64x64_photographs():
    crops, names = gpu_check.photo_crops(6, seed=1)
    assert any("grace_hopper" in n for n in names)
    assert len(crops) == 6 and all(c.shape == (64, 64, 3) and c.dtype == np.uint8 for c in crops)
    assert min(float(c.std()) for c in crops) > 5  # not blank: texture of a photograph


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_on_the_cpu(tmp_path):
    argv = ["--device", "cpu", "--quick", "--out", str(tmp_path), "--iterations", "2"]
    res = gpu_check.main(argv + ["--commit", "abc123"])
    env = res["environment"]
    assert env["git_commit"] == "abc123" and env["torch"] and env["date"] and env["command"]
    assert env["command"].endswith(" ".join(argv + ["--commit", "abc123"]))
    runs = {(r["config"], r["variant"]): r for r in res["lsun_runs"]}
    assert set(c for c, _ in runs) == set(gpu_check.LSUN_CONFIGS)
    assert set(v for c, v in runs if c == "lsun_dcgan_wgan_gp") == set(gpu_check.VARIANTS)
    measured = [r for r in runs.values() if "images_per_sec" in r]
    assert len(measured) >= len(runs) - 2, [r.get("error") for r in runs.values()]
    for r in measured:
        assert r["images_per_sec"] > 0 and r["tflops_per_sec"] > 0 and r["finite"]
    assert "compile" in runs[("lsun_dcgan_wgan_gp", "bf16_channels_last_compile")]["skipped"]
    assert res["data"]["images"] == 64
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["environment"] == env
    toy = json.loads((tmp_path / "toy_sweep.json").read_text())
    assert toy["runs"] and toy["runs"][0]["aggregate"]
