r"""The GPU check: one command that exercises and measures everything only a GPU user runs.

Run it whenever a GPU is available and commit what it writes::

    python -m wganlib.experiments.gpu_check --wheels .whl --commit <sha>   # on the GPU machine
    make gpu-check                                                        # the same, from make
    python -m wganlib.experiments.gpu_check --device cpu --quick --out DIR # the CPU smoke (tests)

In order, within ``--budget-s`` seconds (default 420, so that the whole check stays under
8 minutes on one GPU):

1. installs the carried wheels (``--wheels DIR``: POT, lmdb, ipywidgets and their missing
   dependencies, downloaded on a machine with a package index by ``make gpu-wheels``) with
   ``pip install --no-index`` into a temporary folder;
2. runs the CUDA-only tests (``pytest -m cuda``);
3. builds an LSUN-format LMDB (:func:`wganlib.lsun.write_lsun_lmdb`, WebP) of 64x64 crops of
   real photographs that packages ship (scikit-image's sample images where it is installed,
   matplotlib's photograph of Grace Hopper always), so nothing is downloaded;
4. trains each LSUN config of ``configs/`` for ``--iterations`` generator iterations on it, in
   float32, and the two DCGAN configs also with ``amp = bf16``, ``amp = fp16``, bf16 with
   ``channels_last``, and bf16 with ``channels_last`` and ``compile``; for each run it measures
   real images per second through the critic, FLOP/s (counts of :mod:`wganlib.flops`) as a
   fraction of the GPU's bf16 and fp32 peaks (:data:`wganlib.flops.GPU_PEAKS`), peak memory,
   fp16 steps skipped, and whether the history stayed finite;
5. runs the toy sweep of :mod:`wganlib.experiments.mode_collapse` at the reference protocol of
   the WGAN-GP toy code (width 512, batch 256, five seeds, eight Gaussians), extending the same
   runs to 1,000, 2,000, 4,000, ... generator iterations while the budget allows.

It writes ``OUT/gpu_check.json`` and ``OUT/toy_sweep.json`` (default ``OUT`` =
``data/results/gpu``) with the device name, driver, torch and CUDA versions, the command, the
git commit (``--commit`` where the copy has no ``.git``) and the date. ``--quick`` shrinks the
nets, batches and iteration counts so the whole path runs in under a minute on a CPU (and skips
``torch.compile``, which takes minutes to compile there); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["photo_crops", "build_photo_lmdb", "measure_run", "main", "VARIANTS", "LSUN_CONFIGS"]

ROOT = Path(__file__).resolve().parents[2]
LSUN_CONFIGS = ("lsun_dcgan_wgan_clip", "lsun_nobn_wgan_clip", "lsun_mlp_wgan_clip")
LSUN_CONFIGS += ("lsun_dcgan_wgan_gp",)
#: Variant name -> config overrides; the DCGAN configs run all of them, the others "fp32".
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {"amp": "none"},
    "bf16": {"amp": "bf16"},
    "fp16": {"amp": "fp16"},
    "bf16_channels_last": {"amp": "bf16", "channels_last": True},
    "bf16_channels_last_compile": {"amp": "bf16", "channels_last": True, "compile": True},
}
ALL_VARIANTS = ("lsun_dcgan_wgan_clip", "lsun_dcgan_wgan_gp")
QUICK = {"ngf": 8, "ndf": 8, "width": 64, "batch_size": 8, "schedule": "constant"}
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


# --- data: crops of shipped photographs -----------------------------------------------------
def _photos() -> list[tuple[str, np.ndarray]]:
    """(name, uint8 array (H, W, 3)) of the colour photographs installed packages ship."""
    out = []
    try:
        from skimage import data as skdata

        for name in SKIMAGE_PHOTOS:
            try:
                img = np.asarray(getattr(skdata, name)())
            except Exception:  # a sample that would need a download, or an old version
                continue
            if img.ndim == 3 and img.shape[2] >= 3:
                out.append((f"skimage.data.{name}", img[..., :3].astype(np.uint8)))
    except ImportError:
        pass
    import matplotlib.cbook as cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        out.append(("matplotlib grace_hopper.jpg", np.asarray(Image.open(f).convert("RGB"))))
    return out


def photo_crops(n: int, size: int = 64, *, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """``n`` random square crops (side from ``size`` to the photo's short side, resized to
    ``size`` with Lanczos, half of them mirrored) of the shipped photographs; and their names."""
    from PIL import Image

    photos = _photos()
    g = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        img = photos[i % len(photos)][1]
        h, w = img.shape[:2]
        s = int(g.integers(size, min(h, w) + 1))
        y, x = int(g.integers(0, h - s + 1)), int(g.integers(0, w - s + 1))
        crop = Image.fromarray(img[y : y + s, x : x + s]).resize((size, size), Image.LANCZOS)
        arr = np.asarray(crop)
        crops.append(arr[:, ::-1].copy() if g.random() < 0.5 else arr)
    return crops, [name for name, _ in photos]


def build_photo_lmdb(path: Path, n: int, *, seed: int = 0) -> tuple[Path, list[str]]:
    """An LSUN-format LMDB (WebP values, 40-hex keys) of :func:`photo_crops`."""
    from wganlib.lsun import write_lsun_lmdb

    crops, names = photo_crops(n, seed=seed)
    return write_lsun_lmdb(path, crops, overwrite=True), names


# --- one measured training run --------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(name: str) -> str:
    """The model token of a GPU name: the first word with a digit ('NVIDIA H200' -> 'H200')."""
    words = name.replace("-", " ").split()
    return next((w for w in words if any(ch.isdigit() for ch in w)), name)


def _peaks(device: torch.device) -> dict[str, float] | None:
    from wganlib.flops import GPU_PEAKS

    if device.type != "cuda":
        return None
    model = _model(torch.cuda.get_device_name(device))
    for key, peak in GPU_PEAKS.items():
        if _model(key) == model:
            return {"name": key, **peak}
    return None


def measure_run(config: Any, *, warmup: int) -> dict[str, Any]:
    """Train ``config`` (``warmup`` iterations untimed, then the rest timed) and measure it."""
    from wganlib.flops import iteration_flops
    from wganlib.train import Run

    device = torch.device(config.device)
    run = Run(config)
    t = time.perf_counter()
    run.fit(until=warmup)  # compilation, cuDNN's autotuning, the data workers' start
    _sync(device)
    warm_s = time.perf_counter() - t
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    it0, steps0 = run.iteration, run.critic_steps
    t = time.perf_counter()
    run.fit()
    _sync(device)
    seconds = time.perf_counter() - t
    counts = iteration_flops(config)
    critic_steps, iterations = run.critic_steps - steps0, run.iteration - it0
    flops = critic_steps * counts["critic_step"] + iterations * counts["generator_step"]
    hist = run.history
    out = {
        "iterations_timed": iterations,
        "critic_steps_timed": critic_steps,
        "warmup_iterations": warmup,
        "warmup_seconds": warm_s,
        "seconds": seconds,
        "images_per_sec": critic_steps * config.batch_size / seconds,
        "generator_iterations_per_sec": iterations / seconds,
        "flops_per_critic_step": counts["critic_step"],
        "flops_per_generator_step": counts["generator_step"],
        "tflops_per_sec": flops / seconds / 1e12,
        "peak_memory_gib": (
            torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        ),
        "amp_skipped": int(np.nansum(hist["amp_skipped"])),
        "finite": bool(np.isfinite(hist["critic_estimate"]).all()),
        "last_critic_estimate": float(hist["critic_estimate"][-1]),
    }
    peaks = _peaks(device)
    if peaks is not None:
        out["peak_assumed"] = peaks
        out["fraction_of_bf16_peak"] = out["tflops_per_sec"] / peaks["bf16"]
        out["fraction_of_fp32_peak"] = out["tflops_per_sec"] / peaks["fp32"]
    return out


# --- the parts of the check -------------------------------------------------------------------
def _install_wheels(folder: Path) -> dict[str, Any]:
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        return {"status": f"no wheels in {folder}"}
    target = Path(tempfile.gettempdir()) / "wganlib-wheels"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    cmd += ["--no-compile", "--no-cache-dir", "--upgrade", "--target", str(target)]
    proc = subprocess.run(cmd + [str(w) for w in wheels], capture_output=True, text=True)
    if proc.returncode == 0:
        sys.path.insert(0, str(target))
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), str(target), os.environ.get("PYTHONPATH", "")) if p
        )
    return {
        "status": "installed" if proc.returncode == 0 else "failed",
        "wheels": [w.name for w in wheels],
        "stderr": proc.stderr[-2000:],
    }


def _cuda_tests(timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"]
    cmd += [str(ROOT / "tests" / "test_cuda.py")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": timeout}
    lines = proc.stdout.strip().splitlines()
    return {
        "status": "passed" if proc.returncode == 0 else "failed",
        "returncode": proc.returncode,
        "summary": lines[-1] if lines else "",
        "seconds": time.perf_counter() - t,
        "output_tail": proc.stdout[-3000:] + proc.stderr[-1000:],
    }


def _lsun_runs(args, db: Path, deadline: float, say) -> list[dict[str, Any]]:
    from wganlib.config import load_config

    base = {"data_root": str(db), "device": args.device, "iterations": args.iterations}
    base |= {"log_every": min(50, args.iterations), "checkpoint_every": 0, "sample_every": 0}
    base |= {"swd_every": 0, "num_workers": args.num_workers}
    if args.quick:
        base |= QUICK
    records = []
    for name in LSUN_CONFIGS:
        for variant in VARIANTS if name in ALL_VARIANTS else ("fp32",):
            over = {**base, **VARIANTS[variant]}
            rec: dict[str, Any] = {"config": name, "variant": variant, "overrides": over}
            records.append(rec)
            if time.perf_counter() > deadline:
                rec["skipped"] = "time budget spent"
                continue
            if over.get("compile") and args.quick:
                rec["skipped"] = "quick: torch.compile takes minutes to compile on a CPU"
                continue
            cfg = load_config(
                ROOT / "configs" / f"{name}.toml", [f"{k}={v}" for k, v in over.items()]
            )
            try:
                rec.update(measure_run(cfg, warmup=args.warmup))
            except Exception as err:  # recorded, so one failure does not hide the others
                rec["error"] = f"{type(err).__name__}: {err}"
            say(f"{name:>22} {variant:>27}: " + (
                f"{rec['images_per_sec']:9.0f} img/s" if "images_per_sec" in rec else rec.get("error", "")
            ))  # fmt: skip
    return records


def _toy_sweep(args, deadline: float, say) -> dict[str, Any]:
    """The mode-collapse grid at the WGAN-GP toy code's reference protocol (width 512, batch
    256, 5 seeds), extended 1,000, 2,000, 4,000, ... generator iterations from its own
    checkpoints (:mod:`wganlib.sweep`) while the budget allows; one record per target reached."""
    from wganlib.experiments import mode_collapse as mc

    if args.quick:
        kw = dict(methods=("wgan-clip", "wgan-gp"), datasets=("8gaussians",), seeds=2,
                  width=16, batch_size=32, n_eval=200, n_w1={"8gaussians": 100})  # fmt: skip
        targets = [4, 8]
    else:
        kw = dict(methods=mc.TABLE_METHODS, datasets=("8gaussians",), seeds=5, width=512,
                  batch_size=256)  # fmt: skip
        targets = [1000, 2000, 4000, 8000, 16000, 32000, 64000, 100000]
    done, last_seconds = [], None
    with tempfile.TemporaryDirectory(prefix="wganlib_toy_sweep_") as state:
        for n in targets:
            left = deadline - time.perf_counter()
            if left <= 0 or (last_seconds is not None and last_seconds * 2.2 > left):
                break
            t = time.perf_counter()
            cells = mc.grid_cells(
                kw["methods"], kw["datasets"], seeds=kw["seeds"], extra=(),
                iterations={d: n for d in kw["datasets"]}, n_eval=kw.get("n_eval", 2500),
                n_w1=kw.get("n_w1"), width=kw["width"], batch_size=kw["batch_size"],
                device=args.device,
            )  # fmt: skip
            res, _ = mc.sweep(cells, state)
            last_seconds = time.perf_counter() - t
            done.append({"iterations": n, "seconds": last_seconds, "aggregate": res["aggregate"],
                         "cells": res["cells"]})  # fmt: skip
            say(f"toy sweep to {n} iterations: {last_seconds:.0f} s")
    return {
        "runs": done,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
    }


def _environment(args, argv: Sequence[str]) -> dict[str, Any]:
    device = torch.device(args.device)
    env: dict[str, Any] = {
        "command": "python -m wganlib.experiments.gpu_check " + " ".join(argv),
        "git_commit": args.commit or _git("rev-parse", "HEAD") or os.environ.get("WGANLIB_COMMIT"),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(device),
        "device_name": platform.processor() or platform.machine(),
        "driver": None,
        "cpu_count": os.cpu_count(),
        "quick": bool(args.quick),
    }
    status = _git("status", "--porcelain")
    env["git_dirty"] = None if status is None else bool(status)
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
        env["memory_gib"] = torch.cuda.get_device_properties(device).total_memory / 2**30
        try:
            q = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            env["driver"] = subprocess.run(
                q, capture_output=True, text=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return env


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wganlib.experiments.gpu_check", description=__doc__.split("\n")[0]
    )
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="tiny nets and runs: the CPU smoke test")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "results" / "gpu")
    p.add_argument("--budget-s", type=float, default=420.0, help="seconds for the whole check")
    p.add_argument(
        "--iterations", type=int, default=None, help="per LSUN run (default 300; quick 3)"
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed iterations (default 30; quick 1)"
    )
    p.add_argument(
        "--images", type=int, default=None, help="crops in the LMDB (default 4096; quick 64)"
    )
    p.add_argument(
        "--num-workers", type=int, default=None, help="DataLoader workers (default 6; quick 0)"
    )
    p.add_argument("--wheels", type=Path, default=None, help="folder of wheels to install first")
    p.add_argument("--commit", default=None, help="git commit of the code (where .git is absent)")
    p.add_argument("--skip-tests", action="store_true", help="do not run the CUDA-only tests")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the check; write and return the results (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    q = args.quick
    args.iterations = args.iterations or (3 if q else 300)
    args.warmup = args.warmup if args.warmup is not None else (1 if q else 30)
    args.images = args.images or (64 if q else 4096)
    args.num_workers = args.num_workers if args.num_workers is not None else (0 if q else 6)
    if args.warmup >= args.iterations:
        raise SystemExit("--warmup must be smaller than --iterations")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run on a GPU, or pass --device cpu --quick")
    start = time.perf_counter()
    deadline = start + args.budget_s

    def say(line: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {line}", flush=True)

    result: dict[str, Any] = {}
    if args.wheels is not None:
        result["wheels"] = _install_wheels(args.wheels)
        say(f"wheels: {result['wheels']['status']}")
    result["environment"] = _environment(args, argv)
    say(f"device: {result['environment']['device_name']}, torch {torch.__version__}")
    if args.skip_tests or torch.device(args.device).type != "cuda":
        result["cuda_tests"] = {
            "status": "not run" + (" (no CUDA device)" if not args.skip_tests else "")
        }
    else:
        result["cuda_tests"] = _cuda_tests(timeout=max(60.0, 0.35 * args.budget_s))
    say(f"CUDA tests: {result['cuda_tests'].get('summary', result['cuda_tests']['status'])}")
    with tempfile.TemporaryDirectory(prefix="wganlib_gpu_check_") as tmp:
        t = time.perf_counter()
        db, photos = build_photo_lmdb(Path(tmp) / "photos_lmdb", args.images)
        result["data"] = {"images": args.images, "size": 64, "photos": photos, "format": "webp",
                          "seconds": time.perf_counter() - t}  # fmt: skip
        say(f"LMDB of {args.images} crops of {len(photos)} photographs")
        result["lsun_runs"] = _lsun_runs(args, db, start + 0.75 * args.budget_s, say)
    toy = _toy_sweep(args, deadline, say)
    result["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    toy_doc = {"environment": result["environment"], **toy}
    (args.out / "toy_sweep.json").write_text(json.dumps(toy_doc, indent=1) + "\n", encoding="utf-8")
    say(f"wrote {args.out / 'gpu_check.json'} and {args.out / 'toy_sweep.json'}")
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
