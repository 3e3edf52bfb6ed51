"""Dueling DDQN agent-only tuning space: the DDQN ranges, applied onto ``DDQNConfig(dueling=True)`` (`BASE`).
`dueling` itself is not a hyperparameter here: the agent is dueling by construction."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.ddqn import DDQNConfig
from search_spaces._ddqn import ddqn_hyperparameters

BASE = DDQNConfig(dueling=True)
"""The config a sampled configuration is applied onto."""


def build(seed: int | None = None, defaults: DDQNConfig = BASE) -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="dueling_ddqn", seed=seed)
    cs.add(ddqn_hyperparameters(defaults))
    return cs
