"""The untrusted half of grading: runs INSIDE the sandbox (see :mod:`coursework.sandbox`).

``python worker.py ASSIGNMENT NOTEBOOK RESULTS`` executes the notebook's code cells in one IPython
shell (errors do not stop it; ``grader.check`` cells are no-ops), then calls the ``run`` half of
each case of :mod:`coursework.cases.ASSIGNMENT` and appends one JSON line per event to RESULTS:
``{"cell": n, "error": ...}``, ``{"case": key, "value": ...}`` or ``{"case": key, "error": ...}``.
It writes raw outputs only; every verdict is reached outside, by the trusted grader. Lines are
flushed one by one, so the cases finished before a time-out still count.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import types


def _stub_otter() -> None:
    """The notebooks' ``import otter`` / ``grader.check``: nothing to do at grading time."""

    class Notebook:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    module = types.ModuleType("otter")
    module.Notebook = Notebook
    sys.modules["otter"] = module


def _alarm(signum, frame):
    raise TimeoutError("this case ran past its time limit")


def main(argv: list[str]) -> int:
    assignment, notebook, results = argv
    from coursework import values
    from coursework.cases import load

    cases = load(assignment).CASES
    out = open(results, "a", buffering=1)  # noqa: SIM115 (kept open to the end)

    def emit(record):
        out.write(json.dumps(record) + "\n")

    _stub_otter()
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    with open(notebook) as f:
        cells = json.load(f).get("cells", [])
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        result = shell.run_cell(source, store_history=False, silent=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")[:60]
            emit(
                {
                    "cell": number,
                    "first_line": first,
                    "error": f"{type(error).__name__}: {error}"[:500],
                }
            )
    emit({"notebook": "done"})
    ns = shell.user_ns
    signal.signal(signal.SIGALRM, _alarm)
    for case in cases:
        saved = dict(ns)
        try:
            signal.alarm(case.limit)
            value = case.run(ns)
            signal.alarm(0)
            emit({"case": case.key, "value": values.encode(value)})
        except BaseException as err:  # noqa: BLE001 (anything the student's code raises)
            signal.alarm(0)
            emit({"case": case.key, "error": f"{type(err).__name__}: {err}"[:500]})
        finally:
            ns.clear()
            ns.update(saved)
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    emit({"cases": "done", "cpu_s": round(cpu, 3)})  # for `measure` (the student could fake it)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
