"""Graded cases of assignment 4 (a loss that means something); see :mod:`coursework.cases`."""

from __future__ import annotations

import math

from coursework.cases import Case, answer, as_float, close, need

QUESTIONS = {"q1": 4.0, "q2": 3.0, "q3": 3.0}
WRITTEN = {"w4": 5.0}
CHECKED_NAMES = ("rank_correlation", "spearmanr")


def _real(seed):
    import torch

    from wganlib.toy import sample

    return sample("8gaussians", 256, generator=torch.Generator().manual_seed(seed))


# q1: critic_estimate ---------------------------------------------------------------------------
def _run_estimate(seed, shift=None, scale=None, est_seed=0):
    def run(ns):
        import torch

        real = _real(seed)
        fake = real + torch.tensor(shift) if shift is not None else real * scale
        return answer(ns, "critic_estimate")(real, fake, steps=200, seed=est_seed)

    return run


def _check_estimate(seed, shift=None, scale=None, tol=0.15):
    def check(got):
        import torch

        from wganlib.distances import exact_w1

        real = _real(seed)
        fake = real + torch.tensor(shift) if shift is not None else real * scale
        w1 = math.hypot(*shift) if shift is not None else exact_w1(real, fake)
        close(
            as_float(got),
            w1,
            "the trained critic's estimate against the exact W1",
            rtol=0.0,
            atol=tol,
        )

    return check


def _run_repeat(ns):
    import torch

    f = answer(ns, "critic_estimate")
    real = _real(5)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = f(real, real * 0.5, steps=50, seed=4)
    after = torch.rand(3)
    b = f(real, real * 0.5, steps=50, seed=4)
    return {"a": a, "b": b, "rng_untouched": bool(torch.equal(before, after))}


def _check_repeat(got):
    need(isinstance(got, dict) and isinstance(got.get("a"), float), "returns a Python float")
    need(
        got["a"] == got.get("b"),
        "the same seed gives the same estimate (a fresh critic each call)",
        got["a"],
        got.get("b"),
    )


def _check_rng(got):
    _check_repeat(got)  # a do-nothing answer leaves the random state alone too
    need(
        isinstance(got, dict) and got.get("rng_untouched") is True,
        "leaves the global random state alone",
    )


# q2: estimate_curve with a stand-in critic_estimate -------------------------------------------
def _stand_in(real, fake, steps=200, seed=0):
    """A cheap deterministic stand-in for critic_estimate: distance between the sample means."""
    return float((real.mean(dim=0) - fake.mean(dim=0)).norm())


def _snapshots():
    import torch

    g = torch.Generator().manual_seed(11)
    real = _real(12)
    return [
        real * s + torch.randn(256, 2, generator=g) * 0.1 + 0.3 * k
        for k, s in enumerate((0.2, 0.6, 1.0))
    ], real


def _run_curve(ns):
    ns["critic_estimate"] = _stand_in
    snaps, real = _snapshots()
    return answer(ns, "estimate_curve")(snaps, real)


def _curve_parts(got):
    need(
        isinstance(got, tuple) and len(got) == 2,
        "returns (w1_exact, estimates)",
        "a 2-tuple",
        type(got).__name__,
    )
    w1, est = got
    need(
        isinstance(w1, list) and isinstance(est, list) and len(w1) == len(est) == 3,
        "two lists, one value per snapshot",
    )
    return w1, est


def _check_curve_public(got):
    _curve_parts(got)


def _check_curve_w1(got):
    from wganlib.distances import exact_w1

    w1, _ = _curve_parts(got)
    snaps, real = _snapshots()
    for k, (w, s) in enumerate(zip(w1, snaps, strict=True)):
        close(w, exact_w1(s, real), f"exact W1 of snapshot {k}", rtol=1e-7)


def _check_curve_est(got):
    _, est = _curve_parts(got)
    snaps, real = _snapshots()
    for k, (e, s) in enumerate(zip(est, snaps, strict=True)):
        close(e, _stand_in(real, s), f"critic_estimate(real, snapshot {k}), in order", rtol=1e-9)


# q3: spearman ----------------------------------------------------------------------------------
def _lists(kind):
    import numpy as np

    rng = np.random.default_rng(3)
    if kind == "random":
        a = rng.normal(size=20)
        return a.tolist(), (a + rng.normal(size=20)).tolist()
    if kind == "ties":
        return [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5], [0.3, 0.1, 0.4, 0.4, 0.9, 0.2, 0.6, 0.0]
    return [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.5, 0.2, 0.1, -0.3, -0.4, -2.0]


def _run_spearman(kind):
    return lambda ns: answer(ns, "spearman")(*_lists(kind))


def _check_spearman(kind, what):
    def check(got):
        from scipy.stats import spearmanr

        close(as_float(got), float(spearmanr(*_lists(kind)).statistic), what, rtol=1e-9, atol=1e-12)

    return check


CASES = [
    Case(
        "q1",
        "a translation by (0.5, 0) (public)",
        0.25,
        _run_estimate(1, shift=[0.5, 0.0]),
        _check_estimate(1, shift=[0.5, 0.0]),
        public=True,
    ),
    Case(
        "q1",
        "a translation by (0, -1)",
        1.25,
        _run_estimate(2, shift=[0.0, -1.0], est_seed=3),
        _check_estimate(2, shift=[0.0, -1.0]),
    ),
    Case(
        "q1",
        "a contraction (not a translation)",
        1.5,
        _run_estimate(3, scale=0.5, est_seed=1),
        _check_estimate(3, scale=0.5),
    ),
    Case("q1", "reproducible from its seed", 0.5, _run_repeat, _check_repeat),
    Case("q1", "global random state untouched", 0.5, _run_repeat, _check_rng),
    Case(
        "q2",
        "two lists of the right length (public)",
        0.25,
        _run_curve,
        _check_curve_public,
        public=True,
    ),
    Case("q2", "exact W1 of each snapshot", 1.25, _run_curve, _check_curve_w1),
    Case("q2", "one estimate per snapshot, in order", 1.5, _run_curve, _check_curve_est),
    Case(
        "q3",
        "a decreasing sequence (public)",
        0.25,
        _run_spearman("decreasing"),
        _check_spearman("decreasing", "spearman of a decreasing pair"),
        public=True,
    ),
    Case(
        "q3",
        "random lists",
        1.25,
        _run_spearman("random"),
        _check_spearman("random", "Spearman correlation of two random lists"),
    ),
    Case(
        "q3",
        "ties (average ranks)",
        1.5,
        _run_spearman("ties"),
        _check_spearman("ties", "Spearman correlation with ties"),
    ),
]

assert all(
    math.isclose(sum(c.points for c in CASES if c.question == q), p) for q, p in QUESTIONS.items()
)
