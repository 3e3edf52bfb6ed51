"""Varied discrete-TD3 hyperparameters of the paper's transfer protocol: lr, batch size and hidden size
log-uniform in [x/3, 3x] around the defaults, hidden layers in x+-1 (at least 1)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.td3_discrete import TD3DiscreteConfig
from search_spaces._varied import network_hyperparameters


def build(seed: int | None = None, defaults: TD3DiscreteConfig = TD3DiscreteConfig()) -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="td3_discrete_varied", seed=seed)
    cs.add(network_hyperparameters(defaults))
    return cs
