"""Tests for wganlib.metrics: mode coverage on hand-made samples, W1, rank correlation, medians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wganlib import toy
from wganlib.metrics import mode_coverage, rank_correlation, running_median, w1_to_target

C8, S8 = toy.centers("8gaussians"), toy.mode_std("8gaussians")


def test_target_samples_cover_all_modes():
    x = toy.sample("8gaussians", 2500, generator=torch.Generator().manual_seed(0))
    cov = mode_coverage(x, C8, S8)
    assert cov.modes == 8
    assert cov.high_quality > 0.98  # 3 std in 2-D holds ~98.9% of a Gaussian's mass
    assert 0 <= cov.reverse_kl < 0.01
    assert sum(cov.counts) == round(cov.high_quality * 2500)


def test_one_mode_collapse():
    x = C8[3] + S8 * torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    cov = mode_coverage(x, C8, S8)
    assert cov.modes == 1
    assert cov.counts[3] == sum(cov.counts)
    assert cov.reverse_kl == pytest.approx(math.log(8))  # all mass on one of 8 modes


def test_hand_made_histogram_reverse_kl():
    # 3 samples exactly on mode 0, 1 on mode 1, 4 garbage points far away
    x = torch.cat([C8[[0, 0, 0, 1]], torch.full((4, 2), 10.0)])
    cov = mode_coverage(x, C8, S8)
    assert cov.modes == 2 and cov.high_quality == 0.5
    expected = 0.75 * math.log(8 * 0.75) + 0.25 * math.log(8 * 0.25)
    assert cov.reverse_kl == pytest.approx(expected)


def test_garbage_far_away_has_no_high_quality_samples():
    cov = mode_coverage(np.full((100, 2), 5.0), C8, S8)
    assert cov.modes == 0 and cov.high_quality == 0.0 and math.isinf(cov.reverse_kl)


def test_threshold_is_in_units_of_std():
    x = C8[:1] + torch.tensor([[2.9 * S8, 0.0], [3.1 * S8, 0.0]]).reshape(2, 2)
    assert mode_coverage(x, C8, S8).high_quality == 0.5
    assert mode_coverage(x, C8, S8, threshold=4.0).high_quality == 1.0


def test_bad_shapes():
    with pytest.raises(ValueError, match="dimension"):
        mode_coverage(torch.zeros(3, 1), C8, S8)


def test_w1_to_target_shift():
    g = torch.Generator().manual_seed(0)
    y = toy.sample("25gaussians", 200, generator=g)
    assert w1_to_target(y + torch.tensor([0.3, 0.4]), y) == pytest.approx(0.5, abs=1e-6)


def test_rank_correlation():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert rank_correlation(torch.tensor([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1)
    with pytest.raises(ValueError):
        rank_correlation([1, 2], [1, 2, 3])


def test_running_median_removes_spikes_and_keeps_length():
    v = np.ones(50)
    v[[10, 30]] = 100.0
    m = running_median(v, 5)
    assert m.shape == v.shape and np.all(m == 1.0)
    assert running_median([3.0, 1.0, 2.0], 3).tolist() == [2.0, 2.0, 1.5]
