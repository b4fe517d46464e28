"""The package's import contract: public names exist, importing has no side effects."""

from __future__ import annotations

import subprocess
import sys


def test_import_has_no_side_effects():
    code = (
        "import sys, torch\n"
        "before = torch.random.get_rng_state().clone()\n"
        "import wganlib\n"
        "assert torch.equal(before, torch.random.get_rng_state()), 'import changed the RNG'\n"
        "assert 'matplotlib' not in sys.modules, 'import pulled in matplotlib'\n"
        "print(sorted(wganlib.__all__))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "TrainConfig" in out.stdout


def test_public_entry_points_are_reexported():
    import wganlib

    for name in wganlib.__all__:
        assert getattr(wganlib, name) is not None, name
    assert wganlib.parallel_lines(0.5)["w1"] == 0.5
