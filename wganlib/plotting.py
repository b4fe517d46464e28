"""Plotting helpers for the book: the only wganlib module that imports matplotlib.

Every function takes ``ax=None`` (a new figure is made when it is None) and returns the axes,
so that chapters compose figures without global plotting state.
"""

from __future__ import annotations

import matplotlib.pyplot as plt


def _axes(ax=None, figsize=(4.0, 4.0)):
    """Return ``ax`` or a fresh axes of the given size."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


# ----------------------------------------------------------------------------- chapter 1
# The parallel lines P_0 = law(0, Z) and P_theta = law(theta, Z), Z ~ U[0, 1], and their distances.

_P0_COLOR = "#1f77b4"
_PTHETA_COLOR = "#d62728"
#: key -> (label, colour) of the four distances of the parallel-lines example
DISTANCE_STYLE = {
    "w1": ("W", "#2ca02c"),
    "js": ("JS", "#9467bd"),
    "kl": ("KL", "#ff7f0e"),
    "tv": ("TV", "#555555"),
}


def plot_parallel_lines(theta: float, ax=None, *, n_arrows: int = 5, xlim: float = 1.2):
    r"""Draw :math:`P_0` (the segment :math:`\{0\} \times [0, 1]`) and :math:`P_\theta`.

    Dashed arrows show the optimal transport plan: every point moves horizontally by
    :math:`\theta`, so the transport cost is :math:`|\theta|`.
    """
    ax = _axes(ax)
    theta = float(theta)
    ax.plot([0, 0], [0, 1], color=_P0_COLOR, lw=6, solid_capstyle="butt", label=r"$P_0$")
    ax.plot(
        [theta, theta],
        [0, 1],
        color=_PTHETA_COLOR,
        lw=6 if theta != 0 else 2.5,
        ls="-" if theta != 0 else (0, (2, 2)),
        solid_capstyle="butt",
        label=r"$P_\theta$",
    )
    if theta != 0:
        for k in range(n_arrows):
            y = (k + 0.5) / n_arrows
            ax.annotate(
                "",
                xy=(theta, y),
                xytext=(0, y),
                arrowprops={"arrowstyle": "->", "color": "0.4", "ls": "--", "lw": 1},
            )
    ax.set_xlim(-xlim, xlim)
    ax.set_ylim(-0.1, 1.25)
    ax.set_xlabel("first coordinate")
    ax.set_ylabel("second coordinate (Z)")
    ax.set_title(rf"$P_0$ and $P_\theta$, $\theta = {theta:+.3f}$")
    ax.legend(loc="upper left", ncols=2, fontsize="small", frameon=False)
    return ax


def plot_parallel_lines_distances(
    theta: float | None = None,
    ax=None,
    *,
    which: tuple[str, ...] = ("w1", "js", "kl", "tv"),
    theta_max: float = 1.0,
    kl_ceiling: float = 1.2,
    legend: bool = True,
):
    r"""The distances between :math:`P_0` and :math:`P_\theta` as functions of :math:`\theta`.

    W is :math:`|\theta|`; JS, KL and TV jump at :math:`\theta = 0` (filled dot: the value at 0,
    open circles: the limits). KL is :math:`+\infty` off zero and is drawn at ``kl_ceiling``
    with an arrow. If ``theta`` is given, the current point is marked on each curve.
    """
    import numpy as np

    from wganlib.distances import parallel_lines

    ax = _axes(ax, figsize=(4.0, 3.0))
    grid = np.linspace(-theta_max, theta_max, 401)
    values = parallel_lines(grid)
    for key in which:
        label, color = DISTANCE_STYLE[key]
        if key == "w1":
            ax.plot(grid, values["w1"], color=color, lw=2, label=label)
            continue
        off = kl_ceiling if key == "kl" else float(parallel_lines(1.0)[key])
        for side in (grid < 0, grid > 0):
            ax.plot(grid[side], np.full(side.sum(), off), color=color, lw=2, label=label)
            label = None
        ax.plot([0], [off], "o", mfc="white", color=color, ms=6, zorder=3)
        ax.plot([0], [0], "o", color=color, ms=6, zorder=3)
    if theta is not None:
        from matplotlib.transforms import offset_copy

        ax.axvline(theta, color="0.3", lw=1, ls=":")
        here = parallel_lines(float(theta))
        ys = {key: min(here[key], kl_ceiling) for key in which}
        for key in which:
            # markers at (nearly) the same height are spread sideways (9 points apart, centred
            # on theta), so that all of them stay visible, e.g. the four zeros at theta = 0
            same = [k for k in which if abs(ys[k] - ys[key]) < 0.04]
            dx = 9.0 * (same.index(key) - (len(same) - 1) / 2)
            shift = offset_copy(ax.transData, fig=ax.figure, x=dx, y=0.0, units="points")
            ax.plot([theta], [ys[key]], "o", color=DISTANCE_STYLE[key][1], ms=8, mec="black",
                    zorder=4, transform=shift)  # fmt: skip
    ax.set_xlim(-theta_max, theta_max)
    ax.set_ylim(-0.08, kl_ceiling + 0.12)
    ax.set_xticks(np.linspace(-theta_max, theta_max, 5))  # five readable ticks
    if "kl" in which:  # KL is drawn at the ceiling: say so on the axis
        ticks = [t for t in (0.0, 0.5, 1.0) if t < kl_ceiling - 0.1]
        ax.set_yticks([*ticks, kl_ceiling], [f"{t:g}" for t in ticks] + [r"$+\infty$"])
    ax.set_xlabel(r"$\theta$")
    if legend:
        ax.legend(loc="lower left", fontsize="small", frameon=False, ncols=2)
    return ax


def parallel_lines_figure(theta: float, *, figsize=(8.0, 3.2)):
    """A two-panel figure (the lines; the four distances) made without pyplot.

    It uses :class:`matplotlib.figure.Figure` directly, so no global figure registry keeps it
    alive: the slider renders dozens of these frames without leaking memory.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    left, right = fig.subplots(1, 2, width_ratios=(1.0, 1.25))
    # a fixed layout: twice as fast to draw as a constrained one, for the same picture
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.18)
    plot_parallel_lines(theta, ax=left)
    plot_parallel_lines_distances(theta, ax=right)
    right.set_title(r"distances between $P_0$ and $P_\theta$")
    return fig


def figure_png(fig, *, dpi: int = 80, colors: int | None = None) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    With ``colors``, the image is reduced to a palette of that many colours (a few times
    smaller, which matters for the dozens of frames a slider embeds in a page).
    """
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if colors is None:
        return buf.getvalue()
    from PIL import Image  # a dependency of matplotlib

    buf.seek(0)
    with Image.open(buf) as img:
        small = img.convert("RGB").quantize(
            colors=int(colors), method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
    out = io.BytesIO()
    small.save(out, format="PNG")
    return out.getvalue()


def plot_w1_estimates(thetas, estimates: dict, ax=None):
    r"""Sample estimates of :math:`W(P_0, P_\theta)` against the truth :math:`|\theta|`.

    ``estimates`` maps a sample size ``n`` to an array of estimates, one per ``theta`` (or an
    array of shape ``(seeds, len(thetas))``, drawn as mean and min-max band).
    """
    import numpy as np

    ax = _axes(ax, figsize=(4.5, 3.5))
    thetas = np.asarray(thetas, dtype=float)
    ax.plot(thetas, np.abs(thetas), color="black", lw=2, label=r"$|\theta|$ (exact)")
    for n, est in sorted(estimates.items()):
        est = np.atleast_2d(np.asarray(est, dtype=float))
        (line,) = ax.plot(thetas, est.mean(axis=0), "o-", ms=4, lw=1.2, label=f"n = {n}")
        if est.shape[0] > 1:
            ax.fill_between(
                thetas, est.min(axis=0), est.max(axis=0), color=line.get_color(), alpha=0.2
            )
    ax.set_xlabel(r"$\theta$")
    ax.set_ylabel(r"$W_1$ between $n$ samples of each")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_error_vs_n(ns, errors, ax=None, *, slope: float | None = None):
    """Log-log plot of an estimation error against the sample size, with an optional fitted slope."""
    import numpy as np

    ax = _axes(ax, figsize=(4.0, 3.5))
    ns = np.asarray(ns, dtype=float)
    errors = np.asarray(errors, dtype=float)
    ax.loglog(ns, errors, "o-", color="#1f77b4", label="measured")
    if slope is not None:
        ref = errors[0] * (ns / ns[0]) ** slope
        ax.loglog(ns, ref, "--", color="0.4", label=f"slope {slope:.2f}")
    ax.set_xlabel("n (samples per distribution)")
    ax.set_ylabel("error")
    ax.legend(fontsize="small", frameon=False)
    return ax


# ----------------------------------------------------------------------------- toys, critics, curves
# Samples over a target, a critic's landscape with its gradient field, training curves, image grids.
# Inputs are plain tensors / arrays (a ``history`` is a mapping column -> sequence), never a Run.

_REAL_COLOR = "#1f77b4"
_FAKE_COLOR = "#d62728"


def _numpy(x):
    """A float numpy array from a tensor (any device, with or without grad) or an array-like."""
    import numpy as np

    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _limits(lim):
    """``lim`` as ((x0, x1), (y0, y1)): a float L means the square [-L, L]^2."""
    if isinstance(lim, (int, float)):
        return (-float(lim), float(lim)), (-float(lim), float(lim))
    (x0, x1), (y0, y1) = lim
    return (float(x0), float(x1)), (float(y0), float(y1))


def _kde_grid(points, xlim, ylim, resolution, max_points=2000, seed=0, bandwidth=None):
    """Gaussian KDE of 2-D ``points`` on a grid (at most ``max_points`` points, for speed);
    ``bandwidth`` is scipy's ``bw_method`` (a factor of the sample covariance, or a rule)."""
    import numpy as np
    from scipy.stats import gaussian_kde

    if len(points) > max_points:
        keep = np.random.default_rng(seed).choice(len(points), max_points, replace=False)
        points = points[keep]
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    gx, gy = np.meshgrid(xs, ys)
    kde = gaussian_kde(points.T, bw_method=bandwidth)
    dens = kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    return xs, ys, dens


def plot_samples(
    samples,
    target=None,
    ax=None,
    *,
    density: str | None = "kde",
    lim=None,
    resolution: int = 100,
    centers=None,
    max_points: int = 2000,
    bandwidth=0.1,
    title: str | None = None,
):
    """Generated ``samples`` (orange points, with their density) over ``target`` samples (grey).

    2-D inputs ``(n, 2)``: the density of the samples is a filled contour of a Gaussian KDE
    (``density="kde"``, ``bandwidth`` as scipy's ``bw_method``: the default 0.1 keeps separate
    modes apart where Scott's rule would blur them), a 2-D histogram (``"hist"``) or nothing (``None``); ``centers`` (k, 2)
    are marked with crosses. 1-D inputs ``(n,)`` or ``(n, 1)``: KDE curves of both.
    ``lim`` is a half-width L (the square [-L, L]^2) or ((x0, x1), (y0, y1)); by default it
    fits the target (or the samples).
    """
    import numpy as np

    x = _numpy(samples)
    t = None if target is None else _numpy(target)
    if x.ndim == 1 or x.shape[1] == 1:
        return _plot_samples_1d(x.reshape(-1), None if t is None else t.reshape(-1), ax, lim, title)
    ax = _axes(ax)
    if lim is None:
        ref = t if t is not None else x
        lo, hi = np.quantile(ref, 0.001, axis=0), np.quantile(ref, 0.999, axis=0)
        pad = 0.15 * (hi - lo).max() + 1e-3
        xlim, ylim = (lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad)
    else:
        xlim, ylim = _limits(lim)
    if density not in ("kde", "hist", None):
        raise ValueError(f"density must be 'kde', 'hist' or None, got {density!r}")
    spread = len(x) > 2 and np.linalg.matrix_rank(np.cov(x[:max_points].T)) == 2
    if density == "kde" and spread:  # (a KDE needs samples that are not all on a line)
        xs, ys, dens = _kde_grid(x, xlim, ylim, resolution, max_points, bandwidth=bandwidth)
        if dens.max() > 0:
            levels = np.linspace(0.02, 1.0, 11) * dens.max()  # below 2% of the peak: blank
            ax.contourf(xs, ys, dens, levels=levels, cmap="Oranges", alpha=0.7)
    elif density == "hist":
        ax.hist2d(x[:, 0], x[:, 1], bins=resolution, range=[xlim, ylim], cmap="Oranges", cmin=1)
    if t is not None:
        ax.scatter(
            t[:max_points, 0], t[:max_points, 1], s=3, c="0.45", alpha=0.6, lw=0, label="target"
        )
    ax.scatter(x[:max_points, 0], x[:max_points, 1], s=4, c="#ff7f0e", lw=0, label="generated")
    if centers is not None:
        c = _numpy(centers)
        ax.scatter(c[:, 0], c[:, 1], marker="x", c="black", s=30, lw=1, label="modes")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def _plot_samples_1d(x, t, ax, lim, title):
    import numpy as np
    from scipy.stats import gaussian_kde

    ax = _axes(ax, figsize=(5.0, 3.0))
    ref = np.concatenate([x] if t is None else [x, t])
    if lim is None:
        pad = 0.15 * (ref.max() - ref.min()) + 1e-3
        lo, hi = ref.min() - pad, ref.max() + pad
    else:
        lo, hi = (-float(lim), float(lim)) if isinstance(lim, (int, float)) else lim
    grid = np.linspace(lo, hi, 400)
    if t is not None:
        ax.fill_between(grid, gaussian_kde(t)(grid), color="0.6", alpha=0.5, label="target")
    if np.ptp(x) > 0:
        ax.plot(grid, gaussian_kde(x)(grid), color="#ff7f0e", lw=2, label="generated")
    else:  # all samples on one point (collapse): a KDE is undefined, mark the point
        ax.axvline(x[0], color="#ff7f0e", lw=2, label="generated (one point)")
    ax.set_xlim(lo, hi)
    ax.set_ylabel("density")
    ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return ax


def critic_on_grid(critic, lim=2.0, resolution: int = 128):
    r"""Evaluate a 2-D critic and its gradient on a ``resolution`` x ``resolution`` grid.

    Returns ``(xs, ys, values, grads)`` as numpy arrays: ``values[i, j] = f(xs[j], ys[i])``,
    ``grads`` of shape ``(resolution, resolution, 2)`` holds :math:`\nabla f`. The critic runs
    on the device of its parameters, in its current train/eval mode.
    """
    import numpy as np
    import torch

    (x0, x1), (y0, y1) = _limits(lim)
    params = list(critic.parameters()) if hasattr(critic, "parameters") else []
    device = params[0].device if params else torch.device("cpu")
    xs = torch.linspace(x0, x1, resolution, device=device)
    ys = torch.linspace(y0, y1, resolution, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).requires_grad_(True)
    with torch.enable_grad():
        values = critic(pts).reshape(-1)
        (grads,) = torch.autograd.grad(values.sum(), pts)
    shape = (resolution, resolution)
    return (
        xs.cpu().numpy(),
        ys.cpu().numpy(),
        values.detach().cpu().numpy().reshape(shape),
        grads.cpu().numpy().reshape(*shape, 2).astype(np.float64),
    )


def plot_critic(
    critic,
    ax=None,
    *,
    lim=2.0,
    resolution: int = 128,
    real=None,
    fake=None,
    quiver_every: int = 8,
    levels: int = 20,
    colorbar: bool = False,
    max_points: int = 500,
):
    r"""A 2-D critic :math:`f` as a filled contour map with its gradient field (arrows).

    The arrows point along :math:`\nabla f`: where a fake sample sits, the generator moves it
    that way (it minimises :math:`-f(g(z))`), as GAN Lab shows it. ``real`` and ``fake`` samples
    are drawn on top if given. The grid is ``resolution`` x ``resolution`` (128 as in the
    WGAN-GP toy code); one arrow every ``quiver_every`` grid points.
    """
    xs, ys, values, grads = critic_on_grid(critic, lim, resolution)
    return plot_critic_values(
        xs, ys, values, ax, grads=grads, real=real, fake=fake, quiver_every=quiver_every,
        levels=levels, colorbar=colorbar, max_points=max_points,
    )  # fmt: skip


def plot_critic_values(
    xs,
    ys,
    values,
    ax=None,
    *,
    grads=None,
    real=None,
    fake=None,
    quiver_every: int = 8,
    levels: int = 20,
    colorbar: bool = False,
    max_points: int = 500,
    title: str | None = None,
):
    r"""A critic given by its values on a grid (``values[i, j] = f(xs[j], ys[i])``), as
    :func:`plot_critic` draws it; without ``grads`` the arrows are :math:`\nabla f` by central
    differences (:func:`numpy.gradient`), divided by their largest norm (the field's shape is
    what the arrows show; the colours give the scale of :math:`f`).
    """
    import numpy as np

    ax = _axes(ax)
    xs, ys, values = np.asarray(xs), np.asarray(ys), np.asarray(values, dtype=float)
    if values.shape != (len(ys), len(xs)):
        raise ValueError(f"values must have shape (len(ys), len(xs)), got {values.shape}")
    if grads is None:
        gy, gx = np.gradient(values, ys, xs)
        norm = np.hypot(gx, gy).max() or 1.0
        grads = np.stack([gx / norm, gy / norm], axis=-1)
    filled = ax.contourf(xs, ys, values, levels=levels, cmap="RdBu_r")
    if quiver_every:
        k = max(1, int(quiver_every))
        sl = (slice(k // 2, None, k), slice(k // 2, None, k))
        ax.quiver(
            xs[sl[1]], ys[sl[0]], grads[..., 0][sl], grads[..., 1][sl], color="0.15", alpha=0.7
        )
    if real is not None:
        r = _numpy(real)[:max_points]
        ax.scatter(r[:, 0], r[:, 1], s=5, c="black", lw=0, label="real")
    if fake is not None:
        f = _numpy(fake)[:max_points]
        ax.scatter(f[:, 0], f[:, 1], s=5, c="#ff7f0e", lw=0, label="generated")
    if colorbar:
        ax.figure.colorbar(filled, ax=ax, shrink=0.8, label="critic value")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_critic_1d(
    critic,
    ax=None,
    *,
    lim=(-5.0, 5.0),
    real=None,
    fake=None,
    transform=None,
    label: str = "critic",
    n: int = 400,
    color: str = "#2ca02c",
):
    """A 1-D critic's values over ``lim`` (a half-width or (lo, hi)), with the densities of
    ``real`` and ``fake`` samples. ``transform`` maps the raw scores first (e.g.
    ``torch.sigmoid`` to draw a GAN discriminator's probability :math:`D(x)`)."""
    import numpy as np
    import torch

    ax = _axes(ax, figsize=(5.0, 3.0))
    lo, hi = (-float(lim), float(lim)) if isinstance(lim, (int, float)) else lim
    params = list(critic.parameters()) if hasattr(critic, "parameters") else []
    device = params[0].device if params else torch.device("cpu")
    grid = torch.linspace(lo, hi, n, device=device)[:, None]
    with torch.no_grad():
        out = critic(grid).reshape(-1)
        if transform is not None:
            out = transform(out)
    ax.plot(grid.cpu().numpy().ravel(), out.cpu().numpy(), color=color, lw=2, label=label)
    xs = np.linspace(lo, hi, n)
    for samples, name, col in ((real, "real", _REAL_COLOR), (fake, "fake", _FAKE_COLOR)):
        if samples is not None:
            from scipy.stats import gaussian_kde

            ax.fill_between(
                xs, gaussian_kde(_numpy(samples).ravel())(xs), color=col, alpha=0.3, label=name
            )
    ax.set_xlim(lo, hi)
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_history(
    history,
    keys=None,
    ax=None,
    *,
    x: str | None = None,
    window: int = 101,
    raw: bool = True,
    labels: dict | None = None,
):
    """Training curves from ``history`` (a mapping column -> sequence): raw values faint, and
    a centred running median over ``window`` points on top (the paper's curves are shown through
    a median filter). ``keys`` are the columns to draw (default: all but ``x``); ``x`` names the
    column for the horizontal axis (default: the row index)."""
    import numpy as np

    from wganlib.metrics import running_median

    ax = _axes(ax, figsize=(5.0, 3.2))
    if keys is None:
        keys = [k for k in history if k != x]
    elif isinstance(keys, str):
        keys = [keys]
    labels = labels or {}
    for key in keys:
        y = np.asarray(history[key], dtype=float)
        xs = np.asarray(history[x], dtype=float) if x is not None else np.arange(len(y))
        label = labels.get(key, key)
        (line,) = ax.plot(xs, running_median(y, window), lw=1.8, label=label)
        if raw:
            ax.plot(xs, y, color=line.get_color(), lw=0.6, alpha=0.3)
    ax.set_xlabel(x or "iteration")
    ax.legend(fontsize="small", frameon=False)
    return ax


def image_grid(images, nrow: int = 8, padding: int = 2, pad_value: float = 1.0):
    """Tile images ``(B, C, H, W)`` with values in [-1, 1] into one ``(rows, cols, 3)`` array in
    [0, 1] (a grey image for ``C = 1``), ``nrow`` images per row, ``padding`` pixels apart."""
    import numpy as np

    x = _numpy(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (B, C, H, W) with C = 1 or 3, got {x.shape}")
    x = np.clip((x + 1.0) / 2.0, 0.0, 1.0)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    b, _, h, w = x.shape
    ncol = min(nrow, b)
    nrows = -(-b // ncol)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, 3), pad_value)
    for i in range(b):
        r, c = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = x[i].transpose(1, 2, 0)
    return grid


def plot_image_grid(images, ax=None, *, nrow: int = 8, padding: int = 2, title: str | None = None):
    """Show images ``(B, C, H, W)`` in [-1, 1] as one grid (see :func:`image_grid`)."""
    grid = image_grid(images, nrow=nrow, padding=padding)
    ax = _axes(ax, figsize=(5.0, 5.0 * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------- chapters 7-8
# Critic diagnostics (wganlib.diagnostics) and digit-class histograms (wganlib.image_metrics).


def plot_weight_histogram(values, ax=None, *, c: float | None = None, bins: int = 60, label=None):
    """Histogram of a critic's weights (e.g. :func:`wganlib.diagnostics.weight_values`), with
    dashed lines at the clipping bound :math:`\\pm c` when ``c`` is given."""
    import numpy as np

    ax = _axes(ax, figsize=(4.0, 3.0))
    v = np.asarray(_numpy(values), dtype=float).ravel()
    ax.hist(v, bins=bins, color="#1f77b4", alpha=0.8, label=label)
    if c is not None:
        for s in (-c, c):
            ax.axvline(s, color="#d62728", ls="--", lw=1)
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    return ax


def plot_layer_grad_norms(norms: dict, ax=None):
    """Per-layer gradient norms on a log scale: ``norms`` maps a label to a sequence of norms,
    input layer first (e.g. the values of :func:`wganlib.diagnostics.layer_grad_norms`)."""
    ax = _axes(ax, figsize=(4.5, 3.2))
    for label, values in norms.items():
        v = [float(x) for x in values]
        ax.plot(range(1, len(v) + 1), v, marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("layer (input first)")
    ax.set_ylabel(r"$\|\partial \mathcal{L} / \partial W_\ell\|$")
    ax.legend(fontsize="small")
    return ax


def plot_class_histogram(histogram, ax=None, *, title: str | None = None, color="#1f77b4"):
    """Bar chart of a digit-class histogram (counts per class 0-9), as fractions of the total."""
    import numpy as np

    ax = _axes(ax, figsize=(3.0, 2.4))
    h = np.asarray(_numpy(histogram), dtype=float)
    ax.bar(np.arange(len(h)), h / max(h.sum(), 1.0), color=color)
    ax.axhline(1.0 / len(h), color="0.4", ls="--", lw=1)
    ax.set_xticks(np.arange(len(h)))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("fraction")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


# ----------------------------------------------------------------------------- chapters 4 and 6
def plot_estimate_and_w1(
    iterations, estimate, w1, ax=None, *, title: str | None = None,
    estimate_label: str = r"critic's estimate ($-\mathrm{Loss}_D$)", hline: float | None = None,
):  # fmt: skip
    """The critic's estimate (left axis, blue) and the exact W1 of the samples (right axis,
    black dashes) against the generator iteration; ``hline`` draws a reference level (e.g.
    log 2) on the estimate's axis. Returns ``(ax, twin_ax)``."""
    import numpy as np

    ax = _axes(ax, figsize=(4.5, 3.2))
    it = np.asarray(iterations, dtype=float)
    ax.plot(it, np.asarray(estimate, dtype=float), color="#1f77b4", marker=".", lw=1.5)
    ax.set_xlabel("generator iteration")
    ax.set_ylabel(estimate_label, color="#1f77b4")
    if hline is not None:
        ax.axhline(hline, color="#1f77b4", ls=":", lw=1)
    twin = ax.twinx()
    twin.plot(it, np.asarray(w1, dtype=float), color="black", ls="--", marker=".", lw=1.2)
    twin.set_ylabel("exact $W_1$ (POT)")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax, twin


def plot_step_cosine(steps, cosines, ax=None, *, label: str | None = None, color=None):
    """Step-gradient cosines (:mod:`wganlib.monitoring`) against the step, with the zero line:
    points below it are steps that went uphill."""
    import numpy as np

    ax = _axes(ax, figsize=(5.0, 3.0))
    ax.plot(np.asarray(steps), np.asarray(cosines, dtype=float), ".", ms=2, alpha=0.6,
            label=label, color=color)  # fmt: skip
    ax.axhline(0.0, color="0.3", lw=1)
    ax.set_xlabel("critic step")
    ax.set_ylabel("cos(step, gradient)")
    if label:
        ax.legend(fontsize="small", frameon=False, markerscale=4)
    return ax


# ----------------------------------------------------------------------------- chapters 2-3
# Gradient descent on theta (wganlib.thetafit) and gradient magnitudes of 1-D critics.

#: method -> (label, colour) for the theta-descent runs of wganlib.thetafit
THETA_METHOD_STYLE = {
    "pot": ("exact $W_1$ (POT)", "#2ca02c"),
    "wgan": ("WGAN critic", "#1f77b4"),
    "gan": ("GAN discriminator (JS)", "#9467bd"),
    "nsgan": (r"GAN, $-\log D$ loss", "#ff7f0e"),
}


def plot_theta_paths(paths, ax=None, *, key: str = "theta"):
    r"""Runs of :func:`wganlib.thetafit.descend_theta` against the step.

    ``paths`` is a sequence of :class:`~wganlib.thetafit.ThetaPath`; ``key`` is ``"theta"``
    (:math:`\theta_t`, with the target 0 dashed), ``"grad"`` (:math:`|\partial_\theta \hat d|`
    on a log scale) or ``"estimate"``.
    """
    import numpy as np

    ax = _axes(ax, figsize=(4.5, 3.2))
    for path in paths:
        label, color = THETA_METHOD_STYLE.get(path.method, (path.method, None))
        values = np.asarray(getattr(path, key), dtype=float)
        if key == "grad":
            values = np.abs(values)
        ax.plot(np.arange(values.size), values, ".-", ms=4, lw=1.3, color=color, label=label)
    ax.set_xlabel("gradient step $t$")
    if key == "theta":
        ax.axhline(0.0, color="0.3", ls="--", lw=1)
        ax.set_ylabel(r"$\theta_t$")
    elif key == "grad":
        ax.set_yscale("log")
        ax.set_ylabel(r"$|\partial_\theta \hat d(\theta_t)|$")
    else:
        ax.set_ylabel("distance estimate")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_input_gradients_1d(
    functions: dict,
    ax=None,
    *,
    lim=(-5.0, 5.0),
    n: int = 400,
    real=None,
    fake=None,
    colors: dict | None = None,
):
    r"""Magnitude :math:`|\partial_x h(x)|` of 1-D functions over ``lim``, on a log scale.

    ``functions`` maps a label to a callable ``(n, 1) tensor -> (n,) tensor`` (a critic, or
    ``lambda x: torch.sigmoid(disc(x))`` for a discriminator's probability). ``real``/``fake``
    samples are marked as rugs at the bottom; ``colors`` optionally maps labels to colours.
    """
    import torch

    ax = _axes(ax, figsize=(5.0, 3.0))
    lo, hi = (-float(lim), float(lim)) if isinstance(lim, (int, float)) else lim
    grid = torch.linspace(lo, hi, n)[:, None].requires_grad_(True)
    for label, fn in functions.items():
        with torch.enable_grad():
            (g,) = torch.autograd.grad(fn(grid).sum(), grid)
        color = (colors or {}).get(label)
        x, mag = grid.detach().numpy().ravel(), g.abs().numpy().ravel()
        ax.semilogy(x, mag, lw=2, label=label, color=color)
    for samples, name, col in ((real, "real", _REAL_COLOR), (fake, "fake", _FAKE_COLOR)):
        if samples is not None:
            s = _numpy(samples).ravel()
            ax.plot(s, [0.02] * s.size, "|", color=col, ms=8, alpha=0.4, label=name,
                    transform=ax.get_xaxis_transform())  # fmt: skip
    ax.set_xlim(lo, hi)
    ax.set_xlabel("$x$")
    ax.set_ylabel("gradient magnitude")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_norm_boxes(norms: dict, ax=None, *, reference: float | None = 1.0, log: bool = True):
    """Box plots of gradient norms, one box per label (e.g. the values of
    :func:`wganlib.diagnostics.interpolate_grad_norms` per method), with a dashed line at
    ``reference`` (1: the norm a 1-Lipschitz critic may not exceed)."""
    import numpy as np

    ax = _axes(ax, figsize=(5.0, 3.2))
    data = [np.asarray(_numpy(v), dtype=float).ravel() for v in norms.values()]
    if log:
        data = [np.clip(d, 1e-300, None) for d in data]
        ax.set_yscale("log")
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(data) + 1), list(norms.keys()))
    if reference is not None:
        ax.axhline(reference, color="#d62728", ls="--", lw=1)
    ax.set_ylabel(r"$\|\nabla_x f(\hat x)\|$")
    return ax


def plot_image(image, ax=None, *, title: str | None = None):
    """Show an image array ``(H, W)`` or ``(H, W, 3)`` (e.g. a sample grid read from a PNG)
    without axes, pixels as squares."""
    ax = _axes(ax, figsize=(3.0, 3.0))
    ax.imshow(
        image, cmap="gray" if getattr(image, "ndim", 3) == 2 else None, interpolation="nearest"
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize="medium")
    return ax
