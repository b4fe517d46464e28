"""Mixed precision on the CPU path: bf16 autocast trains; fp16 + GradScaler keeps the signs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wganlib.config import ConfigError, TrainConfig
from wganlib.lipschitz import get_lipschitz
from wganlib.models import DCGANCritic
from wganlib.objectives import get_objective
from wganlib.precision import Precision
from wganlib.steps import critic_step
from wganlib.train import Run


def _cfg(**kw) -> TrainConfig:
    base = dict(data="noise", image_size=16, channels=3, generator="dcgan", critic="dcgan",
                ngf=8, ndf=8, batch_size=8, n_critic=2, iterations=3, log_every=1, seed=1)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def test_bf16_autocast_trains_with_float32_weights():
    run = Run(_cfg(amp="bf16"))
    seen = []
    hook = run.critic.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    run.fit()
    hook.remove()
    h = run.history
    assert len(h) == 3 and np.isfinite(h.values).all()
    assert torch.bfloat16 in seen  # the critic really ran under autocast
    assert all(p.dtype == torch.float32 for p in run.critic.parameters())
    assert all(p.dtype == torch.float32 for p in run.generator.parameters())
    # the same run without AMP gives close, not identical, estimates
    ref = Run(_cfg()).fit().history["critic_estimate"]
    assert not np.array_equal(ref, h["critic_estimate"])
    assert np.allclose(ref, h["critic_estimate"], atol=0.05)


def test_bf16_gradient_penalty_is_finite_and_positive():
    run = Run(_cfg(amp="bf16", lipschitz="gp", c_layer_norm=True)).fit()
    assert np.isfinite(run.history.values).all() and (run.history["penalty"] > 0).all()


def _critic_grads(amp: str, lipschitz: str) -> tuple[list[torch.Tensor], float, float]:
    torch.manual_seed(0)
    critic = DCGANCritic(image_size=16, ndf=8, nc=3, batch_norm=False)
    g = torch.Generator().manual_seed(0)
    real = torch.rand(8, 3, 16, 16, generator=g) * 2 - 1
    fake = torch.rand(8, 3, 16, 16, generator=g) * 0.5
    lip = get_lipschitz("gp", lam=10.0) if lipschitz == "gp" else get_lipschitz("none")
    opt = torch.optim.SGD(critic.parameters(), lr=0.0)  # lr 0: the weights stay; grads kept
    prec = Precision(amp, "cpu")
    out = critic_step(critic, opt, get_objective("wgan"), lip, real, fake,
                      penalty_generator=torch.Generator().manual_seed(1), stats=True,
                      precision=prec)  # fmt: skip
    grads = [p.grad.detach().clone() for p in critic.parameters()]
    return grads, float(out.loss), float(out.penalty)


@pytest.mark.parametrize("lipschitz", ["none", "gp"])
def test_fp16_grad_scaler_keeps_signs_and_penalty(lipschitz):
    try:
        g16, loss16, pen16 = _critic_grads("fp16", lipschitz)
    except RuntimeError as err:  # an fp16 kernel this CPU build lacks
        pytest.skip(f"fp16 autocast unsupported on this CPU build: {err}")
    g32, loss32, pen32 = _critic_grads("none", lipschitz)
    v16, v32 = torch.cat([g.flatten() for g in g16]), torch.cat([g.flatten() for g in g32])
    # unscaled by the GradScaler: the same gradient up to fp16 rounding, same direction and size
    assert torch.nn.functional.cosine_similarity(v16, v32, dim=0) > 0.99
    assert float(v16.norm()) == pytest.approx(float(v32.norm()), rel=0.05)
    assert np.sign(loss16) == np.sign(loss32) and loss16 == pytest.approx(loss32, abs=2e-3)
    if lipschitz == "gp":
        assert pen16 > 0 and pen16 == pytest.approx(pen32, rel=1e-4)  # float32 penalty


def test_fp16_run_saves_and_resumes_its_scaler(tmp_path):
    cfg = _cfg(amp="fp16")
    try:
        run = Run(cfg).fit(until=2, checkpoint=tmp_path / "c.pt")
    except RuntimeError as err:
        pytest.skip(f"fp16 autocast unsupported on this CPU build: {err}")
    from wganlib.train import load

    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["precision"]["critic"]["scale"] > 0
    resumed = load(tmp_path / "c.pt").fit()
    straight = run.fit()
    assert all(torch.equal(a, b) for a, b in
               zip(resumed.critic.parameters(), straight.critic.parameters(), strict=True))  # fmt: skip


def test_bad_amp_is_a_config_error():
    with pytest.raises(ConfigError, match="amp"):
        _cfg(amp="fp8")
