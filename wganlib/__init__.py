"""wganlib: the library behind "WGAN, the book".

Importing this package has no side effects: nothing is seeded, no backend flag is set and
matplotlib is not imported (only :mod:`wganlib.plotting` imports it).

The names re-exported here are the stable public entry points; each module's docstring has
the rest (``wganlib.distances``, ``wganlib.toy``, ``wganlib.models``, ``wganlib.objectives``,
``wganlib.lipschitz``, ``wganlib.metrics``, ``wganlib.images``, ``wganlib.image_metrics``,
``wganlib.lsun``, ``wganlib.plotting``, ``wganlib.widgets``).
"""

from __future__ import annotations

from wganlib.config import ConfigError, TrainConfig, load_config
from wganlib.critic_fit import fit_critic
from wganlib.distances import exact_w1, parallel_lines, w1_1d
from wganlib.history import Callback, History, NonFiniteError
from wganlib.metrics import mode_coverage
from wganlib.train import Run, load, train

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "ConfigError",
    "History",
    "NonFiniteError",
    "Run",
    "TrainConfig",
    "exact_w1",
    "fit_critic",
    "load",
    "load_config",
    "mode_coverage",
    "parallel_lines",
    "train",
    "w1_1d",
]
