from __future__ import annotations

import pytest
import torch

from wganlib.ensemble import (
    EnsembleLinear,
    EnsembleMLPCritic,
    EnsembleMLPGenerator,
    ensemble_spectral_norm,
    split_members,
)
from wganlib.lipschitz import gradient_penalty, interpolates
from wganlib.models import MLPCritic, MLPGenerator

K, B = 3, 8


def _copy_into(ensemble, plain, k):
    """Copy member k of an ensemble MLP into a plain MLP (nn.Linear stores W transposed)."""
    lins = [m for m in ensemble.net if isinstance(m, EnsembleLinear)]
    plain_lins = [m for m in plain.net if isinstance(m, torch.nn.Linear)]
    assert len(lins) == len(plain_lins)
    with torch.no_grad():
        for e, p in zip(lins, plain_lins, strict=True):
            p.weight.copy_(e.weight[k].T)
            p.bias.copy_(e.bias[k, 0])


def _members(kind):
    torch.manual_seed(0)
    if kind == "critic":
        ens = EnsembleMLPCritic(K, 2, width=16, depth=2)
        plain = [MLPCritic(2, width=16, depth=2) for _ in range(K)]
    else:
        ens = EnsembleMLPGenerator(K, 2, 2, width=16, depth=2)
        plain = [MLPGenerator(2, 2, width=16, depth=2) for _ in range(K)]
    for k, p in enumerate(plain):
        _copy_into(ens, p, k)
    return ens, plain


@pytest.mark.parametrize("kind", ["critic", "generator"])
def test_members_compute_what_separate_mlps_compute(kind):
    ens, plain = _members(kind)
    x = torch.randn(K * B, 2, generator=torch.Generator().manual_seed(1))
    ref = torch.cat([p(xb) for p, xb in zip(plain, split_members(x, K), strict=True)])
    torch.testing.assert_close(ens(x), ref)


def test_each_member_gets_the_gradient_of_its_own_loss():
    """WGAN-GP critic loss averaged over all rows: member k's gradient equals a separate run's."""
    ens, plain = _members("critic")
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(K * B, 2, generator=gen), torch.randn(K * B, 2, generator=gen)
    x_hat = interpolates(real, fake, generator=torch.Generator().manual_seed(3))
    loss = ens(fake).mean() - ens(real).mean() + 10 * gradient_penalty(ens, x_hat, x_hat)
    loss.backward()
    w_grad = ens.net[0].weight.grad  # (K, 2, 16)
    for k, p in enumerate(plain):
        r, f, h = (split_members(t, K)[k] for t in (real, fake, x_hat))
        (p(f).mean() - p(r).mean() + 10 * gradient_penalty(p, h, h)).backward()
        torch.testing.assert_close(w_grad[k], p.net[0].weight.grad.T, rtol=1e-4, atol=1e-6)


def test_spectral_norm_normalises_each_member():
    torch.manual_seed(0)
    critic = ensemble_spectral_norm(EnsembleMLPCritic(K, 2, width=16, depth=2))
    x = torch.randn(K * B, 2)
    for _ in range(30):  # power iterations run at each forward in training mode
        critic(x)
    for layer in (m for m in critic.net if isinstance(m, EnsembleLinear)):
        sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)  # (K,)
        torch.testing.assert_close(sigma, torch.ones(K), rtol=1e-3, atol=1e-3)
    # and the weights still learn: the gradient reaches the original parameter
    critic(x).sum().backward()
    assert critic.net[0].parametrizations.weight.original.grad.abs().sum() > 0


def test_spectral_norm_through_the_lipschitz_method():
    from wganlib.lipschitz import get_lipschitz

    critic = get_lipschitz("sn").prepare(EnsembleMLPCritic(K, 2, width=8, depth=1))
    from torch.nn.utils import parametrize

    assert all(
        parametrize.is_parametrized(m, "weight")
        for m in critic.net
        if isinstance(m, EnsembleLinear)
    )


def test_rows_must_split_evenly():
    ens = EnsembleMLPCritic(K, 2, width=4, depth=1)
    with pytest.raises(ValueError, match="multiple of 3"):
        ens(torch.zeros(K * B + 1, 2))


def test_config_members_builds_an_ensemble_and_validates():
    from wganlib.config import ConfigError, TrainConfig
    from wganlib.sources import build_critic, build_data, build_generator

    cfg = TrainConfig(data="8gaussians", members=3, width=8, depth=1, batch_size=4)
    assert isinstance(build_generator(cfg), EnsembleMLPGenerator)
    assert isinstance(build_critic(cfg), EnsembleMLPCritic)
    assert build_data(cfg, seed=0).next().shape == (12, 2)  # batch_size rows per member
    with pytest.raises(ConfigError, match="members"):
        TrainConfig(data="digits", generator="dcgan", critic="dcgan", members=2)
    with pytest.raises(ConfigError, match="members"):
        TrainConfig(data="8gaussians", members=0)
