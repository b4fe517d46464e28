"""Tests for wganlib.distances: the parallel-lines closed forms and exact W1 between samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wganlib.distances import exact_w1, parallel_lines, w1_1d

# ----------------------------------------------------------------------------- parallel_lines


def test_parallel_lines_at_zero_all_vanish():
    assert parallel_lines(0.0) == {"w1": 0.0, "js": 0.0, "kl": 0.0, "tv": 0.0}
    assert parallel_lines(-0.0)["kl"] == 0.0


@pytest.mark.parametrize("theta", [1e-9, 0.3, 1.0, 50.0])
def test_parallel_lines_positive(theta):
    d = parallel_lines(theta)
    assert d["w1"] == pytest.approx(theta)
    assert d["js"] == pytest.approx(math.log(2))
    assert math.isinf(d["kl"]) and d["kl"] > 0
    assert d["tv"] == 1.0
    assert all(isinstance(v, float) for v in d.values())


@pytest.mark.parametrize("theta", [-1e-9, -0.3, -2.5])
def test_parallel_lines_negative_is_symmetric(theta):
    assert parallel_lines(theta) == parallel_lines(-theta)
    assert parallel_lines(theta)["w1"] == pytest.approx(abs(theta))


def test_parallel_lines_arrays_keep_shape():
    theta = np.array([[-1.0, 0.0], [0.5, 2.0]])
    d = parallel_lines(theta)
    for v in d.values():
        assert isinstance(v, np.ndarray) and v.shape == theta.shape
    np.testing.assert_allclose(d["w1"], np.abs(theta))
    np.testing.assert_allclose(d["js"], [[math.log(2), 0.0], [math.log(2), math.log(2)]])
    np.testing.assert_array_equal(d["kl"], [[np.inf, 0.0], [np.inf, np.inf]])
    np.testing.assert_array_equal(d["tv"], [[1.0, 0.0], [1.0, 1.0]])


def test_parallel_lines_accepts_tensors_and_lists():
    d = parallel_lines(torch.tensor([0.0, -0.25]))
    np.testing.assert_allclose(d["w1"], [0.0, 0.25])
    np.testing.assert_allclose(parallel_lines([0.0, 3.0])["tv"], [0.0, 1.0])


def test_only_w_is_continuous_at_zero():
    """The point of Example 1: a tiny theta moves W a tiny bit and the others all the way."""
    at_zero, near = parallel_lines(0.0), parallel_lines(1e-12)
    assert abs(near["w1"] - at_zero["w1"]) < 1e-11
    for key in ("js", "kl", "tv"):
        assert near[key] - at_zero[key] > 0.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), [0.0, float("nan")]])
def test_parallel_lines_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="finite"):
        parallel_lines(bad)


def test_parallel_lines_rejects_non_numeric():
    with pytest.raises(ValueError, match="numeric"):
        parallel_lines("left")
    for bad in ("0.5", True, [True, False], torch.tensor([True]), None):  # numpy would convert
        with pytest.raises(ValueError, match="numeric"):
            parallel_lines(bad)


# ----------------------------------------------------------------------------- exact_w1


def _lines(n, theta, gen):
    z = torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.stack([torch.full_like(z, theta), z], dim=1)


def test_exact_w1_on_parallel_lines_is_close_to_theta_and_never_below():
    gen = torch.Generator().manual_seed(0)
    for theta in [0.0, 0.3, -0.8]:
        est = exact_w1(_lines(400, 0.0, gen), _lines(400, theta, gen))
        # every pair of points is at least |theta| apart: the estimate cannot undershoot
        assert est >= abs(theta) - 1e-9
        assert est - abs(theta) < 0.06


def test_exact_w1_parallel_lines_error_shrinks_with_n():
    errors = []
    for n in (16, 512):
        errs = []
        for seed in range(4):
            gen = torch.Generator().manual_seed(seed)
            errs.append(exact_w1(_lines(n, 0.0, gen), _lines(n, 0.5, gen)) - 0.5)
        errors.append(np.mean(errs))
    assert errors[1] < 0.5 * errors[0]


def test_exact_w1_common_noise_gives_theta_exactly():
    gen = torch.Generator().manual_seed(1)
    z = torch.rand(50, generator=gen, dtype=torch.float64)
    x = torch.stack([torch.zeros_like(z), z], 1)
    y = torch.stack([torch.full_like(z, -0.7), z], 1)
    assert exact_w1(x, y) == pytest.approx(0.7, abs=1e-9)


def test_exact_w1_translation_equals_shift_norm():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 3))
    v = np.array([0.3, -1.2, 0.4])
    assert exact_w1(x, x + v) == pytest.approx(np.linalg.norm(v), rel=1e-9)


def test_exact_w1_known_small_cases():
    # one point against two: the mass splits in half
    assert exact_w1([[0.0, 0.0]], [[3.0, 4.0], [0.0, 1.0]]) == pytest.approx(3.0)
    # identical samples, in a different order
    x = np.array([[0.0, 1.0], [2.0, 2.0], [5.0, -1.0]])
    assert exact_w1(x, x[::-1]) == pytest.approx(0.0, abs=1e-12)
    # unequal sizes on the line: {0, 1} vs {0, 0, 1}: move 1/6 of mass a distance 1
    assert exact_w1([0.0, 1.0], [0.0, 0.0, 1.0]) == pytest.approx(1 / 6)
    # symmetric
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(7, 2)), rng.normal(size=(11, 2)) + 1
    assert exact_w1(a, b) == pytest.approx(exact_w1(b, a))


def test_exact_w1_matches_1d_formula_with_unequal_sizes():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=37), rng.exponential(size=23)
    assert exact_w1(x, y) == pytest.approx(w1_1d(x, y), rel=1e-9)
    assert exact_w1(x[:, None], y[:, None]) == pytest.approx(w1_1d(x, y), rel=1e-9)


def test_exact_w1_accepts_float32_tensors():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(30, 2, generator=gen)
    assert isinstance(exact_w1(x, x + 1.0), float)
    assert exact_w1(x, x + 1.0) == pytest.approx(math.sqrt(2), rel=1e-5)


def test_exact_w1_says_when_the_solver_stops_early():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(60, 2))
    with pytest.raises(RuntimeError, match="num_iter_max"):
        exact_w1(x, y, num_iter_max=1)


def test_w1_1d_equal_sizes_is_mean_gap_of_sorted_samples():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=100), rng.normal(loc=0.5, size=100)
    expected = np.mean(np.abs(np.sort(x) - np.sort(y)))
    assert w1_1d(x, y) == pytest.approx(expected, rel=1e-12)
    assert w1_1d(torch.tensor(x), torch.tensor(y)) == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((4, 2)), np.zeros((4, 3)), "same dimension"),
        (np.zeros((0, 2)), np.zeros((4, 2)), "x is empty"),
        (np.zeros((4, 2)), np.zeros((0, 2)), "y is empty"),
        (np.array([[0.0, np.nan]]), np.zeros((4, 2)), "NaN"),
        (np.zeros((4, 2)), np.array([[np.inf, 0.0]]), "NaN or infinite"),
        (np.zeros((2, 2, 2)), np.zeros((4, 2)), "shape"),
        ([["a", "b"]], np.zeros((4, 2)), "numeric"),
    ],
)
def test_exact_w1_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        exact_w1(x, y)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((4, 2)), np.zeros(4), "on the line"),
        (np.zeros(0), np.zeros(4), "empty"),
        (np.array([np.nan, 1.0]), np.zeros(4), "NaN"),
    ],
)
def test_w1_1d_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        w1_1d(x, y)
