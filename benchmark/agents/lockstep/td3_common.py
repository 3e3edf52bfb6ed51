"""What the two lockstep TD3 trainers share (continuous `benchmark.agents.lockstep.td3`, discrete
`benchmark.agents.lockstep.td3_discrete`), on top of `benchmark.agents.lockstep.core`:

- `TD3Lockstep`: the actors (one stacked MLP, M rows) and twin critics (another, 2M rows: every member's Q1, then
  every member's Q2), their targets, Adam states and final weights; the padded minibatch, the clipped double-Q
  target, the critic step, the delayed actor step with the soft target updates, compaction of the twin rows;
- `TD3Policy`: the trained actors and critics, and `load_into` a scalar agent for inspection.

Both scalar agents (`benchmark.agents.td3.TD3`, `benchmark.agents.td3_discrete.TD3Discrete`) keep an `actor`
(nn.Sequential) and a `critic` (`benchmark.agents.common.TwinCritic`), which is what members start from.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from benchmark.agents.common import AgentSpec, TrainResult, TwinCritic
from benchmark.agents.lockstep.core import BatchedAdam, BatchedEnv, BatchedMLP, BatchLayout, Lockstep, Minibatch

__all__ = ["TD3Lockstep", "TD3Policy", "twin_critic_parameters"]


def twin_critic_parameters(critic: TwinCritic, c: int) -> list[torch.Tensor]:
    """Critic c (0: Q1, 1: Q2) of a TwinCritic in nn.Linear layout (TwinCritic stores them stacked, transposed)."""
    out = []
    for w, b in zip(critic.weights, critic.biases):
        out += [w[c].detach().T, b[c, 0].detach()]
    return out


class TD3Policy:
    """The actors and twin critics of M trained TD3 members (weights as they were when each member stopped);
    subclasses add `greedy` (what `benchmark.agents.lockstep.core.evaluate_batched` calls)."""

    def __init__(self, actor: BatchedMLP, critic: BatchedMLP):
        self.actor, self.critic = actor, critic
        self.m = actor.m

    def load_into(self, i: int, agent):
        """Member i's actor and critics written into a scalar agent of the same architecture (for inspection)."""
        self.actor.copy_member(i, list(agent.actor.parameters()))
        with torch.no_grad():
            for c in (0, 1):
                params = [torch.empty_like(p) for p in twin_critic_parameters(agent.critic, c)]
                self.critic.copy_member(c * self.m + i, params)
                for layer, (w, b) in enumerate(zip(agent.critic.weights, agent.critic.biases)):
                    w[c].copy_(params[2 * layer].T)
                    b[c, 0].copy_(params[2 * layer + 1])
        return agent


class TD3Lockstep(Lockstep):
    """TD3's per-member state for either action type: actor, twin critics, their targets and Adam states, batch
    size, policy delay, gamma and tau. Subclasses build the scalar agent members start from (`_scalar_agent`),
    the trained policy (`_policy`), `tick` and `update` (from `_sample`, `_td_target`, `_critic_step` and
    `_delayed_actor` / `_actor_step`)."""

    _ROW_ARRAYS = Lockstep._ROW_ARRAYS + ("batch", "policy_delay")
    _ROW_TENSORS = ("theta_a", "target_a", "gamma", "tau", "inv_batch")

    def __init__(self, task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None,
                 actor_io: tuple[int, int], critic_io: tuple[int, int], action_width: int):
        """actor_io, critic_io: (inputs, outputs) of the actor and of each critic; action_width as in Lockstep."""
        m = len(specs)
        self.configs = [s.config for s in specs]
        self.actor = BatchedMLP(*actor_io, self.configs)
        self.critic = BatchedMLP(*critic_io, self.configs + self.configs)  # Q1 of every member, then Q2
        for i, spec in enumerate(specs):
            agent = self._scalar_agent(task, spec)
            self.actor.load_member(i, list(agent.actor.parameters()))
            for c in (0, 1):
                self.critic.load_member(c * m + i, twin_critic_parameters(agent.critic, c))
        self.theta_a, self.target_a, self.final_a = (self.actor.theta.clone() for _ in range(3))
        self.theta_c, self.target_c, self.final_c = (self.critic.theta.clone() for _ in range(3))
        lr = self.col("lr")
        self.adam_a, self.adam_c = BatchedAdam(self.theta_a, lr), BatchedAdam(self.theta_c, np.tile(lr, 2))
        self.batch, self.policy_delay = self.col("batch_size"), self.col("policy_delay")
        self.inv_batch = torch.from_numpy(1.0 / self.batch.astype(np.float32))[:, None]
        self.gamma = torch.tensor(self.col("gamma"), dtype=torch.float32)[:, None]
        self.tau = torch.tensor(self.col("tau"), dtype=torch.float32)[:, None]
        super().__init__(task, env, specs, solved, action_width)

    def _scalar_agent(self, task, spec: AgentSpec):
        """The scalar agent whose initial weights member `spec` starts from."""
        raise NotImplementedError

    def _policy(self) -> TD3Policy:
        """The trained policy (self.actor and self.critic hold every member's final weights)."""
        raise NotImplementedError

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

    def run(self) -> tuple[list[TrainResult], TD3Policy]:
        results = super().run()
        m = len(results)
        self.actor.theta, self.critic.theta = self.final_a, self.final_c
        self.actor.select_all(m)
        self.critic.select_all(2 * m)
        return results, self._policy()

    def _keep_final(self, i: int, member: int) -> None:
        n, m = len(self.rows), len(self.results)
        self.final_a[member] = self.theta_a[i]
        self.final_c[member], self.final_c[m + member] = self.theta_c[i], self.theta_c[n + i]

    def _sample(self, active: np.ndarray) -> tuple[Minibatch, torch.Tensor]:
        """Every row's minibatch, padded to the largest batch of the active rows, and which of its entries are
        the row's own (bool [n, B])."""
        layout = BatchLayout.padded(self.batch, int(self.batch[active].max()))
        return self.replay.sample(self.keys, self.updates, layout), layout.mask.bool()

    def _td_target(self, sample: Minibatch, next_q: torch.Tensor) -> torch.Tensor:
        """r + gamma * (1 - terminated) * min(Q1', Q2') [n, B] of the target critics' values next_q [2n, B]."""
        n, bmax = len(self.rows), next_q.shape[-1]
        return sample.reward + self.gamma * (1.0 - sample.terminated) * next_q.view(2, n, bmax).min(0).values

    def _critic_step(self, active: np.ndarray, cache: list, q: torch.Tensor, y: torch.Tensor,
                     in_batch: torch.Tensor, output_grad: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
        """Adam step of the active rows' critics on MSE(Q1, y) + MSE(Q2, y), given q [2n, B] (the critics' values
        of the sampled actions, from the forward pass that filled `cache`); output_grad maps the loss gradient
        w.r.t. q to the one w.r.t. the critics' outputs. Returns the rows whose critic loss was finite (the others
        are not stepped)."""
        n, bmax = len(self.rows), q.shape[-1]
        td = torch.where(in_batch.repeat(2, 1), q - y.repeat(2, 1), 0.0)
        critic_ok = torch.isfinite((td * td).view(2, n, bmax).sum((0, 2))).numpy()
        d_q = 2.0 * self.inv_batch.repeat(2, 1) * td  # d(MSE of Q1 + MSE of Q2) / dQ
        grad = torch.nan_to_num(self.critic.backward(self.theta_c, cache, output_grad(d_q)))
        self.theta_c = self.adam_c.step(self.theta_c, grad, np.tile(active & critic_ok, 2))
        return critic_ok

    def _delayed_actor(self, active: np.ndarray, critic_ok: np.ndarray,
                       actor_update: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """After the critic step: actor_update(due) of the rows due (stepped critic, every policy_delay-th update),
        which returns their finite actor losses; returns the active rows whose critic or actor loss was not
        finite (`update`'s result)."""
        due = active & critic_ok & ((self.updates + 1) % self.policy_delay == 0)
        actor_ok = actor_update(due) if due.any() else np.ones(len(due), bool)
        return active & ~(critic_ok & actor_ok)

    def _actor_step(self, due: np.ndarray, actor_ok: np.ndarray, cache: list, d_out: torch.Tensor) -> np.ndarray:
        """Adam step of the actors of the rows due with a finite loss (d_out: the loss gradient w.r.t. the actor
        outputs of the forward pass that filled `cache`), then their soft target updates (actor and critics);
        returns actor_ok | ~due."""
        grad = torch.nan_to_num(self.actor.backward(self.theta_a, cache, d_out))
        step = due & actor_ok
        self.theta_a = self.adam_a.step(self.theta_a, grad, step)
        col_a = torch.from_numpy(step)[:, None]
        col_c = col_a.repeat(2, 1)
        tau_c = self.tau.repeat(2, 1)
        self.target_a = torch.where(col_a, self.target_a.lerp(self.theta_a, self.tau), self.target_a)
        self.target_c = torch.where(col_c, self.target_c.lerp(self.theta_c, tau_c), self.target_c)
        return actor_ok | ~due
