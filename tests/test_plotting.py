"""Tests for wganlib.plotting: each function returns its axes and draws something."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from wganlib import plotting, toy  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- toys, critics, curves
def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_plot_samples_kde_hist_and_1d():
    target = toy.sample("8gaussians", 500, generator=_gen(0))
    fake = 0.5 * torch.randn(300, 2, generator=_gen(1))
    ax = plotting.plot_samples(fake, target, centers=toy.centers("8gaussians"))
    assert len(ax.collections) >= 4  # target, KDE contours, samples, centres
    assert ax.get_aspect() == 1.0
    ax = plotting.plot_samples(fake.numpy(), density="hist", lim=2.0)
    assert ax.get_xlim() == (-2.0, 2.0) and len(ax.collections) >= 2
    ax = plotting.plot_samples(torch.randn(200, 1), torch.randn(200) + 3)
    assert len(ax.lines) == 1 and len(ax.collections) == 1
    with pytest.raises(ValueError, match="density"):
        plotting.plot_samples(fake, density="violin")


def test_critic_on_grid_values_and_gradients():
    lin = nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.0, -1.0]]))
        lin.bias.zero_()
    xs, ys, values, grads = plotting.critic_on_grid(lin, lim=1.0, resolution=16)
    assert values.shape == (16, 16) and grads.shape == (16, 16, 2)
    assert np.allclose(values[3, 5], 2 * xs[5] - ys[3], atol=1e-6)  # rows are y, columns are x
    assert np.allclose(grads, [2.0, -1.0])


def test_plot_critic_draws_contours_arrows_and_samples():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    fig, ax = plt.subplots()
    out = plotting.plot_critic(
        critic,
        ax=ax,
        lim=1.5,
        resolution=32,
        real=torch.randn(50, 2),
        fake=torch.randn(50, 2),
        colorbar=True,
    )
    assert out is ax
    kinds = {type(c).__name__ for c in ax.collections}
    assert "Quiver" in kinds and "PathCollection" in kinds
    assert len(ax.collections) >= 4
    assert len(fig.axes) == 2  # the colour bar


def test_plot_critic_1d_with_a_discriminator_transform():
    lin = nn.Linear(1, 1)
    ax = plotting.plot_critic_1d(
        lin, real=torch.randn(100) - 2, fake=torch.randn(100) + 2, transform=torch.sigmoid
    )
    (line,) = ax.lines
    assert line.get_ydata().min() >= 0 and line.get_ydata().max() <= 1
    assert len(ax.collections) == 2


def test_plot_history_raw_and_median():
    rng = np.random.default_rng(0)
    history = {"step": np.arange(200), "estimate": np.linspace(1, 0, 200) + rng.normal(0, 0.2, 200)}
    ax = plotting.plot_history(history, "estimate", x="step", window=21)
    assert len(ax.lines) == 2
    smooth = ax.lines[0].get_ydata()
    raw = ax.lines[1].get_ydata()
    assert np.abs(np.diff(smooth)).mean() < np.abs(np.diff(raw)).mean() / 3
    ax = plotting.plot_history({"a": [1, 2, 3], "b": [3, 2, 1]}, raw=False, window=1)
    assert len(ax.lines) == 2 and ax.get_xlabel() == "iteration"


def test_image_grid_layout_and_range():
    images = torch.linspace(-1, 1, 5)[:, None, None, None].expand(5, 1, 4, 4)
    grid = plotting.image_grid(images, nrow=3, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert grid.min() == 0.0 and grid.max() == 1.0
    assert np.allclose(grid[1:5, 1:5], 0.0) and np.allclose(grid[6:10, 6:10], 1.0)  # 1st, 5th
    ax = plotting.plot_image_grid(torch.rand(6, 3, 8, 8) * 2 - 1, nrow=3)
    assert len(ax.images) == 1
    with pytest.raises(ValueError, match="shape"):
        plotting.image_grid(torch.zeros(2, 2, 8, 8))


def test_plot_samples_survives_a_collapsed_generator():
    point = torch.zeros(100, 2)  # every sample on one point: no KDE, but still a plot
    ax = plotting.plot_samples(point, toy.sample("8gaussians", 100, generator=_gen(0)))
    assert len(ax.collections) == 2
    ax = plotting.plot_samples(torch.zeros(50, 1), torch.randn(50))
    assert len(ax.lines) == 1


def test_plot_theta_paths_and_input_gradients():
    from wganlib.thetafit import ThetaPath

    path = ThetaPath(
        "wgan", np.array([1.0, 0.5, 0.0]), np.array([1.0, -1e-3]), np.array([1.0, 0.5])
    )
    ax = plotting.plot_theta_paths([path], key="grad")
    assert ax.get_yscale() == "log"
    assert np.allclose(ax.lines[0].get_ydata(), [1.0, 1e-3])  # magnitudes
    ax = plotting.plot_theta_paths([path])
    assert ax.lines[0].get_label() == "WGAN critic" and len(ax.lines) == 2  # + the target line
    ax = plotting.plot_input_gradients_1d(
        {"slope 2": lambda x: 2 * x[:, 0], "tanh": lambda x: torch.tanh(x[:, 0])},
        lim=(-1, 1), n=11, fake=torch.zeros(3, 1), colors={"tanh": "red"},
    )  # fmt: skip
    assert np.allclose(ax.lines[0].get_ydata(), 2.0)
    assert ax.lines[1].get_color() == "red" and ax.lines[1].get_ydata()[5] == pytest.approx(1.0)
    plt.close("all")
