"""Lockstep DDQN (the batched engine's DDQN / Dueling DDQN): many DDQN agents trained as one computation.

Each member (agent) has its own hyperparameters, seed, environment copy, replay buffer, Adam state,
exploration schedule, episode clock and stopping rule; finished members are masked, not waited for.
Varied architectures stay exact: hidden sizes are padded to the largest and masked, members with fewer
hidden layers skip the extra layers through a per-member gate, and batch sizes are padded and the loss
masked. Every random number comes from `benchmark.rng`, keyed by the member's seed, so each member trains
as `benchmark.agents.ddqn.DDQN` would with the same config and seed (up to float summation order).
The machinery shared with the lockstep TD3s (`benchmark.agents.lockstep.td3`,
`benchmark.agents.lockstep.td3_discrete`) is in `benchmark.agents.lockstep.core`.
"""
from __future__ import annotations

import numpy as np
import torch

from benchmark.agents.common import AgentSpec, TrainResult
from benchmark.agents.ddqn import DDQN, DDQNConfig, QNetwork
from benchmark.agents.lockstep.core import (BatchedAdam, BatchedEnv, BatchedMLP, BatchLayout, EpsilonGreedy, Lockstep,
                                            step_env)
from benchmark.envs.tasks import Task

__all__ = ["BatchedQ", "DDQNLockstep", "train_batched"]


class BatchedQ(BatchedMLP):
    """Stacked, padded Q-networks of M members in one flat parameter tensor theta [M, D]."""

    def __init__(self, obs_dim: int, n_actions: int, specs: list[AgentSpec]):
        """Members' initial weights are exactly those of DDQN(obs_dim, n_actions, config, seed)."""
        configs = [s.config for s in specs]
        first = configs[0]
        if any(c.activation != first.activation or c.dueling != first.dueling for c in configs):
            raise ValueError("one batch needs one activation and one dueling flag; group members first")
        super().__init__(obs_dim, n_actions, configs, first.dueling)
        self.obs_dim, self.n_actions = obs_dim, n_actions
        for i, spec in enumerate(specs):
            self.load_member(i, list(DDQN(obs_dim, n_actions, spec.config, spec.seed).q.parameters()))

    def member_module(self, i: int, config: DDQNConfig) -> QNetwork:
        """Member i's weights as a scalar QNetwork."""
        q = QNetwork(self.obs_dim, self.n_actions, config)
        self.copy_member(i, list(q.parameters()))
        return q

    def greedy(self, obs: torch.Tensor) -> np.ndarray:
        """Greedy actions [M * N] of observations obs [M, N, obs_dim] (member-major)."""
        return self.forward(self.theta, obs).max(1).indices.reshape(-1).numpy()


class DDQNLockstep(Lockstep):
    """DDQN's per-member state: Q-network, target, Adam, epsilon schedule, replay (`train_batched` runs it)."""

    _ROW_ARRAYS = Lockstep._ROW_ARRAYS + ("batch",)
    _ROW_TENSORS = ("theta", "target", "grad", "gamma", "tau", "inv_batch")

    def __init__(self, task: Task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None):
        self.configs = [s.config for s in specs]
        self.q = BatchedQ(task.obs_dim, task.n_actions, specs)
        self.final_theta = self.q.theta.clone()
        self.theta = self.q.theta.clone()
        self.target = self.q.theta.clone()
        self.adam = BatchedAdam(self.theta, self.col("lr"))
        self.batch = self.col("batch_size")
        self.gamma = torch.tensor(self.col("gamma"), dtype=torch.float32)[:, None]
        self.tau = torch.tensor(self.col("tau"), dtype=torch.float32)[:, None]
        self.explore = EpsilonGreedy(self.configs)
        self.inv_batch = torch.from_numpy(1.0 / self.batch.astype(np.float32))[:, None]
        self.layout = BatchLayout.split(self.batch, self.q.hidden, self.q.layers)
        self.grad = torch.empty_like(self.theta)  # kept across ticks (and compacted), so its views stay cached
        self._gather: tuple | None = None  # buffers of `_gathered`, for the current layout's rows
        super().__init__(task, env, specs, solved, 1)

    def _select(self, keep: np.ndarray) -> None:
        self.layout = BatchLayout.split(self.batch, self.q.hidden, self.q.layers)
        self.adam.select(keep)
        self.explore.select(keep)
        self.q.select(torch.from_numpy(keep))

    def run(self) -> tuple[list[TrainResult], BatchedQ]:
        results = super().run()
        self.q.theta = self.final_theta
        self.q.select_all(len(results))
        return results, self.q

    def tick(self) -> None:
        greedy = self.q.forward(self.theta, torch.from_numpy(self.obs)[:, None, :])[:, :, 0].max(1).indices.numpy()
        action = self.explore.actions(self.keys, self.t, greedy, self.task.n_actions)
        self.advance(action, step_env(self.env, action))

    def _learning(self) -> np.ndarray:
        return self.explore.learning

    def _episode_ended(self, i: int, episodes: int) -> None:
        self.explore.episode_ended(i, episodes)

    def _keep_final(self, i: int, member: int) -> None:
        self.final_theta[member] = self.theta[i]

    def _gathered(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """theta and target gathered into the layout's rows, with the rows' gamma, 1 / batch and a gradient buffer.
        The buffers live as long as the layout, so the network's per-layer views of them stay cached."""
        if self._gather is None or self._gather[0] is not rows:
            shape = (len(rows), self.theta.shape[1])
            self._gather = (rows, torch.empty(shape), torch.empty(shape), self.gamma.index_select(0, rows),
                            self.inv_batch.index_select(0, rows), torch.empty(shape))
        _, theta_r, target_r, gamma, inv_batch, grad_r = self._gather
        torch.index_select(self.theta, 0, rows, out=theta_r)
        torch.index_select(self.target, 0, rows, out=target_r)
        return theta_r, target_r, gamma, inv_batch, grad_r

    def update(self, active: np.ndarray) -> np.ndarray:
        """One DDQN update of every active row; returns the rows whose loss was not finite.

        The minibatches sit in `self.layout`'s rows (a member with a large batch spans several); the weights are
        gathered into those rows and the rows' gradients summed back per member."""
        q, theta, target, layout = self.q, self.theta, self.target, self.layout
        sample = self.replay.sample(self.keys, self.updates, layout)
        rows = layout.rows
        theta_r, target_r, gamma, inv_batch, grad_r = (theta, target, self.gamma, self.inv_batch, self.grad) \
            if rows is None else self._gathered(rows)
        obs, nxt = sample.obs, sample.next_obs
        act = sample.action[:, :, 0].long()
        next_action = q.forward(theta_r, nxt, rows=rows).max(1, keepdim=True).indices
        next_q = q.forward(target_r, nxt, rows=rows).gather(1, next_action)[:, 0]
        y = sample.reward + gamma * (1.0 - sample.terminated) * next_q
        cache: list = []
        out = q.forward(theta_r, obs, cache, rows=rows)
        td = (out.gather(1, act[:, None, :])[:, 0] - y) * layout.mask  # [R, width]
        squares = (td * td).sum(1)
        if rows is not None:
            squares = torch.zeros(len(theta)).index_add_(0, rows, squares)
        finite = torch.isfinite(squares).numpy()
        step_mask = active & finite
        d_out = torch.zeros_like(out).scatter_(1, act[:, None, :], (2.0 * inv_batch * td)[:, None, :])
        if rows is None:
            grad = q.backward(theta_r, cache, d_out, out=self.grad)
        else:
            grad = self.grad.zero_().index_add_(0, rows, q.backward(theta_r, cache, d_out, rows=rows, out=grad_r))
        grad.nan_to_num_()
        # theta, target and the gradient are updated in place, so their per-layer views stay cached
        theta.copy_(self.adam.step(theta, grad, step_mask))
        new_target = self.tau * theta + (1.0 - self.tau) * target
        if step_mask.all():
            target.copy_(new_target)
        else:  # rows that do not learn this tick keep every piece of their state
            target.copy_(torch.where(torch.from_numpy(step_mask)[:, None], new_target, target))
        return active & ~finite


def train_batched(task: Task, env: BatchedEnv, specs: list[AgentSpec],
                  solved: float | None) -> tuple[list[TrainResult], BatchedQ]:
    """Train one agent per spec on env copy i, all in lockstep; `solved` as in DDQN.train."""
    assert env.n == len(specs), "one environment copy per member"
    return DDQNLockstep(task, env, specs, solved).run()
