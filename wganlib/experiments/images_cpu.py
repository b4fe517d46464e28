r"""The paper's robustness experiment (its Figures 6-8) on scikit-learn's digits, CPU-sized.

Three generators -- a DCGAN, a DCGAN without batch norm and with a constant number of filters,
and a 4-layer ReLU MLP -- each trained against a DCGAN critic twice: as a WGAN (weight clipping,
RMSProp, Algorithm 1's settings) and as a standard GAN (the non-saturating :math:`-\log D` loss
of the DCGAN code, Adam). Every ``eval_every`` generator iterations each generator is scored by

* the digit classes it produces (:func:`wganlib.image_metrics.class_coverage`, with a classifier
  the library trains on the digits): classes covered, class histogram, its reverse KL to uniform;
* the sliced Wasserstein distance to the real digits (:func:`wganlib.image_metrics.sliced_wasserstein`);

next to the critic's own estimate from the training history. The book's results file (chapter 8)
was written by::

    python -m wganlib.experiments.images_cpu --iterations 3000 --eval-every 500 \
        --seeds 0 1 2 --workers 2 --out data/results/images_cpu_seeds.json

Every run (generator x objective x seed) writes its record and a 10 x 10 PNG sample grid to the
folder beside the results file (``data/results/images_cpu_seeds/``) as soon as it finishes; a
rerun of the command skips the runs that are there (and refuses records made by other code or
settings), so a killed sweep loses at most the runs in flight. The results file merges the
records with the command, the git commit (and whether the tree was dirty), the date and the machine
(:func:`wganlib.experiments.provenance.provenance`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib.config import TrainConfig
from wganlib.experiments.provenance import provenance
from wganlib.image_metrics import class_coverage, sliced_wasserstein, train_digit_classifier
from wganlib.images import digits_dataset
from wganlib.models import count_parameters
from wganlib.sweep import write_json_atomic
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
    """Class coverage, confident coverage and SWD (x 1e3, 256 directions) against ``real``.

    ``confident_histogram`` counts, per class, the samples that the classifier puts in that class
    with a top softmax probability of at least 0.9 (a digit it recognises);
    ``confident_classes`` is the number of classes with at least 1% of the samples so recognised.
    """
    cov = class_coverage(classifier, samples)
    with torch.no_grad():
        probs = torch.softmax(classifier.eval()(samples), dim=1)
    top, label = probs.max(dim=1)
    conf_hist = torch.bincount(label[top >= 0.9], minlength=probs.shape[1])
    swd = sliced_wasserstein(real, samples, num_directions=256, patches_per_image=64, seed=seed)
    return {
        "classes": cov.classes,
        "histogram": list(cov.histogram),
        "reverse_kl": cov.reverse_kl,
        "confident": cov.confident,
        "confident_histogram": [int(v) for v in conf_hist],
        "confident_classes": int((conf_hist >= 0.01 * len(samples)).sum()),
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


def _save_grid(run: Run, path: Path, seed: int, n: int = 100) -> None:
    from PIL import Image

    from wganlib.plotting import image_grid

    side = int(round(n**0.5))
    grid = image_grid(run.sample(n, seed=seed, eval_mode=False), nrow=side, padding=1)
    Image.fromarray((grid * 255).round().astype(np.uint8)).save(path, optimize=True)


def run_file(run_dir: Path, generator: str, objective: str, seed: int) -> Path:
    """Where one run's record lives: ``run_dir / f"{generator}_{objective}_s{seed}.json"``."""
    return run_dir / f"{generator}_{objective}_s{seed}.json"


_WORKER: dict[str, Any] = {}


def _init_worker(threads: int, classifier_state: dict[str, torch.Tensor], size: int) -> None:
    from wganlib.image_metrics import DigitClassifier

    torch.set_num_threads(threads)
    clf = DigitClassifier()
    clf.load_state_dict(classifier_state)
    _WORKER["classifier"] = clf.eval()


def _one(task: tuple[str, str, ImageSettings, str, int, str | None]) -> str:
    """Train and score one run, write its record (and its 10x10 grid) to ``run_dir``."""
    g, o, s, run_dir, grid_n, commit = task
    rec = run_one(g, o, s, _WORKER["classifier"], keep_run=True)
    path = run_file(Path(run_dir), g, o, s.seed)
    grid = path.with_suffix(".png")
    _save_grid(rec.pop("run"), grid, s.seed + 2, grid_n)
    rec["grid"] = f"{path.parent.name}/{grid.name}"
    rec["seed"] = s.seed
    rec["config"] = make_config(g, o, s).to_dict()
    rec["git_commit"], rec["settings"] = commit, s.__dict__
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1))
    tmp.replace(path)  # atomic: a killed run leaves no half-written record
    return path.name


def merge(run_dir: Path, header: dict[str, Any], files: list[Path] | None = None) -> dict[str, Any]:
    """The results dict: ``header`` plus the run records ``files`` (default: every record in
    ``run_dir``), sorted by generator, objective and seed."""
    paths = sorted(run_dir.glob("*_s*.json")) if files is None else files
    recs = [json.loads(f.read_text()) for f in paths]
    order = {g: i for i, g in enumerate(GENERATORS)}
    recs.sort(key=lambda r: (order[r["generator"]], r["objective"], r["seed"]))
    return {**header, "runs": recs}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: every generator x objective x seed, one record per run, then one results file.

    Resumable: each finished run is written to ``<out stem>/<generator>_<objective>_s<seed>.json``
    (beside ``--out``) and skipped when the command is run again; the results file merges them.
    """
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
    p.add_argument("--seeds", type=int, nargs="+", default=[d.seed], help="one run per seed")
    p.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=list(GENERATORS))
    p.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    p.add_argument("--classifier-epochs", type=int, default=15)
    p.add_argument("--grid", type=int, default=100, help="samples in each run's PNG grid")
    p.add_argument("--workers", type=int, default=1, help="processes (one run each at a time)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    p.add_argument("--out", default="data/results/images_cpu_seeds.json")
    a = p.parse_args(argv)
    if a.iterations < 1 or a.eval_every < 1 or a.workers < 1:
        raise SystemExit("--iterations, --eval-every and --workers must be positive")
    torch.set_num_threads(a.threads)
    base = ImageSettings(
        image_size=a.image_size, iterations=a.iterations, eval_every=a.eval_every,
        ngf=a.ngf, ndf=a.ndf, schedule=a.schedule, seed=a.seeds[0],
    )  # fmt: skip
    out = Path(a.out)
    run_dir = out.parent / out.stem
    run_dir.mkdir(parents=True, exist_ok=True)
    clf = train_digit_classifier(base.image_size, epochs=a.classifier_epochs, seed=0)
    header: dict[str, Any] = {
        **provenance(
            "wganlib.experiments.images_cpu",
            sys.argv[1:] if argv is None else argv,
            threads=a.threads,
        ),
        "settings": {**base.__dict__, "seeds": a.seeds, "workers": a.workers},
        "classifier_test_accuracy": clf.test_accuracy,
        "real": real_baseline(clf.classifier, base),
    }
    commit = header["git_commit"]
    wanted = [
        (g, o, dataclasses.replace(base, seed=seed))
        for seed in a.seeds  # seeds outermost: a killed sweep leaves whole seeds
        for g in GENERATORS
        if g in a.generators
        for o in OBJECTIVES
        if o in a.objectives
    ]
    tasks = []
    for g, o, s in wanted:
        path = run_file(run_dir, g, o, s.seed)
        if path.exists():
            _check_record(json.loads(path.read_text()), path, commit, s)
        else:
            tasks.append((g, o, s, str(run_dir), a.grid, commit))
    start = time.perf_counter()
    init = (a.threads, clf.classifier.state_dict(), base.image_size)
    if a.workers == 1:
        _init_worker(*init)
        for t in tasks:
            _one(t)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(a.workers, initializer=_init_worker, initargs=init) as pool:
            for _ in pool.imap_unordered(_one, tasks):
                pass
    header["wall_seconds"] = time.perf_counter() - start
    result = merge(run_dir, header, [run_file(run_dir, g, o, s.seed) for g, o, s in wanted])
    write_json_atomic(out, result)
    return result


def _check_record(rec: dict[str, Any], path: Path, commit: str | None, s: ImageSettings) -> None:
    """Refuse a finished record made by other code or other settings (one line, what to do)."""
    if rec.get("git_commit") != commit or rec.get("settings") != s.__dict__:
        raise SystemExit(
            f"{path} was made by commit {rec.get('git_commit')} with other settings or code than "
            f"this command (commit {commit}): use another --out (its records go beside it) or "
            "delete that record"
        )


if __name__ == "__main__":
    main()
