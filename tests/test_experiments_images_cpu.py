"""Tests for wganlib.experiments.images_cpu: configs, metrics and a tiny end-to-end run."""

from __future__ import annotations

import json

import pytest
import torch

from wganlib.experiments import images_cpu as ex
from wganlib.image_metrics import train_digit_classifier
from wganlib.images import digits_dataset
from wganlib.models import DCGANGenerator


def test_make_config_matches_the_paper_setups():
    s = ex.ImageSettings()
    w = ex.make_config("dcgan", "wgan", s)
    assert (w.objective, w.lipschitz, w.n_critic, w.critic) == ("wgan", "clip", 5, "dcgan")
    g = ex.make_config("dcgan_nobn_const", "gan", s)
    assert g.constant_filters and g.g_batch_norm is False and g.lipschitz == "none"
    assert ex.make_config("mlp", "gan", s).generator == "mlp_image"
    with pytest.raises(ValueError, match="unknown generator"):
        ex.make_config("resnet", "wgan", s)
    with pytest.raises(ValueError, match="unknown objective"):
        ex.make_config("dcgan", "lsgan", s)


def test_constant_filters_generator_is_much_smaller():
    kw = {"image_size": 16, "nz": 32, "ngf": 16, "nc": 1}
    full = DCGANGenerator(**kw)
    weak = DCGANGenerator(**kw, constant_filters=True, batch_norm=False)
    n = [sum(p.numel() for p in m.parameters()) for m in (full, weak)]
    assert n[1] < 0.6 * n[0]


@pytest.fixture(scope="module")
def classifier():
    return train_digit_classifier(16, epochs=3, seed=0).classifier


def test_evaluate_real_digits_beat_noise(classifier):
    real = digits_dataset(16).images
    good = ex.evaluate(real[:300], real[300:], classifier)
    noise = torch.rand(300, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = ex.evaluate(noise, real[300:], classifier)
    assert good["classes"] == 10 and len(good["histogram"]) == 10
    assert good["swd"] < bad["swd"]
    assert good["reverse_kl"] < 0.2


def test_run_one_records_evaluations(classifier):
    s = ex.ImageSettings(iterations=4, eval_every=2, n_eval=64, mlp_width=32)
    rec = ex.run_one("mlp", "gan", s, classifier, keep_run=True)
    assert [e["iteration"] for e in rec["evals"]] == [2, 4]
    assert len(rec["estimate"]) == 4 and rec["run"].iteration == 4
    assert sum(rec["evals"][-1]["histogram"]) == 64


def test_main_writes_one_record_per_run_and_resumes(tmp_path):
    out = tmp_path / "r.json"
    argv = ["--iterations", "2", "--eval-every", "2", "--generators", "dcgan_nobn_const"]
    argv += ["--objectives", "wgan", "--seeds", "0", "1", "--classifier-epochs", "1"]
    argv += ["--grid", "4", "--out", str(out)]
    ex.main(argv)
    d = json.loads(out.read_text())
    assert {"command", "git_commit", "git_dirty", "date", "machine", "settings", "real"} <= set(d)
    assert d["command"].endswith(" ".join(argv))
    assert [(r["generator"], r["objective"], r["seed"]) for r in d["runs"]] == [
        ("dcgan_nobn_const", "wgan", 0),
        ("dcgan_nobn_const", "wgan", 1),
    ]
    assert all((tmp_path / r["grid"]).stat().st_size > 0 for r in d["runs"])
    e = d["runs"][0]["evals"][-1]
    assert sum(e["confident_histogram"]) <= sum(e["histogram"]) == 1000
    # a rerun skips finished runs: their records are not rewritten
    rec = ex.run_file(tmp_path / "r", "dcgan_nobn_const", "wgan", 1)
    before = rec.stat().st_mtime_ns
    rec0 = ex.run_file(tmp_path / "r", "dcgan_nobn_const", "wgan", 0)
    rec0.unlink()
    ex.main(argv)
    assert rec.stat().st_mtime_ns == before and rec0.exists()
    assert len(json.loads(out.read_text())["runs"]) == 2
    # a finished record of other settings is refused, not merged into one table
    with pytest.raises(SystemExit, match="other settings or code"):
        ex.main([*argv[:1], "4", *argv[2:]])
    # and so is one made by other code
    d0 = json.loads(rec0.read_text())
    rec0.write_text(json.dumps({**d0, "git_commit": "0" * 40}))
    with pytest.raises(SystemExit, match="made by commit 0000"):
        ex.main(argv)
