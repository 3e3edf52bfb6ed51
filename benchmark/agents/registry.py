"""Agent registry: name -> base config, varied-HP search space, and which lockstep trainer (if any) trains it.

A config's type says which agent it belongs to (DDQNConfig -> DDQN, its `dueling` flag -> Dueling DDQN,
TD3DiscreteConfig -> discrete TD3); `make_agent` builds the scalar agent for any registered config and checks
that the kind can act in the task's action space (Discrete, Box or both).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from benchmark.errors import ConfigError

DISCRETE, BOX = "discrete", "box"
"""Names of the action-space types an agent kind can act in."""

LOCKSTEP_DDQN = "benchmark.agents.lockstep.ddqn:train_batched"
LOCKSTEP_TD3_DISCRETE = "benchmark.agents.lockstep.td3_discrete:train_batched_td3_discrete"
LOCKSTEP_TD3 = "benchmark.agents.lockstep.td3:train_batched_td3"
"""The lockstep trainers: DDQN / Dueling DDQN and discrete TD3 (SE engine: SE training and the transfer protocol;
RN training on Discrete tasks), continuous TD3 (RN training on Box tasks)."""


@dataclass(frozen=True)
class AgentKind:
    name: str
    module: str
    """Module holding the config class and the agent class."""
    config_class: str
    agent_class: str
    varied_space: str
    """search_spaces module the transfer protocol samples this agent's hyperparameters from."""
    lockstep: str | None
    """The lockstep trainer of the batched engines, "module:function" (LOCKSTEP_DDQN, LOCKSTEP_TD3_DISCRETE,
    LOCKSTEP_TD3), or None: always the scalar agent."""
    overrides: tuple[tuple[str, object], ...] = ()
    """Fields that set this kind apart from the config class's defaults (e.g. dueling=True)."""
    action_spaces: tuple[str, ...] = (DISCRETE,)
    """Action-space types the agent acts in: discrete (gymnasium Discrete) and/or box (gymnasium Box)."""
    split_batches: bool = False
    """Its lockstep trainer lays minibatches out in rows (`benchmark.agents.lockstep.core.BatchLayout.split`) rather
    than padding every member to the group's largest batch."""

    @property
    def batched(self) -> bool:
        """The SE engine (`benchmark.engine`) trains it in lockstep: it has a lockstep trainer and acts in Discrete
        action spaces (those of the tasks SEs stand in for)."""
        return self.lockstep is not None and DISCRETE in self.action_spaces

    def lockstep_trainer(self):
        """The lockstep training function, ``train(task, env, specs, solved) -> (results, policy)`` (policy: what
        `benchmark.agents.lockstep.core.evaluate_batched` tests), or None."""
        if self.lockstep is None:
            return None
        module, function = self.lockstep.split(":")
        return getattr(importlib.import_module(module), function)

    def config_type(self) -> type:
        return getattr(importlib.import_module(self.module), self.config_class)

    def defaults(self, **changes):
        """The kind's default config, with `changes` applied (validated by the config class)."""
        return self.config_type()(**{**dict(self.overrides), **changes})


AGENTS: dict[str, AgentKind] = {k.name: k for k in (
    AgentKind("ddqn", "benchmark.agents.ddqn", "DDQNConfig", "DDQN", "ddqn_varied", LOCKSTEP_DDQN,
              split_batches=True),
    AgentKind("dueling_ddqn", "benchmark.agents.ddqn", "DDQNConfig", "DDQN", "ddqn_varied", LOCKSTEP_DDQN,
              (("dueling", True),), split_batches=True),
    AgentKind("td3_discrete", "benchmark.agents.td3_discrete", "TD3DiscreteConfig", "TD3Discrete",
              "td3_discrete_varied", LOCKSTEP_TD3_DISCRETE),
    AgentKind("q_learning", "benchmark.agents.tabular", "QLearningConfig", "QLearning", "q_learning_varied", None),
    AgentKind("sarsa", "benchmark.agents.tabular", "SARSAConfig", "SARSA", "sarsa_varied", None),
    AgentKind("ppo", "benchmark.agents.ppo", "PPOConfig", "PPO", "ppo_varied", None, action_spaces=(DISCRETE, BOX)),
    AgentKind("td3", "benchmark.agents.td3", "TD3Config", "TD3", "td3_varied", LOCKSTEP_TD3, action_spaces=(BOX,)),
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


def action_space_type(space: gym.Space) -> str:
    """discrete or box: the type name of a gymnasium action space (ConfigError for any other)."""
    if isinstance(space, gym.spaces.Discrete):
        return DISCRETE
    if isinstance(space, gym.spaces.Box):
        return BOX
    raise ConfigError(f"agents act in a Discrete or Box action space, not {space}")


def check_agent_fits_task(agent: str, task: str | None, action_space) -> str:
    """The action space's type (discrete or box); a ConfigError naming agent and task when the agent kind cannot
    act in it (ddqn on MountainCarContinuous-v0, td3 on CartPole-v0). task None: the message names the space
    only (make_agent knows no task name)."""
    kind = get_agent_kind(agent)
    space_type = action_space_type(action_space)
    if space_type not in kind.action_spaces:
        acts = f"agent={agent!r} acts in {' or '.join(kind.action_spaces)} action spaces"
        if task is None:
            raise ConfigError(f"{acts}; this task's is {action_space}")
        fits = sorted(k.name for k in AGENTS.values() if space_type in k.action_spaces)
        raise ConfigError(f"{acts}, but task={task!r} has a {space_type} one ({action_space}); agents for it: {fits}")
    return space_type


def make_agent(obs_dim: int, actions: int | gym.Space, config, seed: int):
    """The scalar agent of `config`'s kind for `actions`: the task's action space, or the action count of a
    Discrete one. Agents are built as ``Agent(obs_dim, n_actions, config, seed)`` for a Discrete space and
    ``Agent(obs_dim, box_space, config, seed)`` for a Box; a kind that cannot act in the space is refused."""
    kind = kind_of(config)
    space = gym.spaces.Discrete(int(actions)) if isinstance(actions, (int, np.integer)) else actions
    space_type = check_agent_fits_task(kind.name, None, space)
    agent_class = getattr(importlib.import_module(kind.module), kind.agent_class)
    return agent_class(obs_dim, int(space.n) if space_type == DISCRETE else space, config, seed)
