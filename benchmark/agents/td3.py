"""TD3 for Box action spaces (Fujimoto et al. 2018), with DDQN's interface.

``TD3(obs_dim, box, config, seed)`` (a Discrete action space is refused: use `benchmark.agents.td3_discrete`);
``train(env, solved=None, max_steps=None) -> TrainResult``, ``act``, ``evaluate`` and ``evaluate_episodes``. The
stopping rules are DDQN's (`benchmark.agents.common.should_stop`), checked after every episode.

Design (documented choices):

- **Actor**: an MLP with a tanh output, mu(s) in [-1, 1]^d, scaled affinely to the Box bounds for the
  environment. Replay, critics and noise all work in the normalised [-1, 1] action scale, so `expl_noise` and
  `target_noise` are fractions of the half-range of each action entry.
- **Critics**: twin MLPs Q1, Q2 over (observation, normalised action), evaluated together as one module
  (`benchmark.agents.common.TwinCritic`, one batched matmul per layer). Target:
  r + gamma * (1 - terminated) * min(Q1', Q2')(s', clip(mu'(s') + clip(target_noise * N, +-target_noise_clip),
  -1, 1)) (clipped double Q with target policy smoothing). One critic update per environment step once
  start_steps steps have been taken; every policy_delay-th update also updates the actor (-Q1(s, mu(s))) and
  soft-updates all target networks at rate tau.
- **Exploration**: for the first start_steps steps the action is the exploration noise alone (no actor);
  afterwards mu(s) + noise; both clipped to [-1, 1]. `noise_type` gaussian: independent N(0, sigma^2) per step.
  `noise_type` ou: an Ornstein-Uhlenbeck process x <- (1 - ou_theta) x + sigma N(0, 1) (dt = 1), restarted at 0
  every episode. sigma starts at expl_noise and is multiplied by expl_noise_decay after every episode, down to
  expl_noise_min.
  Why OU by default: MountainCarContinuous-v0 pays +100 only at the goal and -0.1 a^2 per step, so an agent
  that never reaches the goal learns to stand still. Measured over 30 episodes of pure noise (seeds 0..29):
  uniform or per-step Gaussian actions (sigma 0.5 or 1) never reach the goal in 999 steps; OU noise with
  theta 0.15 and sigma 0.3 / 0.5 (dt = 1) reaches it in 77% / 87% of episodes (after ~500 steps), because
  its long pushes swing the car. The decay to no noise (sigma 0.5 * 0.9^episode) makes the training returns,
  which the stopping rule reads, those of the (nearly) greedy policy: with a noise floor (decay 0.95 to 0.05)
  all of seeds 0..3 reached the threshold too (18k-29k steps), but the greedy test returns of three of them
  stayed far below 90 (-18 to 63; the deterministic actor can settle into a standstill the noise escaped);
  with these defaults the greedy test means were 47, 92, 93, 94.
- **Divergence**: a non-finite loss (critic or actor) or actor output sets ``diverged`` and ends training;
  the update with the bad loss is not applied (nothing raises).

Returns are always *real*: the agent learns from the reward it is given, but records ``info["real_reward"]``
where the environment provides it (RewardEnv, ICMEnv), as DDQN does.

Randomness: every draw is a pure function of (member key, stream, counter, index) from `benchmark.rng`: the
exploration normals of global step t from EXPLORE_ACTION at counter t (indices 0..d-1); minibatch indices of
update u from REPLAY at counter u (indices 0..batch_size-1) and its target-smoothing normals at the indices after
them; training resets from TRAIN_RESET at the episode index, test resets from TEST_RESET.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from benchmark import rng
from benchmark.agents.common import ReplayBuffer, TrainResult, TrainingBudget, TwinCritic, buffer_capacity, should_stop
from benchmark.agents.rollout import action_bounds, episode_limit, greedy_episodes, obs_vector
from benchmark.envs.reward import real_reward
from benchmark.errors import ConfigError, check_choice, check_range
from benchmark.nets import init_uniform_, mlp

__all__ = ["TD3Config", "TD3", "NOISE_TYPES"]

NOISE_TYPES = ("gaussian", "ou")
"""Exploration noise processes (see the module docstring)."""


@dataclass(frozen=True)
class TD3Config(TrainingBudget):
    """TD3 hyperparameters; defaults are for MountainCarContinuous-v0 (see bench/agents_learn.py). The training
    budget and stopping-rule fields (max_episodes, ...) are `TrainingBudget`'s; init_episodes only delays the SE
    stopping rule (start_steps is the random phase)."""

    lr: float = 1e-3
    """Adam learning rate of the actor and of the critics."""
    batch_size: int = 128
    """Minibatch size of each update."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Soft target-network update rate (actor and critics, applied on delayed updates)."""
    hidden_size: int = 64
    """Units per hidden layer (actor and critics)."""
    hidden_layers: int = 2
    """Number of hidden layers (actor and critics)."""
    activation: str = "relu"
    """Hidden activation: tanh, relu or leaky_relu."""
    policy_delay: int = 2
    """Critic updates per actor update and target-network update."""
    target_noise: float = 0.2
    """Standard deviation of the target policy smoothing noise (fraction of the action half-range)."""
    target_noise_clip: float = 0.5
    """The smoothing noise is clipped to +- this (fraction of the action half-range)."""
    noise_type: str = "ou"
    """Exploration noise: gaussian (independent per step) or ou (Ornstein-Uhlenbeck, temporally correlated)."""
    expl_noise: float = 0.5
    """Initial exploration noise scale sigma (fraction of the action half-range)."""
    expl_noise_decay: float = 0.9
    """sigma multiplier applied after every episode."""
    expl_noise_min: float = 0.0
    """Final exploration noise scale."""
    ou_theta: float = 0.15
    """Mean reversion of the OU process per step (noise_type ou only)."""
    start_steps: int = 3000
    """Steps whose actions are the exploration noise alone; learning starts after them."""
    rb_size: int = 1_000_000
    """Replay buffer capacity."""
    max_episodes: int = 100
    """Training stops after this many episodes in any case."""

    def __post_init__(self):
        check_range("policy_delay", self.policy_delay, 1, 100, integer=True)
        check_range("target_noise", self.target_noise, 0.0, 10.0)
        check_range("target_noise_clip", self.target_noise_clip, 0.0, 10.0)
        check_choice("noise_type", self.noise_type, NOISE_TYPES)
        check_range("expl_noise", self.expl_noise, 0.0, 10.0)
        check_range("expl_noise_decay", self.expl_noise_decay, 0.0, 1.0)
        check_range("expl_noise_min", self.expl_noise_min, 0.0, 10.0)
        check_range("ou_theta", self.ou_theta, 0.0, 1.0)
        check_range("start_steps", self.start_steps, 0, 10**9, integer=True)
        super().__post_init__()


class TD3:
    """A TD3 agent bound to an observation size, a Box action space, a config and a seed."""

    def __init__(self, obs_dim: int, actions: gym.spaces.Box, config: TD3Config = TD3Config(), seed: int = 0):
        continuous, self.action_dim, self.low, self.high = action_bounds(actions)
        if not continuous:
            raise ConfigError("TD3 acts in a Box action space; for a Discrete one use td3_discrete")
        self.obs_dim, self.config, self.seed = obs_dim, config, seed
        self.center, self.half = (self.high + self.low) / 2, (self.high - self.low) / 2
        self.key = rng.member_key(seed)
        generator = torch.Generator().manual_seed(rng.seed_value(self.key, rng.Stream.INIT, 0))
        cfg, d = config, self.action_dim
        self.actor = init_uniform_(mlp(obs_dim, cfg.hidden_size, cfg.hidden_layers, d, cfg.activation), generator)
        q1, q2 = (init_uniform_(mlp(obs_dim + d, cfg.hidden_size, cfg.hidden_layers, 1, cfg.activation), generator)
                  for _ in range(2))  # actor, Q1, Q2: drawn in this order from one generator
        self.critic = TwinCritic(q1, q2, cfg.activation)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self._online = [*self.actor.parameters(), *self.critic.parameters()]
        self._target = [*self.actor_target.parameters(), *self.critic_target.parameters()]
        for p in self._target:
            p.requires_grad_(False)
        self.actor_optimizer: torch.optim.Adam | None = None  # made by train()
        self.critic_optimizer: torch.optim.Adam | None = None

    def _mu(self, obs) -> np.ndarray:
        """The actor's normalised action tanh(actor(obs)) in [-1, 1]^d for one observation, without autograd."""
        with torch.inference_mode():
            return torch.tanh(self.actor(torch.from_numpy(obs_vector(obs, self.obs_dim))[None]))[0].numpy()

    def _scale(self, a: np.ndarray) -> np.ndarray:
        """A normalised action in [-1, 1]^d as an action of the Box (float32)."""
        return (self.center + self.half * a).astype(np.float32)

    def act(self, obs) -> np.ndarray:
        """Greedy action: the actor's action, scaled to the bounds."""
        return self._scale(self._mu(obs))

    def train(self, env: gym.Env, solved: float | None = None, max_steps: int | None = None) -> TrainResult:
        """Train on `env`; `solved` selects the real-task stopping rule (None: the SE rule)."""
        cfg, key, d = self.config, self.key, self.action_dim
        limit = episode_limit(env, max_steps)
        buffer = ReplayBuffer(buffer_capacity(cfg, limit), self.obs_dim, d)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, fused=True)
        b = cfg.batch_size
        self._draw_index = np.arange(b, b + b * d, dtype=np.uint64)  # target-smoothing normals of an update
        result, t, updates, sigma = TrainResult(), 0, 0, cfg.expl_noise
        while True:
            obs, _ = env.reset(seed=rng.seed_value(key, rng.Stream.TRAIN_RESET, result.episodes))
            # this episode's exploration normals, one row per global step t .. t + limit - 1
            normals = rng.normal(key, rng.Stream.EXPLORE_ACTION, np.arange(t, t + limit, dtype=np.uint64)[:, None],
                                 np.arange(d))
            noise, ep_return, ep_len = np.zeros(d), 0.0, 0
            while True:
                if cfg.noise_type == "ou":
                    noise = (1.0 - cfg.ou_theta) * noise + sigma * normals[ep_len]
                else:
                    noise = sigma * normals[ep_len]
                x = obs_vector(obs, self.obs_dim)
                if t < cfg.start_steps:
                    action = np.clip(noise, -1.0, 1.0)
                else:
                    mu = self._mu(x)
                    if not np.all(np.isfinite(mu)):
                        result.diverged = True
                        break
                    action = np.clip(mu + noise, -1.0, 1.0)
                next_obs, reward, terminated, truncated, info = env.step(self._scale(action))
                buffer.add(x, action, reward, obs_vector(next_obs, self.obs_dim), terminated)
                t, ep_len, ep_return, obs = t + 1, ep_len + 1, ep_return + real_reward(reward, info), next_obs
                if t > cfg.start_steps:
                    if not self._update(buffer, updates):
                        result.diverged = True
                    updates += 1
                if terminated or truncated or ep_len >= limit or result.diverged:
                    break
            if ep_len:
                result.returns.append(ep_return)
                result.lengths.append(ep_len)
            sigma = max(cfg.expl_noise_min, sigma * cfg.expl_noise_decay)
            if result.diverged or should_stop(result.returns, result.steps, cfg, solved):
                return result

    def _update(self, buffer: ReplayBuffer, update_index: int) -> bool:
        """One critic update (and, every policy_delay-th, an actor and target update).

        False when a loss is not finite; the update with the bad loss is not applied then.
        """
        cfg, b, d = self.config, self.config.batch_size, self.action_dim
        idx = rng.integers(self.key, rng.Stream.REPLAY, update_index, np.arange(b), buffer.size)
        smoothing = rng.normal(self.key, rng.Stream.REPLAY, update_index, self._draw_index).reshape(b, d)
        smoothing = torch.from_numpy(np.clip(cfg.target_noise * smoothing, -cfg.target_noise_clip,
                                             cfg.target_noise_clip).astype(np.float32))
        obs, action, reward, next_obs, done = buffer.sample(idx)
        with torch.no_grad():
            next_action = (torch.tanh(self.actor_target(next_obs)) + smoothing).clamp(-1.0, 1.0)
            next_q = self.critic_target(torch.cat([next_obs, next_action], -1))[..., 0].min(0).values
            target = reward + cfg.gamma * (1.0 - done) * next_q
        q = self.critic(torch.cat([obs, action], -1))[..., 0]
        critic_loss = ((q - target) ** 2).mean(-1).sum()  # MSE of Q1 + MSE of Q2
        if not torch.isfinite(critic_loss):
            return False
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        if (update_index + 1) % cfg.policy_delay:
            return True
        actor_loss = -self.critic(torch.cat([obs, torch.tanh(self.actor(obs))], -1))[0, :, 0].mean()
        if not torch.isfinite(actor_loss):
            return False
        self.actor_optimizer.zero_grad()
        actor_loss.backward()  # the critics get gradients too; they are cleared before their next step
        self.actor_optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(self._target, self._online, cfg.tau)
        return True

    def evaluate(self, env: gym.Env, episodes: int = 10) -> np.ndarray:
        """Greedy test returns of `episodes` seeded episodes on `env`."""
        return self.evaluate_episodes(env, episodes)[0]

    def evaluate_episodes(self, env: gym.Env, episodes: int) -> tuple[np.ndarray, np.ndarray]:
        """Greedy test returns (real, as DDQN's) and episode lengths."""
        return greedy_episodes(env, self.act, self.key, episodes)
