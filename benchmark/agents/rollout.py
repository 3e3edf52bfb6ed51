"""Greedy test episodes, shared by the scalar agents (DDQN, discrete TD3, tabular, PPO, TD3), and the small
helpers the PPO and TD3 agents share: episode limit, observation vector, action bounds."""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from benchmark import rng
from benchmark.envs.reward import real_reward
from benchmark.errors import ConfigError

DEFAULT_EPISODE_LIMIT = 1000
"""Episode limit when neither `max_steps` nor the environment's spec gives one."""


def greedy_episodes(env: gym.Env, act: Callable, key: int, episodes: int,
                    limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of `episodes` episodes of the greedy policy `act`, reset with the agent's TEST_RESET
    seeds. Returns are real: on a RewardEnv (or ICMEnv) they sum info["real_reward"], not the reward the agent
    learns from. `limit` ends an episode after that many steps (for environments without a time limit)."""
    returns, lengths = np.zeros(episodes), np.zeros(episodes, np.int64)
    for k in range(episodes):
        obs, _ = env.reset(seed=rng.seed_value(key, rng.Stream.TEST_RESET, k))
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs))
            returns[k] += real_reward(reward, info)
            lengths[k] += 1
            done = terminated or truncated or (limit is not None and lengths[k] >= limit)
    return returns, lengths


def episode_limit(env: gym.Env, max_steps: int | None) -> int:
    """Steps after which a training episode is cut (truncated): `max_steps`, else the spec's limit, else 1000."""
    spec_limit = env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else None
    return int(max_steps or spec_limit or DEFAULT_EPISODE_LIMIT)


def obs_vector(obs, obs_dim: int) -> np.ndarray:
    """An observation as a float32 vector: a Box observation flattened, an integer (Discrete) one one-hot."""
    if np.ndim(obs) == 0 and obs_dim > 1:
        x = np.zeros(obs_dim, np.float32)
        x[int(obs)] = 1.0
        return x
    return np.asarray(obs, np.float32).reshape(-1)


def action_bounds(actions: int | gym.spaces.Box) -> tuple[bool, int, np.ndarray | None, np.ndarray | None]:
    """(continuous, action size, low, high) of an action count (Discrete) or a Box with finite bounds."""
    if isinstance(actions, gym.spaces.Box):
        low = np.asarray(actions.low, np.float32).reshape(-1)
        high = np.asarray(actions.high, np.float32).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
            raise ConfigError(f"a Box action space needs finite bounds with low < high, not {actions}")
        return True, int(low.size), low, high
    if isinstance(actions, gym.spaces.Discrete):
        actions = int(actions.n)
    if isinstance(actions, bool) or not isinstance(actions, (int, np.integer)) or actions < 1:
        raise ConfigError(f"actions={actions!r}: give an action count >= 1 or a gymnasium Box")
    return False, int(actions), None, None
