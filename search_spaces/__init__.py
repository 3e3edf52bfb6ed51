"""ConfigSpace search spaces, one module per space; names map 1:1 onto the config dataclass fields."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable

import ConfigSpace as CS

from benchmark.errors import ConfigError

_MODULES = {
    "ddqn_varied": "search_spaces.ddqn_varied",
    "ddqn": "search_spaces.ddqn",
    "dueling_ddqn": "search_spaces.dueling_ddqn",
    "se": "search_spaces.se",
    "se_cartpole": "search_spaces.se_cartpole",
    "se_acrobot": "search_spaces.se_acrobot",
    "td3_discrete_varied": "search_spaces.td3_discrete_varied",
    "td3_discrete": "search_spaces.td3_discrete",
    "q_learning_varied": "search_spaces.q_learning_varied",
    "sarsa_varied": "search_spaces.sarsa_varied",
    "ppo_varied": "search_spaces.ppo_varied",
    "td3_varied": "search_spaces.td3_varied",
}
"""Space name -> module defining `build(seed: int | None) -> ConfigurationSpace`."""


def names() -> list[str]:
    return sorted(_MODULES)


def space_module(name: str) -> ModuleType:
    """The module that defines space `name` (its docstring describes it; an SE space's TASK names its task)."""
    if name not in _MODULES:
        raise ConfigError(f"space={name!r} is not a known search space; choose one of {names()}")
    return importlib.import_module(_MODULES[name])


def builder(name: str) -> Callable[..., CS.ConfigurationSpace]:
    return space_module(name).build


def get_space(name: str, seed: int | None = None) -> CS.ConfigurationSpace:
    """The search space `name`, seeded for sampling."""
    return builder(name)(seed=seed)
