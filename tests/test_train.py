"""Tests for wganlib.train: the trainer, its history, checkpoints, resume, NaN stop."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from wganlib import toy
from wganlib.config import ConfigError, TrainConfig
from wganlib.history import Callback, History, NonFiniteError
from wganlib.metrics import mode_coverage
from wganlib.train import DEVICE_COLUMNS, HOST_COLUMNS, Run, load, train


def tiny(**kw) -> TrainConfig:
    base = dict(width=16, depth=2, batch_size=32, iterations=6, log_every=4)
    return TrainConfig(**{**base, **kw})


def _params(run: Run) -> dict[str, torch.Tensor]:
    sd = {f"g.{k}": v for k, v in run.generator.state_dict().items()}
    sd.update({f"c.{k}": v for k, v in run.critic.state_dict().items()})
    return sd


_CLOCKS = ("wall_time", "images_per_sec")  # host timings: differ between identical runs


def _no_wall(h: History) -> np.ndarray:
    return h.values[:, [i for i, c in enumerate(h.columns) if c not in _CLOCKS]]


def test_history_has_one_row_per_generator_iteration(tmp_path):
    run = train(tiny(iterations=7))
    h = run.history
    assert h.columns == list(HOST_COLUMNS + DEVICE_COLUMNS)
    assert len(h) == 7 and run.iteration == 7 and run.critic_steps == 35
    np.testing.assert_array_equal(h["iteration"], np.arange(1, 8))
    np.testing.assert_array_equal(h["n_critic"], np.full(7, 5))
    np.testing.assert_allclose(h["critic_estimate"], -h["critic_loss"], rtol=1e-6)
    assert np.all(np.diff(h["wall_time"]) >= 0)
    assert np.all(h["critic_grad_norm"] > 0) and np.all(h["generator_grad_norm"] > 0)
    d = h.to_dict()
    assert list(d) == h.columns and len(d["critic_loss"]) == 7
    lines = h.to_csv(tmp_path / "h.csv").read_text().splitlines()
    assert lines[0].split(",") == h.columns and len(lines) == 8
    assert lines[1].startswith("1,5,")


def test_clipping_bound_holds_after_every_critic_step():
    c = 0.01
    seen = []

    def check(run, it):  # after each generator iteration, the critic the generator saw
        seen.append(max(p.abs().max().item() for p in run.critic.parameters()))

    run = train(tiny(clip_value=c, iterations=5), callbacks=[Callback(1, check)])
    assert len(seen) == 5 and max(seen) <= c
    # weight_max_abs is the max over *every* critic step of the iteration
    assert run.history["weight_max_abs"].max() <= c
    assert run.history["weight_at_bound"].min() > 0.1  # clipping is active, not vacuous
    # clamping before the step (the official code's order) leaves the critic outside [-c, c]
    before = train(tiny(clip_value=c, iterations=5, clip_when="before"))
    assert before.history["weight_max_abs"].max() > c


@pytest.mark.parametrize("lipschitz", ["clip", "gp", "sn"])
def test_resume_is_bit_identical(tmp_path, lipschitz):
    cfg = tiny(lipschitz=lipschitz, iterations=6, log_every=4)
    straight = train(cfg)
    half = Run(cfg).fit(until=3)
    half.save(tmp_path / "c.pt")
    resumed = load(tmp_path / "c.pt")
    assert resumed.iteration == 3 and len(resumed.history) == 3
    resumed.fit()
    a, b = _params(straight), _params(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for opt in ("opt_critic", "opt_generator"):
        sa, sb = getattr(straight, opt).state_dict(), getattr(resumed, opt).state_dict()
        for i in sa["state"]:
            assert all(torch.equal(sa["state"][i][k], sb["state"][i][k]) for k in sa["state"][i])
    np.testing.assert_array_equal(_no_wall(straight.history), _no_wall(resumed.history))
    assert torch.equal(straight.sample(5), resumed.sample(5))


def test_checkpoint_loads_with_weights_only_and_holds_full_state(tmp_path):
    run = train(tiny(iterations=2), checkpoint=tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["iteration"] == 2 and state["config"]["width"] == 16
    assert {"generator", "critic", "opt_generator", "opt_critic", "rng", "history"} <= set(state)
    assert {"data", "noise", "penalty", "global"} <= set(state["rng"])
    assert state["history"]["values"].shape == (2, len(run.history.columns))


def test_resume_refuses_changed_method(tmp_path):
    Run(tiny()).fit(until=1).save(tmp_path / "c.pt")
    with pytest.raises(ConfigError, match="cannot resume .* changed lr"):
        load(tmp_path / "c.pt", overrides=["lr=1e-3"])
    assert load(tmp_path / "c.pt", overrides=["iterations=9"]).config.iterations == 9


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path):
    path = tmp_path / "c.pt"

    def poison(run, it):  # a weight turns NaN after iteration 5
        if it == 5:
            with torch.no_grad():
                next(run.critic.parameters())[0, 0] = math.nan

    cfg = tiny(iterations=20, checkpoint_every=2, log_every=10)
    with pytest.raises(NonFiniteError) as err:
        Run(cfg).fit(callbacks=[Callback(1, poison)], checkpoint=path)
    assert err.value.iteration == 6 and err.value.quantity == "critic_estimate"
    assert "generator iteration 6" in str(err.value)
    good = load(path)  # the checkpoint of iteration 4, untouched and finite
    assert good.iteration == 4 and len(good.history) == 4
    assert all(torch.isfinite(p).all() for p in good.critic.parameters())


def test_absurd_learning_rate_raises_clear_error():
    with pytest.raises(NonFiniteError, match="is (nan|inf|-inf) at generator iteration"):
        train(tiny(lipschitz="none", optimizer="sgd", lr=1e30, iterations=20, log_every=5))


def test_callbacks_run_on_schedule_and_at_end():
    calls = []
    train(
        tiny(iterations=7),
        callbacks=[
            Callback(3, lambda r, it: calls.append(("a", it, len(r.history)))),
            Callback(5, lambda r, it: calls.append(("b", it)), at_end=True),
        ],
    )
    assert calls == [("a", 3, 3), ("b", 5), ("a", 6, 6), ("b", 7)]


def test_sample_is_seeded_and_leaves_training_streams_alone():
    cfg = tiny(iterations=3)
    a, b = Run(cfg), Run(cfg)
    s1 = a.sample(10, seed=1)
    assert s1.shape == (10, 2) and torch.equal(s1, a.sample(10, seed=1))
    assert not torch.equal(s1, a.sample(10, seed=2))
    a.fit()
    b.fit()
    assert all(
        torch.equal(x, y) for x, y in zip(_params(a).values(), _params(b).values(), strict=True)
    )


def test_other_objectives_and_methods_run():
    for kw in [
        dict(objective="gan", lipschitz="none", n_critic=1),
        dict(objective="nsgan", lipschitz="none", n_critic=1),
        dict(lipschitz="lp"),
        dict(optimizer="sgd", lr=1e-3, momentum=0.9),
        dict(data="25gaussians"),
        dict(data="swissroll"),
    ]:
        run = train(tiny(iterations=2, **kw))
        assert len(run.history) == 2 and np.isfinite(run.history.values).all()
    gan = train(tiny(objective="gan", lipschitz="none", n_critic=1, iterations=2))
    assert gan.history["critic_estimate"][-1] <= math.log(2) + 1e-6  # a JS lower bound


def test_image_configs_train_on_noise_and_digits():
    for data, channels in (("noise", 3), ("digits", 1)):
        cfg = TrainConfig(
            data=data, channels=channels, image_size=16, generator="dcgan", critic="dcgan",
            ngf=4, ndf=4, batch_size=8, iterations=2, n_critic=2, nz=8,
        )  # fmt: skip
        run = train(cfg)
        assert run.sample(3).shape == (3, channels, 16, 16)
        assert len(run.history) == 2
    fast = Run(TrainConfig(**{**cfg.to_dict(), "channels_last": True}))
    assert fast.sample_real().is_contiguous(memory_format=torch.channels_last)
    assert np.isfinite(fast.fit().history.values).all()


@pytest.mark.slow
def test_wgan_gp_covers_all_eight_modes():
    # WGAN-GP on 8 Gaussians (VEEGAN protocol: 2,500 samples, high quality within 3 std of a
    # centre). Narrower nets and a larger step than the toy script's (width 512, lr 1e-4) keep
    # this to ~400 generator iterations: seeds 0, 1, 2 all reached 8 modes by iteration 300.
    cfg = TrainConfig(
        data="8gaussians", lipschitz="gp", gp_weight=1.0, lr=3e-4, width=128, depth=3,
        batch_size=256, n_critic=5, iterations=400, log_every=100, seed=0,
    )  # fmt: skip
    start = time.process_time()
    run = train(cfg)
    cpu = time.process_time() - start
    cov = mode_coverage(
        run.sample(2500, seed=1), toy.centers("8gaussians"), toy.mode_std("8gaussians")
    )
    assert cov.modes == 8, cov
    assert cov.high_quality > 0.05 and cov.reverse_kl < 0.5, cov
    assert run.history["critic_estimate"][-50:].mean() < run.history["critic_estimate"][:50].max()
    assert cpu < 60, f"{cpu:.1f} s of CPU time"
