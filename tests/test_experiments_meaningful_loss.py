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


def test_gp_official_variant_sets_its_own_sizes_and_explicit_arguments_win():
    cfg = ml.variant_config("gp-official", iterations=5, seed=2)
    assert (cfg.lipschitz, cfg.gp_weight, cfg.schedule, cfg.width, cfg.batch_size) == (
        "gp", 1.0, "official", 64, 64,
    )  # fmt: skip
    ref = ml.variant_config("wgan-gp", iterations=5, seed=2, width=64, batch_size=64,
                            gp_weight=1.0, schedule="official")  # fmt: skip
    assert {**cfg.to_dict(), "name": None} == {**ref.to_dict(), "name": None}
    assert ml.variant_config("gp-official", width=32, batch_size=16).width == 32
    assert ml.variant_config("wgan-clip").width == 128  # the others keep the old sizes


def test_summarise_reports_second_half_pearson_and_endpoints():
    rec = {"iteration": [25, 50, 75, 100, 125, 150], "w1": [3.0, 1.0, 2.0, 1.5, 1.0, 0.5],
           "estimate": [1.0, 2.0, 3.0, 1.4, 1.2, 0.3]}  # fmt: skip
    s = ml.summarise(rec, burn_in=0)
    assert s["rank_correlation_second_half"] == pytest.approx(1.0)  # checks 100, 125, 150
    assert s["rank_correlation"] < 0.9 and -1 <= s["pearson"] <= 1
    assert (s["first_w1"], s["first_estimate"], s["final_estimate"]) == (3.0, 1.0, 0.3)


def test_main_runs_the_gp_official_variant(tmp_path):
    out = tmp_path / "track.json"
    ml.main(["--variants", "gp-official", "--seeds", "1", "--iterations", "6", "--every", "2",
             "--n", "40", "--burn-in", "0", "--out", str(out)])  # fmt: skip
    data = json.loads(out.read_text())
    assert data["settings"]["variants"]["gp-official"]["width"] == 64
    summ = data["summary"]["gp-official"]
    assert data["runs"][0]["iteration"] == [2, 4, 6]
    assert summ["first_w1"] == [data["runs"][0]["w1"][0]]
    assert len(summ["rank_correlation_second_half"]) == 1 and "pearson_mean" in summ
