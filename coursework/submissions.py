"""Make sample submissions from a solution notebook and a sample file (for tests and demos).

A sample file (``coursework/samples/*.cell``: the text of a notebook cell) starts with ``# key: value`` header lines:
``assignment`` (the notebook it edits), ``replaces`` (the start of the code cell it replaces with
the rest of the file) or ``deletes`` (the start of the code cell it removes), and ``loses`` (the
questions it is expected to lose: names, ``all`` or ``none``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent / "samples"

__all__ = ["SAMPLES", "load_sample", "make_submission", "samples"]


def samples() -> list[Path]:
    """The sample files, sorted by name."""
    return sorted(SAMPLES.glob("*.cell"))


def load_sample(path: str | Path) -> dict[str, Any]:
    """Header fields plus ``body`` (the code after the header)."""
    lines = Path(path).read_text().splitlines()
    header: dict[str, Any] = {}
    i = 0
    while i < len(lines) and lines[i].startswith("# ") and ":" in lines[i]:
        key, value = lines[i][2:].split(":", 1)
        header[key.strip()] = value.strip()
        i += 1
    if "assignment" not in header or not ({"replaces", "deletes"} & set(header)):
        raise ValueError(f"{path}: needs '# assignment:' and '# replaces:' or '# deletes:' lines")
    header["body"] = "\n".join(lines[i:]).strip("\n")
    return header


def make_submission(solution: str | Path, sample: str | Path, out: str | Path) -> Path:
    """Write ``out``: the ``solution`` notebook with the ``sample``'s edit applied."""
    nb = json.loads(Path(solution).read_text())
    spec = load_sample(sample)
    prefix = spec.get("replaces") or spec["deletes"]
    cells = nb["cells"]
    hits = [
        i for i, c in enumerate(cells)
        if c["cell_type"] == "code" and "".join(c["source"]).lstrip().startswith(prefix)
    ]  # fmt: skip
    if len(hits) != 1:
        raise ValueError(f"{sample}: {len(hits)} code cells start with {prefix!r} in {solution}")
    if "replaces" in spec:
        cell = copy.deepcopy(cells[hits[0]])
        cell["source"], cell["outputs"], cell["execution_count"] = spec["body"], [], None
        cells[hits[0]] = cell
    else:
        del cells[hits[0]]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, indent=1))
    return out
