"""CUDA-only tests: skipped without a CUDA device; the GPU check runs them (``pytest -m cuda``).

They cover what the CPU tests can only imitate: real Philox generator states in a checkpoint
loaded on the CPU, fp16 overflow skips with the CUDA gradient scaler, bf16 and channels_last
on tensor cores, ``torch.compile``, and the CUDA data path (pinned memory, non-blocking copies).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wganlib import TrainConfig, load, train
from wganlib.train import Run

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _image_cfg(**kw) -> TrainConfig:
    base = dict(data="noise", generator="dcgan", critic="dcgan", image_size=32, ngf=16, ndf=16,
                batch_size=32, iterations=4, log_every=2, device="cuda")  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_cuda_checkpoint_samples_and_resumes_on_the_cpu(tmp_path):
    run = train(_image_cfg(c_layer_norm=True, lipschitz="gp"), checkpoint=tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["rng"]["device_type"] == "cuda" and state["rng"]["noise"].numel() == 16
    cpu = load(tmp_path / "c.pt", device="cpu")
    a = run.sample(8, seed=3).cpu()
    b = cpu.sample(8, seed=3)  # other generator, same weights: other z, finite samples
    assert a.shape == b.shape and torch.isfinite(b).all()
    load(tmp_path / "c.pt", device="cpu", overrides=["iterations=6"]).fit()
    back = load(tmp_path / "c.pt", device="cuda")  # same device type: exact state
    assert back.noise_generator.get_state().equal(run.noise_generator.get_state())


def test_cuda_resume_is_bit_identical(tmp_path):
    cfg = _image_cfg(iterations=4)
    full = train(cfg)
    half = train(cfg.with_overrides(["iterations=2"]), checkpoint=tmp_path / "c.pt")
    resumed = load(half.save(tmp_path / "c.pt"), overrides=["iterations=4"]).fit()
    assert np.array_equal(full.history["critic_estimate"], resumed.history["critic_estimate"])


def test_fp16_gradient_penalty_skips_are_recorded_not_divergence():
    run = train(_image_cfg(c_layer_norm=True, lipschitz="gp", amp="fp16", iterations=6))
    assert run.skipped_steps >= 1 and len(run.history) == 6
    assert all(torch.isfinite(p).all() for p in run.critic.parameters())


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_with_channels_last_trains_finite(amp):
    run = train(_image_cfg(amp=amp, channels_last=True, iterations=6))
    assert np.isfinite(run.history["critic_estimate"]).all()
    assert run.critic.main[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_lsun_lmdb_on_cuda_with_workers(tmp_path):
    from wganlib.lsun import write_lsun_lmdb

    g = torch.Generator().manual_seed(0)
    db = write_lsun_lmdb(tmp_path / "db", list(torch.rand(64, 3, 40, 48, generator=g) * 2 - 1))
    run = Run(_image_cfg(data="lsun", data_root=str(db), num_workers=2, iterations=3))
    x = run.sample_real()
    assert x.device.type == "cuda" and x.shape == (32, 3, 32, 32)
    run.fit()
    assert np.isfinite(run.history["critic_estimate"]).all()


def test_swd_on_cuda_matches_the_cpu():
    from wganlib.image_metrics import sliced_wasserstein

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 32, 3, 32, 32, generator=g) * 2 - 1
    cpu = sliced_wasserstein(x, y, protocol="progan", num_directions=64)
    gpu = sliced_wasserstein(x.cuda(), y.cuda(), protocol="progan", num_directions=64)
    assert gpu.mean == pytest.approx(cpu.mean, rel=1e-3)


def test_compile_trains_with_clip_and_with_gp():  # last: compiling takes the longest
    for kw in (dict(lipschitz="clip"), dict(lipschitz="gp", c_layer_norm=True)):
        run = train(_image_cfg(compile=True, iterations=3, **kw))
        assert np.isfinite(run.history["critic_estimate"]).all()
