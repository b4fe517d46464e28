r"""The paper's robustness experiment (its Figures 6-8) on scikit-learn's digits, CPU-sized.

Three generators -- a DCGAN, a DCGAN without batch norm and with a constant number of filters,
and a 4-layer ReLU MLP -- each trained against a DCGAN critic twice: as a WGAN (weight clipping,
RMSProp, Algorithm 1's settings) and as a standard GAN (the non-saturating :math:`-\log D` loss
of the DCGAN code, Adam). Every ``eval_every`` generator iterations each generator is scored by

* the digit classes it produces (:func:`wganlib.image_metrics.class_coverage`, with a classifier
  the library trains on the digits): classes covered, class histogram, its reverse KL to uniform;
* the sliced Wasserstein distance to the real digits (:func:`wganlib.image_metrics.sliced_wasserstein`);

next to the critic's own estimate from the training history. The book's results files were
written by one command per generator (run side by side)::

    for g in dcgan dcgan_nobn_const mlp; do
        python -m wganlib.experiments.images_cpu --iterations 800 --eval-every 200 \
            --generators $g --grids --out data/results/images_cpu_$g.json
    done

It writes one JSON file (the command, the git commit, the date, the settings and the numbers)
and, with ``--grids``, one small PNG sample grid per run beside it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib.config import TrainConfig
from wganlib.image_metrics import class_coverage, sliced_wasserstein, train_digit_classifier
from wganlib.images import digits_dataset
from wganlib.models import count_parameters
from wganlib.train import Run

__all__ = [
    "GENERATORS",
    "OBJECTIVES",
    "ImageSettings",
    "make_config",
    "evaluate",
    "run_one",
    "real_baseline",
    "main",
]

#: The three generators of the paper's Figures 6-8 (keys: config overrides).
GENERATORS: dict[str, dict[str, Any]] = {
    "dcgan": {"generator": "dcgan"},
    "dcgan_nobn_const": {"generator": "dcgan", "constant_filters": True, "g_batch_norm": False},
    "mlp": {"generator": "mlp_image", "depth": 4},
}
#: WGAN (Algorithm 1: clipping, RMSProp 5e-5, 5 critic steps) and the standard (non-saturating) GAN.
OBJECTIVES: dict[str, dict[str, Any]] = {
    "wgan": {"objective": "wgan", "lipschitz": "clip", "n_critic": 5},
    "gan": {"objective": "nsgan", "lipschitz": "none", "n_critic": 1},
}


@dataclass(frozen=True)
class ImageSettings:
    """Sizes shared by all runs (defaults: 16x16 digits, 16 filters, a 512-unit MLP)."""

    image_size: int = 16
    nz: int = 32
    ngf: int = 16
    ndf: int = 16
    mlp_width: int = 512
    batch_size: int = 64
    iterations: int = 1500
    eval_every: int = 250
    n_eval: int = 1000
    schedule: str = "constant"
    seed: int = 0


def make_config(generator: str, objective: str, settings: ImageSettings) -> TrainConfig:
    """The :class:`~wganlib.config.TrainConfig` of one run (digits, one channel, DCGAN critic)."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; choose one of {', '.join(GENERATORS)}")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    s = settings
    return TrainConfig(
        name=f"{generator}_{objective}",
        data="digits",
        image_size=s.image_size,
        channels=1,
        critic="dcgan",
        nz=s.nz,
        ngf=s.ngf,
        ndf=s.ndf,
        width=s.mlp_width,
        batch_size=s.batch_size,
        iterations=s.iterations,
        schedule=s.schedule if objective == "wgan" else "constant",
        seed=s.seed,
        log_every=max(1, min(50, s.eval_every)),
        **GENERATORS[generator],
        **OBJECTIVES[objective],
    )


def evaluate(
    samples: torch.Tensor, real: torch.Tensor, classifier: torch.nn.Module, *, seed: int = 0
) -> dict[str, Any]:
    """Class coverage and SWD (x 1e3, 256 directions) of ``samples`` against ``real`` images."""
    cov = class_coverage(classifier, samples)
    swd = sliced_wasserstein(real, samples, num_directions=256, patches_per_image=64, seed=seed)
    return {
        "classes": cov.classes,
        "histogram": list(cov.histogram),
        "reverse_kl": cov.reverse_kl,
        "confident": cov.confident,
        "swd": swd.mean,
    }


def real_baseline(classifier: torch.nn.Module, settings: ImageSettings) -> dict[str, Any]:
    """The metrics of real test digits against the real training digits (the floor to reach)."""
    kw = {"seed": settings.seed}
    train = digits_dataset(settings.image_size, split="train", **kw).images
    test = digits_dataset(settings.image_size, split="test", **kw).images
    return evaluate(test, train, classifier, seed=settings.seed)


def run_one(
    generator: str,
    objective: str,
    settings: ImageSettings,
    classifier: torch.nn.Module,
    *,
    keep_run: bool = False,
) -> dict[str, Any]:
    """Train one generator/objective pair and score it every ``settings.eval_every`` iterations.

    Returns a record: ``generator``, ``objective``, ``parameters`` (generator, critic),
    ``seconds``, ``evals`` (one dict per evaluation: ``iteration``, ``estimate`` -- the median of
    the critic's estimate over the last ``eval_every`` iterations -- and :func:`evaluate`'s
    numbers), ``estimate`` (the per-iteration critic estimate) and, with ``keep_run``, ``run``.
    Samples are drawn with the generator in training mode (as the 2017 code does).
    """
    config = make_config(generator, objective, settings)
    run = Run(config)
    real = digits_dataset(settings.image_size).images
    evals: list[dict[str, Any]] = []

    def score(r: Run, it: int) -> None:
        est = r.history["critic_estimate"][-settings.eval_every :]
        fake = r.sample(settings.n_eval, seed=settings.seed + 1, eval_mode=False)
        evals.append(
            {"iteration": it, "estimate": float(np.median(est)), **evaluate(fake, real, classifier)}
        )

    from wganlib.history import Callback

    start = time.perf_counter()
    run.fit(callbacks=[Callback(settings.eval_every, score)])
    out = {
        "generator": generator,
        "objective": objective,
        "parameters": [count_parameters(run.generator), count_parameters(run.critic)],
        "seconds": time.perf_counter() - start,
        "evals": evals,
        "estimate": [round(float(v), 6) for v in run.history["critic_estimate"]],
    }
    if keep_run:
        out["run"] = run
    return out


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _save_grid(run: Run, path: Path, seed: int) -> None:
    from PIL import Image

    from wganlib.plotting import image_grid

    grid = image_grid(run.sample(64, seed=seed, eval_mode=False), nrow=8, padding=1)
    Image.fromarray((grid * 255).round().astype(np.uint8)).save(path, optimize=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: run every generator x objective pair and write the JSON results file."""
    p = argparse.ArgumentParser(
        prog="python -m wganlib.experiments.images_cpu", description=__doc__.split("\n")[0]
    )
    d = ImageSettings()
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--iterations", type=int, default=d.iterations)
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--ngf", type=int, default=d.ngf)
    p.add_argument("--ndf", type=int, default=d.ndf)
    p.add_argument("--schedule", default=d.schedule, choices=("constant", "official"))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=list(GENERATORS))
    p.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    p.add_argument("--classifier-epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--grids", action="store_true", help="save a PNG sample grid per run")
    p.add_argument("--out", default="data/results/images_cpu.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    s = ImageSettings(
        image_size=a.image_size, iterations=a.iterations, eval_every=a.eval_every,
        ngf=a.ngf, ndf=a.ndf, schedule=a.schedule, seed=a.seed,
    )  # fmt: skip
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clf = train_digit_classifier(s.image_size, epochs=a.classifier_epochs, seed=s.seed)
    result: dict[str, Any] = {
        "command": "python -m wganlib.experiments.images_cpu "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": _git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "settings": s.__dict__,
        "configs": {},
        "classifier_test_accuracy": clf.test_accuracy,
        "real": real_baseline(clf.classifier, s),
        "runs": [],
    }
    for g in a.generators:
        for o in a.objectives:
            rec = run_one(g, o, s, clf.classifier, keep_run=a.grids)
            result["configs"][f"{g}_{o}"] = make_config(g, o, s).to_dict()
            if a.grids:
                name = f"{out.stem}_{g}_{o}.png"
                _save_grid(rec.pop("run"), out.parent / name, s.seed + 2)
                rec["grid"] = name
            result["runs"].append(rec)
            out.write_text(json.dumps(result, indent=1))  # partial results survive a crash
    return result


if __name__ == "__main__":
    main()
