"""Graded cases of assignment 2 (WGAN losses, weight clipping, a run); see :mod:`coursework.cases`."""

from __future__ import annotations

import math

from coursework.cases import Case, answer, as_float, as_tensor, close, need

QUESTIONS = {"q1": 2.0, "q2": 2.0, "q3": 2.0, "q4": 4.0}
WRITTEN = {"w2": 5.0}
CHECKED_NAMES = ("get_objective", "WGAN", "clip_weights_", "WeightClipping", "get_lipschitz")


def _scores():
    import torch

    g = torch.Generator().manual_seed(0)
    return torch.randn(64, generator=g, dtype=torch.float64), torch.randn(
        48, generator=g, dtype=torch.float64
    ) + 1


# q1 / q2: the losses ---------------------------------------------------------------------------
def _run_loss(name, with_real):
    def run(ns):
        r, f = _scores()
        fn = answer(ns, name)
        return fn(r, f) if with_real else fn(f)

    return run


def _check_loss(with_real):
    def check(got):
        r, f = _scores()
        expected = f.mean() - r.mean() if with_real else -f.mean()
        loss = as_tensor(got, (), "the loss (a 0-dim tensor)")
        close(loss, expected, "value on random scores of unequal batch sizes", rtol=1e-5, atol=1e-7)

    return check


def _run_grad(name, with_real):
    def run(ns):
        import torch

        r = torch.zeros(8, requires_grad=True)
        f = torch.zeros(4, requires_grad=True)
        loss = answer(ns, name)(r, f) if with_real else answer(ns, name)(f)
        loss.backward()
        return {"real": r.grad, "fake": f.grad}

    return run


def _check_grad(with_real):
    def check(got):
        import torch

        need(isinstance(got, dict), "gradients")
        if with_real:
            close(
                got["real"], torch.full((8,), -1 / 8), "d loss / d real scores (= -1/m)", atol=1e-6
            )
        close(
            got["fake"],
            torch.full((4,), (1 if with_real else -1) / 4),
            "d loss / d fake scores",
            atol=1e-6,
        )

    return check


def _check_public_critic(got):
    close(
        as_tensor(got, (), "the loss (a 0-dim tensor)"),
        -1.5,
        "critic_loss([1, 2], [0, 0])",
        atol=1e-6,
    )


def _check_public_gen(got):
    close(
        as_tensor(got, (), "the loss (a 0-dim tensor)"), -2.0, "generator_loss([1, 3])", atol=1e-6
    )


# q3: clip_ -------------------------------------------------------------------------------------
def _net():
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    return net


def _run_clip(ns):
    net = _net()
    before = list(net.parameters())
    returned = answer(ns, "clip_")(net, 0.05)
    after = list(net.parameters())
    return {
        "params": [p.detach().clone() for p in after],
        "same_objects": len(before) == len(after)
        and all(a is b for a, b in zip(before, after, strict=True)),
        "returned_none": returned is None,
    }


def _check_clip_values(got):
    need(isinstance(got, dict) and isinstance(got.get("params"), list), "the parameters")
    for p, ref in zip(got["params"], _net().parameters(), strict=True):
        close(p, ref.detach().clamp(-0.05, 0.05), "every parameter clamped to [-c, c]", atol=1e-7)


def _check_clip_in_place(got):
    _check_clip_values(got)  # a do-nothing answer keeps its parameters "in place" too
    need(
        isinstance(got, dict) and got.get("same_objects") is True,
        "the parameters stay the same tensor objects (in place)",
    )
    need(got.get("returned_none") is True, "returns nothing")


def _run_clip_public(ns):
    import torch
    from torch import nn

    net = nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.5, -0.5, 0.001], [0.02, -0.003, 2.0]]))
    answer(ns, "clip_")(net, 0.01)
    return net.weight.detach().clone()


# q4: the run ----------------------------------------------------------------------------------
_SPEC = {
    "data": "8gaussians",
    "lipschitz": "clip",
    "clip_value": 0.01,
    "width": 64,
    "depth": 2,
    "batch_size": 64,
    "n_critic": 5,
    "lr": 1e-3,
    "iterations": 200,
    "seed": 0,
}


def _run_run(ns):
    run, cov = answer(ns, "run"), answer(ns, "coverage")
    return {
        "config": {k: getattr(run.config, k, None) for k in _SPEC},
        "mine": isinstance(run.objective, ns["MyWGAN"])
        and isinstance(run.lipschitz, ns["MyClipping"]),
        "iteration": int(run.iteration),
        "samples": run.sample(2500, seed=1),
        "coverage": {"modes": cov.modes, "high_quality": cov.high_quality},
    }


def _check_config(got):
    need(isinstance(got, dict) and isinstance(got.get("config"), dict), "run.config")
    for k, v in _SPEC.items():
        g = got["config"].get(k)
        ok = (
            math.isclose(g, v, rel_tol=1e-9)
            if isinstance(v, float) and isinstance(g, float)
            else g == v
        )
        need(ok, f"config.{k}", v, g)


def _check_public_run(got):
    need(isinstance(got, dict) and isinstance(got.get("coverage"), dict), "run and coverage exist")
    need(isinstance(got["coverage"].get("modes"), int), "coverage.modes is a number of modes")


def _check_mine(got):
    need(got.get("mine") is True, "trained with train_with_my_functions (MyWGAN, MyClipping)")
    need(got.get("iteration", 0) >= _SPEC["iterations"], "the run finished its iterations")


def _check_coverage(got):
    import torch

    from wganlib.metrics import mode_coverage
    from wganlib.toy import centers, mode_std

    x = as_tensor(got.get("samples"), (2500, 2), "run.sample(2500, seed=1)")
    ref = mode_coverage(
        x.to(torch.float32), centers("8gaussians"), mode_std("8gaussians"), threshold=10
    )
    cov = got.get("coverage") or {}
    need(
        cov.get("modes") == ref.modes,
        "coverage.modes of 2500 samples (seed 1), threshold 10",
        ref.modes,
        cov.get("modes"),
    )
    close(as_float(cov.get("high_quality")), ref.high_quality, "coverage.high_quality", atol=1e-6)


CASES = [
    Case(
        "q1",
        "critic_loss([1, 2], [0, 0]) (public)",
        0.25,
        lambda ns: answer(ns, "critic_loss")(
            __import__("torch").tensor([1.0, 2.0]), __import__("torch").tensor([0.0, 0.0])
        ),
        _check_public_critic,
        public=True,
    ),
    Case(
        "q1",
        "random scores, unequal batches",
        1.0,
        _run_loss("critic_loss", True),
        _check_loss(True),
    ),
    Case("q1", "gradient signs", 0.75, _run_grad("critic_loss", True), _check_grad(True)),
    Case(
        "q2",
        "generator_loss([1, 3]) (public)",
        0.25,
        lambda ns: answer(ns, "generator_loss")(__import__("torch").tensor([1.0, 3.0])),
        _check_public_gen,
        public=True,
    ),
    Case("q2", "random scores", 1.0, _run_loss("generator_loss", False), _check_loss(False)),
    Case("q2", "gradient sign", 0.75, _run_grad("generator_loss", False), _check_grad(False)),
    Case(
        "q3",
        "a 3x2 layer (public)",
        0.25,
        _run_clip_public,
        lambda got: close(
            got,
            __import__("torch").tensor([[0.01, -0.01, 0.001], [0.01, -0.003, 0.01]]),
            "clip_(layer, 0.01)",
            atol=1e-7,
        ),
        public=True,
    ),
    Case("q3", "every parameter of an MLP", 1.0, _run_clip, _check_clip_values),
    Case("q3", "in place, returns nothing", 0.75, _run_clip, _check_clip_in_place),
    Case("q4", "the run's configuration", 1.5, _run_run, _check_config),
    Case("q4", "run and coverage exist (public)", 0.25, _run_run, _check_public_run, public=True),
    Case("q4", "trained with your functions", 0.25, _run_run, _check_mine),
    Case("q4", "coverage measured as specified", 2.0, _run_run, _check_coverage),
]

assert all(
    math.isclose(sum(c.points for c in CASES if c.question == q), p) for q, p in QUESTIONS.items()
)
