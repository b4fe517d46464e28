"""Run one submission's untrusted half in a bubblewrap sandbox with hard limits.

The sandbox (``bwrap``, Debian's ``bubblewrap``) sees: the system (``/usr``, ``/etc``) and the Python
installation read-only; ``wganlib`` and the worker and cases (``coursework/worker.py``,
``values.py``, ``cases/``) read-only under ``/grading/lib``; its own scratch folder read-write at
``/grading/scratch`` (the notebook copy and the results file); a private ``/tmp``. Nothing else: no
other submission, no masters, no solutions, no build folder, no network (``--unshare-all``), its
own pid namespace, no capabilities, a new session (no terminal), ``--die-with-parent``.

Limits: virtual memory (``RLIMIT_AS``), file size (``RLIMIT_FSIZE``) and CPU time, set on bwrap and
inherited by everything inside; and a wall-clock limit: at the limit the grader SIGKILLs bwrap,
whose pid-1 child then dies (``--die-with-parent``), and with it the whole pid namespace, whatever
it was doing (a loop that holds the GIL included). Output goes to files, never to pipes the
grader would wait on.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
__all__ = ["SandboxResult", "bwrap_path", "run_in_sandbox"]

LIB = "/grading/lib"
SCRATCH = "/grading/scratch"


@dataclass(frozen=True)
class SandboxResult:
    """What came back: the results file's text, the log's tail, exit status, time, timed out."""

    results: str
    log_tail: str
    returncode: int
    seconds: float
    timed_out: bool


def bwrap_path() -> str:
    """The ``bwrap`` executable, or a one-line error that says how to install it."""
    exe = shutil.which("bwrap")
    if exe is None:
        raise RuntimeError(
            "bubblewrap (bwrap) is not installed: `sudo apt-get install bubblewrap` "
            "(or `make bubblewrap`); grading never runs a submission outside the sandbox"
        )
    return exe


def _python_roots() -> list[Path]:
    """Folders the interpreter and its packages live in (bound read-only)."""
    import wganlib

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    paths.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    for entry in sys.path:  # site-packages of a --system-site-packages venv, user site, ...
        if entry.rstrip("/").endswith(("site-packages", "dist-packages")):
            paths.add(entry)
    lib = Path(wganlib.__file__).resolve().parent.parent
    roots = []
    for p in sorted({Path(p).resolve() for p in paths if p and Path(p).exists()}):
        if p == lib or p == Path("/") or any(p.is_relative_to(r) for r in roots):
            continue  # never the repository that holds wganlib (it holds the masters)
        if str(p).startswith(("/usr/", "/etc/")):
            continue
        roots.append(p)
    return roots


def _command(assignment: str, scratch: Path, hide: list[Path]) -> list[str]:
    import wganlib

    wganlib_dir = Path(wganlib.__file__).resolve().parent
    cmd = [
        bwrap_path(),
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/usr",
        "/usr",
        "--ro-bind",
        "/etc",
        "/etc",
        # a private /tmp first: the interpreter's folders are bound after it, so a checkout or
        # virtual environment that itself lives under /tmp stays visible inside the sandbox
        "--size",
        str(256 * 2**20),
        "--tmpfs",
        "/tmp",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            cmd += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            cmd += ["--ro-bind", str(top), str(top)]
    for root in _python_roots():
        cmd += ["--ro-bind", str(root), str(root)]
    for sensitive in hide:  # an instructor folder under a bound one: cover it
        if any(sensitive.is_relative_to(r) for r in _python_roots()):
            cmd += ["--tmpfs", str(sensitive)]
    cmd += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--ro-bind",
        str(wganlib_dir),
        f"{LIB}/wganlib",
        "--ro-bind",
        str(HERE / "cases"),
        f"{LIB}/coursework/cases",
        "--ro-bind",
        str(HERE / "values.py"),
        f"{LIB}/coursework/values.py",
        "--ro-bind",
        str(HERE / "worker.py"),
        f"{LIB}/coursework/worker.py",
        "--bind",
        str(scratch),
        SCRATCH,
        "--chdir",
        SCRATCH,
        "--clearenv",
    ]
    env = {
        "PYTHONPATH": LIB,
        "HOME": SCRATCH,
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONWARNINGS": "ignore",
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
    }
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    python = str(Path(sys.executable).absolute())
    worker = f"{LIB}/coursework/worker.py"
    return cmd + [
        python,
        "-s",
        worker,
        assignment,
        f"{SCRATCH}/submission.ipynb",
        f"{SCRATCH}/results.jsonl",
    ]


def run_in_sandbox(
    assignment: str,
    notebook_text: str,
    *,
    timeout: float,
    memory_bytes: int = 6 * 2**30,
    file_bytes: int = 64 * 2**20,
    hide: list[Path] | None = None,
) -> SandboxResult:
    """Grade-run one notebook (its text) for ``assignment``; never raises for a bad submission.

    A fresh private scratch folder per call (mode 700, removed afterwards), so no two
    submissions ever share a file. ``hide``: instructor folders (submissions, build, output) to
    cover with an empty tmpfs should they lie under a folder the sandbox binds.
    """
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="coursework_sandbox_"))
    try:
        (scratch / "submission.ipynb").write_text(notebook_text)
        (scratch / "results.jsonl").touch()
        cmd = _command(assignment, scratch, [p.resolve() for p in hide or []])
        cpu = int(timeout) + 30

        def limits():
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        start = time.perf_counter()
        with (scratch / "log.txt").open("wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=limits,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap; the namespace dies with it
                proc.wait()
        seconds = time.perf_counter() - start
        results = _read_capped(scratch / "results.jsonl", file_bytes)
        log_tail = _read_capped(scratch / "log.txt", file_bytes)[-3000:]
        return SandboxResult(results, log_tail, proc.returncode, seconds, timed_out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _read_capped(path: Path, limit: int) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # not a link, not a FIFO
    except OSError:
        return ""
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return ""
            return f.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""
