from __future__ import annotations

import json
import math

import pytest

from wganlib.experiments import meaningful_loss as ml


def test_variant_config_and_errors():
    cfg = ml.variant_config("clip-ncritic-1", iterations=7, seed=3)
    assert (cfg.n_critic, cfg.schedule, cfg.lipschitz, cfg.iterations, cfg.seed) == (
        1, "constant", "clip", 7, 3,
    )  # fmt: skip
    assert ml.variant_config("gan").objective == "gan"
    with pytest.raises(ValueError, match="unknown variant"):
        ml.variant_config("wgan-lol")


def test_summarise_uses_points_after_burn_in():
    rec = {"iteration": [50, 100, 150, 200, 250], "w1": [9.0, 1.0, 0.8, 0.6, 0.4],
           "estimate": [-5.0, 3.0, 2.0, 1.5, 1.0]}  # fmt: skip
    s = ml.summarise(rec, burn_in=50)
    assert s["rank_correlation"] == pytest.approx(1.0)
    assert s["final_w1"] == 0.4
    assert ml.summarise(rec, burn_in=0)["rank_correlation"] < 1.0
    assert math.isnan(ml.summarise(rec, burn_in=200)["rank_correlation"])


def test_main_writes_a_results_file(tmp_path):
    out = tmp_path / "ml.json"
    res = ml.main(["--variants", "wgan-clip", "gan", "--seeds", "1", "--iterations", "4",
                   "--every", "2", "--n", "40", "--burn-in", "0", "--out", str(out)])  # fmt: skip
    data = json.loads(out.read_text())
    assert data["command"].startswith("python -m wganlib.experiments.meaningful_loss")
    assert "date" in data and "commit" in data
    assert [r["variant"] for r in data["runs"]] == ["wgan-clip", "gan"]
    assert data["runs"][0]["iteration"] == [2, 4] and len(data["runs"][0]["w1"]) == 2
    assert all(w > 0 for w in data["runs"][1]["w1"])
    assert set(data["summary"]) == {"wgan-clip", "gan"}
    assert res["summary"]["gan"]["final_w1"] == [data["runs"][1]["w1"][-1]]


def test_track_runs_extra_callbacks_and_reports_cpu_time():
    from wganlib.history import Callback

    seen = []
    cfg = ml.variant_config("wgan-clip", iterations=4, width=16, batch_size=32)
    rec = ml.track(cfg, every=2, n=30, callbacks=[Callback(1, lambda run, it: seen.append(it))])
    assert seen == [1, 2, 3, 4]
    assert rec["iteration"] == [2, 4] and not rec["diverged"] and rec["cpu_seconds"] > 0
    assert rec["run"].iteration == 4
