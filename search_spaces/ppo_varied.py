"""Varied PPO hyperparameters of the paper's transfer protocol: lr, batch size and hidden size log-uniform in
[x/3, 3x] around the defaults, hidden layers in x+-1 (at least 1)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.ppo import PPOConfig
from search_spaces._varied import network_hyperparameters


def build(seed: int | None = None, defaults: PPOConfig = PPOConfig()) -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="ppo_varied", seed=seed)
    cs.add(network_hyperparameters(defaults))
    return cs
