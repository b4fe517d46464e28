r"""Measuring toy generators: mode coverage, W1 to the target, rank agreement, smoothed curves.

Mode coverage follows the VEEGAN protocol (Srivastava et al. 2017; also PacGAN): for samples
:math:`x_1, \dots, x_n` (the protocol draws :math:`n = 2500`) and mode centres
:math:`c_1, \dots, c_K` of a mixture with per-coordinate std :math:`\sigma`,

* sample :math:`x_i` is *high quality* (HQ) if :math:`\min_k \|x_i - c_k\| \le 3\sigma`;
* mode :math:`k` is *covered* if at least one HQ sample has :math:`c_k` as nearest centre;
* with :math:`n_k` the number of HQ samples nearest to :math:`c_k`, :math:`q_k = n_k / \sum_j n_j`
  and :math:`p_k = 1/K` (the target puts equal mass on each mode), the *reverse KL* is

  .. math::
      \mathrm{KL}(q \,\|\, p) = \sum_{k:\, q_k > 0} q_k \log(K q_k)
      \in [0, \log K],

  with the convention :math:`0 \log 0 = 0`, so no epsilon is needed: 0 when the HQ samples
  spread evenly over all modes, :math:`\log K` when they all sit on one mode. When there is no
  HQ sample at all, :math:`q` is undefined and the value returned is :math:`+\infty`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ModeCoverage", "mode_coverage", "w1_to_target", "rank_correlation", "running_median"]


@dataclass(frozen=True)
class ModeCoverage:
    r"""Result of :func:`mode_coverage`.

    ``modes``: number of modes covered; ``high_quality``: fraction (0 to 1) of HQ samples;
    ``reverse_kl``: :math:`\mathrm{KL}(q\|p)` of the HQ mode histogram (inf if no HQ sample);
    ``counts``: HQ samples per mode, in the order of ``centers``.
    """

    modes: int
    high_quality: float
    reverse_kl: float
    counts: tuple[int, ...] = ()


def _tensor(x: Any, name: str) -> torch.Tensor:
    t = x.detach().cpu() if torch.is_tensor(x) else np.asarray(x)
    t = torch.as_tensor(t, dtype=torch.float64)
    if t.dim() != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(t.shape)}")
    return t


def mode_coverage(x: Any, centers: Any, std: float, *, threshold: float = 3.0) -> ModeCoverage:
    """Modes covered, fraction of high-quality samples and reverse KL (VEEGAN protocol).

    Parameters
    ----------
    x : Tensor or array, shape (n, d)
        Generated samples.
    centers : Tensor or array, shape (K, d)
        Mode centres, e.g. :func:`wganlib.toy.centers`.
    std : float
        Per-coordinate std of each mode, e.g. :func:`wganlib.toy.mode_std`.
    threshold : float
        A sample is high quality within ``threshold * std`` of its nearest centre.
    """
    x, c = _tensor(x, "x"), _tensor(centers, "centers")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"x has dimension {x.shape[1]} but centers have {c.shape[1]}")
    if len(x) == 0 or std <= 0:
        raise ValueError("need at least one sample and a positive std")
    dist, nearest = torch.cdist(x, c).min(dim=1)
    hq = dist <= threshold * std
    counts = torch.bincount(nearest[hq], minlength=len(c))
    n_hq = int(counts.sum())
    if n_hq == 0:
        kl = math.inf
    else:
        q = counts[counts > 0].double() / n_hq
        kl = float((q * torch.log(len(c) * q)).sum())
    return ModeCoverage(
        modes=int((counts > 0).sum()),
        high_quality=n_hq / len(x),
        reverse_kl=kl,
        counts=tuple(int(v) for v in counts),
    )


def w1_to_target(samples: Any, target_samples: Any) -> float:
    """Exact W1 between generated and target samples (uniform weights, Euclidean cost).

    A thin wrapper on :func:`wganlib.distances.exact_w1` (POT's exact solver); the cost grows
    fast with the number of points: a couple of thousand per side takes seconds.
    """
    from wganlib.distances import exact_w1

    return exact_w1(samples, target_samples)


def rank_correlation(x: Sequence[float] | Any, y: Sequence[float] | Any) -> float:
    """Spearman rank correlation of two sequences (e.g. critic estimates vs exact W1)."""
    from scipy.stats import spearmanr

    a = np.asarray(torch.as_tensor(x).cpu() if torch.is_tensor(x) else x, dtype=float).ravel()
    b = np.asarray(torch.as_tensor(y).cpu() if torch.is_tensor(y) else y, dtype=float).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"need two sequences of the same length >= 2, got {a.size} and {b.size}")
    return float(spearmanr(a, b).statistic)


def running_median(values: Sequence[float] | Any, window: int) -> np.ndarray:
    """Centred rolling median over ``window`` points (shrinking at the ends), same length.

    The paper's loss curves (Figures 3-5) are shown through a median filter; unlike
    ``scipy.signal.medfilt`` this does not pad with zeros, so the ends are not pulled to 0.
    NaNs are ignored.
    """
    v = np.asarray(values, dtype=float).ravel()
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if window == 1 or v.size == 0:
        return v.copy()
    half = window // 2
    pad = np.pad(v, (half, window - 1 - half), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(pad, window)
    with warnings.catch_warnings():  # an all-NaN window gives NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(windows, axis=1)
