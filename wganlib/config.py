r"""Training configuration: one frozen dataclass, loaded from TOML with ``--set`` overrides.

A :class:`TrainConfig` names everything a run needs (data, nets, objective, Lipschitz method,
Algorithm 1's schedule, optimiser, seed, device). It is immutable; a change makes a new config
(:func:`dataclasses.replace` or :meth:`TrainConfig.with_overrides`). Values are validated on
construction, so a bad config fails before any training starts.

The optimiser defaults follow the papers, per method (:func:`optimizer_settings`):

========================  =========  ==========  =============
method                    optimiser  lr          betas
========================  =========  ==========  =============
WGAN + clip (or none)     RMSProp    5e-5        --
WGAN + gp / lp / sn       Adam       1e-4        (0.5, 0.9)
GAN / NSGAN               Adam       2e-4        (0.5, 0.999)
========================  =========  ==========  =============
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "ConfigError",
    "TrainConfig",
    "load_config",
    "config_from_dict",
    "parse_override",
    "optimizer_settings",
    "to_toml",
    "TOY_DATA",
    "IMAGE_DATA",
]

TOY_DATA = ("8gaussians", "25gaussians", "swissroll", "two_gaussians", "gaussian1d")
IMAGE_DATA = ("digits", "folder", "lsun", "noise")
OBJECTIVES = ("wgan", "gan", "nsgan")
LIPSCHITZ = ("clip", "gp", "lp", "sn", "none")
OPTIMIZERS = ("auto", "rmsprop", "adam", "sgd")
GENERATORS = ("mlp", "dcgan", "mlp_image")
CRITICS = ("mlp", "dcgan")
SCHEDULES = ("constant", "official")
AMP = ("none", "bf16", "fp16")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "softplus", "gelu")


class ConfigError(ValueError):
    """A configuration key or value is invalid (the message says which and what to do)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; frozen, validated on construction.

    Data
        ``data`` (toys: 8gaussians, 25gaussians, swissroll, two_gaussians, gaussian1d; images:
        digits, folder, lsun, noise), ``data_root`` (folder/LMDB path), ``image_size``,
        ``channels``.
    Networks
        ``generator`` (mlp | dcgan | mlp_image), ``critic`` (mlp | dcgan), ``nz`` (None: 2 for
        toys, 100 for images), ``width``/``depth``/``activation`` (MLPs), ``ngf``/``ndf``/
        ``n_extra_layers``/``constant_filters`` (DCGAN), ``g_batch_norm``/``c_batch_norm``
        (None: the model's default), ``c_layer_norm`` (DCGAN critic: per-example layer norm,
        as WGAN-GP's critics use), ``members`` (toy MLPs only: train that many independent
        generator/critic pairs side by side as one batched net, :mod:`wganlib.ensemble`;
        ``batch_size`` is per member).
    Method
        ``objective`` (wgan | gan | nsgan), ``lipschitz`` (clip | gp | lp | sn | none; default
        ``auto``: clip for a WGAN, none for a GAN),
        ``clip_value`` (c), ``clip_when`` (after: the paper's Algorithm 1, the clamp follows each
        critic update; before: the official 2017 code, it precedes it), ``clip_batch_norm``
        (clamp batch-norm parameters too, as the official code does), ``gp_weight`` (lambda).
    Algorithm 1
        ``iterations`` (generator iterations), ``n_critic`` (None: 5 for a WGAN, 1 for a GAN),
        ``schedule`` (constant | official:
        100 critic steps while the generator iteration is < 25 or a multiple of 500),
        ``batch_size`` (m).
    Optimiser
        ``optimizer`` (auto | rmsprop | adam | sgd), ``lr``, ``beta1``, ``beta2`` (None: the
        method's default, :func:`optimizer_settings`), ``momentum`` (SGD).
    Run
        ``seed``, ``device`` (cpu, cuda, cuda:N, mps), ``amp`` (none | bf16 | fp16:
        autocast, fp16 with gradient scaling, :mod:`wganlib.precision`), ``compile``
        (``torch.compile``),
        ``channels_last`` (image nets in the channels-last memory layout: faster convolutions
        on CPUs and GPUs; the same arithmetic, summed in another order),
        ``log_every`` (history moves to the host and is checked for NaN/inf every so many
        generator iterations), ``checkpoint_every`` (0: the final checkpoint only),
        ``num_workers`` (image DataLoader workers).
    Long image runs (the command line, :mod:`wganlib.runlog`)
        ``sample_every`` (a sample grid from a fixed prior batch every so many generator
        iterations; 0: none), ``swd_every`` (sliced Wasserstein distance on ``swd_samples``
        generated and real images; 0: none). Under ``torchrun`` ``batch_size`` is the global
        batch, split over the processes (:mod:`wganlib.distributed`).
    Safety stops
        ``max_bad_fraction`` (image datasets that decode files: stop when more than this
        fraction of the images read failed to decode, :func:`wganlib.imagebase.check_bad_images`;
        1 never stops), ``max_abs_estimate`` (stop like on NaN when the critic's estimate
        exceeds this in absolute value: a finite blow-up; 0 switches it off).
    """

    name: str = "run"
    # data
    data: str = "8gaussians"
    data_root: str = ""
    image_size: int = 64
    channels: int = 3
    # networks
    generator: str = "mlp"
    critic: str = "mlp"
    nz: int | None = None
    width: int = 512
    depth: int = 3
    activation: str = "relu"
    ngf: int = 64
    ndf: int = 64
    n_extra_layers: int = 0
    constant_filters: bool = False
    g_batch_norm: bool | None = None
    c_batch_norm: bool | None = None
    c_layer_norm: bool = False
    members: int = 1
    # objective and Lipschitz method
    objective: str = "wgan"
    lipschitz: str = "auto"  # resolved in __post_init__: clip (wgan) or none (gan, nsgan)
    clip_value: float = 0.01
    clip_when: str = "after"
    clip_batch_norm: bool = True
    gp_weight: float = 10.0
    # Algorithm 1
    iterations: int = 1000
    n_critic: int | None = None  # resolved in __post_init__: 5 (wgan) or 1 (gan, nsgan)
    schedule: str = "constant"
    batch_size: int = 64
    # optimiser
    optimizer: str = "auto"
    lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    momentum: float = 0.0
    # run
    seed: int = 0
    device: str = "cpu"
    amp: str = "none"
    channels_last: bool = False
    log_every: int = 50
    checkpoint_every: int = 0
    num_workers: int = 0
    # GPU and long-run settings (wganlib.precision, wganlib.distributed, wganlib.runlog)
    compile: bool = False
    sample_every: int = 0
    swd_every: int = 0
    swd_samples: int = 1024
    # safety stops (the trainer checks them at log points, like NaN/inf)
    max_bad_fraction: float = 0.01
    max_abs_estimate: float = 1e6

    def __post_init__(self) -> None:
        _resolve_method_defaults(self)
        _validate(self)

    # --- conveniences -------------------------------------------------------------------
    @property
    def is_toy(self) -> bool:
        """True when the data is a toy distribution (2-D or 1-D samples)."""
        return self.data in TOY_DATA

    @property
    def latent_dim(self) -> int:
        """``nz`` with its default filled in: 2 for toy data, 100 for images."""
        if self.nz is not None:
            return self.nz
        return 2 if self.is_toy else 100

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (str/int/float/bool/None values): TOML- and ``weights_only``-safe."""
        return {f.name: getattr(self, f.name) for f in _public_fields()}

    def with_overrides(self, overrides: typing.Iterable[str] | dict[str, Any]) -> TrainConfig:
        """A new config with ``["key=value", ...]`` (parsed by field type) or a dict applied."""
        d = self.to_dict()
        if isinstance(overrides, dict):
            d.update(overrides)
        else:
            for item in overrides:
                key, value = parse_override(item)
                d[key] = value
        return config_from_dict(d)


# ------------------------------------------------------------------------------------------
# field types and parsing
# ------------------------------------------------------------------------------------------
def _public_fields() -> list[dataclasses.Field]:
    return list(fields(TrainConfig))


_HINTS: dict[str, Any] | None = None


def _field_types() -> dict[str, tuple[type, bool]]:
    """Map field name -> (base type, optional?) from the resolved annotations."""
    global _HINTS
    if _HINTS is None:
        hints = typing.get_type_hints(TrainConfig)
        out = {}
        for f in _public_fields():
            tp = hints[f.name]
            args = typing.get_args(tp)
            if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
                base = next(a for a in args if a is not type(None))
                out[f.name] = (base, True)
            else:
                out[f.name] = (tp, False)
        _HINTS = out
    return _HINTS


def valid_keys() -> list[str]:
    """The names of all configuration keys, in declaration order."""
    return [f.name for f in _public_fields()]


def _unknown_key(key: str) -> ConfigError:
    keys = valid_keys()
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"unknown config key '{key}'{hint}; valid keys: {', '.join(keys)}")


def _type_name(key: str) -> str:
    base, optional = _field_types()[key]
    return base.__name__ + (" or none" if optional else "")


def _coerce(key: str, value: Any) -> Any:
    """Check a value loaded from TOML/dict against the field's type (ints widen to floats)."""
    base, optional = _field_types()[key]
    if value is None and optional:
        return None
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is int and isinstance(value, bool):
        pass  # bool is an int subclass; refuse it below
    elif isinstance(value, base):
        return value
    raise ConfigError(
        f"config key '{key}' must be {_type_name(key)}, got {value!r} ({type(value).__name__})"
    )


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def parse_override(item: str) -> tuple[str, Any]:
    """Parse ``"key=value"``; the value is parsed by the field's type.

    ``none``/``null`` gives None for optional fields; booleans accept true/false/yes/no/1/0;
    strings may be quoted.
    """
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form key=value")
    key, raw = (s.strip() for s in item.split("=", 1))
    types_ = _field_types()
    if key not in types_:
        raise _unknown_key(key)
    base, optional = types_[key]
    text = raw.strip()
    if optional and text.lower() in ("none", "null", ""):
        return key, None
    try:
        if base is bool:
            low = text.lower()
            if low not in _TRUE | _FALSE:
                raise ValueError
            return key, low in _TRUE
        if base is int:
            return key, int(text)
        if base is float:
            return key, float(text)
    except ValueError:
        raise ConfigError(
            f"config key '{key}' must be {_type_name(key)}, got {raw!r} in --set {item}"
        ) from None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return key, text


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    """Build a validated config from a flat dict; unknown or ill-typed keys are errors."""
    types_ = _field_types()
    kwargs = {}
    for key, value in d.items():
        if key not in types_:
            raise _unknown_key(key)
        kwargs[key] = _coerce(key, value)
    return TrainConfig(**kwargs)


def load_config(path: str | Path, overrides: typing.Iterable[str] = ()) -> TrainConfig:
    """Load a flat TOML file and apply ``key=value`` overrides (later ones win).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ConfigError
        Bad TOML, an unknown key (the message lists the valid ones), an ill-typed or invalid value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(
                f"{path}: tables are not supported ([{key}]); write flat 'key = value' lines"
            )
    for item in overrides:
        key, value = parse_override(item)
        data[key] = value
    try:
        return config_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def to_toml(config: TrainConfig) -> str:
    """Serialise a config as flat TOML (None-valued keys are omitted: they mean 'default')."""
    lines = []
    for key, value in config.to_dict().items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            text = repr(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# validation and derived settings
# ------------------------------------------------------------------------------------------
def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown {key} '{value}'{hint}; choose one of: {', '.join(allowed)}")


def _resolve_method_defaults(c: TrainConfig) -> None:
    """Fill ``lipschitz = "auto"`` and ``n_critic = None`` from the objective.

    A WGAN gets weight clipping and 5 critic steps (Algorithm 1); a GAN or non-saturating GAN
    gets no Lipschitz method and one discriminator step per generator step (Goodfellow et al.
    2014), unless the config sets them. The resolved values are stored, so ``to_dict`` and a
    checkpoint hold them (a later ``dataclasses.replace(objective=...)`` keeps them).
    """
    gan = c.objective in ("gan", "nsgan")
    if c.lipschitz == "auto":
        object.__setattr__(c, "lipschitz", "none" if gan else "clip")
    if c.n_critic is None:
        object.__setattr__(c, "n_critic", 1 if gan else 5)


def _validate(c: TrainConfig) -> None:
    for key in valid_keys():  # types, also for direct construction (ints widen to floats)
        object.__setattr__(c, key, _coerce(key, getattr(c, key)))
    _validate_numbers(c)
    _validate_device(c.device)
    _choice("data", c.data, TOY_DATA + IMAGE_DATA)
    _choice("objective", c.objective, OBJECTIVES)
    _choice("lipschitz", c.lipschitz, LIPSCHITZ)
    _choice("optimizer", c.optimizer, OPTIMIZERS)
    _choice("generator", c.generator, GENERATORS)
    _choice("critic", c.critic, CRITICS)
    _choice("schedule", c.schedule, SCHEDULES)
    _choice("amp", c.amp, AMP)
    _choice("clip_when", c.clip_when, ("after", "before"))
    _choice("activation", c.activation, ACTIVATIONS)
    positive = ["image_size", "channels", "width", "depth", "ngf", "ndf", "iterations"]
    positive += ["n_critic", "batch_size", "log_every", "members"]
    for key in positive + ["nz"]:
        value = getattr(c, key)
        if value is not None and value <= 0:
            raise ConfigError(f"config key '{key}' must be positive, got {value}")
    nonnegative = ("n_extra_layers", "checkpoint_every", "num_workers", "seed", "momentum")
    for key in nonnegative + ("sample_every", "swd_every"):
        if getattr(c, key) < 0:
            raise ConfigError(f"config key '{key}' must be >= 0, got {getattr(c, key)}")
    if c.clip_value <= 0:
        raise ConfigError(f"clip_value must be positive, got {c.clip_value}")
    if c.gp_weight < 0:
        raise ConfigError(f"gp_weight must be >= 0, got {c.gp_weight}")
    if c.lr is not None and not c.lr > 0:
        raise ConfigError(f"lr must be positive, got {c.lr}")
    for key in ("beta1", "beta2"):
        v = getattr(c, key)
        if v is not None and not 0.0 <= v < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {v}")
    if c.is_toy and (c.generator != "mlp" or c.critic != "mlp"):
        raise ConfigError(
            f"toy data '{c.data}' needs generator = 'mlp' and critic = 'mlp' "
            f"(got {c.generator!r}, {c.critic!r})"
        )
    if c.members > 1 and (not c.is_toy or c.g_batch_norm or c.c_batch_norm):
        raise ConfigError(
            f"members = {c.members} needs toy data and MLPs without batch norm "
            f"(got data = {c.data!r}); use members = 1"
        )
    if not c.is_toy and c.generator == "mlp":
        raise ConfigError(
            f"image data '{c.data}' needs generator = 'dcgan' or 'mlp_image' (got 'mlp')"
        )
    if not c.is_toy and c.critic == "mlp":
        raise ConfigError(f"image data '{c.data}' needs critic = 'dcgan' (got 'mlp')")
    if c.data in ("folder", "lsun") and not c.data_root:
        raise ConfigError(f"data = '{c.data}' needs data_root (the folder or LMDB path)")
    if c.channels_last and c.is_toy:
        raise ConfigError("channels_last applies to image data only (toy data is 2-D points)")
    if c.swd_samples < 2:
        raise ConfigError(f"swd_samples must be at least 2, got {c.swd_samples}")
    if (c.sample_every or c.swd_every) and c.is_toy:
        raise ConfigError("sample_every / swd_every are for image data; use 0 for toys")
    optimizer_settings(c)  # raises for an optimiser without a default lr


def _validate_numbers(c: TrainConfig) -> None:
    """Every float key finite (NaN, inf refused: inf would silently switch clipping off)."""
    import math

    for key, (base, _) in _field_types().items():
        value = getattr(c, key)
        if base is float and value is not None and not math.isfinite(value):
            raise ConfigError(f"config key '{key}' must be a finite number, got {value}")
    if not 0.0 <= c.max_bad_fraction <= 1.0:
        raise ConfigError(f"max_bad_fraction must be in [0, 1], got {c.max_bad_fraction}")
    if c.max_abs_estimate < 0:
        raise ConfigError(f"max_abs_estimate must be >= 0 (0: off), got {c.max_abs_estimate}")


_DEVICE = re.compile(r"cpu|mps|cuda(:\d+)?")


def _validate_device(device: str) -> None:
    """The device string's form: cpu, cuda, cuda:N or mps (availability is checked by the run)."""
    if not _DEVICE.fullmatch(device):
        raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got '{device}'")


def key_help() -> list[str]:
    """One line per configuration key: ``name (type) = default``, in declaration order."""
    lines = []
    for f in _public_fields():
        default = "none" if f.default is None else repr(f.default)
        lines.append(f"{f.name} ({_type_name(f.name)}) = {default}")
    return lines


def optimizer_settings(c: TrainConfig) -> dict[str, Any]:
    """The optimiser actually used: ``{"name", "lr", "betas", "momentum"}`` with defaults filled.

    ``optimizer = "auto"`` picks the paper's choice for the method (module docstring table).
    """
    if c.objective in ("gan", "nsgan"):
        default = ("adam", 2e-4, (0.5, 0.999))
    elif c.lipschitz in ("clip", "none"):
        default = ("rmsprop", 5e-5, None)
    else:
        default = ("adam", 1e-4, (0.5, 0.9))
    name = default[0] if c.optimizer == "auto" else c.optimizer
    lr = c.lr
    if lr is None:
        if name != default[0]:
            raise ConfigError(
                f"optimizer '{name}' has no paper default for objective={c.objective}, "
                f"lipschitz={c.lipschitz}; set lr"
            )
        lr = default[1]
    betas = None
    if name == "adam":
        b = default[2] if default[0] == "adam" else (0.5, 0.999)
        betas = (b[0] if c.beta1 is None else c.beta1, b[1] if c.beta2 is None else c.beta2)
    return {"name": name, "lr": float(lr), "betas": betas, "momentum": c.momentum}
