"""Discrete TD3 agent-only tuning space: lr, batch size, gamma, tau, network, policy delay, Gumbel-softmax
temperature and hard sampling, target smoothing, logit penalty, exploration and init episodes. Names are
TD3DiscreteConfig fields (``dataclasses.replace(TD3DiscreteConfig(), **config)``)."""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.td3_discrete import TD3DiscreteConfig
from benchmark.nets import ACTIVATIONS

BASE = TD3DiscreteConfig()
"""The config a sampled configuration is applied onto."""


def build(seed: int | None = None, defaults: TD3DiscreteConfig = BASE) -> CS.ConfigurationSpace:
    d = defaults
    cs = CS.ConfigurationSpace(name="td3_discrete", seed=seed)
    cs.add([
        CS.Float("lr", (1e-4, 5e-3), log=True, default=d.lr),
        CS.Integer("batch_size", (32, 512), log=True, default=d.batch_size),
        CS.Float("gamma", (0.9, 0.999), default=d.gamma),
        CS.Float("tau", (0.001, 0.1), log=True, default=d.tau),
        CS.Integer("hidden_size", (32, 256), log=True, default=d.hidden_size),
        CS.Integer("hidden_layers", (1, 3), default=d.hidden_layers),
        CS.Categorical("activation", list(ACTIVATIONS), default=d.activation),
        CS.Integer("policy_delay", (1, 4), default=d.policy_delay),
        CS.Float("gumbel_temperature", (0.1, 10.0), log=True, default=d.gumbel_temperature),
        CS.Categorical("gumbel_hard", [True, False], default=d.gumbel_hard),
        CS.Float("target_smoothing", (0.0, 0.3), default=d.target_smoothing),
        CS.Float("logit_reg", (1e-5, 0.1), log=True, default=d.logit_reg),
        CS.Categorical("sample_actions", [True, False], default=d.sample_actions),
        CS.Float("eps_init", (0.0, 1.0), default=d.eps_init),
        CS.Float("eps_min", (0.0, 0.1), default=d.eps_min),
        CS.Float("eps_decay", (0.8, 0.999), default=d.eps_decay),
        CS.Integer("init_episodes", (1, 20), log=True, default=d.init_episodes),
    ])
    return cs
