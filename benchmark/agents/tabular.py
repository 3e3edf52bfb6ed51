"""Tabular Q-learning and SARSA for tasks with Discrete observations (gymnasium's CliffWalking-v1).

Same public interface as DDQN (`benchmark.agents.ddqn`): ``Agent(obs_dim, n_actions, config, seed)`` with
obs_dim the number of discrete states, ``train(env, solved=None, max_steps=None) -> TrainResult``, ``act``,
``evaluate`` and ``evaluate_episodes``; the stopping rules are DDQN's (`should_stop`).

Returns are always *real* returns: on a RewardEnv (or any wrapper that puts the real reward into
``info["real_reward"]``) the agent learns from the shaped reward it is given, but the returns it records (for
training and test episodes, hence for the stopping rule with `solved`) sum ``info["real_reward"]``.

Randomness is DDQN's: epsilon-greedy coins from the EXPLORE_COIN stream and random actions from the
EXPLORE_ACTION stream at the global step counter t, training resets from TRAIN_RESET at the episode index and
test resets from TEST_RESET at the test-episode index, all keyed by `benchmark.rng.member_key(seed)`. The draws
of an episode are made at once (vectorised) for the counters it can use. Greedy ties go to the lowest action.
Episodes end at the environment's truncation or after `max_steps` steps, whichever comes first.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from benchmark import rng
from benchmark.agents.common import TrainResult, TrainingBudget, should_stop
from benchmark.agents.rollout import greedy_episodes
from benchmark.envs.reward import real_reward
from benchmark.errors import check_range

__all__ = ["TabularConfig", "QLearningConfig", "SARSAConfig", "QLearning", "SARSA", "TrainResult"]

DEFAULT_EPISODE_LIMIT = 1000
"""Episode limit when neither `max_steps` nor the environment's spec gives one."""


@dataclass(frozen=True)
class TabularConfig(TrainingBudget):
    """Hyperparameters of the tabular agents; defaults solve CliffWalking-v1 (100-step limit) in about 40
    episodes (the paper's Cliff values alpha 1 and eps 0.1, with a decaying epsilon). The training budget and
    stopping-rule fields (max_episodes, ...) are `TrainingBudget`'s; init_episodes only delays the SE stopping
    rule (tables learn from the start)."""

    alpha: float = 1.0
    """Learning rate of the table update (paper: 1; Cliff Walking is deterministic)."""
    gamma: float = 0.9
    """Discount factor."""
    eps_init: float = 0.1
    """Initial exploration rate."""
    eps_min: float = 0.01
    """Final exploration rate."""
    eps_decay: float = 0.9
    """Exploration rate multiplier applied after every episode."""
    q_init: float = 0.0
    """Initial value of every table entry (0 is optimistic on Cliff Walking, whose rewards are negative)."""

    def __post_init__(self):
        check_range("alpha", self.alpha, 0.0, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("eps_init", self.eps_init, 0.0, 1.0)
        check_range("eps_min", self.eps_min, 0.0, 1.0)
        check_range("eps_decay", self.eps_decay, 0.0, 1.0)
        check_range("q_init", self.q_init, -1e6, 1e6)
        super().__post_init__()


@dataclass(frozen=True)
class QLearningConfig(TabularConfig):
    """Q-learning hyperparameters (TabularConfig's fields)."""


@dataclass(frozen=True)
class SARSAConfig(TabularConfig):
    """SARSA hyperparameters (TabularConfig's fields)."""


def _episode_limit(env: gym.Env, max_steps: int | None) -> int:
    spec_limit = env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else None
    return int(max_steps or spec_limit or DEFAULT_EPISODE_LIMIT)


class _Tabular:
    """Shared table, exploration, evaluation; subclasses define the bootstrap action of the update."""

    on_policy = False

    def __init__(self, obs_dim: int, n_actions: int, config: TabularConfig = TabularConfig(), seed: int = 0):
        check_range("obs_dim", obs_dim, 1, 10**7, integer=True)
        check_range("n_actions", n_actions, 1, 10**5, integer=True)
        self.obs_dim, self.n_actions, self.config, self.seed = obs_dim, n_actions, config, seed
        self.key = rng.member_key(seed)
        self.q = np.full((obs_dim, n_actions), float(config.q_init))
        self.diverged = False

    def act(self, obs) -> int:
        """Greedy action (lowest index among ties)."""
        return int(np.argmax(self.q[int(obs)]))

    def _policy(self, obs, eps: float, coin: float, random_action: int) -> int:
        return random_action if coin < eps else self.act(obs)

    def train(self, env: gym.Env, solved: float | None = None, max_steps: int | None = None) -> TrainResult:
        """Train on `env` (real returns recorded, see the module docstring); `solved` selects the threshold rule."""
        cfg, key, q = self.config, self.key, self.q
        limit = _episode_limit(env, max_steps)
        result, eps, t = TrainResult(), cfg.eps_init, 0
        while True:
            obs, _ = env.reset(seed=rng.seed_value(key, rng.Stream.TRAIN_RESET, result.episodes))
            counters = np.arange(t, t + limit + 1, dtype=np.uint64)
            coins = rng.uniform(key, rng.Stream.EXPLORE_COIN, counters)
            randoms = rng.integers(key, rng.Stream.EXPLORE_ACTION, counters, 0, self.n_actions)
            action = self._policy(obs, eps, coins[0], int(randoms[0]))
            ep_return, ep_len = 0.0, 0
            while True:
                next_obs, reward, terminated, truncated, info = env.step(action)
                ep_len += 1
                ep_return += real_reward(reward, info)
                truncated = truncated or ep_len >= limit
                s, s2 = int(obs), int(next_obs)
                # the behaviour action of the next step (counter t + 1): SARSA picks it before its update and
                # bootstraps on it; Q-learning bootstraps on the greedy value and picks it after the update
                if self.on_policy:
                    next_action = self._policy(next_obs, eps, coins[ep_len], int(randoms[ep_len]))
                    bootstrap = q[s2, next_action]
                else:
                    bootstrap = q[s2].max()
                target = float(reward) + (0.0 if terminated else cfg.gamma * bootstrap)
                q[s, action] += cfg.alpha * (target - q[s, action])
                if not self.on_policy:
                    next_action = self._policy(next_obs, eps, coins[ep_len], int(randoms[ep_len]))
                if not np.isfinite(q[s, action]):
                    self.diverged = result.diverged = True
                obs, action = next_obs, next_action
                if terminated or truncated or result.diverged:
                    break
            t += ep_len
            result.returns.append(ep_return)
            result.lengths.append(ep_len)
            eps = max(cfg.eps_min, eps * cfg.eps_decay)
            if result.diverged or should_stop(result.returns, result.steps, cfg, solved):
                return result

    def evaluate(self, env: gym.Env, episodes: int = 10, max_steps: int | None = None) -> np.ndarray:
        """Greedy test returns (real) of `episodes` seeded episodes on `env`."""
        return self.evaluate_episodes(env, episodes, max_steps)[0]

    def evaluate_episodes(self, env: gym.Env, episodes: int,
                          max_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Greedy test returns (real) and episode lengths; an episode ends at the limit (see `train`)."""
        return greedy_episodes(env, self.act, self.key, episodes, _episode_limit(env, max_steps))


class QLearning(_Tabular):
    """Tabular Q-learning: Q(s,a) += alpha * (r + gamma * max_a' Q(s',a') - Q(s,a)), epsilon-greedy behaviour."""

    on_policy = False

    def __init__(self, obs_dim: int, n_actions: int, config: QLearningConfig = QLearningConfig(), seed: int = 0):
        super().__init__(obs_dim, n_actions, config, seed)


class SARSA(_Tabular):
    """Tabular SARSA: Q(s,a) += alpha * (r + gamma * Q(s',a') - Q(s,a)), a' the epsilon-greedy next action."""

    on_policy = True

    def __init__(self, obs_dim: int, n_actions: int, config: SARSAConfig = SARSAConfig(), seed: int = 0):
        super().__init__(obs_dim, n_actions, config, seed)
