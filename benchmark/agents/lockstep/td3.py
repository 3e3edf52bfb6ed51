"""Lockstep continuous TD3: many `benchmark.agents.td3.TD3` agents trained as one computation.

Each member has its own TD3Config (learning rate, batch size, hidden size and layers, gamma, tau, noise process and
scales, start_steps, policy_delay, ...), seed and environment copy; the machinery is the DDQN engine's
(`benchmark.agents.lockstep.core`) and what both TD3s share (`benchmark.agents.lockstep.td3_common`): stacked padded
networks with hand-written backward passes, per-row Adam, one packed replay tensor, per-member stopping and
compaction of finished members. The actors are one stacked MLP (M rows), the twin critics another (2M rows: every
member's Q1, then every member's Q2). Every random number is the scalar agent's (see the streams in td3.py's
docstring), so each member trains as TD3 with the same config and seed would, up to float summation order (bmm
instead of mm, padding). That order shows in the continuous actions, and the difference grows with training: training
returns and weights agree within 1e-3 over ~1,300 updates (tests/test_batched_td3.py); over whole runs the two
engines' agents can drift further apart (episode lengths differing by a step, say).

A non-finite critic or actor loss, or a non-finite actor output, marks that member diverged and ends it (the
update with the bad loss is not applied), as in the scalar agent.
"""
from __future__ import annotations

import numpy as np
import torch

from benchmark import rng
from benchmark.agents.common import AgentSpec, TrainResult
from benchmark.agents.lockstep.core import ACTIVATION_BACKWARD, BatchedEnv, BatchedMLP, step_env
from benchmark.agents.lockstep.td3_common import TD3Lockstep, TD3Policy
from benchmark.agents.rollout import action_bounds
from benchmark.agents.td3 import TD3
from benchmark.envs.tasks import Task
from benchmark.errors import ConfigError

__all__ = ["BatchedTD3", "train_batched_td3"]


class BatchedTD3(TD3Policy):
    """The actors and twin critics of M trained TD3 members (weights as they were when each member stopped)."""

    def __init__(self, actor: BatchedMLP, critic: BatchedMLP, low: np.ndarray, high: np.ndarray):
        super().__init__(actor, critic)
        self.center, self.half = (high + low) / 2, (high - low) / 2

    def greedy(self, obs: torch.Tensor) -> np.ndarray:
        """Greedy actions [M * N, action_dim] (float32, in the Box) of observations obs [M, N, obs_dim]: the
        actor's tanh output scaled to the bounds, as TD3.act."""
        mu = torch.tanh(self.actor.forward(self.actor.theta, obs)).transpose(1, 2).reshape(-1, self.actor.out_dim)
        return (self.center + self.half * mu.numpy()).astype(np.float32)


class _TD3Lockstep(TD3Lockstep):
    """Continuous TD3's per-member state on top of TD3Lockstep's: start_steps, target smoothing, the noise
    process."""

    _ROW_ARRAYS = TD3Lockstep._ROW_ARRAYS + (
        "start_steps", "target_noise", "noise_clip", "ou", "ou_theta", "sigma", "sigma_decay", "sigma_min", "noise")

    def __init__(self, task: Task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None):
        continuous, self.d, self.low, self.high = action_bounds(task.action_space)
        if not continuous:
            raise ConfigError(f"the lockstep TD3 acts in Box action spaces; task={task.name!r} has "
                              f"{task.action_space}")
        m, d, o = len(specs), self.d, task.obs_dim
        self.center, self.half = (self.high + self.low) / 2, (self.high - self.low) / 2
        self.configs = [s.config for s in specs]
        self.start_steps = self.col("start_steps")
        self.target_noise, self.noise_clip = self.col("target_noise"), self.col("target_noise_clip")
        self.ou, self.ou_theta = self.col("noise_type") == "ou", self.col("ou_theta")
        self.sigma = self.col("expl_noise").astype(np.float64)
        self.sigma_decay, self.sigma_min = self.col("expl_noise_decay"), self.col("expl_noise_min")
        self.noise = np.zeros((m, d))
        super().__init__(task, env, specs, solved, (o, d), (o + d, 1), d)

    def _scalar_agent(self, task: Task, spec: AgentSpec) -> TD3:
        return TD3(task.obs_dim, task.action_space, spec.config, spec.seed)

    def _policy(self) -> BatchedTD3:
        return BatchedTD3(self.actor, self.critic, self.low, self.high)

    def _episode_ended(self, i: int, episodes: int) -> None:
        self.sigma[i] = max(self.sigma_min[i], self.sigma[i] * self.sigma_decay[i])
        self.noise[i] = 0.0  # the OU process restarts every episode

    def tick(self) -> None:
        alive = self.alive
        normals = rng.normal(self.keys[:, None], rng.Stream.EXPLORE_ACTION, self.t[:, None], np.arange(self.d)[None])
        scaled = self.sigma[:, None] * normals
        noise = np.where(self.ou[:, None], (1.0 - self.ou_theta[:, None]) * self.noise + scaled, scaled)
        action = np.clip(noise, -1.0, 1.0)
        acting = alive & (self.t >= self.start_steps)
        if acting.any():
            mu = torch.tanh(self.actor.forward(self.theta_a, torch.from_numpy(self.obs)[:, None, :]))[:, :, 0].numpy()
            bad = acting & ~np.isfinite(mu).all(1)
            if bad.any():  # ends before stepping, as the scalar agent: drop these rows, step the rest next tick
                self._actor_diverged(bad)
                return
            action = np.where(acting[:, None], np.clip(mu + noise, -1.0, 1.0), action)
        self.noise = noise
        self.advance(action, step_env(self.env, (self.center + self.half * action).astype(np.float32)))

    def _learning(self) -> np.ndarray:
        return self.t > self.start_steps

    def _actor_diverged(self, bad: np.ndarray) -> None:
        """Rows whose actor output is not finite: diverged, their unfinished episode recorded if it has steps;
        compacted away at once so that their environment copies do not step."""
        for i in np.flatnonzero(bad):
            res = self.results[self.rows[i]]
            res.diverged = True
            if self.ep_len[i]:
                res.returns.append(float(self.ep_return[i]))
                res.lengths.append(int(self.ep_len[i]))
            self.stop(i)
        self.compact()

    def update(self, active: np.ndarray) -> np.ndarray:
        """One TD3 update of every active row (critics; every policy_delay-th also actor and targets); returns
        the rows whose critic or actor loss was not finite (their bad update is not applied)."""
        d = self.d
        sample, in_batch = self._sample(active)
        bmax = in_batch.shape[1]
        # target-smoothing normals: REPLAY stream at the update's counter, indices b .. b + b * d - 1
        index = self.batch[:, None, None] + np.arange(bmax)[None, :, None] * d + np.arange(d)[None, None, :]
        z = rng.normal(self.keys[:, None, None], rng.Stream.REPLAY, self.updates[:, None, None], index)
        clip = self.noise_clip[:, None, None]
        smoothing = torch.from_numpy(np.clip(self.target_noise[:, None, None] * z, -clip, clip).astype(np.float32))
        obs_t = sample.obs.transpose(1, 2)  # feature-major [n, obs, B]

        next_action = (torch.tanh(self.actor.forward(self.target_a, sample.next_obs))
                       + smoothing.transpose(1, 2)).clamp(-1.0, 1.0)
        x_next = torch.cat([sample.next_obs.transpose(1, 2), next_action], 1)
        next_q = self.critic.forward(self.target_c, torch.cat([x_next, x_next]).transpose(1, 2))[:, 0]
        y = self._td_target(sample, next_q)
        x = torch.cat([obs_t, sample.action.transpose(1, 2)], 1)
        cache: list = []
        q = self.critic.forward(self.theta_c, torch.cat([x, x]).transpose(1, 2), cache)[:, 0]  # [2n, B]
        critic_ok = self._critic_step(active, cache, q, y, in_batch, lambda d_q: d_q[:, None])
        return self._delayed_actor(active, critic_ok, lambda due: self._actor_update(due, sample.obs, obs_t, in_batch))

    def _actor_update(self, due: np.ndarray, obs: torch.Tensor, obs_t: torch.Tensor,
                      in_batch: torch.Tensor) -> np.ndarray:
        """Actor step (maximise Q1(s, mu(s)) with the updated critics) and soft target updates of the rows
        `due`; returns actor_ok | ~due (actor_ok: the rows whose actor loss was finite)."""
        n, o = len(self.rows), self.task.obs_dim
        cache_a: list = []
        mu = torch.tanh(self.actor.forward(self.theta_a, obs, cache_a))  # [n, d, B]
        cache_q: list = []
        q1_theta = self.theta_c[:n]
        q1 = self.critic.forward(q1_theta, torch.cat([obs_t, mu], 1).transpose(1, 2), cache_q, rows=slice(0, n))
        q1 = torch.where(in_batch[:, None], q1, 0.0)  # [n, 1, B]
        actor_ok = torch.isfinite(q1.sum((1, 2))).numpy()
        d_q1 = torch.where(in_batch, -self.inv_batch, 0.0)[:, None]  # d(-mean Q1) / dQ1
        _, d_x = self.critic.backward(q1_theta, cache_q, d_q1, input_grad=True, rows=slice(0, n), param_grad=False)
        return self._actor_step(due, actor_ok, cache_a, ACTIVATION_BACKWARD["tanh"](d_x[:, o:], mu))


def train_batched_td3(task: Task, env: BatchedEnv, specs: list[AgentSpec],
                      solved: float | None) -> tuple[list[TrainResult], BatchedTD3]:
    """Train one TD3 agent per spec on env copy i (a Box task's copies), all in lockstep; `solved` as in
    TD3.train. Episodes end at the task's limit (the scalar agent's max_steps)."""
    assert env.n == len(specs), "one environment copy per member"
    return _TD3Lockstep(task, env, specs, solved).run()
