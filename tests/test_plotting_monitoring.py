from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from wganlib.plotting import plot_estimate_and_w1, plot_step_cosine  # noqa: E402


def test_plot_estimate_and_w1_draws_both_curves():
    ax, twin = plot_estimate_and_w1([50, 100, 150], [0.6, 0.68, 0.7], [1.0, 0.5, 0.3],
                                    hline=math.log(2), title="GAN")  # fmt: skip
    assert len(ax.lines) == 2 and len(twin.lines) == 1  # estimate + log 2 line; W1
    assert list(twin.lines[0].get_ydata()) == [1.0, 0.5, 0.3]
    assert ax.get_title() == "GAN"
    plt.close("all")


def test_plot_step_cosine_has_zero_line():
    ax = plot_step_cosine([0, 1, 2], [0.5, -0.2, 0.1], label="Adam")
    assert list(ax.lines[0].get_ydata()) == [0.5, -0.2, 0.1]
    assert list(ax.lines[1].get_ydata()) == [0.0, 0.0]
    plt.close("all")
