"""Transitions of the real task, of SE rollouts, and of SEs applied to real (state, action) inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.envs.synthetic import load_se
from benchmark.envs.tasks import get_task


def _rollouts(env, n_actions: int, episodes: int, seed: int):
    """(state, action, next_state, reward) arrays of random-policy episodes on `env` (seeded)."""
    rng = np.random.default_rng(seed)
    states, actions, next_states, rewards = [], [], [], []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + k)
        done = False
        while not done:
            action = int(rng.integers(n_actions))
            nxt, reward, terminated, truncated, _ = env.step(action)
            states.append(obs), actions.append(action), next_states.append(nxt), rewards.append(reward)
            obs, done = nxt, terminated or truncated
    return np.array(states, np.float32), np.array(actions), np.array(next_states, np.float32), np.array(rewards)


def _frame(next_states: np.ndarray, rewards: np.ndarray, source: str) -> pd.DataFrame:
    frame = pd.DataFrame(next_states, columns=[f"next_state_{i}" for i in range(next_states.shape[1])])
    return frame.assign(reward=rewards.astype(float), source=source)


def sample_transitions(se_folders: list[Path], task_name: str, episodes: int = 20, seed: int = 0) -> pd.DataFrame:
    """Random-policy transitions: `real` (the gymnasium task), `SE` (rollouts on each SE) and `SE on real
    inputs` (each SE's prediction for the real transitions' state and action)."""
    task = get_task(task_name)
    s, a, s2, r = _rollouts(task.make(), task.n_actions, episodes, seed)
    frames = [_frame(s2, r, "real")]
    x = torch.cat([torch.from_numpy(s), torch.eye(task.n_actions)[torch.from_numpy(a)]], dim=1)
    for folder in se_folders:
        env = load_se(folder)
        _, _, se_s2, se_r = _rollouts(env, task.n_actions, episodes, seed)
        frames.append(_frame(se_s2, se_r, "SE"))
        with torch.no_grad():
            out = env.net(x).numpy()
        frames.append(_frame(out[:, :task.obs_dim], out[:, task.obs_dim], "SE on real inputs"))
    return pd.concat(frames, ignore_index=True)
