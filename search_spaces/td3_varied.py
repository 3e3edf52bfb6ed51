"""Varied (continuous) TD3 hyperparameters of the paper's transfer protocol: lr, batch size and hidden size
log-uniform in [x/3, 3x] around the defaults, hidden layers in x+-1 (at least 1)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.td3 import TD3Config
from search_spaces._varied import network_hyperparameters


def build(seed: int | None = None, defaults: TD3Config = TD3Config()) -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="td3_varied", seed=seed)
    cs.add(network_hyperparameters(defaults))
    return cs
