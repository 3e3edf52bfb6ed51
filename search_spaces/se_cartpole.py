"""NES + DDQN + SE-architecture space for learning a CartPole-v0 SE (the paper's BOHB space; see _se.py)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.nes.trainer import RunConfig
from search_spaces._se import se_space

TASK = "CartPole-v0"
"""The real task the SEs of this space are learned for."""


def build(seed: int | None = None, defaults: RunConfig = RunConfig(task=TASK)) -> CS.ConfigurationSpace:
    return se_space("se_cartpole", seed, defaults)
