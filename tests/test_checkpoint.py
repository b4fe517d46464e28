"""Tests for wganlib.checkpoint: atomic writes, weights_only loads, refusing NaN/inf."""

from __future__ import annotations

import math

import pytest
import torch

from wganlib.checkpoint import check_finite, load_checkpoint, save_checkpoint
from wganlib.history import NonFiniteError


def _state(value: float = 1.0) -> dict:
    return {
        "format": "wganlib-checkpoint",
        "iteration": 3,
        "weights": {"w": torch.full((4,), value), "steps": torch.tensor(7)},
        "config": {"name": "x", "lr": None, "flag": True},
        "rng": torch.Generator().manual_seed(1).get_state(),
        "history": {"columns": ["a", "b"], "values": torch.zeros(2, 2, dtype=torch.float64)},
    }


def test_round_trip_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "sub" / "c.pt", _state())
    raw = torch.load(path, weights_only=True)  # plain types and tensors only
    assert torch.equal(raw["weights"]["w"], torch.ones(4))
    loaded = load_checkpoint(path)
    assert loaded["config"] == {"name": "x", "lr": None, "flag": True}
    assert torch.equal(loaded["rng"], _state()["rng"])


def test_failure_mid_write_leaves_old_file_intact(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state(1.0))
    before = path.read_bytes()
    bad = _state(2.0)
    bad["unpicklable"] = lambda: None  # torch.save fails after it has started writing
    with pytest.raises(Exception):  # noqa: B017 - whatever pickle raises
        save_checkpoint(path, bad)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # the temporary file is gone
    assert torch.equal(load_checkpoint(path)["weights"]["w"], torch.ones(4))


def test_non_finite_values_are_refused_and_old_file_kept(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state(1.0))
    before = path.read_bytes()
    with pytest.raises(NonFiniteError, match=r"weights\.w is nan at generator iteration 3"):
        save_checkpoint(path, _state(math.nan))
    with pytest.raises(NonFiniteError, match="inf"):
        save_checkpoint(path, _state(math.inf))
    assert path.read_bytes() == before


def test_check_finite_names_the_tensor():
    check_finite({"a": [torch.ones(2), {"b": torch.zeros(1)}]})
    with pytest.raises(NonFiniteError) as err:
        check_finite({"a": [torch.ones(2), {"b": torch.tensor([0.0, -math.inf])}]}, iteration=9)
    assert err.value.quantity == "a[1].b" and err.value.iteration == 9


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"w": torch.ones(1)}, other)
    with pytest.raises(ValueError, match="not a wganlib checkpoint"):
        load_checkpoint(other)
