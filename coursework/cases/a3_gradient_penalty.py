"""Graded cases of assignment 3 (the gradient penalty); see :mod:`coursework.cases`."""

from __future__ import annotations

import math

from coursework.cases import Case, answer, as_tensor, close, need

QUESTIONS = {"q1": 3.0, "q2": 4.0, "q3": 3.0}
WRITTEN = {"w3": 5.0}
CHECKED_NAMES = ("interpolates", "GradientPenalty", "get_lipschitz")


def _linear(a):
    """f(x) = <a, x> + 1 (gradient a everywhere); a module built the same way on both sides."""
    import torch
    from torch import nn

    class LinearCritic(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.a = nn.Parameter(torch.as_tensor(a, dtype=torch.float32))

        def forward(self, x):
            return (x * self.a).flatten(start_dim=1).sum(dim=1) + 1.0

    return LinearCritic(a)


def _quadratic():
    """f(x) = |x|^2 / 2: gradient x, so the gradient norms at the interpolates straddle 1."""
    from torch import nn

    class QuadraticCritic(nn.Module):
        def forward(self, x):
            return 0.5 * x.pow(2).flatten(start_dim=1).sum(dim=1)

    return QuadraticCritic()


def _mlp(seed):
    import torch

    from wganlib.models import MLPCritic

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLPCritic(2, width=32, depth=2)


def _ref_interpolate(real, fake, generator=None):
    from wganlib.lipschitz import interpolates

    return interpolates(real, fake, generator=generator)


# q1: interpolate -------------------------------------------------------------------------------
def _images():
    import torch

    g = torch.Generator().manual_seed(1)
    return torch.randn(16, 3, 4, 4, generator=g), torch.randn(16, 3, 4, 4, generator=g)


def _run_images(ns):
    import torch

    real, fake = _images()
    return answer(ns, "interpolate")(real, fake, torch.Generator().manual_seed(2))


def _check_images(got):
    import torch

    real, fake = _images()
    x = as_tensor(got, tuple(real.shape), "interpolate on images (16, 3, 4, 4)")
    t = (x.detach().double() - fake.double()) / (real.double() - fake.double())
    need(bool(torch.all((t > -1e-4) & (t < 1 + 1e-4))), "each point between real and fake")
    per_example = t.flatten(start_dim=1)
    need(
        bool((per_example - per_example[:, :1]).abs().max() < 1e-3),
        "one t per example (the same for every channel and pixel)",
    )


def _run_detached(ns):
    import torch

    lift = torch.nn.Linear(2, 2)
    real = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    fake = lift(torch.randn(8, 2, generator=torch.Generator().manual_seed(4)))
    x = answer(ns, "interpolate")(real.requires_grad_(True), fake, torch.Generator().manual_seed(5))
    return {"requires_grad": bool(x.requires_grad), "has_graph": x.grad_fn is not None}


def _check_detached(got):
    need(
        isinstance(got, dict)
        and got.get("requires_grad") is False
        and got.get("has_graph") is False,
        "the result is detached from real and fake (no graph back to the generator)",
    )


def _run_uniform(ns):
    import torch

    f = answer(ns, "interpolate")
    real, fake = torch.ones(4000, 2, dtype=torch.float64), torch.zeros(4000, 2, dtype=torch.float64)
    torch.manual_seed(0)
    a = f(real, fake, torch.Generator().manual_seed(6))
    torch.manual_seed(1)
    b = f(real, fake, torch.Generator().manual_seed(6))
    return [a, b]


def _check_uniform(got):
    import torch

    need(isinstance(got, list) and len(got) == 2, "two draws")
    a, b = (as_tensor(x, (4000, 2), "interpolate of (4000, 2)") for x in got)
    need(a.dtype == torch.float64, "keeps the inputs' dtype", "torch.float64", str(a.dtype))
    t = a[:, 0]
    need(
        abs(t.mean().item() - 0.5) < 0.03 and abs(t.var().item() - 1 / 12) < 0.01,
        "t ~ U[0, 1] (mean 1/2, variance 1/12)",
    )
    need(torch.equal(a, b), "draws t from the generator given (not the global random state)")


def _run_public_interp(ns):
    import torch

    return answer(ns, "interpolate")(
        torch.ones(4, 2), torch.zeros(4, 2), torch.Generator().manual_seed(0)
    )


def _check_public_interp(got):
    import torch

    x = as_tensor(got, (4, 2), "interpolate(ones(4, 2), zeros(4, 2))")
    need(bool(torch.all((x >= 0) & (x <= 1))), "between real and fake")
    need(bool(torch.allclose(x[:, 0], x[:, 1])), "one t per example")


# q2 / q3: gradient_penalty with the reference interpolate --------------------------------------
def _pair(seed, shape, scale=1.0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale, torch.randn(*shape, generator=g)


def _run_gp(make_critic, seed, shape, one_sided=None, scale=1.0, gen_seed=None):
    def run(ns):
        import torch

        ns["interpolate"] = _ref_interpolate
        real, fake = _pair(seed, shape, scale)
        kwargs = {} if one_sided is None else {"one_sided": one_sided}
        gen = None if gen_seed is None else torch.Generator().manual_seed(gen_seed)
        return answer(ns, "gradient_penalty")(make_critic(), real, fake, gen, **kwargs)

    return run


def _check_value(value, what, tol=1e-4):
    def check(got):
        close(as_tensor(got, (), "the penalty (a 0-dim tensor)"), value, what, rtol=tol, atol=tol)

    return check


def _check_library(make_critic, seed, shape, one_sided, scale, gen_seed, what):
    def check(got):
        import torch

        from wganlib.lipschitz import gradient_penalty

        real, fake = _pair(seed, shape, scale)
        ref = gradient_penalty(
            make_critic(),
            real,
            fake,
            generator=torch.Generator().manual_seed(gen_seed),
            one_sided=bool(one_sided),
        )
        close(
            as_tensor(got, (), "the penalty (a 0-dim tensor)"),
            ref.detach(),
            what,
            rtol=1e-4,
            atol=1e-6,
        )

    return check


def _grid_a():
    import torch

    a = torch.zeros(2, 3)
    a[0, 0], a[1, 2], a[0, 1] = 2.0, 2.0, 1.0  # |a| = 3 over both feature dimensions together
    return a


def _image_a():
    import torch

    a = torch.zeros(3, 2, 2)
    a[0, 0, 0], a[1, 1, 1], a[2, 0, 1] = 2.0, 2.0, 1.0
    return a


def _run_backward(ns):
    import torch

    ns["interpolate"] = _ref_interpolate
    crit = _linear([0.3, 0.4])
    real, fake = _pair(7, (4, 2))
    penalty = answer(ns, "gradient_penalty")(crit, real, fake, torch.Generator().manual_seed(1))
    penalty.backward()
    return crit.a.grad


_QUAD = (_quadratic, 8, (64, 2), 1.5, 9)  # critic, seed, shape, scale, generator seed


def _check_straddle(got):
    _check_library(
        _QUAD[0],
        _QUAD[1],
        _QUAD[2],
        True,
        _QUAD[3],
        _QUAD[4],
        "one-sided penalty of a critic with gradient norms above and below 1",
    )(got)


CASES = [
    Case(
        "q1", "points (4, 2) (public)", 0.25, _run_public_interp, _check_public_interp, public=True
    ),
    Case("q1", "images: one t per example", 1.0, _run_images, _check_images),
    Case("q1", "detached inputs", 0.75, _run_detached, _check_detached),
    Case("q1", "t uniform, drawn from the generator", 1.0, _run_uniform, _check_uniform),
    Case(
        "q2",
        "linear critic on points, |a| = 2 (public)",
        0.25,
        _run_gp(lambda: _linear([1.2, 1.6]), 0, (8, 2)),
        _check_value(1.0, "(|a| - 1)^2 = 1"),
        public=True,
    ),
    Case(
        "q2",
        "2-D features per example: norm over both",
        1.0,
        _run_gp(lambda: _linear(_grid_a()), 1, (5, 2, 3)),
        _check_value(4.0, "(3 - 1)^2 for |a| = 3 over all non-batch dimensions"),
    ),
    Case(
        "q2",
        "images: norm over channels, height, width",
        0.5,
        _run_gp(lambda: _linear(_image_a()), 2, (5, 3, 2, 2)),
        _check_value(4.0, "(3 - 1)^2 for |a| = 3 over C, H, W"),
    ),
    Case(
        "q2",
        "differentiable (create_graph=True)",
        1.0,
        _run_backward,
        lambda got: close(
            got,
            __import__("torch").tensor([-0.6, -0.8]),
            "d penalty / d a for |a| = 0.5",
            atol=1e-5,
        ),
    ),
    Case(
        "q2",
        "an MLP critic, against the library",
        1.25,
        _run_gp(lambda: _mlp(0), 5, (64, 2), None, 1.0, 6),
        _check_library(lambda: _mlp(0), 5, (64, 2), False, 1.0, 6, "penalty of an MLP critic"),
    ),
    Case(
        "q3",
        "|a| = 0.5: nothing to penalise (public)",
        0.25,
        _run_gp(lambda: _linear([0.3, 0.4]), 3, (8, 2), True),
        _check_value(0.0, "one-sided, |a| < 1", 1e-7),
        public=True,
    ),
    Case(
        "q3",
        "|a| = 3: (3 - 1)^2",
        0.75,
        _run_gp(lambda: _linear([1.8, 2.4]), 4, (8, 2), True),
        _check_value(4.0, "one-sided, |a| = 3"),
    ),
    Case(
        "q3",
        "gradient norms above and below 1",
        1.25,
        _run_gp(_QUAD[0], _QUAD[1], _QUAD[2], True, _QUAD[3], _QUAD[4]),
        _check_straddle,
    ),
    Case(
        "q3",
        "two-sided by default on the same critic",
        0.75,
        _run_gp(_QUAD[0], _QUAD[1], _QUAD[2], None, _QUAD[3], _QUAD[4]),
        _check_library(
            _QUAD[0],
            _QUAD[1],
            _QUAD[2],
            False,
            _QUAD[3],
            _QUAD[4],
            "two-sided penalty (one_sided left at its default)",
        ),
    ),
]

assert all(
    math.isclose(sum(c.points for c in CASES if c.question == q), p) for q, p in QUESTIONS.items()
)
