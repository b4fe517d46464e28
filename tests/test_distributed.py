"""DistributedDataParallel on the CPU: two gloo processes started like torchrun starts them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from wganlib import distributed
from wganlib.config import TrainConfig
from wganlib.sources import _epoch_permutation
from wganlib.train import Run

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    from wganlib import distributed
    from wganlib.config import config_from_dict
    from wganlib.train import Run, load

    spec, out = json.loads(sys.argv[1]), sys.argv[2]
    info = distributed.setup("cpu")
    cfg = config_from_dict(spec)
    run = Run(cfg)
    run.fit(until=2, checkpoint=f"{out}/ckpt.pt")  # rank 0 writes it
    distributed.barrier()
    resumed = load(f"{out}/ckpt.pt")
    run.fit(until=4)
    resumed.fit(until=4)
    params = lambda r: [p.detach().clone() for p in [*r.generator.parameters(), *r.critic.parameters()]]
    torch.save(
        {"straight": params(run), "resumed": params(resumed), "history": torch.from_numpy(run.history.values),
         "rank": info.rank, "world": info.world_size, "backend": info.backend},
        f"{out}/rank{info.rank}.pt",
    )
    distributed.teardown()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(cfg: TrainConfig, out: Path, world: int = 2) -> list[dict]:
    script = out / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    port = str(_free_port())
    procs = []
    for r in range(world):
        env = dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1",
                   PYTHONPATH=str(ROOT))  # fmt: skip
        cmd = [sys.executable, str(script), json.dumps(cfg.to_dict()), str(out)]
        procs.append(subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True))
    errors = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        if p.returncode:
            errors.append(err[-3000:])
    assert not errors, "\n".join(errors)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(world)]


def _params(run: Run) -> list[torch.Tensor]:
    return [p.detach() for p in [*run.generator.parameters(), *run.critic.parameters()]]


def _close(a, b, atol=1e-6) -> bool:
    return all(torch.allclose(x, y, atol=atol, rtol=1e-5) for x, y in zip(a, b, strict=True))


def test_ddp_clip_matches_one_process_on_the_global_batch_and_resumes(tmp_path):
    # MLPs without batch norm: every loss is a mean of per-example terms, so two processes
    # on half batches, with DDP averaging the gradients, take the one-process step.
    cfg = TrainConfig(data="8gaussians", width=32, depth=2, batch_size=16, n_critic=2,
                      iterations=4, log_every=1, seed=3)  # fmt: skip
    ranks = _launch(cfg, tmp_path)
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["backend"] == "gloo"
    assert all(
        torch.equal(a, b) for a, b in zip(ranks[0]["straight"], ranks[1]["straight"], strict=True)
    )
    # resume under DDP continues exactly as the uninterrupted run
    for r in ranks:
        assert all(torch.equal(a, b) for a, b in zip(r["straight"], r["resumed"], strict=True))
    single = Run(cfg).fit(until=4)
    assert _close(ranks[0]["straight"], _params(single))
    # the logged estimate is the mean over the processes = the global-batch estimate
    est = single.history["critic_estimate"]
    col = single.history.columns.index("critic_estimate")
    assert torch.allclose(ranks[0]["history"][:, col], torch.as_tensor(est),
                          atol=1e-5)  # fmt: skip
    # and the training really moved the weights
    assert not _close(_params(single), _params(Run(cfg)), atol=1e-7)
    assert (tmp_path / "ckpt.pt").is_file()


def test_ddp_gradient_penalty_double_backward(tmp_path):
    cfg = TrainConfig(data="noise", image_size=16, channels=3, generator="dcgan",
                      critic="dcgan", ngf=4, ndf=4, g_batch_norm=False, c_layer_norm=True,
                      lipschitz="gp", batch_size=8, n_critic=2, iterations=4, log_every=1)  # fmt: skip
    ranks = _launch(cfg, tmp_path)
    a, b = ranks[0]["straight"], ranks[1]["straight"]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(torch.isfinite(x).all() for x in a)
    for r in ranks:
        assert all(torch.equal(x, y) for x, y in zip(r["straight"], r["resumed"], strict=True))
    col = list(Run(cfg).history.columns).index("penalty")
    assert (ranks[0]["history"][:, col] > 0).all()  # the penalty was computed and logged
    assert not _close(a, _params(Run(cfg)), atol=1e-7)


def test_shard_splits_rows_and_refuses_uneven_batches():
    x = torch.arange(12).reshape(6, 2)
    assert torch.equal(torch.cat([distributed.shard(x, r, 3) for r in range(3)]), x)
    assert torch.equal(distributed.shard(x, 1, 3), x[2:4])
    with pytest.raises(ValueError, match="divisible by 4"):
        distributed.shard(x, 0, 4)


@pytest.mark.parametrize("start", [0, 12])
def test_sharded_sampler_blocks_make_the_single_process_stream(start):
    n, b, world = 10, 3, 2  # global batches of 6 straddle the epochs of 10

    def take(s, k):
        it = iter(s)
        return [next(it) for _ in range(k)]

    full = take(distributed.ShardedEpochSampler(n, 5, _epoch_permutation, batch_size=b * world,
                                                start=start), 24)  # fmt: skip
    parts = [take(distributed.ShardedEpochSampler(n, 5, _epoch_permutation, batch_size=b,
                                                  rank=r, world=world, start=start), 12)
             for r in range(world)]  # fmt: skip
    for i in range(4):  # global batch i = rank 0's block i, then rank 1's
        assert full[6 * i : 6 * i + 6] == parts[0][3 * i : 3 * i + 3] + parts[1][3 * i : 3 * i + 3]
    assert sorted(full[:10]) == list(range(10)) or start  # epoch 0 is a permutation


def test_single_process_helpers(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = distributed.setup("cpu")
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    assert distributed.is_main_process() and not distributed.is_distributed()
    assert distributed.backend_for("cpu") == "gloo" and distributed.backend_for("cuda:1") == "nccl"
    m = torch.nn.Linear(2, 2)
    assert distributed.wrap_ddp(m, "cpu") is m and distributed.unwrap(m) is m
    x = torch.ones(3)
    assert distributed.all_reduce_mean(x) is x
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        distributed.setup("cpu")
