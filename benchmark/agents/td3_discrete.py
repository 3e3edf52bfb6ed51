"""Discrete TD3: a Gumbel-softmax actor, twin critics, delayed policy updates and target policy smoothing.

Design (documented choices):

- **Critics** have one output per action, Q(s, .); the value of a (possibly relaxed) action vector a on the
  simplex is the dot product <Q(s, .), a>. For a one-hot action this is exactly Q(s, onehot(a)), and on the
  simplex it is the linear interpolation between the actions' values, so a relaxed Gumbel-softmax action is
  always valued by what the critic learned on real actions (a critic fed onehot(a) as input would have to
  extrapolate to soft vectors it never saw).
- **Critic target**: r + gamma * (1 - terminated) * min(<Q1'(s', .), a'>, <Q2'(s', .), a'>) (clipped double
  Q), where a' is the target actor's Gumbel-softmax sample at gumbel_temperature (hard or soft as the actor),
  mixed with the uniform distribution by `target_smoothing`: target policy smoothing for discrete actions.
- **Actor loss**: -<Q1(s, .), gumbel_softmax(logits(s))> + logit_reg * mean(logits^2), every policy_delay
  critic updates, followed by the soft update of all three target networks (as in TD3). Q1(s, .) does not
  depend on the actor, so it is one no-grad forward after the critic step. The small logit penalty (as in
  MADDPG's Gumbel-softmax policies) keeps the softmax from saturating: a saturated actor gets no gradient
  (d softmax / d logits -> 0) and can stay stuck on one action for good while the critic already prefers the
  other (seen on CartPole without it, tau=0.005, seed 4: an always-push-right actor for 1000 episodes).
- **Exploration**: epsilon-greedy with DDQN's per-episode schedule (eps_init, eps_min, eps_decay); a
  non-random action is the actor's argmax, or with `sample_actions` a sample of softmax(logits) drawn by the
  Gumbel-max trick. Test actions (`act`) are always the argmax of the logits.

Randomness: every draw is a pure function of (member key, stream, counter, index) from `benchmark.rng`, as in
DDQN. The Gumbel noise of update u comes from the REPLAY stream at counter u, at the indices after the
minibatch indices (which are DDQN's: indices 0..batch_size-1); the Gumbel noise of a sampled action at step t
comes from the EXPLORE_ACTION stream at counter t, indices after the random action's index 0.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from benchmark import rng
from benchmark.agents.common import ReplayBuffer, TrainResult, TrainingBudget, TwinCritic, buffer_capacity, should_stop
from benchmark.agents.rollout import greedy_episodes
from benchmark.envs.reward import real_reward
from benchmark.envs.synthetic import td_done
from benchmark.errors import check_choice, check_range
from benchmark.nets import init_uniform_, mlp

__all__ = ["TD3DiscreteConfig", "TD3Discrete"]


@dataclass(frozen=True)
class TD3DiscreteConfig(TrainingBudget):
    """Discrete TD3 hyperparameters; defaults learn CartPole-v0 (paper-like, tuned on the real task). The
    training budget and stopping-rule fields (init_episodes, max_episodes, ...) are `TrainingBudget`'s."""

    lr: float = 5e-4
    """Adam learning rate of the actor and of the critics."""
    batch_size: int = 128
    """Minibatch size of each update."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.01
    """Soft target-network update rate (actor and critics, applied on delayed updates)."""
    hidden_size: int = 128
    """Units per hidden layer (actor and critics)."""
    hidden_layers: int = 2
    """Number of hidden layers (actor and critics)."""
    activation: str = "relu"
    """Hidden activation: tanh, relu or leaky_relu."""
    policy_delay: int = 2
    """Critic updates per actor update and target-network update."""
    gumbel_temperature: float = 1.0
    """Softmax temperature of the actor's Gumbel-softmax samples (actor loss and critic target)."""
    gumbel_hard: bool = False
    """Hard one-hot Gumbel-softmax samples with straight-through gradients instead of soft ones."""
    target_smoothing: float = 0.0
    """Weight of the uniform distribution mixed into the target actor's sampled action (0: none)."""
    logit_reg: float = 1e-3
    """Weight of the mean squared actor logit in the actor loss (keeps the softmax from saturating)."""
    sample_actions: bool = False
    """Non-random training actions are sampled from softmax(logits) instead of the argmax."""
    eps_init: float = 1.0
    """Initial probability of a uniformly random training action."""
    eps_min: float = 0.01
    """Final probability of a uniformly random training action."""
    eps_decay: float = 0.9
    """Random-action probability multiplier applied after every episode."""
    init_episodes: int = 10
    """Episodes of uniformly random actions that only fill the replay buffer before learning starts."""
    rb_size: int = 100_000
    """Replay buffer capacity."""

    def __post_init__(self):
        check_range("policy_delay", self.policy_delay, 1, 100, integer=True)
        check_range("gumbel_temperature", self.gumbel_temperature, 1e-3, 100.0)
        check_choice("gumbel_hard", self.gumbel_hard, (True, False))
        check_range("target_smoothing", self.target_smoothing, 0.0, 1.0)
        check_range("logit_reg", self.logit_reg, 0.0, 10.0)
        check_choice("sample_actions", self.sample_actions, (True, False))
        super().__post_init__()


def gumbel_noise(uniform: np.ndarray) -> torch.Tensor:
    """Standard Gumbel samples -log(-log(u)) from uniforms in [0, 1) (clipped away from 0 and 1)."""
    u = np.clip(uniform, 1e-12, 1.0 - 1e-12)
    return torch.from_numpy(-np.log(-np.log(u))).float()


def gumbel_softmax(logits: torch.Tensor, noise: torch.Tensor, temperature: float | torch.Tensor,
                   hard: bool | torch.Tensor) -> torch.Tensor:
    """softmax((logits + noise) / temperature); with `hard`, the one-hot argmax with the soft gradient.

    The lockstep trainer passes per-row temperatures and hard flags as tensors broadcasting against logits."""
    return straight_through(soft_sample(logits, noise, temperature), hard)


def soft_sample(logits: torch.Tensor, noise: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """The relaxed Gumbel-softmax sample softmax((logits + noise) / temperature) over the last axis."""
    return torch.softmax((logits + noise) / temperature, dim=-1)


def straight_through(soft: torch.Tensor, hard: bool | torch.Tensor) -> torch.Tensor:
    """soft or, where `hard`, the one-hot argmax of soft with soft's gradient (onehot - soft.detach() + soft)."""
    if not isinstance(hard, torch.Tensor) and not hard:
        return soft
    onehot = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    straight = onehot - soft.detach() + soft
    return torch.where(hard, straight, soft) if isinstance(hard, torch.Tensor) else straight


class TD3Discrete:
    """A discrete TD3 agent bound to an observation size, an action count, a config and a seed."""

    def __init__(self, obs_dim: int, n_actions: int, config: TD3DiscreteConfig = TD3DiscreteConfig(),
                 seed: int = 0):
        self.obs_dim, self.n_actions, self.config, self.seed = obs_dim, n_actions, config, seed
        self.key = rng.member_key(seed)
        generator = torch.Generator().manual_seed(rng.seed_value(self.key, rng.Stream.INIT, 0))

        def net() -> torch.nn.Sequential:
            return init_uniform_(mlp(obs_dim, config.hidden_size, config.hidden_layers, n_actions,
                                     config.activation), generator)

        self.actor = net()
        q1, q2 = net(), net()  # actor, Q1, Q2: drawn in this order from one generator
        self.critic = TwinCritic(q1, q2, config.activation)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self._online = [*self.actor.parameters(), *self.critic.parameters()]
        self._target = [*self.actor_target.parameters(), *self.critic_target.parameters()]
        for p in self._target:
            p.requires_grad_(False)
        self.actor_optimizer: torch.optim.Adam | None = None  # made by train()
        self.critic_optimizer: torch.optim.Adam | None = None

    def act(self, obs: np.ndarray) -> int:
        """Greedy action: the argmax of the actor's logits."""
        with torch.no_grad():
            return int(self.actor(torch.as_tensor(obs, dtype=torch.float32)[None]).argmax(-1)[0])

    def _train_action(self, obs: np.ndarray, t: int, eps: float) -> int:
        key, n = self.key, self.n_actions
        if rng.uniform(key, rng.Stream.EXPLORE_COIN, t) < eps:
            return int(rng.integers(key, rng.Stream.EXPLORE_ACTION, t, 0, n))
        if not self.config.sample_actions:
            return self.act(obs)
        noise = gumbel_noise(rng.uniform(key, rng.Stream.EXPLORE_ACTION, t, np.arange(1, n + 1)))
        with torch.no_grad():
            logits = self.actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0]
            return int((logits + noise).argmax())

    def train(self, env: gym.Env, solved: float | None = None, max_steps: int | None = None) -> TrainResult:
        """Train on `env`; `solved` selects the real-task stopping rule (None: the SE rule)."""
        cfg, key = self.config, self.key
        limit = max_steps or (env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else 1000)
        buffer = ReplayBuffer(buffer_capacity(cfg, limit), self.obs_dim)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, fused=True)
        # draw indices of one update: minibatch indices, then target-action and actor-loss Gumbel noise
        b, n = cfg.batch_size, self.n_actions
        self._draw_index = np.arange(b + 2 * b * n, dtype=np.uint64)
        result, eps, t, updates = TrainResult(), cfg.eps_init, 0, 0
        while True:
            obs, _ = env.reset(seed=rng.seed_value(key, rng.Stream.TRAIN_RESET, result.episodes))
            ep_return, ep_len, learning = 0.0, 0, result.episodes >= cfg.init_episodes
            while True:
                action = self._train_action(obs, t, eps if learning else 1.0)  # initial episodes: at random
                next_obs, reward, terminated, truncated, info = env.step(action)
                buffer.add(obs, action, reward, next_obs, td_done(terminated, info))
                # the recorded return (and the stopping rule) is the real one on a RewardEnv, as in DDQN
                t, ep_len, ep_return, obs = t + 1, ep_len + 1, ep_return + real_reward(reward, info), next_obs
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
        """One critic update (and, every policy_delay-th, an actor and target update).

        False when a loss is not finite; the update with the bad loss is not applied then.
        """
        cfg, b, n = self.config, self.config.batch_size, self.n_actions
        u = rng.uniform(self.key, rng.Stream.REPLAY, update_index, self._draw_index)
        idx = np.minimum((u[:b] * buffer.size).astype(np.int64), buffer.size - 1)  # = rng.integers, as DDQN
        noise = gumbel_noise(u[b:]).view(2, b, n)
        obs, action, reward, next_obs, done = buffer.sample(idx)
        with torch.no_grad():
            next_action = gumbel_softmax(self.actor_target(next_obs), noise[0], cfg.gumbel_temperature,
                                         cfg.gumbel_hard)
            if cfg.target_smoothing:
                next_action = (1.0 - cfg.target_smoothing) * next_action + cfg.target_smoothing / n
            next_q = (self.critic_target(next_obs) * next_action).sum(-1).min(0).values
            target = reward + cfg.gamma * (1.0 - done) * next_q
        q = self.critic(obs).gather(-1, action[None, :, None].expand(2, b, 1))[..., 0]
        critic_loss = ((q - target) ** 2).mean(-1).sum()  # MSE of Q1 + MSE of Q2
        if not torch.isfinite(critic_loss):
            return False
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        if (update_index + 1) % cfg.policy_delay:
            return True
        with torch.no_grad():
            q1 = self.critic(obs)[0]
        logits = self.actor(obs)
        relaxed = gumbel_softmax(logits, noise[1], cfg.gumbel_temperature, cfg.gumbel_hard)
        actor_loss = -(q1 * relaxed).sum(-1).mean() + cfg.logit_reg * (logits ** 2).mean()
        if not torch.isfinite(actor_loss):
            return False
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
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
