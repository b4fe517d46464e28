"""Chapter 9 executed with its GPU branch forced onto the CPU, on a small LSUN-format database.

The GPU branch is what a reader with CUDA and the real database runs: it trains the chosen
generators one after another with live figures and resumes from their checkpoints. Here the
same cells run on the CPU (``WGAN_CH9_FORCE=1``, ``WGAN_CH9_DEVICE=cpu``) with tiny overrides.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

TINY = (
    "ngf=8 ndf=8 width=64 batch_size=8 schedule=constant log_every=1 sample_every=2 "
    "swd_every=2 swd_samples=16 checkpoint_every=2 num_workers=0"
)


def _execute(nb, cwd, env):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


@pytest.mark.slow
def test_chapter9_gpu_branch_trains_shows_and_resumes_on_the_cpu(repo_root, tmp_path):
    from wganlib.experiments.gpu_check import build_photo_lmdb

    db, _ = build_photo_lmdb(tmp_path / "bedroom_train_lmdb", 48)
    runs = tmp_path / "runs"
    env = {
        "WGAN_LSUN": str(db), "WGAN_CH9_FORCE": "1", "WGAN_CH9_DEVICE": "cpu",
        "WGAN_CH9_GENERATORS": "dcgan nobn", "WGAN_CH9_OUT": str(runs),
        "WGAN_CH9_SET": TINY + " iterations=2",
        "OMP_NUM_THREADS": "1",  # the kernel: one thread, as the other tests use
        "PYTHONPATH": os.pathsep.join([str(repo_root), os.environ.get("PYTHONPATH", "")]),
    }  # fmt: skip
    nb = jupytext.read(repo_root / "book" / "09_lsun_gpu.md")
    _execute(nb, repo_root / "book", env)  # the whole chapter: hidden asserts included
    train_cell = next(c for c in nb.cells if "train_live(" in c.source and c.cell_type == "code")
    shown = [o for o in train_cell.outputs if "image/png" in o.get("data", {})]
    assert shown, "the GPU branch shows its live figure"
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "GPU branch: True" in text
    for name in ("lsun_dcgan_wgan_clip", "lsun_nobn_wgan_clip"):
        assert (runs / name / "checkpoint.pt").is_file()
        assert (runs / name / "swd.csv").is_file() and list((runs / name / "samples").glob("*.png"))
    first = np.loadtxt(runs / "lsun_dcgan_wgan_clip" / "history.csv", delimiter=",", skiprows=1)

    # run the page's training again with more iterations: each run resumes from its checkpoint
    short = jupytext.read(repo_root / "book" / "09_lsun_gpu.md")
    setup = next(c for c in short.cells if c.cell_type == "code" and "GPU_BRANCH =" in c.source)
    short.cells = [setup, train_cell.copy()]
    short.cells[1].outputs = []
    _execute(short, repo_root / "book", {**env, "WGAN_CH9_SET": TINY + " iterations=3"})
    again = np.loadtxt(runs / "lsun_dcgan_wgan_clip" / "history.csv", delimiter=",", skiprows=1)
    assert len(first) == 2 and len(again) == 3
    assert np.array_equal(again[:2, 4:], first[:, 4:])  # the first two rows kept, not retrained


def test_chapter9_commands_match_the_command_line(repo_root):
    text = (repo_root / "book" / "09_lsun_gpu.md").read_text(encoding="utf-8")
    assert "data lsun --category bedroom" in text and "data lsun bedroom" not in text
    assert "{glue:figure} fig-smoke" in text  # the smoke figure has a caption
