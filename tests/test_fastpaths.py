"""The training step's fast paths give the same numbers as the plain paths (wganlib.fastpaths)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.parametrizations import spectral_norm

from wganlib import fastpaths
from wganlib.config import TrainConfig
from wganlib.ensemble import EnsembleLinear, EnsembleMLPCritic, ensemble_spectral_norm
from wganlib.lipschitz import gradient_penalty
from wganlib.models import MLPCritic
from wganlib.train import train

METHODS = {
    "clip": {"objective": "wgan", "lipschitz": "clip", "n_critic": 5},
    "gp": {"objective": "wgan", "lipschitz": "gp", "n_critic": 5, "gp_weight": 10.0},
    "lp": {"objective": "wgan", "lipschitz": "lp", "n_critic": 5, "gp_weight": 10.0},
    "sn": {"objective": "wgan", "lipschitz": "sn", "n_critic": 5},
    "gan": {"objective": "gan", "lipschitz": "none", "n_critic": 1},
    "nsgan": {"objective": "nsgan", "lipschitz": "none", "n_critic": 1},
}


def _critics(members: int, act: str = "relu"):
    torch.manual_seed(0)
    if members == 1:
        return MLPCritic(2, width=16, depth=2, activation=act)
    return EnsembleMLPCritic(members, 2, width=16, depth=2, activation=act)


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
@pytest.mark.parametrize("one_sided", [False, True])
def test_explicit_input_gradient_gives_the_double_backward_penalty(members, act, one_sided):
    critic = _critics(members, act)
    g = torch.Generator().manual_seed(1)
    real, fake = (
        torch.randn(members * 32, 2, generator=g),
        torch.randn(members * 32, 2, generator=g),
    )
    grads, values = [], []
    for on in (True, False):
        critic.zero_grad()
        with fastpaths.use(explicit_penalty=on):
            gp = gradient_penalty(
                critic, real, fake, generator=torch.Generator().manual_seed(2), one_sided=one_sided
            )
        gp.backward()
        values.append(gp.detach())
        # the biases do not reach the input gradient: None here, zeros from double backward
        grads.append(
            [torch.zeros_like(p) if p.grad is None else p.grad for p in critic.parameters()]
        )
    torch.testing.assert_close(values[0], values[1], rtol=1e-6, atol=1e-7)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_explicit_input_gradient_is_the_autograd_gradient():
    critic = _critics(3)
    x = torch.randn(3 * 8, 2, generator=torch.Generator().manual_seed(3))
    fast = fastpaths.mlp_input_gradient(critic, x)
    xg = x.clone().requires_grad_(True)
    (slow,) = torch.autograd.grad(critic(xg).sum(), xg)
    torch.testing.assert_close(fast, slow)


def test_unsupported_critics_fall_back_to_autograd():
    assert fastpaths.mlp_input_gradient(_critics(1, "tanh"), torch.zeros(4, 2)) is None
    sn = ensemble_spectral_norm(_critics(3))
    assert fastpaths.mlp_input_gradient(sn, torch.zeros(6, 2)) is None
    with pytest.raises(ValueError, match="unknown fast path"):
        with fastpaths.use(no_such_path=True):
            pass


def _ensemble_params(run, k):
    """Member k's parameters of both nets (leading dimension K)."""
    out = []
    for net in (run.generator, run.critic):
        out += [p.detach()[k] for p in net.parameters()]
    return out


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("members", [1, 3])
def test_training_with_fast_paths_ends_at_the_plain_parameters(method, members):
    cfg = TrainConfig(
        data="8gaussians", width=16, depth=2, batch_size=32, iterations=4, members=members,
        log_every=4, seed=5, **METHODS[method],
    )  # fmt: skip
    with fastpaths.use(**{k: k != "keep_heap" for k in fastpaths.SWITCHES}):  # see below
        fast = train(cfg)
    with fastpaths.use(**{k: False for k in fastpaths.SWITCHES}):
        plain = train(cfg)
    for k in range(members):
        a = _ensemble_params(fast, k) if members > 1 else list(fast.generator.parameters())
        b = _ensemble_params(plain, k) if members > 1 else list(plain.generator.parameters())
        if members == 1:
            a += list(fast.critic.parameters())
            b += list(plain.critic.parameters())
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x.detach(), y.detach(), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- spectral norm, per member
def test_ensemble_spectral_norm_equals_pytorchs_member_by_member():
    """Same weights and same power-iteration vectors: the same u, v and W / sigma after each
    training-mode forward as torch's spectral_norm on each member (issue 13: 3.080 vs 2.765)."""
    members = 3
    torch.manual_seed(0)
    lin = EnsembleLinear(members, 5, 7)
    ensemble_spectral_norm(lin)
    sn = lin.parametrizations.weight[0]
    w = lin.parametrizations.weight.original  # (K, in, out)
    plain = []
    for k in range(members):
        p = torch.nn.Linear(5, 7)
        with torch.no_grad():
            p.weight.copy_(w[k].T)
        spectral_norm(p)
        par = p.parametrizations.weight[0]
        par._u.copy_(sn.u[k])
        par._v.copy_(sn.v[k])
        plain.append(p)
    for _ in range(4):  # each training-mode access runs one power iteration
        ens_w = lin.weight  # (K, in, out)
        for k, p in enumerate(plain):
            torch.testing.assert_close(ens_w[k].T, p.weight, rtol=1e-5, atol=1e-6)
            par = p.parametrizations.weight[0]
            torch.testing.assert_close(sn.u[k], par._u, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(sn.v[k], par._v, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- per member, against separate runs
@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_member_equals_a_separate_run(method):
    """Member k of a batched run ends where a separate run on its blocks of the draws ends
    (the readable references for clip and GP, critic_step/generator_step otherwise)."""
    from wganlib.replay import member_module, record_draws, replay_member

    members, iters = 3, 3
    cfg = TrainConfig(
        data="8gaussians", width=16, depth=2, batch_size=32, iterations=iters,
        members=members, log_every=iters, seed=7, **METHODS[method],
    )  # fmt: skip
    engine = train(cfg)
    draws = record_draws(cfg, iters)
    for k in range(members):
        gen, critic = replay_member(cfg, draws, k, iters)
        ours = [member_module(engine.generator, k), member_module(engine.critic, k)]
        for mine, theirs in zip(ours, (gen, critic), strict=True):
            for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
                torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-4, atol=1e-6)
    # and the members differ from each other (the comparison is not vacuous)
    w = engine.critic.net[0]
    w = w.parametrizations.weight.original if hasattr(w, "parametrizations") else w.weight
    assert not torch.allclose(w[0], w[1])


_KEEP_HEAP_RUN = """
import sys, torch
from wganlib import fastpaths
from wganlib.config import TrainConfig
from wganlib.train import train
torch.set_num_threads(1)
cfg = TrainConfig(data="noise", image_size=16, channels=3, generator="dcgan", critic="dcgan",
                  lipschitz="clip", batch_size=4, iterations=1, n_critic=2, log_every=1)
with fastpaths.use(keep_heap=sys.argv[1] == "on"):
    run = train(cfg)
torch.save([p.detach() for p in [*run.generator.parameters(), *run.critic.parameters()]], sys.argv[2])
"""


def test_keep_heap_changes_no_result(tmp_path):
    """The allocator setting is process-wide, so each variant runs in its own process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = {}
    for mode in ("on", "off"):
        out[mode] = tmp_path / f"{mode}.pt"
        subprocess.run(
            [sys.executable, "-c", _KEEP_HEAP_RUN, mode, str(out[mode])], check=True, env=env
        )
    on, off = (torch.load(out[m]) for m in ("on", "off"))
    assert len(on) == len(off) > 0
    assert all(torch.equal(a, b) for a, b in zip(on, off, strict=True))
