"""DDQN (Dueling DDQN with `dueling=True`): the scalar, readable reference implementation.

The batched engine (`benchmark.agents.lockstep.ddqn`) trains many of these agents in lockstep and must match this
file; both draw every random number from `benchmark.rng` keyed by the agent's seed.

Returns are always *real* returns: on a RewardEnv (or ICMEnv), which puts the real reward into
``info["real_reward"]``, the agent learns from the reward it is given but records (for training and test episodes,
hence for the stopping rule with `solved`) the real one. On a plain environment both are the same.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from benchmark import rng
from benchmark.agents.common import ReplayBuffer, TrainResult, TrainingBudget, buffer_capacity, should_stop
from benchmark.agents.rollout import greedy_episodes
from benchmark.envs.reward import real_reward
from benchmark.envs.synthetic import td_done
from benchmark.nets import init_uniform_, mlp


@dataclass(frozen=True)
class DDQNConfig(TrainingBudget):
    """DDQN hyperparameters; defaults are the paper's CartPole SE-training values. The training budget and
    stopping-rule fields (init_episodes, max_episodes, ...) are `TrainingBudget`'s."""

    lr: float = 3.04e-4
    """Adam learning rate."""
    batch_size: int = 199
    """Minibatch size of each update."""
    gamma: float = 0.988
    """Discount factor."""
    hidden_size: int = 57
    """Units per hidden layer."""
    hidden_layers: int = 1
    """Number of hidden layers."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu or leaky_relu."""
    tau: float = 0.00848
    """Soft target-network update rate."""
    eps_init: float = 0.809
    """Initial exploration rate."""
    eps_min: float = 0.0371
    """Final exploration rate."""
    eps_decay: float = 0.961
    """Exploration rate multiplier applied after every episode."""
    init_episodes: int = 1
    """Episodes of uniformly random actions that only fill the replay buffer before learning starts."""
    rb_size: int = 100_000
    """Replay buffer capacity."""
    dueling: bool = False
    """Dueling architecture (value and advantage heads)."""


class QNetwork(nn.Module):
    """MLP Q-function; with `dueling`, Q = V + A - mean(A)."""

    def __init__(self, obs_dim: int, n_actions: int, config: DDQNConfig):
        super().__init__()
        trunk = mlp(obs_dim, config.hidden_size, config.hidden_layers, 1, config.activation)
        self.trunk = nn.Sequential(*list(trunk)[:-1])  # hidden layers with activations
        self.dueling = config.dueling
        if config.dueling:
            self.value = nn.Linear(config.hidden_size, 1)
            self.advantage = nn.Linear(config.hidden_size, n_actions)
        else:
            self.head = nn.Linear(config.hidden_size, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.trunk(x)
        if self.dueling:
            adv = self.advantage(z)
            return self.value(z) + adv - adv.mean(-1, keepdim=True)
        return self.head(z)


class DDQN:
    """A DDQN agent bound to an observation size, an action count, a config and a seed."""

    def __init__(self, obs_dim: int, n_actions: int, config: DDQNConfig = DDQNConfig(), seed: int = 0):
        self.obs_dim, self.n_actions, self.config, self.seed = obs_dim, n_actions, config, seed
        self.key = rng.member_key(seed)
        generator = torch.Generator().manual_seed(rng.seed_value(self.key, rng.Stream.INIT, 0))
        self.q = init_uniform_(QNetwork(obs_dim, n_actions, config), generator)
        self.target = copy.deepcopy(self.q)
        self.optimizer: torch.optim.Adam | None = None  # made by train()

    def act(self, obs: np.ndarray) -> int:
        """Greedy action."""
        with torch.no_grad():
            return int(self.q(torch.as_tensor(obs, dtype=torch.float32)[None]).argmax(-1)[0])

    def train(self, env: gym.Env, solved: float | None = None, max_steps: int | None = None) -> TrainResult:
        """Train on `env`; `solved` selects the real-task stopping rule (None: the SE rule)."""
        cfg, key = self.config, self.key
        limit = max_steps or (env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else 1000)
        buffer = ReplayBuffer(buffer_capacity(cfg, limit), self.obs_dim)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=cfg.lr, foreach=False)
        result, eps, t, updates = TrainResult(), cfg.eps_init, 0, 0
        while True:
            obs, _ = env.reset(seed=rng.seed_value(key, rng.Stream.TRAIN_RESET, result.episodes))
            ep_return, ep_len, learning = 0.0, 0, result.episodes >= cfg.init_episodes
            while True:
                # the initial episodes act at random (and do not learn): they fill the replay buffer
                if not learning or rng.uniform(key, rng.Stream.EXPLORE_COIN, t) < eps:
                    action = int(rng.integers(key, rng.Stream.EXPLORE_ACTION, t, 0, self.n_actions))
                else:
                    action = self.act(obs)
                next_obs, reward, terminated, truncated, info = env.step(action)
                buffer.add(obs, action, reward, next_obs, td_done(terminated, info))
                # the recorded return (and the stopping rule) is the real one on a RewardEnv / ICMEnv
                ep_return += real_reward(reward, info)
                t, ep_len, obs = t + 1, ep_len + 1, next_obs
                if learning:
                    if not self._update(buffer, updates):
                        result.diverged = True
                    updates += 1
                if terminated or truncated or result.diverged:
                    break
            result.returns.append(ep_return)
            result.lengths.append(ep_len)
            eps = max(cfg.eps_min, eps * cfg.eps_decay)
            if result.diverged or should_stop(result.returns, result.steps, cfg, solved):
                return result

    def _update(self, buffer: ReplayBuffer, update_index: int) -> bool:
        """One DDQN update; False when the loss is not finite (nothing is applied then)."""
        cfg = self.config
        idx = rng.integers(self.key, rng.Stream.REPLAY, update_index, np.arange(cfg.batch_size), buffer.size)
        obs, action, reward, next_obs, done = buffer.sample(idx)
        with torch.no_grad():
            next_action = self.q(next_obs).argmax(-1, keepdim=True)
            next_q = self.target(next_obs).gather(-1, next_action)[:, 0]
            target = reward + cfg.gamma * (1.0 - done) * next_q
        q = self.q(obs).gather(-1, action[:, None])[:, 0]
        loss = ((q - target) ** 2).mean()
        if not torch.isfinite(loss):
            return False
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for p, tp in zip(self.q.parameters(), self.target.parameters()):
                tp.copy_(cfg.tau * p + (1.0 - cfg.tau) * tp)
        return True

    def evaluate(self, env: gym.Env, episodes: int = 10) -> np.ndarray:
        """Greedy test returns of `episodes` seeded episodes on `env`."""
        return self.evaluate_episodes(env, episodes)[0]

    def evaluate_episodes(self, env: gym.Env, episodes: int) -> tuple[np.ndarray, np.ndarray]:
        """Greedy test returns (real, see the module docstring) and episode lengths."""
        return greedy_episodes(env, self.act, self.key, episodes)
