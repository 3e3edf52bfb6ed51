"""PPO (clipped objective, GAE) for Discrete and Box action spaces, with DDQN's interface.

``PPO(obs_dim, actions, config, seed)``: `actions` is the action count of a Discrete space (as for every agent)
or a gymnasium Box; ``train(env, solved=None, max_steps=None) -> TrainResult``, ``act``, ``evaluate`` and
``evaluate_episodes``. The stopping rules are every agent's (`benchmark.agents.common.should_stop`), checked after
every episode, so training may end in the middle of a rollout.

Design (documented choices):

- **Networks**: separate actor and critic MLPs (no shared trunk, the default of SB3 and cleanrl for vector
  observations: the value loss cannot pull the policy's features). Orthogonal initialisation (gain sqrt(2) for
  hidden layers, 0.01 for the policy head, 1 for the value head; zero biases), drawn from the agent's INIT
  stream. Integer observations (a Discrete observation space) are one-hot encoded to obs_dim entries.
- **Policy**: Discrete actions: Categorical(softmax(logits)). Box actions: a diagonal Gaussian whose mean is the
  actor's output and whose log standard deviation is a state-independent parameter (`log_std_init`); the
  sampled action is stored unclipped (its log-probability is exact) and clipped to the bounds for the
  environment. One flag (`self.continuous`, from the action space) switches the two; everything else is shared.
  Greedy actions (`act`, test episodes): the argmax of the logits / the clipped mean.
- **Rollouts** of n_steps transitions span episode boundaries. Per environment step there is exactly one
  no-grad actor forward; values and the rollout's log-probabilities are computed afterwards in one batched
  forward each (the networks do not change during a rollout, so this is the same as computing them per step).
  A truncated episode (time limit, or `max_steps`) bootstraps: gamma * V(final observation) is added to its last
  reward (as SB3 does); a terminated one does not.
- **Update**: GAE(gamma, gae_lambda) advantages; n_epochs passes over the rollout in shuffled minibatches of
  batch_size (the last one may be smaller); per-minibatch advantage normalisation (`normalize_advantage`);
  loss = clipped surrogate + vf_coef * MSE(value, return) - ent_coef * entropy; global gradient-norm clipping at
  max_grad_norm; one Adam optimiser over actor, critic and log-std.
- **Divergence**: a non-finite actor output during a rollout, or a non-finite loss or gradient norm in an
  update, sets ``diverged`` and ends training; the bad update is not applied (nothing raises).

Returns are always *real*: the agent learns from the reward it is given, but records ``info["real_reward"]``
where the environment provides it (RewardEnv, ICMEnv), as DDQN does.

Randomness: every draw is a pure function of (member key, stream, counter, index) from `benchmark.rng`: the
training action at global step t from EXPLORE_ACTION at counter t (a uniform for a Categorical draw by inverse
CDF, or act_dim standard normals), the minibatch order of epoch e of all updates from REPLAY at counter e,
training resets from TRAIN_RESET at the episode index, test resets from TEST_RESET.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from benchmark import rng
from benchmark.agents.common import TrainResult, TrainingBudget, should_stop
from benchmark.agents.rollout import action_bounds, episode_limit, greedy_episodes, obs_vector
from benchmark.envs.reward import real_reward
from benchmark.errors import check_choice, check_range
from benchmark.nets import linear_layers, mlp

__all__ = ["PPOConfig", "PPO", "TrainResult"]

@dataclass(frozen=True)
class PPOConfig(TrainingBudget):
    """PPO hyperparameters; defaults solve CartPole-v0 (tuned on the real task, see bench/agents_learn.py). The
    training budget and stopping-rule fields (max_episodes, ...) are `TrainingBudget`'s; init_episodes only delays
    the SE stopping rule (PPO learns from the start)."""

    own_ranges: ClassVar[tuple[str, ...]] = ("batch_size",)  # bounded by n_steps (below), not by 4096

    lr: float = 1e-3
    """Adam learning rate (actor, critic and log-std)."""
    batch_size: int = 64
    """Minibatch size of each gradient step (at most n_steps)."""
    n_steps: int = 256
    """Transitions per rollout (one update of n_epochs passes follows each rollout)."""
    n_epochs: int = 10
    """Passes over each rollout."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda (1: Monte-Carlo advantages, 0: one-step TD)."""
    clip_range: float = 0.2
    """Clipping range epsilon of the probability ratio."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    normalize_advantage: bool = True
    """Normalise advantages to zero mean and unit standard deviation per minibatch."""
    hidden_size: int = 64
    """Units per hidden layer (actor and critic)."""
    hidden_layers: int = 2
    """Number of hidden layers (actor and critic)."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu or leaky_relu."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (Box actions only)."""

    def __post_init__(self):
        check_range("n_steps", self.n_steps, 1, 10**6, integer=True)
        check_range("batch_size", self.batch_size, 1, self.n_steps, integer=True)
        check_range("n_epochs", self.n_epochs, 1, 1000, integer=True)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_range("clip_range", self.clip_range, 1e-3, 10.0)
        check_range("ent_coef", self.ent_coef, 0.0, 10.0)
        check_range("vf_coef", self.vf_coef, 0.0, 100.0)
        check_range("max_grad_norm", self.max_grad_norm, 1e-6, 1e6)
        check_choice("normalize_advantage", self.normalize_advantage, (True, False))
        check_range("log_std_init", self.log_std_init, -20.0, 2.0)
        super().__post_init__()


@torch.no_grad()
def orthogonal_init_(net: nn.Sequential, head_gain: float, generator: torch.Generator) -> nn.Sequential:
    """Orthogonal weights (gain sqrt(2) for hidden layers, `head_gain` for the output layer), zero biases."""
    layers = linear_layers(net)
    for i, layer in enumerate(layers):
        nn.init.orthogonal_(layer.weight, gain=head_gain if i == len(layers) - 1 else math.sqrt(2.0),
                            generator=generator)
        layer.bias.zero_()
    return net


class PPO:
    """A PPO agent bound to an observation size, an action count or Box, a config and a seed."""

    def __init__(self, obs_dim: int, actions: int | gym.spaces.Box, config: PPOConfig = PPOConfig(),
                 seed: int = 0):
        self.continuous, self.action_dim, self.low, self.high = action_bounds(actions)
        self.obs_dim, self.config, self.seed = obs_dim, config, seed
        self.n_actions = None if self.continuous else self.action_dim
        self.key = rng.member_key(seed)
        generator = torch.Generator().manual_seed(rng.seed_value(self.key, rng.Stream.INIT, 0))
        cfg = config
        self.actor = orthogonal_init_(
            mlp(obs_dim, cfg.hidden_size, cfg.hidden_layers, self.action_dim, cfg.activation), 0.01, generator)
        self.critic = orthogonal_init_(mlp(obs_dim, cfg.hidden_size, cfg.hidden_layers, 1, cfg.activation),
                                       1.0, generator)
        self.log_std = nn.Parameter(torch.full((self.action_dim,), float(cfg.log_std_init)),
                                    requires_grad=self.continuous)
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        if self.continuous:
            self.params.append(self.log_std)
        self.optimizer: torch.optim.Adam | None = None  # made by train()

    # --- acting ----------------------------------------------------------------------------------------
    def _actor_out(self, obs) -> np.ndarray:
        """The actor's output (logits or Gaussian mean) for one observation, without autograd."""
        with torch.inference_mode():
            return self.actor(torch.from_numpy(obs_vector(obs, self.obs_dim))[None])[0].numpy()

    def act(self, obs):
        """Greedy action: the argmax of the logits (an int) or the mean clipped to the bounds (an array)."""
        out = self._actor_out(obs)
        if self.continuous:
            return np.clip(out, self.low, self.high)
        return int(np.argmax(out))

    def _log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities of `actions` and the policy's entropy at `obs` (batched, with autograd)."""
        out = self.actor(obs)
        if self.continuous:
            log_std = self.log_std.expand_as(out)
            z = (actions - out) * torch.exp(-log_std)
            log_prob = (-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
            entropy = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
            return log_prob, entropy
        log_p = torch.log_softmax(out, -1)
        return log_p.gather(-1, actions[:, None])[:, 0], -(log_p.exp() * log_p).sum(-1)

    # --- training --------------------------------------------------------------------------------------
    def train(self, env: gym.Env, solved: float | None = None, max_steps: int | None = None) -> TrainResult:
        """Train on `env`; `solved` selects the real-task stopping rule (None: the SE rule)."""
        cfg, key, n = self.config, self.key, self.config.n_steps
        limit = episode_limit(env, max_steps)
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, eps=1e-5)
        obs_buf = np.zeros((n, self.obs_dim), np.float32)
        act_buf = np.zeros((n, self.action_dim), np.float32) if self.continuous else np.zeros(n, np.int64)
        rew_buf = np.zeros(n, np.float32)
        end_buf = np.zeros(n, np.float32)  # 1: the episode ended (terminated or truncated) after this step
        result, t, epochs = TrainResult(), 0, 0
        obs, ep_return, ep_len = None, 0.0, 0
        while True:
            # draws of this rollout's actions, one row per global step t .. t + n - 1
            counters = np.arange(t, t + n, dtype=np.uint64)[:, None]
            if self.continuous:
                noise = rng.normal(key, rng.Stream.EXPLORE_ACTION, counters, np.arange(self.action_dim))
                std = np.exp(self.log_std.detach().numpy())
            else:
                coins = rng.uniform(key, rng.Stream.EXPLORE_ACTION, counters, 0)[:, 0]
            truncated_at: list[tuple[int, np.ndarray]] = []  # (step, final observation) of truncated episodes
            for i in range(n):
                if obs is None:
                    obs, _ = env.reset(seed=rng.seed_value(key, rng.Stream.TRAIN_RESET, result.episodes))
                    ep_return, ep_len = 0.0, 0
                x = obs_vector(obs, self.obs_dim)
                with torch.inference_mode():
                    out = self.actor(torch.from_numpy(x)[None])[0].numpy()
                if not np.all(np.isfinite(out)):
                    result.diverged = True
                    return self._finish(result, ep_return, ep_len)
                if self.continuous:
                    action = out + std * noise[i]
                    env_action = np.clip(action, self.low, self.high)
                else:
                    p = np.exp(out - out.max())
                    cdf = np.cumsum(p)
                    action = env_action = min(int(np.searchsorted(cdf, coins[i] * cdf[-1], side="right")),
                                              self.action_dim - 1)
                next_obs, reward, terminated, truncated, info = env.step(env_action)
                t, ep_len, ep_return = t + 1, ep_len + 1, ep_return + real_reward(reward, info)
                truncated = truncated or ep_len >= limit
                obs_buf[i], act_buf[i], rew_buf[i] = x, action, reward
                end_buf[i] = float(terminated or truncated)
                obs = next_obs
                if truncated and not terminated:
                    truncated_at.append((i, obs_vector(next_obs, self.obs_dim)))
                if terminated or truncated:
                    result.returns.append(ep_return)
                    result.lengths.append(ep_len)
                    obs = None
                    if should_stop(result.returns, result.steps, cfg, solved):
                        return result
            last_obs = None if obs is None else obs_vector(obs, self.obs_dim)
            if not self._update(obs_buf, act_buf, rew_buf, end_buf, truncated_at, last_obs, epochs):
                result.diverged = True
                return self._finish(result, ep_return, ep_len)
            epochs += cfg.n_epochs

    @staticmethod
    def _finish(result: TrainResult, ep_return: float, ep_len: int) -> TrainResult:
        """Record the interrupted episode (if it had any steps) of a diverged run."""
        if ep_len:
            result.returns.append(ep_return)
            result.lengths.append(ep_len)
        return result

    def _advantages(self, rewards: np.ndarray, ends: np.ndarray, values: np.ndarray,
                    last_value: float) -> np.ndarray:
        """GAE(gamma, lambda) over a rollout; an episode's end cuts the recursion (truncations have their
        bootstrap in the reward already)."""
        cfg = self.config
        adv = np.zeros(len(rewards), np.float32)
        gae, next_value = 0.0, last_value
        for i in range(len(rewards) - 1, -1, -1):
            keep = 1.0 - ends[i]
            delta = rewards[i] + cfg.gamma * next_value * keep - values[i]
            gae = delta + cfg.gamma * cfg.gae_lambda * keep * gae
            adv[i], next_value = gae, values[i]
        return adv

    def _update(self, obs_buf, act_buf, rew_buf, end_buf, truncated_at, last_obs, epoch0: int) -> bool:
        """n_epochs of minibatch updates on one rollout; False when a loss or gradient norm is not finite (that
        step is not applied and the update stops)."""
        cfg, n = self.config, self.config.n_steps
        obs, actions = torch.from_numpy(obs_buf), torch.from_numpy(act_buf)
        rewards = rew_buf.astype(np.float64)
        with torch.no_grad():
            values = self.critic(obs)[:, 0].double().numpy()
            old_log_prob, _ = self._log_prob_entropy(obs, actions)
            extra = [o for _, o in truncated_at] + ([] if last_obs is None else [last_obs])
            extra_values = self.critic(torch.from_numpy(np.stack(extra)))[:, 0].double().numpy() if extra else []
        for (i, _), v in zip(truncated_at, extra_values):
            rewards[i] += cfg.gamma * v
        last_value = float(extra_values[-1]) if last_obs is not None else 0.0
        if not (np.all(np.isfinite(values)) and np.all(np.isfinite(rewards)) and np.isfinite(last_value)):
            return False
        adv = self._advantages(rewards, end_buf, values, last_value)
        returns = torch.from_numpy((adv + values).astype(np.float32))
        adv = torch.from_numpy(adv)
        for e in range(cfg.n_epochs):
            order = torch.from_numpy(np.argsort(rng.uniform(self.key, rng.Stream.REPLAY, epoch0 + e, np.arange(n)),
                                                kind="stable"))
            for start in range(0, n, cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                log_prob, entropy = self._log_prob_entropy(obs[idx], actions[idx])
                a = adv[idx]
                if cfg.normalize_advantage:
                    a = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
                ratio = torch.exp(log_prob - old_log_prob[idx])
                policy_loss = -torch.min(ratio * a, ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range) * a).mean()
                value_loss = ((self.critic(obs[idx])[:, 0] - returns[idx]) ** 2).mean()
                loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy.mean()
                if not torch.isfinite(loss):
                    return False
                self.optimizer.zero_grad()
                loss.backward()
                norm = nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
                if not torch.isfinite(norm):
                    return False
                self.optimizer.step()
        return True

    # --- testing ---------------------------------------------------------------------------------------
    def evaluate(self, env: gym.Env, episodes: int = 10) -> np.ndarray:
        """Greedy test returns of `episodes` seeded episodes on `env`."""
        return self.evaluate_episodes(env, episodes)[0]

    def evaluate_episodes(self, env: gym.Env, episodes: int) -> tuple[np.ndarray, np.ndarray]:
        """Greedy test returns (real, as DDQN's) and episode lengths."""
        return greedy_episodes(env, self.act, self.key, episodes)
