"""DDQN agent-only tuning space: lr, batch size, gamma, tau, exploration schedule, init episodes, activation,
hidden size and layers. Names are DDQNConfig fields (``dataclasses.replace(DDQNConfig(), **config)``)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.ddqn import DDQNConfig
from search_spaces._ddqn import ddqn_hyperparameters

BASE = DDQNConfig()
"""The config a sampled configuration is applied onto."""


def build(seed: int | None = None, defaults: DDQNConfig = BASE) -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="ddqn", seed=seed)
    cs.add(ddqn_hyperparameters(defaults))
    return cs
