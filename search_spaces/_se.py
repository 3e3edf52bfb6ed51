"""The paper's BOHB space for learning an SE with NES: NES, inner-loop DDQN and SE architecture.

Names are dotted paths into RunConfig (``nes.step_size`` is RunConfig.nes.step_size, ``agent.lr`` is
RunConfig.agent.lr, ``se.hidden_size`` is RunConfig.se.hidden_size); `search_spaces.tools.apply_config` sets
them with dataclasses.replace, nothing renamed or transformed. Defaults are RunConfig's (the paper's CartPole
values). Not tuned here, set per sweep: task, population, test episodes, the agent's episode budget, seed.
"""
from __future__ import annotations

import ConfigSpace as CS

from benchmark.envs.synthetic import DONE_TARGETS, SE_HEADS
from benchmark.nes.shaping import ShapingName
from benchmark.nes.trainer import RunConfig
from benchmark.nets import ACTIVATIONS
from search_spaces._ddqn import ddqn_hyperparameters


def se_space(name: str, seed: int | None, defaults: RunConfig) -> CS.ConfigurationSpace:
    nes, se = defaults.nes, defaults.se
    cs = CS.ConfigurationSpace(name=name, seed=seed)
    cs.add([
        CS.Categorical("nes.shaping", [s.value for s in ShapingName], default=nes.shaping),
        CS.Float("nes.step_size", (0.1, 1.0), log=True, default=nes.step_size),
        CS.Categorical("nes.nes_step_size", [False, True], default=nes.nes_step_size),
        CS.Categorical("nes.mirrored_sampling", [True, False], default=nes.mirrored_sampling),
        CS.Float("nes.noise_std", (0.01, 1.0), log=True, default=nes.noise_std),
        *ddqn_hyperparameters(defaults.agent, prefix="agent."),
        CS.Categorical("se.activation", list(ACTIVATIONS), default=se.activation),
        CS.Integer("se.hidden_size", (48, 192), log=True, default=se.hidden_size),
        CS.Integer("se.hidden_layers", (1, 2), default=se.hidden_layers),
        CS.Categorical("se.heads", list(SE_HEADS), default=se.heads),
        CS.Categorical("se.done_target", list(DONE_TARGETS), default=se.done_target),
    ])
    return cs
