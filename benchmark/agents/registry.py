"""Agent registry: name -> base config, varied-HP search space, and whether the lockstep engine trains it.

A config's type says which agent it belongs to (DDQNConfig -> DDQN, its `dueling` flag -> Dueling DDQN,
TD3DiscreteConfig -> discrete TD3); `make_agent` builds the scalar agent for any registered config.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchmark.errors import ConfigError


@dataclass(frozen=True)
class AgentKind:
    name: str
    module: str
    """Module holding the config class and the agent class."""
    config_class: str
    agent_class: str
    varied_space: str
    """search_spaces module the transfer protocol samples this agent's hyperparameters from."""
    batched: bool
    """True: the lockstep engine trains it (benchmark.agents.batched); False: always the scalar agent."""
    overrides: tuple[tuple[str, object], ...] = ()
    """Fields that set this kind apart from the config class's defaults (e.g. dueling=True)."""

    def config_type(self) -> type:
        return getattr(importlib.import_module(self.module), self.config_class)

    def defaults(self, **changes):
        """The kind's default config, with `changes` applied (validated by the config class)."""
        return self.config_type()(**{**dict(self.overrides), **changes})


AGENTS: dict[str, AgentKind] = {k.name: k for k in (
    AgentKind("ddqn", "benchmark.agents.ddqn", "DDQNConfig", "DDQN", "ddqn_varied", True),
    AgentKind("dueling_ddqn", "benchmark.agents.ddqn", "DDQNConfig", "DDQN", "ddqn_varied", True,
              (("dueling", True),)),
    AgentKind("td3_discrete", "benchmark.agents.td3_discrete", "TD3DiscreteConfig", "TD3Discrete",
              "td3_discrete_varied", False),
    AgentKind("q_learning", "benchmark.agents.tabular", "QLearningConfig", "QLearning", "q_learning_varied", False),
    AgentKind("sarsa", "benchmark.agents.tabular", "SARSAConfig", "SARSA", "sarsa_varied", False),
)}


def get_agent_kind(name: str) -> AgentKind:
    if name not in AGENTS:
        raise ConfigError(f"agent={name!r} is not a known agent; choose from {sorted(AGENTS)}")
    return AGENTS[name]


def kind_of(config) -> AgentKind:
    """The registered kind a config belongs to (the most specific one: dueling_ddqn before ddqn)."""
    for kind in sorted(AGENTS.values(), key=lambda k: -len(k.overrides)):
        if type(config).__name__ == kind.config_class and all(getattr(config, f) == v for f, v in kind.overrides):
            return kind
    raise ConfigError(f"no registered agent takes a {type(config).__name__}")


def make_agent(obs_dim: int, n_actions: int, config, seed: int):
    """The scalar agent of `config`'s kind."""
    kind = kind_of(config)
    agent_class = getattr(importlib.import_module(kind.module), kind.agent_class)
    return agent_class(obs_dim, n_actions, config, seed)
