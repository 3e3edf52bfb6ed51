"""NES + DDQN + SE-architecture space for learning an SE for any task (the task comes from the sweep's --task);
the same hyperparameters as se_cartpole, with RunConfig's defaults (see _se.py)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.nes.trainer import RunConfig
from search_spaces._se import se_space


def build(seed: int | None = None, defaults: RunConfig = RunConfig()) -> CS.ConfigurationSpace:
    return se_space("se", seed, defaults)
