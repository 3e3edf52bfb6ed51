"""The inner loop of reward-network training and evaluation: one agent trained on a reward setting of a real
task (an RN, the real reward, or the ICM curiosity bonus), measured on the real task.

Every number recorded here is *real*: the agents record ``info["real_reward"]`` (`benchmark.envs.reward`), so the
training curve, the solve point and the test returns are those of the real task, whatever reward the agent
learned from. Jobs take plain data (configs, a parameter vector), never open files, and run in any
concurrent.futures executor.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from benchmark.agents.icm import ICMConfig, ICMEnv
from benchmark.agents.registry import make_agent
from benchmark.envs.reward import RewardEnv, RewardMode, RNConfig, make_env, state_dim
from benchmark.envs.tasks import task_limits
from benchmark.errors import ConfigError
from benchmark.schema import ICM, REAL



@dataclass(frozen=True)
class RewardSetting:
    """What an agent trains on: the real reward (kind real), the ICM bonus (kind icm), or an RN (kind rn: its
    architecture and flat parameter vector). The RN's gamma is the training agent's."""

    kind: str
    rn: RNConfig | None = None
    params: np.ndarray | None = None
    icm: ICMConfig = field(default_factory=ICMConfig)

    def __post_init__(self):
        if self.kind not in (REAL, ICM, "rn"):
            raise ConfigError(f"reward setting kind={self.kind!r}; choose real, icm or rn")
        if self.kind == "rn" and (self.rn is None or self.params is None):
            raise ConfigError("an rn reward setting needs its RNConfig and its parameter vector")


def training_env(task: str, setting: RewardSetting, gamma: float, seed: int) -> gym.Env:
    """The environment an agent with discount `gamma` and seed `seed` trains on (ICM: module seeded by it)."""
    env = make_env(task)
    if setting.kind == REAL:
        return env
    if setting.kind == ICM:
        return ICMEnv(env, setting.icm, seed=seed)
    return RewardEnv(env, setting.params, setting.rn, gamma=gamma)


class DivergenceLatch(gym.Wrapper):
    """Remembers whether any step of the whole training reported a non-finite reward term (``rn_diverged`` or
    ``icm_diverged`` in info); RewardEnv's own flag is cleared at every reset."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.diverged = False

    def step(self, action):
        out = self.env.step(action)
        info = out[4]
        if info.get("rn_diverged") or info.get("icm_diverged"):
            self.diverged = True
        return out


@dataclass
class AgentRun:
    """One agent's training and test on the real task (real returns throughout)."""

    returns: list[float]
    """Real return of every training episode (the training curve)."""
    lengths: list[int]
    """Length of every training episode."""
    episodes_to_solve: int | None
    """Training episodes until the mean real return of the last `window` episodes first reached the threshold
    (counting the episode that reached it); None when it never did."""
    steps_to_solve: int | None
    """Training steps (real environment steps) of those episodes; None when not solved."""
    diverged: bool
    """The reward term (RN or ICM) became non-finite at some step, or the agent's own update diverged."""
    test_returns: list[float]
    """Greedy real test returns after training."""
    test_steps: int
    wall_s: float

    @property
    def solved(self) -> bool:
        return self.steps_to_solve is not None

    @property
    def train_steps(self) -> int:
        return int(sum(self.lengths))

    @property
    def train_episodes(self) -> int:
        return len(self.returns)

    @property
    def best_return(self) -> float:
        """The highest real return of any training episode."""
        return float(np.max(self.returns)) if self.returns else float("nan")

    @property
    def mean_return(self) -> float:
        """Mean real return per training episode (the area under the training curve over its episodes)."""
        return float(np.mean(self.returns)) if self.returns else float("nan")


def solve_point(returns, lengths, threshold: float, window: int) -> tuple[int, int] | None:
    """(episodes, steps) until the mean of the last `window` returns first reached `threshold` (the stopping
    rule of `benchmark.agents.common.should_stop`), or None."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < window:
        return None
    means = np.convolve(r, np.ones(window) / window, mode="valid")  # means[i]: episodes i .. i + window - 1
    hits = np.flatnonzero(means >= threshold)
    if not len(hits):
        return None
    episodes = int(hits[0]) + window
    return episodes, int(np.sum(lengths[:episodes]))


def run_agent(task: str, setting: RewardSetting, config, seed: int, test_episodes: int,
              stop_at_solved: bool = True) -> AgentRun:
    """Train the agent of `config` (any registered kind) with seed `seed` on `setting`, then test it greedily
    for `test_episodes` on the real task.

    stop_at_solved: training ends when the real threshold is reached (the real-task stopping rule), else it
    runs the whole max_episodes budget (full training curves; the solve point is the same either way, since
    the rule does not change what the agent does before it fires).
    """
    torch.set_num_threads(1)
    start = time.perf_counter()
    limit, threshold = task_limits(task)
    env = DivergenceLatch(training_env(task, setting, float(config.gamma), seed))
    agent = make_agent(state_dim(env.observation_space), env.action_space, config, seed)
    result = agent.train(env, solved=threshold if stop_at_solved else float("inf"), max_steps=limit)
    returns, lengths = agent.evaluate_episodes(make_env(task), test_episodes)
    return agent_run(result, threshold, config.early_out_num, env.diverged, returns, lengths,
                     time.perf_counter() - start)


def agent_run(result, threshold: float, window: int, reward_diverged: bool, test_returns, test_lengths,
              wall_s: float) -> AgentRun:
    """The AgentRun record of a finished training (`result`, a TrainResult with real returns) and its greedy
    test; reward_diverged: the reward term (RN or ICM) was non-finite at some step."""
    point = solve_point(result.returns, result.lengths, threshold, window)
    return AgentRun(list(map(float, result.returns)), list(map(int, result.lengths)),
                    None if point is None else point[0], None if point is None else point[1],
                    bool(result.diverged or reward_diverged), np.asarray(test_returns).tolist(),
                    int(np.sum(test_lengths)), wall_s)


def rn_setting(config: RNConfig, params) -> RewardSetting:
    if config.reward_mode is RewardMode.REAL:
        return RewardSetting(REAL)
    return RewardSetting("rn", config, np.asarray(params, dtype=np.float64))
