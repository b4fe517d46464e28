"""Grade one notebook with otter (run in its own process by :func:`coursework.cli.grade`).

``python -m coursework._grade_one NOTEBOOK AUTOGRADER_ZIP OUT_JSON`` writes
``{"scores": {q: [score, possible]}, "failures": {q: message}, "errors": [message, ...]}``.
"""

from __future__ import annotations

import json
import re
import sys

_EXCEPTION = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt))(:.*)?$")


def _first_exception(text: str) -> str:
    """The first exception line of a doctest failure report (the cause, not its echoes)."""
    for line in (text or "").splitlines():
        if _EXCEPTION.match(line):
            return line.strip()
    return "test failed"


def main(argv: list[str]) -> int:
    from otter.api import grade_submission

    notebook, zip_path, out = argv
    results = grade_submission(notebook, zip_path, quiet=True)
    scores, failures = {}, {}
    for name, test_file in results.results.items():
        scores[name] = [float(test_file.score), float(test_file.possible)]
        failed = [r for r in test_file.test_case_results if not r.passed]
        if failed:
            failures[name] = _first_exception(failed[0].message)
    errors = []
    notebook_run = getattr(results, "notebook", None) or {"cells": []}
    for i, cell in enumerate(notebook_run["cells"]):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") == "error":
                errors.append(f"cell {i} raised {output.get('ename')}: {output.get('evalue')}")
    with open(out, "w") as f:
        json.dump({"scores": scores, "failures": failures, "errors": errors}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
