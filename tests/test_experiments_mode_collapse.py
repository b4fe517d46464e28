from __future__ import annotations

import json
import math

import pytest
import torch

from wganlib import toy
from wganlib.experiments import mode_collapse as mc


def test_aggregate_mean_standard_error_and_missing_values():
    rows = [
        {"method": "a", "data": "d", "modes": 8, "w1": 0.1, "reverse_kl": None},
        {"method": "a", "data": "d", "modes": 6, "w1": 0.3, "reverse_kl": 0.5},
        {"method": "a", "data": "d", "modes": 7, "w1": 0.2, "reverse_kl": 0.1},
        {"method": "b", "data": "d", "modes": 1, "w1": 1.0, "reverse_kl": 2.0},
    ]
    agg = mc.aggregate(rows, ["modes", "w1", "reverse_kl", "high_quality"])
    assert [(r["method"], r["runs"]) for r in agg] == [("a", 3), ("b", 1)]
    a = agg[0]
    assert a["modes"]["mean"] == pytest.approx(7.0)
    assert a["modes"]["se"] == pytest.approx(1.0 / math.sqrt(3))  # std (ddof=1) = 1
    assert a["w1"]["se"] == pytest.approx(0.1 / math.sqrt(3))
    assert a["reverse_kl"] == {"mean": pytest.approx(0.3), "se": pytest.approx(0.2),  # std 0.2 * sqrt(2), over sqrt(2)
                               "n": 2, "missing": 1,
                                   "ci95": [pytest.approx(0.3 - 12.706205 * 0.2),
                                            pytest.approx(0.3 + 12.706205 * 0.2)]}  # fmt: skip
    assert a["high_quality"] is None  # not measured at all
    assert agg[1]["modes"]["se"] is None  # one run: no standard error


def test_ring_error_is_small_on_the_target_and_large_off_it():
    centres = toy.centers("8gaussians")
    assert mc.ring_error(centres) == pytest.approx(0.0, abs=1e-6)
    x = toy.sample("8gaussians", 4000, generator=torch.Generator().manual_seed(0))
    sigma = toy.mode_std("8gaussians")
    assert mc.ring_error(x) == pytest.approx(sigma * math.sqrt(2 / math.pi), rel=0.15)
    assert mc.ring_error(torch.zeros(10, 2)) == pytest.approx(float(centres.norm(dim=1)[0]))
    with pytest.raises(ValueError, match="shape"):
        mc.ring_error(torch.zeros(10, 3))


def test_evaluate_target_samples_versus_a_collapsed_generator():
    g = torch.Generator().manual_seed(1)
    good = mc.evaluate(toy.sample("8gaussians", 600, generator=g), "8gaussians", n_w1=300)
    assert good["modes"] == 8 and good["high_quality"] > 0.97 and good["reverse_kl"] < 0.05
    one_mode = toy.centers("8gaussians")[0] + 0.001 * torch.randn(600, 2, generator=g)
    bad = mc.evaluate(one_mode, "8gaussians", n_w1=300)
    assert bad["modes"] == 1 and bad["reverse_kl"] == pytest.approx(math.log(8))
    assert bad["w1"] > 5 * good["w1"]
    roll = mc.evaluate(toy.sample("swissroll", 300, generator=g), "swissroll", n_w1=300)
    assert roll["modes"] is None and roll["w1"] > 0
    with pytest.raises(ValueError, match="n_w1"):
        mc.evaluate(one_mode[:10], "8gaussians", n_w1=300)


def test_method_config_uses_the_papers_settings():
    cfg = mc.method_config("wgan-clip", "25gaussians", iterations=10, members=3)
    assert (cfg.objective, cfg.lipschitz, cfg.n_critic, cfg.members) == ("wgan", "clip", 5, 3)
    assert mc.method_config("gan", "8gaussians", iterations=10).n_critic == 1
    with pytest.raises(ValueError, match="unknown method"):
        mc.method_config("wgan-xx", "8gaussians", iterations=10)


def test_tiny_grid_end_to_end(tmp_path):
    out = tmp_path / "res.json"
    args = ["--methods", "wgan-gp", "--datasets", "8gaussians", "--seeds", "2", "--no-extra",
            "--iterations", "4", "--width", "8", "--batch-size", "16", "--n-eval", "200",
            "--n-w1", "100", "--every", "2", "--state", str(tmp_path / "state"),
            "--out", str(out)]  # fmt: skip
    res = mc.main(args)
    saved = json.loads(out.read_text())
    assert saved["command"].endswith(" ".join(args))
    assert saved["date"] and "git_commit" in saved and "git_dirty" in saved
    assert saved["settings"]["seeds"] == 2 and saved["cells"][0]["config"]["members"] == 2
    assert [(r["method"], r["member"]) for r in saved["runs"]] == [("wgan-gp", 0), ("wgan-gp", 1)]
    assert saved["runs"][0] != saved["runs"][1]  # two different runs, not one copied
    agg = saved["aggregate"][0]
    assert agg["runs"] == 2 and agg["w1"]["n"] == 2 and agg["w1"]["se"] is not None
    assert agg["iterations"] == 4
    lo, hi = agg["w1"]["ci95"]
    assert lo < agg["w1"]["mean"] < hi
    assert {r["iteration"] for r in saved["trace"]} == {2, 4}
    assert all(isinstance(r["estimate"], float) for r in saved["trace"])
    assert res["w1_floor"]["8gaussians"]["mean"] > 0
    grid = saved["final"]["wgan-gp__8gaussians"]["critic_grid"]
    assert len(grid["values"]) == 64 and len(grid["values"][0]) == 64


def test_converged_compares_the_last_fifth_with_the_one_before():
    flat = [{"iteration": i, "w1": 0.1, "high_quality": 0.8} for i in range(100, 1001, 100)]
    assert mc.converged(flat)["converged"] is True
    falling = [{"iteration": i, "w1": 1.0 / i, "high_quality": 0.8} for i in range(100, 1001, 100)]
    verdict = mc.converged(falling)
    assert verdict["converged"] is False and verdict["w1"]["change"] < 0
    rising_hq = [
        {"iteration": i, "w1": 0.1, "high_quality": i / 1000} for i in range(100, 1001, 100)
    ]
    assert mc.converged(rising_hq)["converged"] is False
    assert mc.converged([{"iteration": 5, "w1": 0.1}])["converged"] is None


def test_member_estimates_follow_the_objective():
    from wganlib.experiments.toy_measures import member_estimates
    from wganlib.train import Run

    run = Run(mc.method_config("gan", "8gaussians", iterations=1, members=2, width=8))
    est = member_estimates(run, 200)
    assert len(est) == 2 and all(e <= math.log(2) + 1e-6 for e in est)  # JS lower bound
    run = Run(mc.method_config("wgan-sn", "8gaussians", iterations=1, members=2, width=8))
    u = [b.clone() for b in run.critic.buffers()]
    member_estimates(run, 200)
    assert all(
        torch.equal(a, b) for a, b in zip(u, run.critic.buffers(), strict=True)
    )  # no power step
