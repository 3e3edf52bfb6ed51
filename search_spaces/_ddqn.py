"""The DDQN tuning hyperparameters shared by the agent-only spaces (`ddqn`, `dueling_ddqn`) and the agent part of
the SE spaces (`se_cartpole`, `se_acrobot`). Ranges follow the paper's BOHB spaces; defaults are the given
DDQNConfig's values (the paper's CartPole SE-training settings unless told otherwise).

Names are DDQNConfig field names, optionally behind a prefix (``agent.`` in the SE spaces): nothing is renamed or
transformed, so `gamma` is sampled as gamma (uniform on [0.9, 0.999]), not as a log-uniform 1 - gamma.
"""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.agents.ddqn import DDQNConfig
from benchmark.nets import ACTIVATIONS


def ddqn_hyperparameters(defaults: DDQNConfig = DDQNConfig(), prefix: str = "") -> list:
    d, p = defaults, prefix
    return [
        CS.Integer(f"{p}init_episodes", (1, 20), log=True, default=d.init_episodes),
        CS.Integer(f"{p}batch_size", (64, 256), log=True, default=d.batch_size),
        CS.Float(f"{p}gamma", (0.9, 0.999), default=d.gamma),
        CS.Float(f"{p}lr", (1e-4, 5e-3), log=True, default=d.lr),
        CS.Float(f"{p}tau", (0.005, 0.1), log=True, default=d.tau),
        CS.Float(f"{p}eps_init", (0.8, 1.0), default=d.eps_init),
        CS.Float(f"{p}eps_min", (0.005, 0.05), log=True, default=d.eps_min),
        CS.Float(f"{p}eps_decay", (0.8, 0.999), default=d.eps_decay),
        CS.Categorical(f"{p}activation", list(ACTIVATIONS), default=d.activation),
        CS.Integer(f"{p}hidden_size", (48, 192), log=True, default=d.hidden_size),
        CS.Integer(f"{p}hidden_layers", (1, 2), default=d.hidden_layers),
    ]
