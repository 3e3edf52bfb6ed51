"""What every agent shares: the types an agent run is described by (`AgentSpec`, `TrainResult`, `AgentOutcome`),
the training budget and stopping rules (`TrainingBudget`, `should_stop`), the replay buffer (`ReplayBuffer`,
`buffer_capacity`) and the twin critics of both TD3s (`TwinCritic`).

The algorithms are one module each (`benchmark.agents.ddqn`, `td3`, `td3_discrete`, `ppo`, `tabular`, `icm`); the
batched engine, which trains many agents of one kind in lockstep, is `benchmark.agents.lockstep`.

Every agent config inherits `TrainingBudget`; `should_stop` reads it after every training episode. A config that
needs another default for one of its fields re-declares just that field (it keeps its place among the fields); the
validation of all of them happens here, in ``TrainingBudget.__post_init__``, which every config's
``__post_init__`` calls through ``super()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from benchmark.errors import check_choice, check_range
from benchmark.nets import ACTIVATION_FNS, ACTIVATIONS, linear_layers

__all__ = ["AgentOutcome", "AgentSpec", "ReplayBuffer", "TrainResult", "TrainingBudget", "TwinCritic",
           "buffer_capacity", "should_stop"]


@dataclass(frozen=True)
class AgentSpec:
    """One agent to train: its hyperparameters (any agent config) and seed."""

    config: object
    seed: int


@dataclass
class TrainResult:
    """What a training run produced."""

    returns: list[float] = field(default_factory=list)
    """Return of every training episode."""
    lengths: list[int] = field(default_factory=list)
    """Length of every training episode."""
    diverged: bool = False
    """True when the loss became non-finite and training was stopped."""

    @property
    def steps(self) -> int:
        return int(sum(self.lengths))

    @property
    def episodes(self) -> int:
        return len(self.returns)


@dataclass
class AgentOutcome:
    """One agent: how it trained and how it tested on the real task."""

    train: TrainResult
    """Training returns, lengths and the diverged flag."""
    test_returns: list[float]
    test_steps: int
    """Real-environment steps spent on the test episodes."""
    wall_s: float
    """Training + testing wall time (batched: the chunk's time divided by its agents)."""
    cpu_s: float = float("nan")
    """Training + testing CPU time of the thread that ran the job (one torch thread), as wall_s; unlike wall_s not
    inflated by other processes on the same cores; NaN where not measured (outcomes kept by an older sebench)."""

    @property
    def fitness(self) -> float:
        return float(np.mean(self.test_returns))


SHARED_FIELD_RANGES: dict[str, tuple[float | int, float | int, bool]] = {
    "lr": (1e-6, 1.0, False), "batch_size": (1, 4096, True), "gamma": (0.0, 1.0, False), "tau": (0.0, 1.0, False),
    "hidden_size": (1, 4096, True), "hidden_layers": (1, 8, True), "eps_init": (0.0, 1.0, False),
    "eps_min": (0.0, 1.0, False), "eps_decay": (0.0, 1.0, False), "rb_size": (1, 10**8, True),
}
"""Field -> (low, high, integer) of the hyperparameters several agent configs share; `TrainingBudget` checks those
a config has, except the ones it bounds its own way (`own_ranges`); its other fields each config checks itself."""


@dataclass(frozen=True)
class TrainingBudget:
    """When training stops: the episode and step budgets and the stopping rules' parameters."""

    own_ranges: ClassVar[tuple[str, ...]] = ()
    """Shared fields (SHARED_FIELD_RANGES) this config checks against bounds of its own instead."""
    init_episodes: int = 0
    """Episodes before the SE stopping rule may count (agents with a replay buffer act at random and only fill it
    during them)."""
    max_episodes: int = 1000
    """Training stops after this many episodes in any case."""
    max_train_steps: int = 0
    """Training stops at the end of the episode in which this many steps are reached (0: no step budget)."""
    early_out_num: int = 10
    """Episodes averaged by the stopping rules."""
    early_out_virtual_diff: float = 0.01
    """Without a threshold (on an SE), stop when the mean of the last early_out_num returns differs by less than
    this fraction from the mean of the early_out_num returns before them."""

    def __post_init__(self):
        check_range("init_episodes", self.init_episodes, 0, 10_000, integer=True)
        check_range("max_episodes", self.max_episodes, 1, 10**7, integer=True)
        check_range("max_train_steps", self.max_train_steps, 0, 10**9, integer=True)
        check_range("early_out_num", self.early_out_num, 1, 10_000, integer=True)
        check_range("early_out_virtual_diff", self.early_out_virtual_diff, 0.0, None)
        for name, (low, high, integer) in SHARED_FIELD_RANGES.items():
            if hasattr(self, name) and name not in self.own_ranges:
                check_range(name, getattr(self, name), low, high, integer=integer)
        if hasattr(self, "activation"):
            check_choice("activation", self.activation, ACTIVATIONS)


def should_stop(returns: list[float], steps: int, config: TrainingBudget, solved: float | None) -> bool:
    """The paper's stopping rules, checked after every episode.

    On a real task (`solved` given): the mean of the last early_out_num returns reaches `solved`.
    On an SE (`solved` None): that mean differs by less than early_out_virtual_diff (relative) from the mean of
    the early_out_num returns before them. It is checked only on two full windows and once more than
    early_out_num episodes have run after the init_episodes (so the newer window holds learning episodes only):
    from episode 21 with the paper's 10 initial episodes and windows of 10 (the paper's code: episode 22). The
    windows do not overlap, as in the paper's code: a window shifted by one episode would stop a slowly improving
    agent after its first check.
    Always: max_episodes episodes or max_train_steps steps.
    """
    n = config.early_out_num
    if len(returns) >= config.max_episodes or (config.max_train_steps and steps >= config.max_train_steps):
        return True
    if solved is not None:
        return len(returns) >= n and float(np.mean(returns[-n:])) >= solved
    if len(returns) < max(2 * n, config.init_episodes + n + 1):
        return False
    now, before = float(np.mean(returns[-n:])), float(np.mean(returns[-2 * n:-n]))
    return abs(now - before) / abs(before + 1e-9) < config.early_out_virtual_diff


class ReplayBuffer:
    """A ring buffer of transitions (numpy arrays). Actions are integers (action_dim 0, discrete agents) or
    float32 vectors of action_dim entries (continuous agents)."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int = 0):
        self.capacity, self.size, self.ptr = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros((capacity, action_dim), np.float32) if action_dim else np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        i = self.ptr
        self.obs[i], self.action[i], self.reward[i] = obs, action, reward
        self.next_obs[i], self.done[i] = next_obs, float(terminated)
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, idx: np.ndarray):
        return tuple(torch.from_numpy(a[idx]) for a in (self.obs, self.action, self.reward, self.next_obs, self.done))


def buffer_capacity(config, max_steps: int) -> int:
    """Replay capacity actually needed: no more than training can ever write (config: any config with rb_size)."""
    budget = config.max_episodes * max_steps
    if config.max_train_steps:
        budget = min(budget, config.max_train_steps + max_steps)
    return int(min(config.rb_size, budget))


class TwinCritic(torch.nn.Module):
    """The twin critics Q1 and Q2 of both TD3s as one module: layer l of both stacked into weight [2, in, out] and
    bias [2, 1, out], so both are evaluated (and trained) with one batched matmul per layer.

    forward(x [B, in]) -> [2, B, out]: Q1(x) and Q2(x) (discrete TD3: x the observation, out one value per action;
    continuous TD3: x the observation and action, out 1).
    """

    def __init__(self, q1: torch.nn.Sequential, q2: torch.nn.Sequential, activation: str):
        super().__init__()
        pairs = list(zip(linear_layers(q1), linear_layers(q2)))
        stack = torch.nn.ParameterList
        self.weights = stack(torch.stack([a.weight.detach().T, b.weight.detach().T]).contiguous() for a, b in pairs)
        self.biases = stack(torch.stack([a.bias.detach(), b.bias.detach()])[:, None, :].contiguous() for a, b in pairs)
        self.activation = ACTIVATION_FNS[activation]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = obs.expand(2, *obs.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self.activation(h)
        return h
