"""Statistics over seeds for toy sweeps (wganlib.experiments.analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wganlib.experiments import analysis


def _trace(values, metric="w1", method="m", data="d"):
    """values[member][point] at iterations 10, 20, ..."""
    return [
        {"method": method, "data": data, "member": k, "iteration": 10 * (i + 1), metric: v}
        for k, row in enumerate(values)
        for i, v in enumerate(row)
    ]


def test_trace_curve_means_intervals_and_missing_values():
    trace = _trace([[1.0, 2.0, None], [3.0, 4.0, 5.0]])
    c = analysis.trace_curve(trace, "m", "d", "w1")
    assert c["iteration"].tolist() == [10, 20, 30]
    assert c["mean"].tolist() == [2.0, 3.0, 5.0]
    half = 12.706204736 * math.sqrt(2.0) / math.sqrt(2)  # t(0.975, 1) * sd / sqrt(n)
    assert c["hi"][0] - c["mean"][0] == pytest.approx(half)
    assert np.isnan(c["runs"][0, 2])
    with pytest.raises(ValueError, match="no trace"):
        analysis.trace_curve(trace, "other", "d", "w1")


def test_phase_points_find_the_circle_before_the_bumps():
    it = np.arange(100, 1100, 100)
    ring = np.array([1.0, 0.3, 0.1, 0.05, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04])
    hq = np.array([0.0, 0.0, 0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.8, 0.8])
    p = analysis.phase_points(it, ring, hq)
    assert p == {"circle": 300, "bumps": 800}  # ring 0.1 <= 1 - 0.9 * 0.96; hq 0.8 >= 0.72
    with pytest.raises(ValueError):
        analysis.phase_points(it[:2], ring[:2], hq[:2])


def test_seed_correlations_per_member_after_a_burn_in():
    w1 = [[5, 4, 3, 2, 1], [5, 4, 3, 2, 1], [5, 4, 3, 2, 1]]
    est = [[0, 4, 3, 2, 1], [9, 1, 2, 3, 4], [0, 5, 4, 3, 2]]  # member 1 runs the other way
    trace = [{**a, **b} for a, b in zip(_trace(est, "estimate"), _trace(w1, "w1"), strict=True)]
    c = analysis.seed_correlations(trace, "m", "d", after=10)
    assert c["per_seed"] == pytest.approx([1.0, -1.0, 1.0])
    assert c["mean"] == pytest.approx(1 / 3)
    assert c["ci95"][0] < c["mean"] < c["ci95"][1]
    assert (
        analysis.seed_correlations(trace, "m", "d")["per_seed"][0] < 1.0
    )  # the first point counts


def _agg(means, half, data="d"):
    """aggregate-like records: method -> mean, with interval mean +- half."""
    return [
        {"method": m, "data": data, "hq": {"mean": v, "ci95": [v - half, v + half]}}
        for m, v in means.items()
    ]


def test_rank_agreement_same_order_and_a_reversal():
    a = _agg({"x": 0.9, "y": 0.5, "z": 0.1}, 0.05)
    same = analysis.rank_agreement(a, _agg({"x": 0.8, "y": 0.6, "z": 0.2}, 0.05), "hq", data="d")
    assert same["rho"] == pytest.approx(1.0)
    assert same["reversed"] == [] and len(same["agree"]) == 3
    flipped = analysis.rank_agreement(a, _agg({"x": 0.4, "y": 0.6, "z": 0.2}, 0.05), "hq", data="d")
    assert flipped["reversed"] == [("x", "y")]
    assert flipped["rho"] == pytest.approx(0.5)


def test_rank_agreement_counts_only_pairs_both_tables_separate():
    a = _agg({"x": 0.9, "y": 0.5}, 0.05)
    overlapping = _agg({"x": 0.4, "y": 0.5}, 0.3)  # reversed means, intervals overlap
    out = analysis.rank_agreement(a, overlapping, "hq", data="d")
    assert out["reversed"] == [] and out["agree"] == []
    assert out["pairs"][0]["sign_b"] == -1 and not out["pairs"][0]["separated_b"]
    other_data = _agg({"x": 0.9, "y": 0.5}, 0.05, data="e")
    with pytest.raises(ValueError, match="fewer than two methods"):
        analysis.rank_agreement(a, other_data, "hq", data="d")
    with pytest.raises(ValueError, match="no record for w"):
        analysis.rank_agreement(a, a, "hq", data="d", methods=["x", "w"])
