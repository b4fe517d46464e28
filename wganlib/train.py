r"""The trainer: Algorithm 1 of Arjovsky, Chintala & Bottou (2017), generalised.

One generator iteration is ``n_critic`` critic steps (each on a fresh real batch and a fresh
prior batch) followed by one generator step:

.. math::
    w \leftarrow w - \alpha\,\mathrm{opt}\Bigl(\nabla_w\bigl[\ell_c(f_w(x), f_w(g_\theta(z)))
    + \lambda\,\mathrm{penalty}\bigr]\Bigr),\qquad
    \theta \leftarrow \theta - \alpha\,\mathrm{opt}\bigl(\nabla_\theta\,\ell_g(f_w(g_\theta(z)))\bigr),

with the losses :math:`\ell_c, \ell_g` of the objective (:mod:`wganlib.objectives`) and the
Lipschitz method's hooks (:mod:`wganlib.lipschitz`). :func:`critic_step` and
:func:`generator_step` are the only places where the updates happen; :func:`train` and
:func:`fit_critic` both use them.

Random numbers (the order that :mod:`wganlib.reference` reproduces exactly). Four seeds are
derived from ``config.seed`` (:func:`derive_seeds`): *init* (the initial weights, drawn from
torch's CPU generator inside :func:`torch.random.fork_rng`, generator first, then the critic, so
the global RNG is left as it was), *data* (the real batches), *noise* (the prior) and *penalty*
(the interpolation weights :math:`t` of the gradient penalty); each stream has its own
:class:`torch.Generator`. Within a stream the draws go: for each critic step, one real batch
(data) and one prior batch (noise), then the penalty's :math:`t` (penalty); then one prior
batch (noise) for the generator step.

The same result as the readable reference, bit for bit, with the work the algorithm does not
need left out: the critic steps evaluate :math:`g_\theta(z)` without building a graph, the
generator step switches the critic's weight gradients off, gradients are reset with
``set_to_none``, statistics stay on the device (:mod:`wganlib.history`). Both loops spend most
of their time in the same matrix products, so the gain is small (``benchmarks/bench_trainer.py``);
``channels_last = true`` speeds up image nets at the price of a different summation order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wganlib import distributed, fastpaths
from wganlib.build import (
    build_critic,
    build_data,
    build_generator,
    build_objective,
    critic_steps_at,
    make_lipschitz,
    make_optimizer,
)
from wganlib.checkpoint import (
    check_finite,
    global_rng_state,
    load_checkpoint,
    require_keys,
    save_checkpoint,
)
from wganlib.config import ConfigError, TrainConfig, config_from_dict, optimizer_settings
from wganlib.critic_fit import fit_critic
from wganlib.guards import check_rows
from wganlib.history import Callback, History, NonFiniteError, Recorder, as_callbacks
from wganlib.imagebase import bad_image_count
from wganlib.lipschitz import clipped_parameters, weight_max_abs
from wganlib.precision import Precision
from wganlib.sources import sample_prior
from wganlib.steps import critic_step, generator_step

__all__ = [
    "Run",
    "train",
    "load",
    "fit_critic",
    "critic_step",
    "generator_step",
    "critic_steps_at",
    "make_optimizer",
    "make_lipschitz",
    "derive_seeds",
    "Callback",
    "NonFiniteError",
    "HOST_COLUMNS",
    "DEVICE_COLUMNS",
]

HOST_COLUMNS = ("iteration", "n_critic", "wall_time", "images_per_sec")
# images_per_sec: real images through the critic per second of host time in that iteration
# (on a GPU the host runs ahead between log points: average it over log_every rows)
DEVICE_COLUMNS = (
    "critic_estimate",  # the objective's estimate (WGAN: mean f(x) - mean f(g(z))), last critic step
    "critic_loss",  # the critic's loss at its last step, without the penalty
    "generator_loss",
    "penalty",  # lambda * gradient penalty at the last critic step (0 without one)
    "critic_grad_norm",  # of the last critic step (penalty included), before the update
    "generator_grad_norm",
    "weight_max_abs",  # clip: max |w| after any critic step of the iteration; else after the last
    "weight_at_bound",  # clip: fraction of clipped weights at +-c after the last step; else 0
    "bad_images",  # distinct undecodable images met so far, all processes (wganlib.guards)
    "amp_skipped",  # optimiser steps skipped by the fp16 gradient scaler (overflow) this iteration
)
#: Gradient norms that are NaN/inf, without divergence, when their step was skipped (fp16).
SKIPPABLE = ("critic_grad_norm", "generator_grad_norm")
#: Fields that may differ between a checkpoint's config and the config that resumes it.
RESUMABLE = ("name", "iterations", "log_every", "checkpoint_every", "device", "num_workers")
RESUMABLE += ("sample_every", "swd_every", "swd_samples", "compile")
RESUMABLE += ("max_bad_fraction", "max_abs_estimate")


def derive_seeds(seed: int) -> dict[str, int]:
    """Independent seeds for the init, data, noise and penalty streams (numpy SeedSequence)."""
    s = np.random.SeedSequence(int(seed)).generate_state(4)
    return dict(zip(("init", "data", "noise", "penalty"), (int(v) for v in s), strict=True))


class Run:
    """A training run: nets, optimisers, data, random streams, counters and history.

    Make one with :func:`train`, :meth:`Run.create` (iteration 0) or :func:`load`; train it with
    :meth:`fit`. Attributes: ``config``, ``generator``, ``critic``, ``history``, ``iteration``
    (generator iterations done), ``critic_steps``, ``opt_generator``, ``opt_critic``,
    ``objective``, ``lipschitz``, ``data`` (the data source), ``device``.
    """

    def __init__(self, config: TrainConfig) -> None:
        self.config, self.device = config, torch.device(config.device)
        _check_available(self.device)
        seeds = derive_seeds(config.seed)
        if fastpaths.enabled("keep_heap"):  # bit-equal: fewer page faults for big activations
            fastpaths.keep_heap()
        with torch.random.fork_rng(devices=[]):  # initial weights; global RNG left untouched
            torch.default_generator.manual_seed(seeds["init"])
            generator = build_generator(config)
            self.lipschitz = make_lipschitz(config)
            critic = self.lipschitz.prepare(build_critic(config))
        self.generator, self.critic = generator.to(self.device), critic.to(self.device)
        self._memory_format = torch.contiguous_format
        if config.channels_last:
            self._memory_format = torch.channels_last
            self.generator = self.generator.to(memory_format=torch.channels_last)
            self.critic = self.critic.to(memory_format=torch.channels_last)
        self.dist = distributed.info()
        if (config.batch_size * config.members) % self.dist.world_size:
            raise ConfigError(
                f"batch_size {config.batch_size} (the global batch) must be divisible by the "
                f"{self.dist.world_size} processes"
            )
        self.precision_critic = Precision(config.amp, self.device)
        self.precision_generator = Precision(config.amp, self.device)
        settings = optimizer_settings(config)
        self.opt_generator = make_optimizer(self.generator.parameters(), settings)
        self.opt_critic = make_optimizer(self.critic.parameters(), settings)
        self.objective = build_objective(config)
        # the data source is built on first use (:attr:`data`): sampling needs no data on disk
        self._data: Any = None
        self._data_seed, self._data_state = seeds["data"], None
        self.noise_generator = torch.Generator(self.device).manual_seed(seeds["noise"])
        self.penalty_generator = torch.Generator(self.device).manual_seed(seeds["penalty"])
        self.iteration, self.critic_steps, self.wall_time = 0, 0, 0.0
        self.history = History(HOST_COLUMNS + DEVICE_COLUMNS)
        self._recorder = self._new_recorder()
        self._checked, self._bad = 0, (-1, None)  # rows checked by the guards; bad-image count
        bn = config.clip_batch_norm or config.lipschitz != "clip"
        self._clipped = [p for _, p in clipped_parameters(self.critic, include_batch_norm=bn)]
        # what the updates run through: DDP wrappers under torchrun, torch.compile on request
        self._train_generator = distributed.wrap_ddp(self.generator, self.device)
        self._train_critic = distributed.wrap_ddp(self.critic, self.device)
        if config.compile:  # no double backward through compiled code: critic only without GP
            self._train_generator = torch.compile(self._train_generator)
            if not self.lipschitz.has_penalty:
                self._train_critic = torch.compile(self._train_critic)

    @classmethod
    def create(cls, config: TrainConfig) -> Run:
        """A new run at iteration 0 (the same as ``Run(config)``)."""
        return cls(config)

    def _new_recorder(self) -> Recorder:
        return Recorder(
            self.history, HOST_COLUMNS, DEVICE_COLUMNS, skip_column="amp_skipped",
            skippable=SKIPPABLE,
        )  # fmt: skip

    @property
    def data(self) -> Any:
        """The data source (:mod:`wganlib.sources`), built from the config on first use.

        A run that only samples (``load(...).sample(n)``) never builds it, so its training
        data need not be on disk.
        """
        if self._data is None:
            self._data = build_data(
                self.config, device=self.device, seed=self._data_seed,
                rank=self.dist.rank, world=self.dist.world_size,
            )  # fmt: skip
            if self._data_state is not None:
                self._data.load_state_dict(self._data_state)
                self._data_state = None
        return self._data

    @property
    def skipped_steps(self) -> int:
        """Optimiser steps skipped so far by the fp16 gradient scaler (``amp_skipped`` summed)."""
        self.flush()
        return int(np.nansum(self.history["amp_skipped"]))

    # --- sampling ------------------------------------------------------------------------
    def sample_real(self) -> torch.Tensor:
        """A fresh real batch ``(batch_size, ...)`` from the data stream."""
        return self.data.next().contiguous(memory_format=self._memory_format)

    def _local_real(self) -> torch.Tensor:
        """This process's block of the next real batch (the whole batch for one process)."""
        x = self.sample_real()
        if not getattr(self.data, "sharded", False):
            x = distributed.shard(x, self.dist.rank, self.dist.world_size)
        return x

    def sample_prior(self, n: int | None = None) -> torch.Tensor:
        r"""A prior batch :math:`z \sim \mathcal N(0, I)`, ``(n, nz)``, from the noise stream."""
        n = self.config.batch_size * self.config.members if n is None else n
        return sample_prior(self.config, n, self.noise_generator, self.device)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, eval_mode: bool = True) -> torch.Tensor:
        """``n`` generator samples from a prior drawn with ``seed`` (training streams untouched).

        ``eval_mode=True`` runs the generator in eval mode (batch norm uses running statistics);
        with False it runs in training mode and its batch-norm buffers are restored afterwards.
        """
        g = torch.Generator(self.device).manual_seed(int(seed))
        z = sample_prior(self.config, n, g, self.device)
        was_training = self.generator.training
        buffers = [b.clone() for b in self.generator.buffers()]
        self.generator.train(not eval_mode)
        try:
            return self.generator(z)
        finally:
            self.generator.train(was_training)
            for b, saved in zip(self.generator.buffers(), buffers, strict=True):
                b.copy_(saved)

    # --- training ------------------------------------------------------------------------
    def fit(
        self,
        until: int | None = None,
        *,
        callbacks: Iterable[Callback | Callable] = (),
        checkpoint: str | Path | None = None,
    ) -> Run:
        """Train until ``until`` generator iterations are done (default ``config.iterations``).

        ``callbacks`` run after their iterations (:class:`wganlib.history.Callback`). With a
        ``checkpoint`` path the run is saved there every ``config.checkpoint_every``
        iterations and at the end. Raises :class:`NonFiniteError` (found at log points and
        before saving) on a NaN/inf; the checkpoint then keeps its last good state.
        """
        cfg, until = self.config, self.config.iterations if until is None else int(until)
        cbs = as_callbacks(callbacks)
        if checkpoint is not None and cfg.checkpoint_every:
            cbs.append(Callback(cfg.checkpoint_every, lambda run, _: run.save(checkpoint)))
        clip, b = cfg.lipschitz == "clip", cfg.batch_size * cfg.members  # rows of all members
        _ = self.data  # build the data source now: a missing data set fails before training
        start = time.perf_counter() - self.wall_time
        while self.iteration < until:
            k = critic_steps_at(cfg, self.iteration)
            w_max = None
            for j in range(k):
                real = self._local_real()  # (B / N, ...) this process's block of a real batch
                z = distributed.shard(self.sample_prior(b))  # (B / N, nz)
                with torch.no_grad(), self.precision_critic.autocast():
                    fake = self.generator(z).float()  # no graph: only the critic learns here
                last = j == k - 1
                step = critic_step(
                    self._train_critic, self.opt_critic, self.objective, self.lipschitz, real,
                    fake, penalty_generator=self.penalty_generator, stats=last,
                    precision=self.precision_critic,
                )  # fmt: skip
                if clip or last:
                    m = weight_max_abs(self._clipped)
                    w_max = m if w_max is None else torch.maximum(w_max, m)
            at_bound = torch.zeros((), device=self.device)
            if clip:
                c = cfg.clip_value * (1 - 1e-6)
                n_at = sum((p.detach().abs() >= c).sum() for p in self._clipped)
                at_bound = n_at / sum(p.numel() for p in self._clipped)
            g_loss, g_norm = generator_step(
                self._train_generator, self.critic, self.opt_generator, self.objective,
                distributed.shard(self.sample_prior(b)), precision=self.precision_generator,
            )  # fmt: skip
            self.iteration, self.critic_steps = self.iteration + 1, self.critic_steps + k
            previous, self.wall_time = self.wall_time, time.perf_counter() - start
            rate = k * cfg.batch_size * cfg.members / max(self.wall_time - previous, 1e-9)
            row = [step.estimate, step.loss, g_loss, step.penalty, step.grad_norm, g_norm, w_max]
            skipped = self.precision_critic.take_skipped(self.device)
            skipped = skipped + self.precision_generator.take_skipped(self.device)
            extra = [
                at_bound.to(w_max.dtype),
                self._bad_images(w_max.dtype),
                skipped.to(w_max.dtype),
            ]
            row = torch.stack([*row, *extra]).float()
            row = distributed.all_reduce_mean(row)  # the global batch's estimate (N processes)
            self._recorder.record((self.iteration, k, self.wall_time, rate), row)
            if self.iteration % cfg.log_every == 0:
                self.flush()
            self._run_callbacks(cbs, final=self.iteration == until)
        self.flush()
        if checkpoint is not None:
            self.save(checkpoint)
        return self

    def _run_callbacks(self, callbacks: list[Callback], *, final: bool) -> None:
        for cb in callbacks:
            if cb.due(self.iteration) or (final and cb.at_end):
                if cb.sync:
                    self.flush()
                cb.fn(self, self.iteration)

    def flush(self) -> None:
        """Move pending history rows to the host and check them.

        Raises :class:`NonFiniteError` on NaN/inf, its subclass
        :class:`~wganlib.guards.EstimateBoundError` on a finite blow-up, and
        :class:`~wganlib.imagebase.DataError` past ``max_bad_fraction`` bad images.
        """
        self._recorder.flush()
        data = self._data  # None for a run that only samples: nothing read, nothing to build
        read = getattr(data, "consumed", 0) + max(self._bad[0], 0)
        what = repr(getattr(data, "dataset", self.config.data))
        self._checked = check_rows(self.history, self._checked, self.config, read=read, what=what)

    def _bad_images(self, dtype: torch.dtype) -> torch.Tensor:
        """The bad-image count as a device scalar, times the number of processes (their mean,
        taken by the trainer, is then the sum); a new tensor only when the count changes."""
        count = bad_image_count(self.data)
        if count != self._bad[0]:
            value = float(count * self.dist.world_size)
            self._bad = (count, torch.tensor(value, dtype=dtype, device=self.device))
        return self._bad[1]

    # --- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Full state as plain types and tensors (``torch.load(weights_only=True)``-safe)."""
        self.flush()
        return {
            "format": "wganlib-checkpoint",
            "version": 1,
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "critic_steps": self.critic_steps,
            "wall_time": self.wall_time,
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_generator": self.opt_generator.state_dict(),
            "opt_critic": self.opt_critic.state_dict(),
            "rng": {
                "device_type": self.device.type,
                "data": self.data.state_dict() if self._data_state is None else self._data_state,
                "noise": self.noise_generator.get_state(),
                "penalty": self.penalty_generator.get_state(),
                "global": global_rng_state(),
            },
            "history": self.history.state_dict(),
            "precision": {
                "critic": self.precision_critic.state_dict(),
                "generator": self.precision_generator.state_dict(),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the config must already match)."""
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.opt_generator.load_state_dict(state["opt_generator"])
        self.opt_critic.load_state_dict(state["opt_critic"])
        self.iteration, self.critic_steps = int(state["iteration"]), int(state["critic_steps"])
        rng = state["rng"]
        saved_type = rng.get("device_type") or _state_device_type(rng["noise"])
        data_state = dict(rng["data"])
        if saved_type == self.device.type:
            self.noise_generator.set_state(rng["noise"].cpu())
            self.penalty_generator.set_state(rng["penalty"].cpu())
        else:  # another kind of generator: re-seed each stream from its seed and the position
            seeds = derive_seeds(self.config.seed)
            for name, gen in (("noise", self.noise_generator), ("penalty", self.penalty_generator)):
                gen.manual_seed(moved_seed(seeds[name], self.iteration))
            if "rng" in data_state:  # a source drawing on the device (toys, noise images)
                fresh = torch.Generator(self.device).manual_seed(
                    moved_seed(seeds["data"], self.iteration)
                )
                data_state["rng"] = fresh.get_state()
        self._data_state = data_state
        if self._data is not None:
            self._data.load_state_dict(data_state)
            self._data_state = None
        self.wall_time = float(state["wall_time"])
        self.history = _with_columns(History.from_state_dict(state["history"]))
        self._recorder = self._new_recorder()
        self._checked = len(self.history)
        if "precision" in state:
            self.precision_critic.load_state_dict(state["precision"]["critic"])
            self.precision_generator.load_state_dict(state["precision"]["generator"])

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically; refuses (:class:`NonFiniteError`) NaN/inf values.

        Under ``torchrun`` every process calls it; the main process writes (all hold the same
        state) and the others wait until the file is in place.
        """
        path = Path(path)
        if distributed.is_main_process():
            state = self.state_dict()
            # NaN/inf refused everywhere except in the history, whose rows the recorder checked
            # (a skipped fp16 step's gradient norm is NaN there, by design)
            check_finite(
                {k: v for k, v in state.items() if k != "history"}, iteration=self.iteration
            )
            save_checkpoint(path, state, finite=False)
        else:
            self.flush()
        distributed.barrier()
        return path


def _check_available(device: torch.device) -> None:
    """Refuse a device this machine does not have, in one line that says what to use."""
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device '{device}' requested but CUDA is not available; "
            "use device = 'cpu' (--set device=cpu)"
        )
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device '{device}' requested but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s); use cuda:0 .. cuda:N-1"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but MPS is not available; use device = 'cpu'")


def moved_seed(stream_seed: int, iteration: int) -> int:
    """The seed of a stream re-seeded at ``iteration`` on another device type (see :func:`load`)."""
    return int(np.random.SeedSequence([int(stream_seed), int(iteration)]).generate_state(1)[0])


def _state_device_type(state: torch.Tensor) -> str:
    """Device type of a saved generator state (checkpoints before ``device_type`` was stored):
    a CUDA (Philox) state is 16 bytes (seed, offset), a CPU (Mersenne twister) one 5,056."""
    return "cuda" if state.numel() == 16 else "cpu"


def _with_columns(history: History) -> History:
    """A history from an older checkpoint, with the columns added since (filled with 0)."""
    columns = list(HOST_COLUMNS + DEVICE_COLUMNS)
    if history.columns == columns:
        return history
    values = np.zeros((len(history), len(columns)))
    for j, name in enumerate(columns):
        if name in history.columns:
            values[:, j] = history[name]
    return History(columns, values)


def train(
    config: TrainConfig,
    *,
    callbacks: Iterable[Callback | Callable] = (),
    checkpoint: str | Path | None = None,
) -> Run:
    """Train a new run for ``config.iterations`` generator iterations; see :meth:`Run.fit`."""
    return Run(config).fit(callbacks=callbacks, checkpoint=checkpoint)


def load(
    path: str | Path,
    *,
    device: str | None = None,
    overrides: Iterable[str] | dict[str, Any] = (),
) -> Run:
    """Load a checkpoint into a :class:`Run` that resumes (``run.fit()``) or samples.

    ``overrides`` may change only :data:`RESUMABLE` fields (e.g. ``["iterations=2000"]``),
    ``device`` moves the run. Resuming on the CPU continues bit-identically.

    Moving between device types (a GPU checkpoint loaded with ``device="cpu"``, or back).
    The weights, optimiser states and the data position move as they are. The random streams
    drawn on the device (the prior, the penalty's :math:`t`, toy and noise data) cannot: a CUDA
    generator's state (a Philox seed and offset) means nothing to a CPU generator (a Mersenne
    twister) and vice versa. Each such stream is re-seeded with :func:`moved_seed` of its own
    seed (:func:`derive_seeds` of the stored ``config.seed``) and the stored generator
    iteration, so the continuation is reproducible, but it draws other numbers than the run
    would have drawn on its first device. On the same device type the states are restored
    exactly. Sampling (``run.sample``) uses its own seed and is unaffected; it builds no data
    source, so the training data need not be on disk.
    """
    state = load_checkpoint(path)
    require_keys(state, path)
    saved = config_from_dict(state["config"])
    config = saved.with_overrides(overrides)
    if device is not None:
        config = dataclasses.replace(config, device=device)
    changed = [k for k, v in config.to_dict().items() if v != getattr(saved, k)]
    bad = [k for k in changed if k not in RESUMABLE]
    if bad:
        raise ConfigError(
            f"cannot resume {path} with changed {', '.join(bad)}; only "
            f"{', '.join(RESUMABLE)} may change (start a new run instead)"
        )
    run = Run(config)
    _restore(run, state, path)
    return run


def _restore(run: Run, state: dict[str, Any], path: str | Path) -> None:
    """Load ``state`` into ``run``; a checkpoint that does not fit its config is one line."""
    try:
        run.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        first = " ".join(str(err).split())[:300]
        raise ValueError(f"{path} does not fit the config it records ({first})") from None
