"""The trainer gives the same parameters as the readable references (wganlib.reference)."""

from __future__ import annotations

import inspect

import torch

from wganlib import reference
from wganlib.config import TrainConfig
from wganlib.reference import reference_algorithm1, reference_wgan_gp
from wganlib.train import Run, train


def _same(a: Run, b: Run) -> bool:
    pa = list(a.generator.parameters()) + list(a.critic.parameters())
    pb = list(b.generator.parameters()) + list(b.critic.parameters())
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))


def test_trainer_equals_algorithm1():
    cfg = TrainConfig(width=32, depth=3, batch_size=64, iterations=4)  # WGAN-clip, RMSProp 5e-5
    trained = train(cfg)
    ref = Run(cfg)  # same initial weights and random streams, iteration 0
    start = [p.clone() for p in ref.critic.parameters()]
    reference_algorithm1(
        ref.generator, ref.critic, lambda m: ref.sample_real(), ref.sample_prior,
        iterations=4, alpha=5e-5, c=0.01, m=64, n_critic=5,
    )  # fmt: skip
    assert not all(torch.equal(a, b) for a, b in zip(start, ref.critic.parameters(), strict=True))
    assert _same(trained, ref)


def test_trainer_equals_wgan_gp_reference():
    cfg = TrainConfig(width=32, depth=3, batch_size=64, iterations=3, lipschitz="gp")
    trained = train(cfg)
    ref = Run(cfg)
    reference_wgan_gp(
        ref.generator, ref.critic, lambda m: ref.sample_real(), ref.sample_prior,
        iterations=3, lr=1e-4, betas=(0.5, 0.9), lam=10.0, m=64, n_critic=5,
        penalty_generator=ref.penalty_generator,
    )  # fmt: skip
    assert _same(trained, ref)


def test_the_comparison_is_sensitive():
    # clamping before each step (the 2017 code's order) is a different algorithm
    cfg = TrainConfig(width=32, depth=3, batch_size=64, iterations=2)
    before = train(TrainConfig(**{**cfg.to_dict(), "clip_when": "before"}))
    ref = Run(cfg)
    reference_algorithm1(
        ref.generator, ref.critic, lambda m: ref.sample_real(), ref.sample_prior,
        iterations=2, m=64,
    )  # fmt: skip
    assert not _same(before, ref)


def test_algorithm1_reads_like_the_paper():
    src = inspect.getsource(reference_algorithm1)
    body = src[src.index('"""', src.index('"""') + 3) + 3 :]
    code = [line for line in body.splitlines() if line.strip()]
    assert len(code) <= 30
    for step in ("RMSprop", "clamp_(-c, c)", "sample_real(m)", "sample_prior(m)", "n_critic"):
        assert step in body
    assert "Algorithm 1" in reference.__doc__
