"""Varied discrete-TD3 hyperparameters of the paper's transfer protocol: lr, batch size and hidden size
log-uniform in [x/3, 3x] around the defaults, hidden layers in x+-1 (at least 1)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.td3_discrete import TD3DiscreteConfig


def build(seed: int | None = None, defaults: TD3DiscreteConfig = TD3DiscreteConfig()) -> CS.ConfigurationSpace:
    d = defaults
    cs = CS.ConfigurationSpace(name="td3_discrete_varied", seed=seed)
    cs.add([
        CS.Float("lr", (d.lr / 3, d.lr * 3), log=True, default=d.lr),
        CS.Integer("batch_size", (round(d.batch_size / 3), d.batch_size * 3), log=True, default=d.batch_size),
        CS.Integer("hidden_size", (round(d.hidden_size / 3), d.hidden_size * 3), log=True, default=d.hidden_size),
        CS.Integer("hidden_layers", (max(1, d.hidden_layers - 1), d.hidden_layers + 1), default=d.hidden_layers),
    ])
    return cs
