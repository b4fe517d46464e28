r"""Distances between probability distributions: closed forms and exact sample estimates.

Two kinds of answers live here.

* :func:`parallel_lines`: the closed forms of Example 1 of Arjovsky, Chintala & Bottou (2017)
  for the family :math:`P_\theta = \mathrm{law}(\theta, Z)`, :math:`Z \sim U[0, 1]`.
* :func:`exact_w1` and :func:`w1_1d`: the exact Wasserstein-1 (earth mover's) distance between
  two empirical distributions with uniform weights, the reference that learned critics are
  measured against. :func:`exact_w1` solves the optimal transport linear programme with POT
  (``ot.emd2``); :func:`w1_1d` uses the closed form on the line (quantile functions).
* :func:`kantorovich_potential` and :func:`potential_1d`: the optimal dual (Kantorovich)
  potential, i.e. an exact optimal critic, from POT's dual variables or, on the line, from the
  CDFs; :func:`potential_agreement` compares a learned critic with it.

References
----------
M. Arjovsky, S. Chintala, L. Bottou. Wasserstein Generative Adversarial Networks. ICML 2017.
R. Flamary et al. POT: Python Optimal Transport. JMLR 22(78), 2021.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "KantorovichPotential",
    "exact_w1",
    "kantorovich_potential",
    "parallel_lines",
    "potential_1d",
    "potential_agreement",
    "w1_1d",
]

LOG2 = math.log(2.0)


def _check_numeric(theta: Any) -> None:
    """Refuse strings, booleans and other non-numbers, which numpy would convert silently."""
    try:
        a = theta.detach().cpu().numpy() if hasattr(theta, "detach") else np.asarray(theta)
    except (ValueError, TypeError):
        a = np.asarray([], dtype=object)
    if isinstance(theta, str | bytes | bool) or a.dtype.kind not in "iuf":
        raise ValueError(
            f"theta must be numeric (real numbers, not text or booleans), got {theta!r}"
        )


def parallel_lines(theta: Any) -> dict[str, Any]:
    r"""Closed-form distances between :math:`P_0` and :math:`P_\theta` (the parallel lines).

    With :math:`Z \sim U[0, 1]`, :math:`P_0` is the law of :math:`(0, Z)` and :math:`P_\theta`
    the law of :math:`(\theta, Z)`: two vertical unit segments a horizontal distance
    :math:`|\theta|` apart. Then (Example 1 of the WGAN paper)

    .. math::

        W(P_0, P_\theta) = |\theta|, \qquad
        JS(P_0, P_\theta) = \begin{cases} \log 2 & \theta \neq 0 \\ 0 & \theta = 0 \end{cases},

        KL(P_\theta \,\|\, P_0) = KL(P_0 \,\|\, P_\theta) =
            \begin{cases} +\infty & \theta \neq 0 \\ 0 & \theta = 0 \end{cases}, \qquad
        \delta(P_0, P_\theta) = \begin{cases} 1 & \theta \neq 0 \\ 0 & \theta = 0 \end{cases}.

    Only :math:`W` is continuous in :math:`\theta`. Natural logarithms throughout.

    Parameters
    ----------
    theta : float or array_like
        The horizontal offset(s). Any shape; a torch tensor is accepted.

    Returns
    -------
    dict
        Keys ``"w1"``, ``"js"``, ``"kl"``, ``"tv"``. Python floats for a scalar ``theta``,
        numpy float arrays of ``theta``'s shape otherwise.

    Raises
    ------
    ValueError
        If ``theta`` is NaN, infinite or not numeric (strings and booleans included).
    """
    _check_numeric(theta)
    t = _as_float_array(theta, "theta")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"theta must be finite; got {theta!r}. Pass real offsets, not NaN/inf.")
    apart = t != 0.0  # the two segments are disjoint exactly when theta != 0
    out = {
        "w1": np.abs(t),
        "js": np.where(apart, LOG2, 0.0),
        "kl": np.where(apart, np.inf, 0.0),
        "tv": np.where(apart, 1.0, 0.0),
    }
    if t.ndim == 0:
        return {key: float(value) for key, value in out.items()}
    return out


def exact_w1(x: Any, y: Any, *, num_iter_max: int = 10_000_000) -> float:
    r"""Exact Wasserstein-1 distance between two empirical samples (uniform weights).

    With :math:`\hat P = \frac1n \sum_i \delta_{x_i}` and :math:`\hat Q = \frac1m \sum_j \delta_{y_j}`,

    .. math::

        W_1(\hat P, \hat Q) = \min_{\gamma \in \Pi(a, b)} \sum_{i,j} \gamma_{ij} \, \|x_i - y_j\|_2,
        \qquad a = \tfrac1n \mathbf 1_n,\; b = \tfrac1m \mathbf 1_m,

    solved exactly as a linear programme by POT's network simplex (``ot.emd2``). The cost matrix
    is :math:`n \times m`, so memory and time grow quickly: ``n = m = 2000`` takes seconds.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (n, d) or (n,)
        First sample; a 1-D array is read as ``n`` points on the line.
    y : array_like or torch.Tensor, shape (m, d) or (m,)
        Second sample, same dimension ``d``; ``m`` may differ from ``n``.
    num_iter_max : int
        Iteration cap of the network simplex; a :class:`RuntimeError` is raised if it is hit.

    Returns
    -------
    float
        :math:`W_1(\hat P, \hat Q) \ge 0`.

    Raises
    ------
    ValueError
        If a sample is empty, has more than two axes, holds NaN/inf, or the dimensions differ.
    """
    import ot  # POT is imported lazily: importing wganlib stays cheap

    xs = _as_sample(x, "x")
    ys = _as_sample(y, "y")
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(
            f"x and y must have the same dimension: x has d={xs.shape[1]} (shape {xs.shape}), "
            f"y has d={ys.shape[1]} (shape {ys.shape})."
        )
    a = np.full(xs.shape[0], 1.0 / xs.shape[0])
    b = np.full(ys.shape[0], 1.0 / ys.shape[0])
    cost = ot.dist(xs, ys, metric="euclidean")
    with warnings.catch_warnings():
        # POT warns when it stops early; we raise instead (below), with what to do about it
        warnings.filterwarnings("ignore", message="numItermax reached", category=UserWarning)
        value, log = ot.emd2(a, b, cost, numItermax=int(num_iter_max), log=True)
    if log.get("warning"):
        raise RuntimeError(
            f"POT's network simplex did not finish ({log['warning']}); "
            "raise num_iter_max or use fewer points."
        )
    return max(float(value), 0.0)


def w1_1d(x: Any, y: Any) -> float:
    r"""Exact Wasserstein-1 distance between two samples on the real line (uniform weights).

    On the line the optimal plan is monotone, and

    .. math::

        W_1(\hat P, \hat Q) = \int_{\mathbb R} |F_{\hat P}(t) - F_{\hat Q}(t)| \, dt
                          = \int_0^1 |F_{\hat P}^{-1}(u) - F_{\hat Q}^{-1}(u)| \, du,

    computed from the sorted samples in :math:`O((n + m)\log(n + m))` time
    (``scipy.stats.wasserstein_distance``). For ``n == m`` it is the mean absolute difference of
    the sorted samples.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (n,) or (n, 1)
    y : array_like or torch.Tensor, shape (m,) or (m, 1)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If a sample is empty, not one-dimensional, or holds NaN/inf.
    """
    from scipy.stats import wasserstein_distance

    xs = _as_sample(x, "x")
    ys = _as_sample(y, "y")
    for name, s in (("x", xs), ("y", ys)):
        if s.shape[1] != 1:
            raise ValueError(
                f"w1_1d needs samples on the line; {name} has shape {s.shape}. "
                "Use exact_w1 for points in d > 1 dimensions."
            )
    return float(wasserstein_distance(xs[:, 0], ys[:, 0]))


# ----------------------------------------------------------------------------- input checks


def _to_numpy(value: Any) -> Any:
    """Detach a torch tensor to a CPU numpy array; leave anything else alone."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return value


def _as_float_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 numpy array, or a ValueError naming ``name``."""
    try:
        return np.asarray(_to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be numeric (a number or an array of numbers): {err}"
        ) from err


def _as_sample(value: Any, name: str) -> np.ndarray:
    """A finite, non-empty sample as a float64 array of shape (n, d)."""
    arr = _as_float_array(value, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a sample of shape (n, d) or (n,); got an array of shape {arr.shape}."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); a sample needs at least one point.")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s); remove or fix them first.")
    return arr


# ----------------------------------------------------------------------------- dual potentials


@dataclass(frozen=True)
class KantorovichPotential:
    r"""An optimal 1-Lipschitz potential :math:`f` for :math:`W_1(\hat P, \hat Q)`, from POT.

    The transport linear programme has the dual
    :math:`\max \sum_i a_i u_i + \sum_j b_j v_j` subject to :math:`u_i + v_j \le \|x_i - y_j\|`;
    POT's network simplex returns an optimal pair ``(u, v)``. Its c-transform

    .. math::

        f(p) = \min_j \bigl(\|p - y_j\| - v_j\bigr)

    is 1-Lipschitz on the whole space (a minimum of 1-Lipschitz functions), satisfies
    :math:`f(x_i) \ge u_i` and :math:`f(y_j) \le -v_j`, hence by the Kantorovich-Rubinstein
    duality

    .. math::

        \frac1n \sum_i f(x_i) - \frac1m \sum_j f(y_j) = W_1(\hat P, \hat Q).

    Calling the object evaluates :math:`f` at any points: an optimal WGAN critic for the two
    samples (unique only up to a constant and off the supports). Make one with
    :func:`kantorovich_potential`.

    Attributes
    ----------
    w1 : float
        :math:`W_1(\hat P, \hat Q)` (the primal optimum).
    x, y : numpy.ndarray, shapes (n, d), (m, d)
        The two samples (``x`` plays the real data, ``y`` the generated one).
    u, v : numpy.ndarray, shapes (n,), (m,)
        POT's dual variables.
    """

    w1: float
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def __call__(self, points: Any, *, chunk: int = 4096) -> np.ndarray:
        r""":math:`f(p) = \min_j (\|p - y_j\| - v_j)` at ``points`` (shape (k, d) or (k,)); (k,)."""
        p = _as_sample(points, "points")
        if p.shape[1] != self.y.shape[1]:
            raise ValueError(
                f"points have dimension {p.shape[1]} but the potential lives in "
                f"dimension {self.y.shape[1]}."
            )
        out = np.empty(p.shape[0])
        for start in range(0, p.shape[0], chunk):  # bounded memory: (chunk, m) distances
            block = p[start : start + chunk]
            dist = np.sqrt(((block[:, None, :] - self.y[None, :, :]) ** 2).sum(-1))
            out[start : start + chunk] = (dist - self.v[None, :]).min(axis=1)
        return out

    def as_module(self) -> Any:
        r"""The potential as a :class:`torch.nn.Module` ``(B, d) -> (B,)``, differentiable in
        its input (so :func:`wganlib.plotting.plot_critic` can draw it and its gradient)."""
        import torch

        y = torch.as_tensor(self.y, dtype=torch.float32)
        v = torch.as_tensor(self.v, dtype=torch.float32)

        class _CTransform(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.register_buffer("y", y)  # (m, d)
                self.register_buffer("v", v)  # (m,)

            def forward(self, p: torch.Tensor) -> torch.Tensor:
                dist = torch.cdist(p.reshape(p.shape[0], -1).float(), self.y)  # (B, m)
                return (dist - self.v).min(dim=1).values

        return _CTransform()

    def dual_value(self) -> float:
        r""":math:`\frac1n\sum_i f(x_i) - \frac1m\sum_j f(y_j)`, equal to :attr:`w1` up to rounding."""
        return float(self(self.x).mean() - self(self.y).mean())


def kantorovich_potential(
    x: Any, y: Any, *, num_iter_max: int = 10_000_000
) -> KantorovichPotential:
    r"""The optimal dual potential (an optimal critic) between two empirical samples, via POT.

    Solves the transport problem of :func:`exact_w1` with ``ot.emd(..., log=True)`` and keeps
    the dual variables; the result evaluates :math:`f` anywhere (see
    :class:`KantorovichPotential`). It maximises :math:`\mathbb E_{\hat P} f - \mathbb E_{\hat Q}
    f` over 1-Lipschitz functions, which is what a WGAN critic tries to learn with
    ``x`` = real and ``y`` = generated samples.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (n, d) or (n,)
        Sample of :math:`P` (the real data).
    y : array_like or torch.Tensor, shape (m, d) or (m,)
        Sample of :math:`Q` (the model).
    num_iter_max : int
        Iteration cap of the network simplex.

    Returns
    -------
    KantorovichPotential

    Raises
    ------
    ValueError
        For bad samples (as :func:`exact_w1`).
    RuntimeError
        If the network simplex stops before the optimum.
    """
    import ot

    xs = _as_sample(x, "x")
    ys = _as_sample(y, "y")
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(
            f"x and y must have the same dimension: x has d={xs.shape[1]}, y has d={ys.shape[1]}."
        )
    a = np.full(xs.shape[0], 1.0 / xs.shape[0])
    b = np.full(ys.shape[0], 1.0 / ys.shape[0])
    cost = ot.dist(xs, ys, metric="euclidean")
    _, log = ot.emd(a, b, cost, numItermax=int(num_iter_max), log=True)
    if log.get("warning"):
        raise RuntimeError(
            f"POT's network simplex did not finish ({log['warning']}); "
            "raise num_iter_max or use fewer points."
        )
    return KantorovichPotential(
        w1=max(float(log["cost"]), 0.0),
        x=xs,
        y=ys,
        u=np.asarray(log["u"], dtype=np.float64),
        v=np.asarray(log["v"], dtype=np.float64),
    )


def potential_1d(x: Any, y: Any, grid: Any) -> np.ndarray:
    r"""The closed-form optimal 1-Lipschitz potential on the line, evaluated on ``grid``.

    Integrating by parts, :math:`\mathbb E_P f - \mathbb E_Q f = \int f'(t)\,(F_Q(t) - F_P(t))\,dt`
    for the (empirical) CDFs :math:`F_P, F_Q`; with :math:`|f'| \le 1` it is largest, and equal to
    :math:`W_1 = \int |F_P - F_Q|`, for

    .. math::

        f'(t) = \operatorname{sign}\bigl(F_Q(t) - F_P(t)\bigr), \qquad
        f(t) = \int_{t_0}^{t} f'(s)\, ds .

    :math:`f` is flat where the CDFs agree (outside both samples); it is unique up to a constant
    wherever they differ. Integrated exactly (the sign is constant between sample points).

    Parameters
    ----------
    x : array_like, shape (n,) or (n, 1)
        Sample of :math:`P` (real).
    y : array_like, shape (m,) or (m, 1)
        Sample of :math:`Q` (model).
    grid : array_like, shape (k,)
        Where to evaluate :math:`f`; any order. :math:`f` is 0 at the smallest of all points.

    Returns
    -------
    numpy.ndarray, shape (k,)
    """
    samples = {"x": _as_sample(x, "x"), "y": _as_sample(y, "y"), "grid": _as_sample(grid, "grid")}
    for name, s in samples.items():
        if s.shape[1] != 1:
            raise ValueError(
                f"potential_1d needs points on the line; {name} has shape {s.shape}. "
                "Use kantorovich_potential in d > 1 dimensions."
            )
    xs, ys, g = np.sort(samples["x"][:, 0]), np.sort(samples["y"][:, 0]), samples["grid"]
    knots = np.unique(np.concatenate([xs, ys, g[:, 0]]))
    f_p = np.searchsorted(xs, knots, side="right") / xs.size  # CDFs on [knot_k, knot_k+1)
    f_q = np.searchsorted(ys, knots, side="right") / ys.size
    slope = np.sign(f_q - f_p)[:-1]
    values = np.concatenate([[0.0], np.cumsum(slope * np.diff(knots))])
    return np.interp(g[:, 0], knots, values)


def potential_agreement(f: Any, g: Any) -> dict[str, float]:
    r"""How close two potentials are on the same points, up to an additive constant.

    Both are centred (their mean removed, since a critic is defined up to a constant); returns
    ``{"corr": Pearson correlation, "rel_l2": ||f_c - g_c|| / ||g_c||}`` with ``g`` the reference
    (e.g. the exact potential of :func:`kantorovich_potential`).

    Raises
    ------
    ValueError
        If the shapes differ, there are fewer than two points, or ``g`` is constant.
    """
    a = _as_float_array(f, "f").ravel()
    b = _as_float_array(g, "g").ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(
            f"f and g must be values at the same >= 2 points; got {a.shape} and {b.shape}."
        )
    a, b = a - a.mean(), b - b.mean()
    norm_b = float(np.linalg.norm(b))
    if norm_b == 0.0:
        raise ValueError("the reference potential g is constant: nothing to compare against.")
    corr = float(a @ b / (np.linalg.norm(a) * norm_b)) if np.linalg.norm(a) > 0 else 0.0
    return {"corr": corr, "rel_l2": float(np.linalg.norm(a - b) / norm_b)}
