"""Graded cases of assignment 1 (parallel lines, exact W1 with POT); see :mod:`coursework.cases`."""

from __future__ import annotations

import math

from coursework.cases import Case, answer, as_float, as_tensor, close, need

QUESTIONS = {"q1": 3.0, "q2": 2.0, "q3": 3.0, "q4": 2.0}
WRITTEN = {"w1": 5.0}
# library names that answer a question: a submission that uses them is reported to the instructor
CHECKED_NAMES = ("parallel_lines", "exact_w1", "w1_between_samples")


def _ref_sample_line(theta, n, generator):
    """Reference for q2 (its draws are part of q4's protocol: one ``torch.rand`` of n float64)."""
    import torch

    z = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.stack([torch.full_like(z, float(theta)), z], dim=1)


def _ref_pot_w1(x, y):
    from wganlib.distances import exact_w1

    return exact_w1(x, y)


# q1: distances(theta) -> {"w1", "js", "kl", "tv"} ----------------------------------------------
def _dist(theta):
    return lambda ns: answer(ns, "distances")(theta)


def _check_dist(theta, keys):
    def check(got):
        from wganlib.distances import parallel_lines

        need(isinstance(got, dict), "distances(theta) returns a dict", "dict", type(got).__name__)
        need(
            set(got) == {"w1", "js", "kl", "tv"},
            "its keys",
            ["js", "kl", "tv", "w1"],
            sorted(map(str, got)),
        )
        ref = parallel_lines(theta)
        for k in keys:
            close(got[k], float(ref[k]), f"{k} at theta = {theta}", rtol=1e-9, atol=1e-12)

    return check


# q2: sample_line(theta, n, generator) ------------------------------------------------------------
def _run_uniform(ns):
    import torch

    return answer(ns, "sample_line")(-2.0, 4000, torch.Generator().manual_seed(1))


def _check_uniform(got):
    import torch

    x = as_tensor(got, (4000, 2), "sample_line(-2.0, 4000, g)")
    need(x.dtype == torch.float64, "dtype", "torch.float64", str(x.dtype))
    need(bool(torch.all(x[:, 0] == -2.0)), "first coordinate is theta everywhere")
    z = x[:, 1]
    need(bool(torch.all((z >= 0) & (z <= 1))), "second coordinate in [0, 1]")
    need(
        abs(z.mean().item() - 0.5) < 0.03 and abs(z.var().item() - 1 / 12) < 0.01,
        "second coordinate ~ U[0, 1] (mean 1/2, variance 1/12)",
        "0.5, 0.0833",
        f"{z.mean().item():.4f}, {z.var().item():.4f}",
    )


def _run_generator(ns):
    import torch

    f = answer(ns, "sample_line")
    out = []
    for global_seed, seed in ((10, 5), (11, 5), (10, 6)):
        torch.manual_seed(global_seed)
        out.append(f(0.3, 50, torch.Generator().manual_seed(seed)))
    return out


def _check_generator(got):
    import torch

    need(isinstance(got, list) and len(got) == 3, "three draws")
    a, b, c = (as_tensor(t, (50, 2), "sample_line(0.3, 50, g)") for t in got)
    need(torch.equal(a, b), "same generator seed, other global seed: same draws (uses `generator`)")
    need(not torch.equal(a, c), "another generator seed: other draws")


# q3: pot_w1(x, y) ---------------------------------------------------------------------------------
def _clouds():
    import torch

    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    return x, torch.rand(30, 2, generator=g, dtype=torch.float64) * 3


def _split():
    """All of x at 0; half of y at 0, half at (2, 0): W1 = 1, W2 = sqrt(2), squared cost 2."""
    import numpy as np

    y = np.zeros((20, 2))
    y[10:, 0] = 2.0
    return np.zeros((10, 2)), y


def _run_pot(inputs, as_numpy):
    def run(ns):
        x, y = inputs()
        if as_numpy:
            x, y = x.numpy(), y.numpy()
        return answer(ns, "pot_w1")(x, y)

    return run


def _check_pot(inputs, what):
    def check(got):
        from wganlib.distances import exact_w1

        x, y = inputs()
        close(as_float(got), exact_w1(x, y), what, rtol=1e-7)

    return check


def _translation():
    import numpy as np

    x = np.array([[0.0, 0.0], [0.0, 1.0]])
    return x, x + [3.0, 4.0]


# q4: w1_curve(thetas, n, seed) with the reference sample_line and pot_w1 ---------------------------
_THETAS = [0.0, 0.25, 0.5, 1.0, 2.0]


def _run_curve(thetas, n):
    def run(ns):
        ns["sample_line"], ns["pot_w1"] = _ref_sample_line, _ref_pot_w1
        return answer(ns, "w1_curve")(list(thetas), n, 0)

    return run


def _expected_curve(thetas, n):
    import torch

    from wganlib.distances import exact_w1

    g = torch.Generator().manual_seed(0)
    out = []
    for t in thetas:
        p0 = _ref_sample_line(0.0, n, g)
        out.append(exact_w1(p0, _ref_sample_line(t, n, g)))
    return out


def _check_curve_smoke(got):
    need(
        isinstance(got, list) and len(got) == 2,
        "a list, one value per theta",
        2,
        len(got) if isinstance(got, list) else type(got).__name__,
    )
    for t, w in zip([0.0, 0.5], got, strict=True):
        need(as_float(w) >= abs(t) - 1e-9, f"sample W1 >= |theta| at theta = {t}", f">= {t}", w)


def _check_curve(got):
    need(isinstance(got, list) and len(got) == len(_THETAS), "a list, one value per theta")
    for t, w, e in zip(_THETAS, got, _expected_curve(_THETAS, 300), strict=True):
        close(
            w,
            e,
            f"W1 at theta = {t} (one generator seeded with `seed`, P_0 drawn first)",
            rtol=1e-7,
        )


CASES = [
    Case(
        "q1", "theta = 0.5 (public)", 0.5, _dist(0.5), _check_dist(0.5, ("w1", "js")), public=True
    ),
    Case("q1", "negative theta", 0.75, _dist(-1.5), _check_dist(-1.5, ("w1", "js", "kl", "tv"))),
    Case("q1", "small theta", 1.0, _dist(1e-6), _check_dist(1e-6, ("w1", "js", "kl", "tv"))),
    Case("q1", "theta = 0", 0.75, _dist(0.0), _check_dist(0.0, ("w1", "js", "kl", "tv"))),
    Case(
        "q2",
        "shape and dtype (public)",
        0.25,
        lambda ns: answer(ns, "sample_line")(
            0.7, 100, __import__("torch").Generator().manual_seed(0)
        ),
        lambda got: (
            as_tensor(got, (100, 2), "sample_line(0.7, 100, g)"),
            need(str(got.dtype) == "torch.float64", "dtype", "torch.float64", str(got.dtype)),
            need(bool((got[:, 0] == 0.7).all()), "first coordinate is theta"),
        )[-1],
        public=True,
    ),
    Case("q2", "uniform second coordinate", 1.0, _run_uniform, _check_uniform),
    Case("q2", "draws from the given generator", 0.75, _run_generator, _check_generator),
    Case(
        "q3",
        "a translation by (3, 4) (public)",
        0.5,
        _run_pot(_translation, False),
        lambda got: close(as_float(got), 5.0, "W1 of a translation by (3, 4)", rtol=1e-7),
        public=True,
    ),
    Case(
        "q3",
        "two different clouds (not a translation)",
        1.25,
        _run_pot(_clouds, True),
        _check_pot(_clouds, "W1 between two different clouds"),
    ),
    Case(
        "q3",
        "mass split in two: W1 = 1, W2 = sqrt(2)",
        1.25,
        _run_pot(_split, False),
        _check_pot(_split, "W1 when half the mass moves by 2"),
    ),
    Case(
        "q4",
        "two thetas (public)",
        0.5,
        _run_curve([0.0, 0.5], 50),
        _check_curve_smoke,
        public=True,
    ),
    Case("q4", "the protocol: n = 300, seed 0", 1.5, _run_curve(_THETAS, 300), _check_curve),
]

assert all(
    math.isclose(sum(c.points for c in CASES if c.question == q), p) for q, p in QUESTIONS.items()
)
