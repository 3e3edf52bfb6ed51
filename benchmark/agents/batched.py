"""The batched engine: many DDQN agents trained in lockstep as one computation.

Each member (agent) has its own hyperparameters, seed, environment copy, replay buffer, Adam state,
exploration schedule, episode clock and stopping rule; finished members are masked, not waited for.
Varied architectures stay exact: hidden sizes are padded to the largest and masked, members with fewer
hidden layers skip the extra layers through a per-member gate, and batch sizes are padded and the loss
masked. Every random number comes from `benchmark.rng`, keyed by the member's seed, so each member trains
as `benchmark.agents.ddqn.DDQN` would with the same config and seed (up to float summation order).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from benchmark import rng
from benchmark.agents.ddqn import DDQN, DDQNConfig, QNetwork, TrainResult, buffer_capacity, should_stop
from benchmark.envs.tasks import BatchedTask, Task
from benchmark.nets import ACTIVATION_FNS

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam defaults


@dataclass(frozen=True)
class AgentSpec:
    """One member of a batch: its hyperparameters and seed."""

    config: DDQNConfig
    seed: int


class BatchedEnv(Protocol):
    """N environment copies stepped together (numpy in, numpy out)."""

    n: int

    def reset(self, idx: np.ndarray, seeds: list[int]) -> None: ...

    def observation(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...


class BatchedQ:
    """Stacked, padded Q-networks of M members in one flat parameter tensor theta [M, D]."""

    def __init__(self, obs_dim: int, n_actions: int, specs: list[AgentSpec]):
        configs = [s.config for s in specs]
        first = configs[0]
        if any(c.activation != first.activation or c.dueling != first.dueling for c in configs):
            raise ValueError("one batch needs one activation and one dueling flag; group members first")
        self.m, self.obs_dim, self.n_actions = len(specs), obs_dim, n_actions
        self.activation, self.dueling = ACTIVATION_FNS[first.activation], first.dueling
        self.hidden = max(c.hidden_size for c in configs)
        self.layers = max(c.hidden_layers for c in configs)
        shapes = [(self.hidden, obs_dim), (self.hidden,)]
        for _ in range(self.layers - 1):
            shapes += [(self.hidden, self.hidden), (self.hidden,)]
        heads = [(1, self.hidden), (1,), (n_actions, self.hidden), (n_actions,)] if self.dueling else \
            [(n_actions, self.hidden), (n_actions,)]
        self.shapes = shapes + heads
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.theta = torch.zeros(self.m, int(self.offsets[-1]))
        layers_t = torch.tensor([c.hidden_layers for c in configs])
        self.layer_on = [(layers_t > i)[:, None, None] for i in range(self.layers)]  # gate of hidden layer i
        self.all_layers = bool((layers_t == self.layers).all())
        for i, spec in enumerate(specs):
            self.load_member(i, DDQN(obs_dim, n_actions, spec.config, spec.seed).q)

    def views(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer views [M, *shape] of a flat [M, D] tensor."""
        return [theta[:, a:b].view(self.m, *s) for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]

    def _scalar_tensors(self, q: QNetwork, hidden: int) -> list[tuple[int, torch.Tensor]]:
        """(segment index, tensor) of a scalar network, in the order of self.shapes."""
        params = [p.detach() for p in q.parameters()]
        n_trunk = len(params) - (4 if self.dueling else 2)
        return list(enumerate(params[:n_trunk])) + [(2 * self.layers + j, p) for j, p in
                                                     enumerate(params[n_trunk:])]

    @torch.no_grad()
    def load_member(self, i: int, q: QNetwork) -> None:
        views = self.views(self.theta)
        for seg, p in self._scalar_tensors(q, self.hidden):
            views[seg][i][tuple(slice(0, d) for d in p.shape)] = p

    @torch.no_grad()
    def member_module(self, i: int, config: DDQNConfig) -> QNetwork:
        """Member i's weights as a scalar QNetwork."""
        q = QNetwork(self.obs_dim, self.n_actions, config)
        views = self.views(self.theta)
        for (seg, p), target in zip(self._scalar_tensors(q, self.hidden), q.parameters()):
            target.copy_(views[seg][i][tuple(slice(0, d) for d in p.shape)])
        return q

    def forward(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Q-values [M, N, A] of observations x [M, N, obs].

        Computed feature-major ([M, features, N]), which is several times faster for narrow layers.
        Padded units need no mask: their weights and biases start at zero and act(0) = 0 for every
        supported activation, so they output zero and receive zero gradients (tests check this).
        """
        v = self.views(theta)
        h = self.activation(torch.baddbmm(v[1][:, :, None], v[0], x.transpose(1, 2)))
        for layer in range(1, self.layers):
            w, b = v[2 * layer], v[2 * layer + 1]
            z = self.activation(torch.baddbmm(b[:, :, None], w, h))
            h = z if self.all_layers else torch.where(self.layer_on[layer], z, h)
        k = 2 * self.layers
        if self.dueling:
            value = torch.baddbmm(v[k + 1][:, :, None], v[k], h)
            adv = torch.baddbmm(v[k + 3][:, :, None], v[k + 2], h)
            return (value + adv - adv.mean(1, keepdim=True)).transpose(1, 2)
        return torch.baddbmm(v[k + 1][:, :, None], v[k], h).transpose(1, 2)


class _Column:
    """Per-member hyperparameters as arrays/tensors."""

    def __init__(self, configs: list[DDQNConfig]):
        def col(name):
            return np.array([getattr(c, name) for c in configs])
        self.lr = torch.tensor(col("lr"), dtype=torch.float64)
        self.batch = col("batch_size")
        self.gamma = torch.tensor(col("gamma"), dtype=torch.float32)[:, None]
        self.tau = torch.tensor(col("tau"), dtype=torch.float32)[:, None]
        self.eps_min, self.eps_decay = col("eps_min"), col("eps_decay")
        self.init_episodes = col("init_episodes")


def train_batched(task: Task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None,
                  progress=None) -> tuple[list[TrainResult], BatchedQ]:
    """Train one agent per spec on env copy i, all in lockstep; `solved` as in DDQN.train."""
    m, configs = len(specs), [s.config for s in specs]
    assert env.n == m, "one environment copy per member"
    q = BatchedQ(task.obs_dim, task.n_actions, specs)
    hp = _Column(configs)
    keys = np.array([rng.member_key(s.seed) for s in specs], dtype=np.uint64)
    ar = torch.arange(m)
    theta = q.theta.requires_grad_(True)
    target = q.theta.detach().clone()
    adam_m, adam_v = torch.zeros_like(target), torch.zeros_like(target)
    adam_step = np.zeros(m)

    cap = max(buffer_capacity(c, task.max_steps) for c in configs)
    caps = np.array([buffer_capacity(c, task.max_steps) for c in configs])
    b_obs = torch.zeros(m, cap, task.obs_dim)
    b_next = torch.zeros(m, cap, task.obs_dim)
    b_act = torch.zeros(m, cap, dtype=torch.int64)
    b_rew = torch.zeros(m, cap)
    b_done = torch.zeros(m, cap)
    ptr, size = np.zeros(m, np.int64), np.zeros(m, np.int64)
    bmax = int(hp.batch.max())
    batch_mask = torch.from_numpy((np.arange(bmax)[None] < hp.batch[:, None]).astype(np.float32))
    inv_batch = torch.from_numpy(1.0 / hp.batch.astype(np.float32))

    results = [TrainResult() for _ in range(m)]
    eps = np.array([c.eps_init for c in configs], dtype=np.float64)
    t = np.zeros(m, np.int64)  # per-member global step counter
    updates = np.zeros(m, np.int64)
    ep_return, ep_len = np.zeros(m), np.zeros(m, np.int64)
    alive = np.ones(m, bool)
    learning = hp.init_episodes <= 0
    env.reset(np.arange(m), [rng.seed_value(k, rng.Stream.TRAIN_RESET, 0) for k in keys])
    obs = env.observation()

    while alive.any():
        # act: epsilon-greedy with counter-based draws
        with torch.no_grad():
            greedy = q.forward(theta, torch.from_numpy(obs)[:, None, :])[:, 0].argmax(-1).numpy()
        explore = rng.uniform(keys, rng.Stream.EXPLORE_COIN, t) < eps
        random_action = rng.integers(keys, rng.Stream.EXPLORE_ACTION, t, 0, task.n_actions)
        action = np.where(explore, random_action, greedy)
        next_obs, reward, terminated, truncated = env.step(action)

        # store (alive members only)
        idx = np.flatnonzero(alive)
        it = torch.from_numpy(idx)
        pt = torch.from_numpy(ptr[idx])
        b_obs[it, pt] = torch.from_numpy(obs[idx])
        b_next[it, pt] = torch.from_numpy(next_obs[idx])
        b_act[it, pt] = torch.from_numpy(action[idx])
        b_rew[it, pt] = torch.from_numpy(reward[idx].astype(np.float32))
        b_done[it, pt] = torch.from_numpy(terminated[idx].astype(np.float32))
        ptr[idx] = (ptr[idx] + 1) % caps[idx]
        size[idx] = np.minimum(size[idx] + 1, caps[idx])
        t[idx] += 1
        ep_len[idx] += 1
        ep_return[idx] += reward[idx]

        # learn (alive members past their initial episodes)
        active = alive & learning
        if active.any():
            bad = _update(q, theta, target, adam_m, adam_v, adam_step, active, hp, keys, updates, size,
                          bmax, batch_mask, inv_batch, ar, b_obs, b_act, b_rew, b_next, b_done)
            updates[active] += 1
            for i in np.flatnonzero(bad):
                results[i].diverged = True

        # episode ends
        ended = alive & (terminated | truncated | np.array([r.diverged for r in results]))
        for i in np.flatnonzero(ended):
            res = results[i]
            res.returns.append(float(ep_return[i]))
            res.lengths.append(int(ep_len[i]))
            eps[i] = max(hp.eps_min[i], eps[i] * hp.eps_decay[i])
            ep_return[i], ep_len[i] = 0.0, 0
            if res.diverged or should_stop(res.returns, res.steps, configs[i], solved):
                alive[i] = False
                if progress is not None:
                    progress(1)
            else:
                learning[i] = res.episodes >= hp.init_episodes[i]
        restart = np.flatnonzero(ended & alive)
        if len(restart):
            env.reset(restart, [rng.seed_value(keys[i], rng.Stream.TRAIN_RESET, results[i].episodes)
                                for i in restart])
            next_obs = next_obs.copy()
            next_obs[restart] = env.observation()[restart]
        obs = next_obs

    q.theta = theta.detach()
    return results, q


def _update(q, theta, target, adam_m, adam_v, adam_step, active, hp, keys, updates, size, bmax, batch_mask,
            inv_batch, ar, b_obs, b_act, b_rew, b_next, b_done) -> np.ndarray:
    """One DDQN update of every active member; returns the members whose loss was not finite."""
    idx = torch.from_numpy(rng.integers(keys[:, None], rng.Stream.REPLAY, updates[:, None],
                                        np.arange(bmax)[None], np.maximum(size, 1)[:, None]))
    rows = ar[:, None]
    obs, act, rew = b_obs[rows, idx], b_act[rows, idx], b_rew[rows, idx]
    nxt, done = b_next[rows, idx], b_done[rows, idx]
    with torch.no_grad():
        next_action = q.forward(theta, nxt).argmax(-1, keepdim=True)
        next_q = q.forward(target, nxt).gather(-1, next_action)[..., 0]
        y = rew + hp.gamma * (1.0 - done) * next_q
    qa = q.forward(theta, obs).gather(-1, act[..., None])[..., 0]
    per_member = ((qa - y) ** 2 * batch_mask).sum(1) * inv_batch
    finite = torch.isfinite(per_member).numpy()
    step_mask = active & finite
    mask_t = torch.from_numpy(step_mask)
    loss = torch.where(mask_t, per_member, torch.zeros_like(per_member)).sum()
    theta.grad = None
    loss.backward()
    with torch.no_grad():
        grad = torch.nan_to_num(theta.grad)
        adam_step[step_mask] += 1
        steps = np.maximum(adam_step, 1)
        bc1 = 1.0 - _BETA1 ** steps
        bc2_sqrt = np.sqrt(1.0 - _BETA2 ** steps)
        step_size = torch.from_numpy((hp.lr.numpy() / bc1).astype(np.float32))[:, None]
        col = mask_t[:, None]
        new_m = adam_m.lerp(grad, 1.0 - _BETA1)
        new_v = adam_v * _BETA2 + (1.0 - _BETA2) * grad * grad
        denom = new_v.sqrt() / torch.from_numpy(bc2_sqrt.astype(np.float32))[:, None] + _ADAM_EPS
        new_theta = theta - step_size * new_m / denom
        adam_m.copy_(torch.where(col, new_m, adam_m))
        adam_v.copy_(torch.where(col, new_v, adam_v))
        theta.copy_(torch.where(col, new_theta, theta))
        target.copy_(torch.where(col, hp.tau * theta + (1.0 - hp.tau) * target, target))
    return active & ~finite


@torch.no_grad()
def evaluate_batched(task: Task, q: BatchedQ, seeds: list[int], episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy test returns and lengths [M, episodes] of every member on the real task, all at once."""
    m = q.m
    env = BatchedTask(task, m * episodes)
    keys = [rng.member_key(s) for s in seeds]
    env.reset(np.arange(m * episodes),
              [rng.seed_value(k, rng.Stream.TEST_RESET, e) for k in keys for e in range(episodes)])
    returns, lengths = np.zeros(m * episodes), np.zeros(m * episodes, np.int64)
    running = np.ones(m * episodes, bool)
    obs = env.observation()
    with np.errstate(all="ignore"):  # finished copies keep stepping (masked) and may leave the valid range
        while running.any():
            action = q.forward(q.theta, torch.from_numpy(obs).view(m, episodes, -1)).argmax(-1).reshape(-1)
            obs, reward, terminated, truncated = env.step(action.numpy())
            returns += np.where(running, reward, 0.0)
            lengths += running
            running &= ~(terminated | truncated)
    return returns.reshape(m, episodes), lengths.reshape(m, episodes)
