"""Tests for the chapter 7-8 helpers of wganlib.plotting (weights, layer gradients, classes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wganlib import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_weight_histogram_draws_bounds():
    values = np.concatenate([np.full(50, 0.01), np.full(50, -0.01), np.linspace(-0.01, 0.01, 20)])
    ax = plotting.plot_weight_histogram(values, c=0.01, bins=10)
    assert sum(p.get_height() for p in ax.patches) == len(values)
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [-0.01, 0.01]


def test_plot_layer_grad_norms_log_scale():
    ax = plotting.plot_layer_grad_norms({"c=0.01": [1e-3, 1e-2, 1e-1], "gp": [1.0, 2.0, 3.0]})
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])


def test_plot_class_histogram_fractions():
    ax = plotting.plot_class_histogram([10, 0, 30] + [0] * 7, title="gan")
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 10
    np.testing.assert_allclose(heights[:3], [0.25, 0.0, 0.75])
    assert ax.get_title() == "gan"


def test_plot_norm_boxes_one_box_per_label():
    ax = plotting.plot_norm_boxes({"gp": np.ones(20), "clip": np.full(20, 1e-5)})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["gp", "clip"]
    assert ax.get_yscale() == "log"


def test_plot_image_grey_and_rgb():
    ax = plotting.plot_image(np.zeros((5, 7)), title="grid")
    assert ax.images[0].get_array().shape == (5, 7) and ax.get_title() == "grid"
    ax = plotting.plot_image(np.ones((4, 4, 3)))
    assert ax.images[0].get_array().shape == (4, 4, 3)
