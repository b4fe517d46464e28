"""Tests for wganlib.experiments.lipschitz_sweep: curves, summaries and resuming."""

from __future__ import annotations

import json

import pytest

from wganlib.experiments import lipschitz_sweep as ex


def test_main_records_curves_per_method_and_seed_and_resumes(tmp_path):
    out = tmp_path / "l.json"
    argv = ["--steps", "20", "--every", "10", "--seeds", "0", "1", "--n-eval", "200"]
    argv += ["--methods", "clip 0.01", "LP", "--out", str(out), "--state", str(tmp_path / "l")]
    d = ex.main(argv)
    assert d["exact_w1"] > 0 and d["git_dirty"] in (True, False, None)
    assert [(r["method"], r["seed"]) for r in d["runs"]] == [
        ("clip 0.01", 0),
        ("clip 0.01", 1),
        ("LP", 0),
        ("LP", 1),
    ]
    lp = d["runs"][2]
    assert lp["steps"] == [10, 20] and len(lp["estimate"]) == 2
    assert lp["final_estimate"] == pytest.approx(lp["estimate"][-1], rel=1e-5)
    # a clipped critic at c = 0.01 is far flatter than a penalised one
    assert d["runs"][0]["lipschitz"] < 0.1 * lp["lipschitz"]
    # different seeds, different critics
    assert d["runs"][2]["estimate"] != d["runs"][3]["estimate"]
    rec = tmp_path / "l" / "LP_s1.json"
    before = rec.stat().st_mtime_ns
    assert len(ex.main(argv)["runs"]) == 4 and rec.stat().st_mtime_ns == before
    assert json.loads(out.read_text())["runs"][3]["seed"] == 1
    assert d["seconds_all_runs"] == pytest.approx(sum(r["seconds"] for r in d["runs"]))
    assert d["machine"]["cpus"] >= 1 and d["command"].startswith("python -m wganlib.experiments")


def test_records_of_other_code_or_settings_are_refused(tmp_path):
    argv = ["--steps", "10", "--every", "10", "--seeds", "0", "--n-eval", "100"]
    argv += ["--methods", "SN", "--out", str(tmp_path / "o.json"), "--state", str(tmp_path / "s")]
    ex.main(argv)
    rec = tmp_path / "s" / "SN_s0.json"
    with pytest.raises(SystemExit, match="another --state folder"):
        ex.main([*argv[:1], "20", *argv[2:]])  # other --steps: not mixed into one file
    d = json.loads(rec.read_text())
    rec.write_text(json.dumps({**d, "git_commit": "0" * 40}))
    with pytest.raises(SystemExit, match="made by commit 0000"):
        ex.main(argv)
