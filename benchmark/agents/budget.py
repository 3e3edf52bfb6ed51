"""The training budget and stopping rules shared by every agent: `TrainingBudget`, the frozen dataclass each
agent config inherits (DDQNConfig, TD3DiscreteConfig, TD3Config, PPOConfig, TabularConfig), and `should_stop`,
which reads it after every training episode.

A config that needs another default for one of these fields re-declares just that field (it keeps its place
among the fields); the validation of all of them happens here, in ``TrainingBudget.__post_init__``, which every
config's ``__post_init__`` calls through ``super()``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.errors import check_range

__all__ = ["TrainingBudget", "should_stop"]


@dataclass(frozen=True)
class TrainingBudget:
    """When training stops: the episode and step budgets and the stopping rules' parameters."""

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
