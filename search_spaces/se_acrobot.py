"""NES + DDQN + SE-architecture space for learning an Acrobot-v1 SE (the paper's BOHB space; see _se.py).
Same ranges as CartPole; defaults are RunConfig's."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.nes.trainer import RunConfig
from search_spaces._se import se_space

TASK = "Acrobot-v1"
"""The real task the SEs of this space are learned for."""


def build(seed: int | None = None, defaults: RunConfig = RunConfig(task=TASK)) -> CS.ConfigurationSpace:
    return se_space("se_acrobot", seed, defaults)
