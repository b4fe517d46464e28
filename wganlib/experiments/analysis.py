r"""Statistics over seeds for toy sweeps: means with 95% intervals, curves over training,
convergence verdicts, and the iterations at which the ring and the bumps of the 8 Gaussians are
reached. Pure functions of the records a sweep writes (:mod:`wganlib.experiments.mode_collapse`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "METRICS", "aggregate", "converged", "trace_curve", "phase_points", "seed_correlations",
    "rank_agreement",
]  # fmt: skip

METRICS: tuple[str, ...] = ("modes", "high_quality", "reverse_kl", "w1")


def aggregate(
    records: Iterable[dict[str, Any]], metrics: Sequence[str] = METRICS
) -> list[dict[str, Any]]:
    r"""Mean, standard error and 95% interval over seeds, per (method, data).

    For each metric: ``mean``, ``se`` (sample std with ``ddof=1`` over :math:`\sqrt n`; None for
    one value), ``ci95`` (the Student-t interval, mean :math:`\pm t_{0.975, n-1}\,` se) and
    ``n``, the number of runs where it is defined (values that are None, e.g. the reverse KL of
    a generator with no high-quality sample, are left out and counted in ``missing``). Groups
    keep the order of first appearance; ``iterations`` is copied from the records.
    """
    from scipy.stats import t as student_t

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["method"], r["data"]), []).append(r)
    out = []
    for (method, data), rows in groups.items():
        row: dict[str, Any] = {"method": method, "data": data, "runs": len(rows)}
        if "iterations" in rows[0]:
            row["iterations"] = rows[0]["iterations"]
        for m in metrics:
            vals = np.array([r[m] for r in rows if r.get(m) is not None], dtype=float)
            if vals.size == 0:
                row[m] = None
                continue
            se = float(vals.std(ddof=1) / math.sqrt(vals.size)) if vals.size > 1 else None
            half = None if se is None else float(student_t.ppf(0.975, vals.size - 1) * se)
            row[m] = {
                "mean": float(vals.mean()),
                "se": se,
                "ci95": None
                if half is None
                else [float(vals.mean()) - half, float(vals.mean()) + half],
                "n": int(vals.size),
                "missing": len(rows) - int(vals.size),
            }
        out.append(row)
    return out


def converged(
    trace: Sequence[dict[str, Any]], *, w1_tol: float = 0.05, hq_tol: float = 0.03
) -> dict[str, Any]:
    r"""Has training stopped moving? Compares the last fifth of training with the fifth before.

    With :math:`\bar W_a, \bar W_b` the mean W1 (over members and measurement points) in
    iterations :math:`(0.6T, 0.8T]` and :math:`(0.8T, T]`, the cell has converged when
    :math:`|\bar W_b - \bar W_a| \le` ``w1_tol`` :math:`\cdot \bar W_a` and, on mixtures, the
    mean high-quality fraction moved by at most ``hq_tol`` (absolute). Returns the two windows'
    means, the changes and the verdict (None when a window holds no measurement).
    """
    its = np.array([r["iteration"] for r in trace], dtype=float)
    if its.size == 0:
        raise ValueError("empty trace")
    t_end = its.max()
    a = (its > 0.6 * t_end) & (its <= 0.8 * t_end)
    b = its > 0.8 * t_end
    out: dict[str, Any] = {"window": [0.6 * t_end, 0.8 * t_end, t_end]}
    ok: bool | None = None  # None: too few measurement points to tell
    for key, tol, relative in (("w1", w1_tol, True), ("high_quality", hq_tol, False)):
        vals = np.array([np.nan if r.get(key) is None else r[key] for r in trace], dtype=float)
        if np.isnan(vals).all() or not a.any() or not b.any():
            continue
        va, vb = float(np.nanmean(vals[a])), float(np.nanmean(vals[b]))
        change = vb - va
        bound = tol * abs(va) if relative else tol
        out[key] = {"before": va, "last": vb, "change": change, "tolerance": bound}
        ok = (ok is not False) and abs(change) <= bound
    out["converged"] = ok
    return out


def trace_curve(
    trace: Iterable[dict[str, Any]], method: str, data: str, metric: str
) -> dict[str, np.ndarray]:
    r"""One metric over training, over the seeds: ``iteration``, ``mean``, ``lo``, ``hi``, ``runs``.

    ``lo``/``hi`` is the 95% Student-t interval of the mean over the members measured at that
    iteration (NaN where fewer than two members have a value); ``runs`` is ``(members, points)``, one row per seed (NaN where undefined).
    """
    from scipy.stats import t as student_t

    rows = [r for r in trace if r["method"] == method and r["data"] == data]
    if not rows:
        raise ValueError(f"no trace for {method} on {data}")
    its = sorted({int(r["iteration"]) for r in rows})
    members = sorted({int(r["member"]) for r in rows})
    col = {it: i for i, it in enumerate(its)}
    runs = np.full((len(members), len(its)), np.nan)
    for r in rows:
        if r.get(metric) is not None:
            runs[members.index(int(r["member"])), col[int(r["iteration"])]] = r[metric]
    n = np.sum(~np.isnan(runs), axis=0)
    mean = np.nanmean(runs, axis=0)
    with warnings.catch_warnings():  # a point with one value has no spread: NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(runs, axis=0, ddof=1)
    sd = np.where(n > 1, sd, np.nan)
    half = student_t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    return {"iteration": np.array(its), "mean": mean, "lo": mean - half, "hi": mean + half,
            "runs": runs}  # fmt: skip


def phase_points(
    iterations: Sequence[int], ring: Sequence[float], hq: Sequence[float], *, frac: float = 0.9
) -> dict[str, int]:
    r"""When the circle is reached and when the bumps are: "first the circle, then the bumps".

    ``circle``: the first iteration at which the ring error has made ``frac`` of its total drop,
    :math:`e_t \le e_0 - \text{frac}\,(e_0 - \min e)`; ``bumps``: the first iteration at which the
    high-quality fraction reaches ``frac`` of its final value (mean of the last three points).
    """
    it, e, q = (np.asarray(v, dtype=float) for v in (iterations, ring, hq))
    if not (it.size == e.size == q.size) or it.size < 3:
        raise ValueError("need three or more points of equal length")
    circle_level = e[0] - frac * (e[0] - e.min())
    bumps_level = frac * q[-3:].mean()
    return {
        "circle": int(it[np.argmax(e <= circle_level)]),
        "bumps": int(it[np.argmax(q >= bumps_level)]),
    }


def seed_correlations(
    trace: Iterable[dict[str, Any]],
    method: str,
    data: str,
    *,
    x: str = "estimate",
    y: str = "w1",
    after: int = 0,
) -> dict[str, Any]:
    r"""Spearman rank correlation of ``x`` with ``y`` over training, seed by seed.

    For each member, the correlation over its measurement points after iteration ``after``;
    returns ``per_seed``, their ``mean`` and the 95% Student-t interval ``ci95`` of the mean.
    """
    from scipy.stats import t as student_t

    from wganlib.metrics import rank_correlation

    cx, cy = trace_curve(trace, method, data, x), trace_curve(trace, method, data, y)
    keep = cx["iteration"] > after
    rho = []
    for a, b in zip(cx["runs"], cy["runs"], strict=True):
        ok = keep & np.isfinite(a) & np.isfinite(b)
        rho.append(rank_correlation(a[ok], b[ok]) if ok.sum() >= 3 else math.nan)
    v = np.array([r for r in rho if math.isfinite(r)])
    half = (
        float(student_t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
        if v.size > 1
        else math.nan
    )
    m = float(v.mean()) if v.size else math.nan
    return {"per_seed": rho, "mean": m, "ci95": [m - half, m + half], "after": after}


def rank_agreement(
    a: Iterable[dict[str, Any]],
    b: Iterable[dict[str, Any]],
    metric: str,
    *,
    data: str,
    methods: Sequence[str] | None = None,
) -> dict[str, Any]:
    r"""Do two tables (e.g. two network widths) order the methods alike on ``metric``?

    ``a`` and ``b`` are :func:`aggregate` records; only those on ``data`` count, and ``methods``
    (default: those in both tables, in ``a``'s order). Returns ``rho``, the Spearman correlation
    of the method means, and one entry per pair :math:`(i, j)` in ``pairs``: the sign of
    :math:`\bar x_i - \bar x_j` in each table and whether the two 95% intervals are disjoint
    there (``separated_a``, ``separated_b``). A pair separated in both tables is listed in
    ``agree`` when the signs match and in ``reversed`` otherwise (``reversed`` is empty when the
    tables rank the methods the same way wherever both can tell).
    """
    from wganlib.metrics import rank_correlation

    def table(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["method"]: r[metric] for r in records if r["data"] == data and r[metric]}

    ta, tb = table(a), table(b)
    names = [m for m in (methods or ta) if m in ta and m in tb]
    if methods is not None and len(names) < len(methods):
        missing = sorted(set(methods) - set(names))
        raise ValueError(f"{metric} on {data}: no record for {', '.join(missing)} in both tables")
    if len(names) < 2:
        raise ValueError(f"{metric} on {data}: fewer than two methods in both tables")

    def separated(x: dict[str, Any], y: dict[str, Any]) -> bool:
        if x["ci95"] is None or y["ci95"] is None:
            return False
        return x["ci95"][0] > y["ci95"][1] or y["ci95"][0] > x["ci95"][1]

    pairs, agree, reverse = [], [], []
    for i, mi in enumerate(names):
        for mj in names[i + 1 :]:
            sa = int(np.sign(ta[mi]["mean"] - ta[mj]["mean"]))
            sb = int(np.sign(tb[mi]["mean"] - tb[mj]["mean"]))
            pair = {
                "pair": (mi, mj), "sign_a": sa, "sign_b": sb,
                "separated_a": separated(ta[mi], ta[mj]), "separated_b": separated(tb[mi], tb[mj]),
            }  # fmt: skip
            pairs.append(pair)
            if pair["separated_a"] and pair["separated_b"]:
                (agree if sa == sb else reverse).append((mi, mj))
    rho = rank_correlation([ta[m]["mean"] for m in names], [tb[m]["mean"] for m in names])
    return {"methods": names, "rho": rho, "pairs": pairs, "agree": agree, "reversed": reverse}
