"""Make sample submissions from a solution notebook and a sample file (for tests and demos).

A sample file (``coursework/samples/*.cell``: the text of a notebook cell) starts with ``# key: value`` header lines:
``assignment`` (the notebook it edits), ``replaces`` (the start of the code cell it replaces with
the rest of the file) or ``deletes`` (the start of the code cell it removes), ``loses`` (the
questions it is expected to lose points in: names, ``all`` or ``none``) and ``fails`` (the graded
cases, ``question:case name`` separated by ``;``, that must catch the mistake).
:func:`group_samples` packs samples that edit different cells and questions of one assignment into
one notebook, so a test grades fewer notebooks; each mistake must still cost only its question.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent / "samples"

__all__ = ["SAMPLES", "group_samples", "load_sample", "make_submission", "samples"]


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
    header["fails"] = [f.strip() for f in header.get("fails", "").split(";") if f.strip()]
    return header


def group_samples(paths: list[Path]) -> list[list[Path]]:
    """Samples packed into groups: one assignment, distinct edited cells and lost questions."""
    groups: list[tuple[str, set[str], list[Path]]] = []
    for path in paths:
        spec = load_sample(path)
        taken = {spec.get("replaces") or spec["deletes"], *spec["loses"].split()}
        if spec["loses"].startswith("all"):
            groups.append((spec["assignment"], taken | {"*"}, [path]))
            continue
        for assignment, used, members in groups:
            if assignment == spec["assignment"] and "*" not in used and not used & taken:
                used |= taken
                members.append(path)
                break
        else:
            groups.append((spec["assignment"], set(taken), [path]))
    return [members for _, _, members in groups]


def make_submission(solution: str | Path, sample: str | Path | list[Path], out: str | Path) -> Path:
    """Write ``out``: the ``solution`` notebook with the ``sample``'s edit(s) applied."""
    nb = json.loads(Path(solution).read_text())
    for one in sample if isinstance(sample, list) else [sample]:
        _apply(nb, solution, one)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, indent=1))
    return out


def _apply(nb: dict[str, Any], solution: str | Path, sample: str | Path) -> None:
    spec = load_sample(sample)
    prefix = spec.get("replaces") or spec["deletes"]
    cells = nb["cells"]
    hits = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "code" and "".join(c["source"]).lstrip().startswith(prefix)
    ]
    if len(hits) != 1:
        raise ValueError(f"{sample}: {len(hits)} code cells start with {prefix!r} in {solution}")
    if "replaces" in spec:
        cell = copy.deepcopy(cells[hits[0]])
        cell["source"], cell["outputs"], cell["execution_count"] = spec["body"], [], None
        cells[hits[0]] = cell
    else:
        del cells[hits[0]]
