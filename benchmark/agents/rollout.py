"""Greedy test episodes, shared by the scalar agents (DDQN, discrete TD3, tabular)."""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from benchmark import rng
from benchmark.envs.reward import real_reward


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
