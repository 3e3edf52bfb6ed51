"""Varied SARSA hyperparameters for the transfer protocol on Cliff Walking: the ranges of q_learning_varied
around SARSAConfig's defaults."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.tabular import SARSAConfig
from search_spaces.q_learning_varied import tabular_hyperparameters


def build(seed: int | None = None, defaults: SARSAConfig = SARSAConfig()) -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="sarsa_varied", seed=seed)
    cs.add(tabular_hyperparameters(defaults))
    return cs
