"""Lockstep discrete TD3: many `benchmark.agents.td3_discrete.TD3Discrete` agents trained as one computation.

Each member has its own TD3DiscreteConfig (learning rate, batch size, hidden size and layers, gamma, tau, policy
delay, Gumbel-softmax temperature and hard sampling, target smoothing, logit penalty, sampled or argmax actions,
epsilon schedule, init_episodes, ...), seed and environment copy. The machinery is the other lockstep trainers'
(`benchmark.agents.lockstep.core`; actors, twin critics, targets, critic and delayed actor steps from
`benchmark.agents.lockstep.td3_common`; exploration as the lockstep DDQN's, `EpsilonGreedy`). The critics have one
output per action, as the scalar agent's. Every random number is the scalar agent's (see td3_discrete.py's docstring:
minibatch indices and both Gumbel noises of update u from the REPLAY stream at counter u; a sampled action's Gumbel
noise from EXPLORE_ACTION at the step), so each member trains as TD3Discrete with the same config and seed would, up
to float rounding: summation order (bmm instead of mm, padding) and the Adam step (BatchedAdam computes
torch.optim.Adam's default step; the scalar agent uses torch's fused one, which rounds differently). Training
returns, episode lengths and test returns come out equal and weights within 1e-4 over ~1,200 updates; against the
scalar agent with the default Adam step, within 2e-5 over 2,400 (tests/test_batched_td3_discrete.py). Discrete
actions carry no rounding differences forward until an argmax flips, so runs stay together far longer than continuous
TD3's; Adam can still amplify them to steps of about lr over long runs (see the tests' ATOL).

Speed: at TD3DiscreteConfig's sizes (hidden 128 x 2, batch 128) a tick is mostly matmuls and per-parameter Adam
work, which batching does not shrink, so the gain is modest (bench/td3_discrete_lockstep.py); it grows for small
networks, whose ticks are per-operation overhead.

A non-finite critic or actor loss marks that member diverged and ends it (the update with the bad loss is not
applied; a bad actor loss comes after its critic step, which stays applied), as in the scalar agent.
"""
from __future__ import annotations

import numpy as np
import torch

from benchmark import rng
from benchmark.agents.common import AgentSpec, TrainResult
from benchmark.agents.lockstep.core import BatchedEnv, EpsilonGreedy, step_env
from benchmark.agents.lockstep.td3_common import TD3Lockstep, TD3Policy
from benchmark.agents.rollout import action_bounds
from benchmark.agents.td3_discrete import (TD3Discrete, gumbel_noise, gumbel_softmax, soft_sample,
                                           straight_through)
from benchmark.envs.tasks import Task
from benchmark.errors import ConfigError

__all__ = ["BatchedTD3Discrete", "train_batched_td3_discrete"]


class BatchedTD3Discrete(TD3Policy):
    """The actors and twin critics of M trained discrete TD3 members (weights as they were when each stopped)."""

    def greedy(self, obs: torch.Tensor) -> np.ndarray:
        """Greedy actions [M * N] of observations obs [M, N, obs_dim] (member-major): the argmax of the actor's
        logits, as TD3Discrete.act."""
        return self.actor.forward(self.actor.theta, obs).argmax(1).reshape(-1).numpy()


def _row_tensor(values, dtype=torch.float32) -> torch.Tensor:
    """Per-row values as a [n, 1, 1] tensor (broadcasting against [n, B, actions])."""
    return torch.as_tensor(np.asarray(values), dtype=dtype)[:, None, None]


class _TD3DiscreteLockstep(TD3Lockstep):
    """Discrete TD3's per-member state on top of TD3Lockstep's: Gumbel-softmax temperature and hard flag, target
    smoothing, logit penalty, sampled actions, the epsilon schedule."""

    _ROW_ARRAYS = TD3Lockstep._ROW_ARRAYS + ("sample_actions",)
    _ROW_TENSORS = TD3Lockstep._ROW_TENSORS + (
        "temperature", "hard", "smooth_keep", "smooth_add", "logit_reg", "reg_grad")

    def __init__(self, task: Task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None):
        continuous, a, _, _ = action_bounds(task.action_space)
        if continuous:
            raise ConfigError(f"the lockstep discrete TD3 acts in Discrete action spaces; task={task.name!r} has "
                              f"{task.action_space}")
        o = task.obs_dim
        self.configs = [s.config for s in specs]
        self.explore = EpsilonGreedy(self.configs)
        self.sample_actions = self.col("sample_actions").astype(bool)
        self.temperature = _row_tensor(self.col("gumbel_temperature"))
        self.hard = _row_tensor(self.col("gumbel_hard").astype(bool), torch.bool)
        smoothing = self.col("target_smoothing").astype(np.float64)
        self.smooth_keep, self.smooth_add = _row_tensor(1.0 - smoothing), _row_tensor(smoothing / a)
        reg = self.col("logit_reg").astype(np.float32)
        self.logit_reg = torch.from_numpy(reg)
        # d(logit_reg * mean(logits^2)) / d logits = reg_grad * 2 * logits, reg_grad rounded as autograd rounds it
        self.reg_grad = _row_tensor(reg / (self.col("batch_size") * a).astype(np.float32))
        super().__init__(task, env, specs, solved, (o, a), (o, a), 1)

    def _scalar_agent(self, task: Task, spec: AgentSpec) -> TD3Discrete:
        return TD3Discrete(task.obs_dim, task.n_actions, spec.config, spec.seed)

    def _policy(self) -> BatchedTD3Discrete:
        return BatchedTD3Discrete(self.actor, self.critic)

    def _select(self, keep: np.ndarray) -> None:
        super()._select(keep)
        self.explore.select(keep)

    def _episode_ended(self, i: int, episodes: int) -> None:
        self.explore.episode_ended(i, episodes)

    def _learning(self) -> np.ndarray:
        return self.explore.learning

    def tick(self) -> None:
        a = self.task.n_actions
        logits = self.actor.forward(self.theta_a, torch.from_numpy(self.obs)[:, None, :])[:, :, 0]  # [n, a]
        if self.sample_actions.any():  # the Gumbel-max trick: EXPLORE_ACTION at the step, indices 1..a
            noise = gumbel_noise(rng.uniform(self.keys[:, None], rng.Stream.EXPLORE_ACTION, self.t[:, None],
                                             np.arange(1, a + 1)[None]))
            logits = torch.where(torch.from_numpy(self.sample_actions)[:, None], logits + noise, logits)
        action = self.explore.actions(self.keys, self.t, logits.argmax(1).numpy(), a)
        self.advance(action, step_env(self.env, action))

    def _gumbel(self, bmax: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The update's Gumbel noise [n, B, actions] of the target actor's and of the actor's sample: REPLAY
        stream at the update's counter, indices b .. b + b * a - 1 and b + b * a .. b + 2 * b * a - 1 (after the b
        minibatch indices), batch-major as the scalar agent's."""
        a = self.task.n_actions
        start = self.batch[:, None] + np.array([0, 1])[None] * self.batch[:, None] * a  # [n, 2]
        index = start[:, :, None, None] + (np.arange(bmax)[:, None] * a + np.arange(a)[None])[None, None]
        u = rng.uniform(self.keys[:, None, None, None], rng.Stream.REPLAY, self.updates[:, None, None, None], index)
        noise = gumbel_noise(u)
        return noise[:, 0], noise[:, 1]

    def update(self, active: np.ndarray) -> np.ndarray:
        """One discrete TD3 update of every active row (critics; every policy_delay-th also actor and targets);
        returns the rows whose critic or actor loss was not finite (their bad update is not applied)."""
        sample, in_batch = self._sample(active)
        target_noise, actor_noise = self._gumbel(in_batch.shape[1])
        next_logits = self.actor.forward(self.target_a, sample.next_obs).transpose(1, 2)  # [n, B, a]
        next_action = gumbel_softmax(next_logits, target_noise, self.temperature, self.hard)
        next_action = self.smooth_keep * next_action + self.smooth_add  # target smoothing (exact no-op at 0)
        next_obs2 = torch.cat([sample.next_obs, sample.next_obs])
        next_q = (self.critic.forward(self.target_c, next_obs2) * next_action.transpose(1, 2).repeat(2, 1, 1)).sum(1)
        y = self._td_target(sample, next_q)
        cache: list = []
        out = self.critic.forward(self.theta_c, torch.cat([sample.obs, sample.obs]), cache)  # [2n, a, B]
        taken = sample.action.transpose(1, 2).long().repeat(2, 1, 1)  # [2n, 1, B]
        critic_ok = self._critic_step(active, cache, out.gather(1, taken)[:, 0], y, in_batch,
                                      lambda d_q: torch.zeros_like(out).scatter_(1, taken, d_q[:, None]))
        return self._delayed_actor(active, critic_ok,
                                   lambda due: self._actor_update(due, sample.obs, actor_noise, in_batch))

    def _actor_update(self, due: np.ndarray, obs: torch.Tensor, noise: torch.Tensor,
                      in_batch: torch.Tensor) -> np.ndarray:
        """Actor step on -<Q1(s, .), gumbel_softmax(logits(s))> + logit_reg * mean(logits^2) (Q1 of the updated
        critics) and soft target updates of the rows `due`; returns actor_ok | ~due."""
        n, a = len(self.rows), self.task.n_actions
        q1 = self.critic.forward(self.theta_c[:n], obs, rows=slice(0, n)).transpose(1, 2)  # [n, B, a]
        cache: list = []
        logits = self.actor.forward(self.theta_a, obs, cache).transpose(1, 2)  # [n, B, a]
        soft = soft_sample(logits, noise, self.temperature)
        relaxed = straight_through(soft, self.hard)
        mine = in_batch[:, :, None]
        value = torch.where(mine, q1 * relaxed, 0.0).sum((1, 2))
        penalty = torch.where(mine, logits * logits, 0.0).sum((1, 2))
        loss = (-value + self.logit_reg * penalty / a) * self.inv_batch[:, 0]
        actor_ok = torch.isfinite(loss).numpy()
        # the scalar autograd's steps: d loss / d relaxed = -q1 / b; through the softmax (the straight-through
        # one-hot passes the soft gradient) and the temperature; plus the penalty's reg / (b * a) * 2 * logits
        d_soft = torch.where(mine, -self.inv_batch[:, :, None], 0.0) * q1
        d_logits = torch.ops.aten._softmax_backward_data(d_soft, soft, -1, torch.float32) / self.temperature
        d_logits = d_logits + torch.where(mine, self.reg_grad, 0.0) * (2.0 * logits)
        return self._actor_step(due, actor_ok, cache, d_logits.transpose(1, 2))


def train_batched_td3_discrete(task: Task, env: BatchedEnv, specs: list[AgentSpec],
                               solved: float | None) -> tuple[list[TrainResult], BatchedTD3Discrete]:
    """Train one discrete TD3 agent per spec on env copy i (a Discrete task's copies, real or SE), all in
    lockstep; `solved` as in TD3Discrete.train."""
    assert env.n == len(specs), "one environment copy per member"
    return _TD3DiscreteLockstep(task, env, specs, solved).run()
