"""Tests for wganlib.config: TOML loading, overrides, validation, optimiser defaults."""

from __future__ import annotations

import dataclasses
import math

import pytest

from wganlib import toy
from wganlib.config import (
    TOY_DATA,
    ConfigError,
    TrainConfig,
    config_from_dict,
    load_config,
    optimizer_settings,
    parse_override,
    to_toml,
    valid_keys,
)


def test_defaults_are_the_paper_algorithm1():
    c = TrainConfig()
    assert (c.objective, c.lipschitz, c.clip_value, c.n_critic, c.batch_size) == (
        "wgan",
        "clip",
        0.01,
        5,
        64,
    )
    assert optimizer_settings(c) == {"name": "rmsprop", "lr": 5e-5, "betas": None, "momentum": 0.0}


def test_toml_round_trip(tmp_path):
    c = TrainConfig(name="x", lipschitz="gp", lr=3e-4, beta1=0.0, nz=7, g_batch_norm=True)
    path = tmp_path / "c.toml"
    path.write_text(to_toml(c))
    assert load_config(path) == c
    assert config_from_dict(c.to_dict()) == c


def test_overrides_are_parsed_by_field_type(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "a"\nlr = 1\nbatch_size = 32\n')
    c = load_config(
        path, ["batch_size=8", "lr=2e-4", "clip_batch_norm=false", "nz=none", "name='b'"]
    )
    assert c.batch_size == 8 and isinstance(c.batch_size, int)
    assert c.lr == 2e-4 and isinstance(c.lr, float)
    assert c.clip_batch_norm is False and c.nz is None and c.name == "b"
    assert load_config(path).lr == 1.0  # a TOML int widens to float
    assert parse_override("g_batch_norm=yes") == ("g_batch_norm", True)


def test_unknown_key_names_valid_keys_and_suggests(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("bach_size = 32\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "bach_size" in msg and "did you mean 'batch_size'" in msg
    assert all(k in msg for k in valid_keys())
    with pytest.raises(ConfigError, match="did you mean 'n_critic'"):
        TrainConfig().with_overrides(["ncritic=3"])


@pytest.mark.parametrize(
    "toml, match",
    [
        ('batch_size = "big"', "batch_size' must be int"),
        ("clip_batch_norm = 1", "clip_batch_norm' must be bool"),
        ("batch_size = true", "batch_size' must be int"),
        ("lr = [1, 2]", "lr' must be float or none"),
    ],
)
def test_ill_typed_toml_values(tmp_path, toml, match):
    path = tmp_path / "c.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=match):
        load_config(path)


@pytest.mark.parametrize(
    "override, match",
    [
        ("batch_size=abc", "batch_size' must be int"),
        ("clip_batch_norm=maybe", "must be bool"),
        ("lr=fast", "must be float"),
        ("no_equals_sign", "key=value"),
    ],
)
def test_ill_typed_overrides(override, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig().with_overrides([override])


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"objective": "wgann"}, "unknown objective 'wgann' \\(did you mean 'wgan'\\?\\)"),
        ({"lipschitz": "spectral"}, "unknown lipschitz 'spectral'.*clip, gp, lp, sn, none"),
        ({"optimizer": "adamw"}, "unknown optimizer 'adamw'"),
        ({"data": "9gaussians"}, "unknown data '9gaussians'"),
        ({"batch_size": 0}, "batch_size' must be positive"),
        ({"iterations": -3}, "iterations' must be positive"),
        ({"nz": 0}, "nz' must be positive"),
        ({"clip_value": 0.0}, "clip_value must be positive"),
        ({"beta1": 1.0}, "beta1 must be in"),
        ({"optimizer": "sgd"}, "set lr"),
        ({"data": "digits"}, "needs generator = 'dcgan'"),
        ({"data": "lsun", "generator": "dcgan", "critic": "dcgan"}, "needs data_root"),
        ({"generator": "dcgan"}, "toy data '8gaussians' needs"),
        ({"amp": "fp8"}, "unknown amp"),
        ({"channels_last": True}, "image data only"),
        ({"device": "gpu"}, "device must be"),
    ],
)
def test_invalid_values_are_clear_errors(changes, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**changes)


def test_config_is_frozen():
    c = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0  # type: ignore[misc]


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    table = tmp_path / "table.toml"
    table.write_text("[optim]\nlr = 3\n")
    with pytest.raises(ConfigError, match="tables are not supported"):
        load_config(table)


@pytest.mark.parametrize(
    "objective, lipschitz, expected",
    [
        ("wgan", "clip", ("rmsprop", 5e-5, None)),
        ("wgan", "none", ("rmsprop", 5e-5, None)),
        ("wgan", "gp", ("adam", 1e-4, (0.5, 0.9))),
        ("wgan", "lp", ("adam", 1e-4, (0.5, 0.9))),
        ("wgan", "sn", ("adam", 1e-4, (0.5, 0.9))),
        ("gan", "none", ("adam", 2e-4, (0.5, 0.999))),
        ("nsgan", "none", ("adam", 2e-4, (0.5, 0.999))),
    ],
)
def test_paper_optimiser_defaults(objective, lipschitz, expected):
    s = optimizer_settings(TrainConfig(objective=objective, lipschitz=lipschitz))
    assert (s["name"], s["lr"], s["betas"]) == expected


def test_explicit_optimiser_settings_win():
    s = optimizer_settings(TrainConfig(lipschitz="gp", lr=3e-4, beta1=0.0))
    assert s == {"name": "adam", "lr": 3e-4, "betas": (0.0, 0.9), "momentum": 0.0}
    s = optimizer_settings(TrainConfig(optimizer="adam", lr=1e-3))  # Adam on WGAN-clip
    assert s["betas"] == (0.5, 0.999)


def test_toy_names_exist_in_toy_module():
    assert set(TOY_DATA) <= set(toy.NAMES)


def test_shipped_configs_load(repo_root):
    paths = sorted((repo_root / "configs").glob("*.toml"))
    assert sum(p.name.startswith(("8g", "25g", "swiss")) for p in paths) >= 7
    for path in paths:
        c = load_config(path)
        assert c.name == path.stem
        if c.is_toy:  # the WGAN-GP toy settings
            assert c.width == 512 and c.batch_size == 256
            assert c.n_critic == 5 or c.objective != "wgan"


@pytest.mark.parametrize("key", ["lr", "gp_weight", "clip_value", "momentum", "beta1"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"'{key}' must be a finite number"):
        TrainConfig(**{key: value})


@pytest.mark.parametrize("device", ["cudaX", "cuda:abc", "cuda:", "gpu", "CPU", "mps:0", ""])
def test_device_strings_are_checked(device):
    with pytest.raises(ConfigError, match="device must be"):
        TrainConfig(device=device)
    for good in ("cpu", "cuda", "cuda:3", "mps"):
        assert TrainConfig(device=good).device == good


def test_safety_bounds_and_key_help():
    from wganlib.config import key_help

    with pytest.raises(ConfigError, match="max_bad_fraction"):
        TrainConfig(max_bad_fraction=-0.1)
    with pytest.raises(ConfigError, match="max_abs_estimate"):
        TrainConfig(max_abs_estimate=-1.0)
    lines = key_help()
    assert len(lines) == len(TrainConfig.__dataclass_fields__)
    assert "lr (float or none) = none" in lines and "max_abs_estimate (float) = 1000000.0" in lines
