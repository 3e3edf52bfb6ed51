"""The paper's varied-HP rule for network agents, shared by `ddqn_varied`, `td3_discrete_varied`, `ppo_varied`
and `td3_varied`: lr, batch size and hidden size log-uniform in [x/3, 3x] around the defaults, hidden layers in
x+-1 (at least 1)."""
from __future__ import annotations

import ConfigSpace as CS


def network_hyperparameters(d) -> list:
    """The varied hyperparameters around the defaults `d` (any config with lr, batch_size, hidden_size and
    hidden_layers fields)."""
    return [
        CS.Float("lr", (d.lr / 3, d.lr * 3), log=True, default=d.lr),
        CS.Integer("batch_size", (max(1, d.batch_size // 3), d.batch_size * 3), log=True, default=d.batch_size),
        CS.Integer("hidden_size", (max(1, d.hidden_size // 3), d.hidden_size * 3), log=True, default=d.hidden_size),
        CS.Integer("hidden_layers", (max(1, d.hidden_layers - 1), d.hidden_layers + 1), default=d.hidden_layers),
    ]
