"""Shared pytest fixtures for the wganlib and book tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where _config.yml and _toc.yml live)."""
    return REPO_ROOT


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests use tiny nets: one intra-op thread is as fast, and two threads thrash on a shared CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
