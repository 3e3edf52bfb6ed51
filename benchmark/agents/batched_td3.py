"""Lockstep continuous TD3: many `benchmark.agents.td3.TD3` agents trained as one computation.

Each member has its own TD3Config (learning rate, batch size, hidden size and layers, gamma, tau, noise
process and scales, start_steps, policy_delay, ...), seed and environment copy; the machinery is the DDQN
engine's (`benchmark.agents.lockstep`): stacked padded networks with hand-written backward passes, per-row
Adam, one packed replay tensor, per-member stopping and compaction of finished members. The actors are one
stacked MLP (M rows), the twin critics another (2M rows: every member's Q1, then every member's Q2). Every
random number is the scalar agent's (see the streams in td3.py's docstring), so each member trains as TD3 with
the same config and seed would, up to float summation order (bmm instead of mm, padding). That order shows in
the continuous actions, and the difference grows with training: training returns and weights agree within 1e-3 over ~1,300 updates (tests/test_batched_td3.py); over
whole runs the two engines' agents can drift further apart (episode lengths differing by a step, say).

A non-finite critic or actor loss, or a non-finite actor output, marks that member diverged and ends it (the
update with the bad loss is not applied), as in the scalar agent.
"""
from __future__ import annotations

import numpy as np
import torch

from benchmark import rng
from benchmark.agents.ddqn import TrainResult
from benchmark.agents.lockstep import (ACTIVATION_BACKWARD, AgentSpec, BatchedAdam, BatchedEnv, BatchedMLP, Lockstep,
                                       step_env)
from benchmark.agents.rollout import action_bounds
from benchmark.agents.td3 import TD3
from benchmark.envs.tasks import Task
from benchmark.errors import ConfigError

__all__ = ["BatchedTD3", "train_batched_td3"]


def _critic_parameters(agent: TD3, c: int) -> list[torch.Tensor]:
    """Critic c (0: Q1, 1: Q2) of a scalar TD3 in nn.Linear layout (TwinCritic stores them stacked, transposed)."""
    out = []
    for w, b in zip(agent.critic.weights, agent.critic.biases):
        out += [w[c].detach().T, b[c, 0].detach()]
    return out


class BatchedTD3:
    """The actors and twin critics of M trained TD3 members (weights as they were when each member stopped)."""

    def __init__(self, actor: BatchedMLP, critic: BatchedMLP, low: np.ndarray, high: np.ndarray):
        self.actor, self.critic = actor, critic
        self.center, self.half = (high + low) / 2, (high - low) / 2
        self.m = actor.m

    def greedy(self, obs: torch.Tensor) -> np.ndarray:
        """Greedy actions [M * N, action_dim] (float32, in the Box) of observations obs [M, N, obs_dim]: the
        actor's tanh output scaled to the bounds, as TD3.act."""
        mu = torch.tanh(self.actor.forward(self.actor.theta, obs)).transpose(1, 2).reshape(-1, self.actor.out_dim)
        return (self.center + self.half * mu.numpy()).astype(np.float32)

    def load_into(self, i: int, agent: TD3) -> TD3:
        """Member i's actor and critics written into a scalar TD3 of the same architecture (for inspection)."""
        self.actor.copy_member(i, list(agent.actor.parameters()))
        with torch.no_grad():
            for c in (0, 1):
                params = [torch.empty_like(p) for p in _critic_parameters(agent, c)]
                self.critic.copy_member(c * self.m + i, params)
                for layer, (w, b) in enumerate(zip(agent.critic.weights, agent.critic.biases)):
                    w[c].copy_(params[2 * layer].T)
                    b[c, 0].copy_(params[2 * layer + 1])
        return agent


class _TD3Lockstep(Lockstep):
    """TD3's per-member state: actor, twin critics, their targets and Adam states, the noise process."""

    _ROW_ARRAYS = Lockstep._ROW_ARRAYS + (
        "batch", "policy_delay", "start_steps", "target_noise", "noise_clip", "ou", "ou_theta", "sigma",
        "sigma_decay", "sigma_min", "noise")
    _ROW_TENSORS = ("theta_a", "target_a", "gamma", "tau", "inv_batch")

    def __init__(self, task: Task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None):
        continuous, self.d, self.low, self.high = action_bounds(task.action_space)
        if not continuous:
            raise ConfigError(f"the lockstep TD3 acts in Box action spaces; task={task.name!r} has "
                              f"{task.action_space}")
        m, d, o = len(specs), self.d, task.obs_dim
        self.center, self.half = (self.high + self.low) / 2, (self.high - self.low) / 2
        self.configs = [s.config for s in specs]
        self.actor = BatchedMLP(o, d, self.configs)
        self.critic = BatchedMLP(o + d, 1, self.configs + self.configs)  # Q1 of every member, then Q2
        for i, spec in enumerate(specs):
            agent = TD3(o, task.action_space, spec.config, spec.seed)
            self.actor.load_member(i, list(agent.actor.parameters()))
            for c in (0, 1):
                self.critic.load_member(c * m + i, _critic_parameters(agent, c))
        self.theta_a, self.target_a, self.final_a = (self.actor.theta.clone() for _ in range(3))
        self.theta_c, self.target_c, self.final_c = (self.critic.theta.clone() for _ in range(3))
        lr = self.col("lr")
        self.adam_a, self.adam_c = BatchedAdam(self.theta_a, lr), BatchedAdam(self.theta_c, np.tile(lr, 2))
        self.batch, self.policy_delay, self.start_steps = (self.col(f) for f in (
            "batch_size", "policy_delay", "start_steps"))
        self.inv_batch = torch.from_numpy(1.0 / self.batch.astype(np.float32))[:, None]
        self.gamma = torch.tensor(self.col("gamma"), dtype=torch.float32)[:, None]
        self.tau = torch.tensor(self.col("tau"), dtype=torch.float32)[:, None]
        self.target_noise, self.noise_clip = self.col("target_noise"), self.col("target_noise_clip")
        self.ou, self.ou_theta = self.col("noise_type") == "ou", self.col("ou_theta")
        self.sigma = self.col("expl_noise").astype(np.float64)
        self.sigma_decay, self.sigma_min = self.col("expl_noise_decay"), self.col("expl_noise_min")
        self.noise = np.zeros((m, d))
        super().__init__(task, env, specs, solved, d)

    def _twin(self, rows: np.ndarray) -> np.ndarray:
        """Critic rows (Q1 and Q2) of member rows `rows`."""
        return np.concatenate([rows, rows + len(self.rows)])

    def compact(self) -> None:
        twin = self._twin(np.flatnonzero(self.alive))  # before the rows shrink
        twin_t = torch.from_numpy(twin)
        self.theta_c, self.target_c = self.theta_c[twin_t], self.target_c[twin_t]
        self.adam_c.select(twin)
        self.critic.select(twin_t)
        super().compact()

    def _select(self, keep: np.ndarray) -> None:
        self.adam_a.select(keep)
        self.actor.select(torch.from_numpy(keep))

    def run(self) -> tuple[list[TrainResult], BatchedTD3]:
        results = super().run()
        m = len(results)
        self.actor.theta, self.critic.theta = self.final_a, self.final_c
        self.actor.select_all(m)
        self.critic.select_all(2 * m)
        return results, BatchedTD3(self.actor, self.critic, self.low, self.high)

    def _keep_final(self, i: int, member: int) -> None:
        n, m = len(self.rows), len(self.results)
        self.final_a[member] = self.theta_a[i]
        self.final_c[member], self.final_c[m + member] = self.theta_c[i], self.theta_c[n + i]

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
        next_obs, reward, terminated, truncated, real = step_env(
            self.env, (self.center + self.half * action).astype(np.float32))
        self.record_step(next_obs, action, reward, terminated, real)

        diverged = np.zeros(len(alive), bool)
        active = alive & (self.t > self.start_steps)
        if active.any():
            diverged = self.update(active)
            self.updates[active] += 1
        self.obs = self.end_episodes(alive & (terminated | truncated | diverged), diverged, next_obs)

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
        n, d = len(self.rows), self.d
        bmax = int(self.batch[active].max())
        sample = self.replay.sample(self.keys, self.updates, bmax)
        # target-smoothing normals: REPLAY stream at the update's counter, indices b .. b + b * d - 1
        index = self.batch[:, None, None] + np.arange(bmax)[None, :, None] * d + np.arange(d)[None, None, :]
        z = rng.normal(self.keys[:, None, None], rng.Stream.REPLAY, self.updates[:, None, None], index)
        clip = self.noise_clip[:, None, None]
        smoothing = torch.from_numpy(np.clip(self.target_noise[:, None, None] * z, -clip, clip).astype(np.float32))
        in_batch = torch.from_numpy(np.arange(bmax)[None] < self.batch[:, None])  # [n, B]
        obs_t = sample.obs.transpose(1, 2)  # feature-major [n, obs, B]

        next_action = (torch.tanh(self.actor.forward(self.target_a, sample.next_obs))
                       + smoothing.transpose(1, 2)).clamp(-1.0, 1.0)
        x_next = torch.cat([sample.next_obs.transpose(1, 2), next_action], 1)
        next_q = self.critic.forward(self.target_c, torch.cat([x_next, x_next]).transpose(1, 2))[:, 0]
        y = sample.reward + self.gamma * (1.0 - sample.terminated) * next_q.view(2, n, bmax).min(0).values
        x = torch.cat([obs_t, sample.action.transpose(1, 2)], 1)
        cache: list = []
        q = self.critic.forward(self.theta_c, torch.cat([x, x]).transpose(1, 2), cache)[:, 0]  # [2n, B]
        td = torch.where(in_batch.repeat(2, 1), q - y.repeat(2, 1), 0.0)
        critic_ok = torch.isfinite((td * td).view(2, n, bmax).sum((0, 2))).numpy()
        critic_step = active & critic_ok
        d_q = (2.0 * self.inv_batch.repeat(2, 1) * td)[:, None]  # d(MSE of Q1 + MSE of Q2) / dQ
        grad = torch.nan_to_num(self.critic.backward(self.theta_c, cache, d_q))
        self.theta_c = self.adam_c.step(self.theta_c, grad, np.tile(critic_step, 2))

        due = critic_step & ((self.updates + 1) % self.policy_delay == 0)
        actor_ok = np.ones(n, bool)
        if due.any():
            actor_ok = self._actor_update(due, sample.obs, obs_t, in_batch)
        return active & ~(critic_ok & actor_ok)

    def _actor_update(self, due: np.ndarray, obs: torch.Tensor, obs_t: torch.Tensor,
                      in_batch: torch.Tensor) -> np.ndarray:
        """Actor step (maximise Q1(s, mu(s)) with the updated critics) and soft target updates of the rows
        `due`; returns the rows whose actor loss was finite."""
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
        d_pre = ACTIVATION_BACKWARD["tanh"](d_x[:, o:], mu)
        grad = torch.nan_to_num(self.actor.backward(self.theta_a, cache_a, d_pre))
        step = due & actor_ok
        self.theta_a = self.adam_a.step(self.theta_a, grad, step)
        col_a = torch.from_numpy(step)[:, None]
        col_c = col_a.repeat(2, 1)
        tau_c = self.tau.repeat(2, 1)
        self.target_a = torch.where(col_a, self.target_a.lerp(self.theta_a, self.tau), self.target_a)
        self.target_c = torch.where(col_c, self.target_c.lerp(self.theta_c, tau_c), self.target_c)
        return actor_ok | ~due


def train_batched_td3(task: Task, env: BatchedEnv, specs: list[AgentSpec],
                      solved: float | None) -> tuple[list[TrainResult], BatchedTD3]:
    """Train one TD3 agent per spec on env copy i (a Box task's copies), all in lockstep; `solved` as in
    TD3.train. Episodes end at the task's limit (the scalar agent's max_steps)."""
    assert env.n == len(specs), "one environment copy per member"
    return _TD3Lockstep(task, env, specs, solved).run()
