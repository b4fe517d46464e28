"""The grading sandbox's mounts: a private /tmp that does not hide the interpreter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the coursework/ package

from coursework import sandbox  # noqa: E402


def test_the_interpreters_folders_are_bound_after_the_private_tmp(tmp_path):
    """A checkout or venv under /tmp (a CI clone, say) must stay visible in the sandbox: its
    binds come after the tmpfs on /tmp, which would otherwise cover them (every grade 0)."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    cmd = sandbox._command("a1_parallel_lines", tmp_path, [])
    tmp_at = next(i for i in range(len(cmd) - 1) if cmd[i] == "--tmpfs" and cmd[i + 1] == "/tmp")
    roots = [str(r) for r in sandbox._python_roots()]
    assert roots, "no interpreter folder is bound"
    for root in roots:
        bound_at = next(
            i for i in range(len(cmd) - 2) if cmd[i] == "--ro-bind" and cmd[i + 1] == root
        )
        assert bound_at > tmp_at, root
