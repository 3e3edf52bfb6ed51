"""Varied Q-learning hyperparameters for the transfer protocol on Cliff Walking: alpha log-uniform in
[x/3, min(1, 3x)], gamma uniform in [0.8, 0.99] and eps_decay uniform in [0.8, 0.99] (defaults: QLearningConfig's)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.tabular import QLearningConfig, TabularConfig


def tabular_hyperparameters(d: TabularConfig) -> list:
    """The varied tabular hyperparameters around the defaults `d` (shared with sarsa_varied)."""
    return [
        CS.Float("alpha", (d.alpha / 3, min(1.0, d.alpha * 3)), log=True, default=d.alpha),
        CS.Float("gamma", (min(0.8, d.gamma), max(0.99, d.gamma)), default=d.gamma),
        CS.Float("eps_decay", (min(0.8, d.eps_decay), max(0.99, d.eps_decay)), default=d.eps_decay),
    ]


def build(seed: int | None = None, defaults: QLearningConfig = QLearningConfig()) -> CS.ConfigurationSpace:
    cs = CS.ConfigurationSpace(name="q_learning_varied", seed=seed)
    cs.add(tabular_hyperparameters(defaults))
    return cs
