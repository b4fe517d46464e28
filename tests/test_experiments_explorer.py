"""Tests for wganlib.experiments.explorer: the grid, the frames, packing and unpacking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wganlib.config import optimizer_settings
from wganlib.experiments import explorer as ex


def test_grid_covers_methods_clip_values_optimisers_and_learning_rates():
    vs = ex.variants()
    assert len(vs) == len({v.key for v in vs}) == 22
    clip = [v for v in vs if v.method == "wgan-clip"]
    assert {(v.clip, v.optimizer) for v in clip} == {
        (c, o) for c in (0.001, 0.01, 0.1) for o in ("rmsprop", "adam")
    }
    for v in vs:  # each optimiser's default learning rate and ten times it
        family = "gan" if v.method in ("gan", "nsgan") else "wgan"
        ratio = v.lr / ex.DEFAULT_LR[family, v.optimizer]
        assert ratio == pytest.approx(1) or ratio == pytest.approx(10), v
    cfg = ex.config(
        next(v for v in clip if v.optimizer == "rmsprop" and v.clip == 0.1), "swissroll"
    )
    assert (cfg.clip_value, cfg.n_critic, optimizer_settings(cfg)["name"]) == (0.1, 5, "rmsprop")
    gp = ex.config(ex.Variant("wgan-gp", "adam", 1e-3), "8gaussians")
    assert (gp.lipschitz, gp.gp_weight, optimizer_settings(gp)["lr"]) == ("gp", 0.1, 1e-3)
    with pytest.raises(ValueError, match="unknown variant"):
        ex.cells(only=["wgan-xx"])


def test_command_records_frames_and_pack_round_trips(tmp_path):
    keys = ["wgan-gp_adam_lr0.0001", "gan_adam_lr0.0002"]
    out = tmp_path / "e.json"
    argv = ["--only", *keys, "--datasets", "8gaussians", "--iterations", "30"]
    argv += ["--state", str(tmp_path / "s"), "--out", str(out)]
    d = ex.main(argv)
    assert json.loads(out.read_text())["command"].startswith(
        "python -m wganlib.experiments.explorer"
    )
    arrays = np.load(out.with_suffix(".npz"))
    s = d["settings"]
    assert arrays["samples"].shape == (2, 3, ex.N_SHOWN, 2)
    assert arrays["critic"].shape == (2, 3, ex.GRID, ex.GRID) and arrays["critic"].dtype == np.uint8
    assert arrays["gradient"].shape == (2, 3, ex.ARROWS, ex.ARROWS, 2)
    for row in d["runs"]:
        assert row["frames"] == [10, 20, 30] and len(row["w1"]) == len(row["modes"]) == 3
        assert all(w > 0 for w in row["w1"])
    # a frame comes back within the quantisation step of what the sweep recorded
    trace = json.loads((tmp_path / "s" / f"{keys[1]}__8gaussians" / "result.json").read_text())
    rec = trace["trace"][-1]
    i = [r["key"] for r in d["runs"]].index(f"{keys[1]}__8gaussians")
    frame = ex.unpack(d, arrays, i, 2)
    step = 2 * s["sample_range"] / 255
    xs = np.asarray(rec["samples"])
    inside = (np.abs(xs) <= s["sample_range"]).all(axis=1)  # the rest is clipped to the edge
    assert np.abs(frame["samples"] - xs)[inside].max() <= step / 2 + 1e-9
    assert d["runs"][i]["outside"][2] == pytest.approx(1 - inside.mean())
    f = np.asarray(rec["critic"])
    assert np.abs(frame["critic"] - f).max() <= (f.max() - f.min()) / 255 / 2 + 1e-9
    g = np.asarray(rec["gradient"])
    assert np.abs(frame["gradient"] - g).max() <= np.linalg.norm(g, axis=-1).max() / 127
    # the GAN's discriminator and the WGAN-GP critic differ; so do their gradient fields
    assert not np.array_equal(arrays["critic"][0, 2], arrays["critic"][1, 2])
