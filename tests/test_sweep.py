"""The resumable sweep engine: cells run, resume after kill -9, extend, refuse foreign state."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wganlib.config import TrainConfig
from wganlib.sweep import Cell, SweepStateError, run_cell, run_sweep, write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


def _measure(run, iteration, *, tag="m"):
    """A cheap measure that depends on the weights (so a wrong resume shows)."""
    w = sum(float(p.detach().double().sum()) for p in run.generator.parameters())
    return [{"iteration": iteration, "tag": tag, "w": w}]


def _cell(iterations=6, key="gp", **kw):
    cfg = TrainConfig(
        data="8gaussians", lipschitz="gp", gp_weight=0.1, width=8, batch_size=16,
        iterations=iterations, members=2, log_every=1, **kw,
    )  # fmt: skip
    return Cell(key, cfg, functools.partial(_measure, tag=key), schedule=(2, 4), checkpoint_every=2)


def test_cell_runs_measures_and_is_not_run_twice(tmp_path):
    res = run_cell(_cell(), tmp_path)
    assert [r["iteration"] for r in res["trace"]] == [2, 4, 6]
    assert res["iterations"] == 6 and res["members"] == 2 and res["diverged"] is None
    again = run_cell(_cell(), tmp_path)
    assert again == res  # read back, not retrained (the seconds would differ)


def test_a_longer_target_continues_the_cell_bit_identically(tmp_path):
    short = run_cell(_cell(iterations=4), tmp_path / "a")
    longer = run_cell(_cell(iterations=6), tmp_path / "a")
    direct = run_cell(_cell(iterations=6), tmp_path / "b")
    assert longer["trace"][:2] == short["trace"]
    assert longer["trace"] == direct["trace"]


def test_resume_from_a_checkpoint_drops_records_past_it(tmp_path):
    """A trace written after the last checkpoint (kill between the two writes) is cut back."""
    full = run_cell(_cell(), tmp_path / "full")
    run_cell(_cell(iterations=4), tmp_path / "cut")
    folder = tmp_path / "cut" / "gp"
    (folder / "result.json").unlink()
    trace = json.loads((folder / "trace.json").read_text())
    trace["records"].append({"iteration": 6, "tag": "gp", "w": 123.0})  # a record with no ckpt
    write_json_atomic(folder / "trace.json", trace)
    resumed = run_cell(_cell(), tmp_path / "cut")
    assert resumed["trace"] == full["trace"]


def test_changed_settings_are_refused(tmp_path):
    run_cell(_cell(iterations=4), tmp_path)
    (tmp_path / "gp" / "result.json").unlink()
    with pytest.raises(SweepStateError, match="other settings"):
        run_cell(_cell(iterations=6, seed=3), tmp_path)


def test_state_of_another_code_version_is_refused(tmp_path):
    run_sweep([_cell(iterations=2)], tmp_path, version=("abc", False))
    with pytest.raises(SweepStateError, match="commit abc"):
        run_sweep([_cell(iterations=2)], tmp_path, version=("def", False))


def test_progress_and_results_in_cell_order(tmp_path):
    seen = []
    cells = [_cell(iterations=2, key="one"), _cell(iterations=4, key="two")]
    res = run_sweep(cells, tmp_path, progress=seen.append, poll=0.05)
    assert [r["key"] for r in res] == ["one", "two"]
    assert seen[-1].cells_done == 2 and seen[-1].fraction == 1.0
    assert seen[-1].work == 2 * 2 + 4 * 2
    with pytest.raises(ValueError, match="unique"):
        run_sweep([cells[0], cells[0]], tmp_path)
    with pytest.raises(ValueError, match="letters"):
        Cell("a/b", cells[0].config, _measure)


@pytest.mark.slow
def test_the_mode_collapse_sweep_survives_kill_9(tmp_path):
    """Kill the command while it trains; the same command finishes with the same numbers.

    Only the main process is killed: its worker processes must die with it (else they would
    go on writing the state that the second command resumes; the cell lock would refuse it).
    """
    args = ["--methods", "wgan-gp", "--datasets", "8gaussians", "--seeds", "2", "--no-extra",
            "--iterations", "60", "--width", "8", "--batch-size", "16", "--n-eval", "200",
            "--n-w1", "100", "--every", "10", "--checkpoint-every", "10"]  # fmt: skip
    cmd = [sys.executable, "-m", "wganlib.experiments.mode_collapse", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ref = subprocess.run(
        [*cmd, "--state", str(tmp_path / "ref"), "--out", str(tmp_path / "ref.json")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ref.returncode == 0, ref.stderr
    state = tmp_path / "killed"
    out = tmp_path / "killed.json"
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--state", str(state), "--out", str(out)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    ckpt = state / "wgan-gp__8gaussians" / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)  # the kernel delivers the workers' parent-death signal
    import fcntl

    with open(ckpt.parent / "lock", "a+") as fh:  # no orphaned worker holds the cell
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fh, fcntl.LOCK_UN)
    assert not out.exists()  # nothing written before the grid is complete
    done = subprocess.run(
        [*cmd, "--state", str(state), "--out", str(out)], env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    a, b = json.loads((tmp_path / "ref.json").read_text()), json.loads(out.read_text())
    assert a["runs"] == b["runs"]
    assert [{k: v for k, v in r.items()} for r in a["trace"]] == b["trace"]
    assert b["command"].startswith("python -m wganlib.experiments.mode_collapse")
    assert b["machine"]["cpus"] and b["cells"][0]["seconds"] > 0


def test_a_cell_is_trained_by_one_process_at_a_time(tmp_path):
    """A second process on the same cell (e.g. a worker orphaned by kill -9) is refused."""
    folder = tmp_path / "gp"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); f.write('4242'); f.flush(); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
         str(folder / "lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SweepStateError, match="pid 4242"):
            run_cell(_cell(iterations=2), tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert run_cell(_cell(iterations=2), tmp_path)["iterations"] == 2  # free again


def test_checkpoints_follow_the_distance_not_multiples(tmp_path, monkeypatch):
    """Measurement points at 3, 5, 7, 9 with checkpoint_every=4: saved at 5 and 9 (the end)."""
    saved = []
    cell = Cell("odd", _cell(iterations=9).config, functools.partial(_measure, tag="odd"),
                schedule=(3, 5, 7), checkpoint_every=4)  # fmt: skip
    from wganlib.train import Run

    original = Run.save

    def spy(self, path):
        saved.append(self.iteration)
        return original(self, path)

    monkeypatch.setattr(Run, "save", spy)
    run_cell(cell, tmp_path)
    assert saved == [5, 9]
