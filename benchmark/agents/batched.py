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

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam defaults, same formula as its step()


@dataclass(frozen=True)
class AgentSpec:
    """One member of a batch: its hyperparameters and seed."""

    config: DDQNConfig
    seed: int


class BatchedEnv(Protocol):
    """N environment copies stepped together (numpy in, numpy out).

    `step` returns (next obs, reward, terminated, truncated) or, for an environment whose agents learn from a
    reward other than the real one (`benchmark.envs.reward.BatchedRewardEnv`), a fifth array: the real reward.
    The engine records returns of the real reward (training curve, stopping rule, test returns), as the scalar
    agents do with info["real_reward"]; without a fifth array the reward is the real one (real task, SE).
    """

    n: int

    def reset(self, idx: np.ndarray, seeds: list[int]) -> None: ...

    def observation(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]: ...

    def select(self, idx: np.ndarray) -> None: ...


def step_env(env: BatchedEnv, actions: np.ndarray) -> tuple[np.ndarray, ...]:
    """One step of `env`: (next obs, reward to learn from, terminated, truncated, real reward)."""
    out = env.step(actions)
    return tuple(out) if len(out) == 5 else (*out, out[1])


class BatchedQ:
    """Stacked, padded Q-networks of M members in one flat parameter tensor theta [M, D]."""

    def __init__(self, obs_dim: int, n_actions: int, specs: list[AgentSpec]):
        """Members' initial weights are exactly those of DDQN(obs_dim, n_actions, config, seed)."""
        configs = [s.config for s in specs]
        first = configs[0]
        if any(c.activation != first.activation or c.dueling != first.dueling for c in configs):
            raise ValueError("one batch needs one activation and one dueling flag; group members first")
        self.m, self.obs_dim, self.n_actions = len(specs), obs_dim, n_actions
        self.activation, self.dueling = ACTIVATION_FNS[first.activation], first.dueling
        self.activation_backward = ACTIVATION_BACKWARD[first.activation]
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
        self._views_cache: list[tuple[torch.Tensor, list[torch.Tensor]]] = []
        self.theta = torch.zeros(self.m, int(self.offsets[-1]))
        layers_t = torch.tensor([c.hidden_layers for c in configs])
        self.layer_on = [(layers_t > i)[:, None, None] for i in range(self.layers)]  # gate of hidden layer i
        self._all_layer_on = self.layer_on
        self.all_layers = bool((layers_t == self.layers).all())
        for i, spec in enumerate(specs):
            self.load_member(i, DDQN(obs_dim, n_actions, spec.config, spec.seed).q)

    def select(self, rows: torch.Tensor) -> None:
        """Keep the per-member gates of `rows` (weights are passed to forward by the caller)."""
        self.layer_on = [g[rows] for g in self.layer_on]

    def select_all(self, m: int) -> None:
        """Restore the gates of all m members (after training compacted them)."""
        self.layer_on = self._all_layer_on
        assert self.layer_on[0].shape[0] == m

    def views(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer views [M, *shape] of a flat [M, D] tensor (the last few are cached by identity)."""
        for cached, views in self._views_cache:
            if cached is theta:
                return views
        m = theta.shape[0]
        views = [theta[:, a:b].view(m, *s) for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]
        self._views_cache = [(theta, views)] + self._views_cache[:2]
        return views

    def _scalar_tensors(self, q: QNetwork) -> list[tuple[int, torch.Tensor]]:
        """(segment index, tensor) of a scalar network, in the order of self.shapes."""
        params = [p.detach() for p in q.parameters()]
        n_trunk = len(params) - (4 if self.dueling else 2)
        return list(enumerate(params[:n_trunk])) + [(2 * self.layers + j, p) for j, p in
                                                     enumerate(params[n_trunk:])]

    @torch.no_grad()
    def load_member(self, i: int, q: QNetwork) -> None:
        views = self.views(self.theta)
        for seg, p in self._scalar_tensors(q):
            views[seg][i][tuple(slice(0, d) for d in p.shape)] = p

    @torch.no_grad()
    def member_module(self, i: int, config: DDQNConfig) -> QNetwork:
        """Member i's weights as a scalar QNetwork."""
        q = QNetwork(self.obs_dim, self.n_actions, config)
        views = self.views(self.theta)
        for (seg, p), target in zip(self._scalar_tensors(q), q.parameters()):
            target.copy_(views[seg][i][tuple(slice(0, d) for d in p.shape)])
        return q

    def forward(self, theta: torch.Tensor, x: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """Q-values [M, A, N] (feature-major) of observations x [M, N, obs].

        Feature-major layout is several times faster for narrow layers. Padded units need no mask: their
        weights and biases start at zero and act(0) = 0 for every supported activation, so they output zero
        and receive zero gradients (tests check this). Pass a list as `cache` to keep what backward needs.
        """
        v = self.views(theta)
        a = x.transpose(1, 2)
        for layer in range(self.layers):
            w, b = v[2 * layer], v[2 * layer + 1]
            h = self.activation(torch.baddbmm(b[:, :, None], w, a))
            if cache is not None:
                cache.append((a, h))
            a = h if layer == 0 or self.all_layers else torch.where(self.layer_on[layer], h, a)
        k = 2 * self.layers
        if cache is not None:
            cache.append(a)
        if self.dueling:
            value = torch.baddbmm(v[k + 1][:, :, None], v[k], a)
            adv = torch.baddbmm(v[k + 3][:, :, None], v[k + 2], a)
            return value + adv - adv.mean(1, keepdim=True)
        return torch.baddbmm(v[k + 1][:, :, None], v[k], a)

    def backward(self, theta: torch.Tensor, cache: list, d_out: torch.Tensor) -> torch.Tensor:
        """Gradient [M, D] of sum(d_out * forward(theta, x)) for the x that filled `cache`.

        Written out by hand (no autograd graph): the per-step cost of autograd dominates at these sizes.
        """
        v = self.views(theta)
        grad = torch.empty_like(theta)
        g = self.views(grad)
        k = 2 * self.layers
        top = cache[-1]
        top_t = top.transpose(1, 2)
        if self.dueling:
            d_value = d_out.sum(1, keepdim=True)
            d_adv = d_out - d_out.mean(1, keepdim=True)
            torch.bmm(d_value, top_t, out=g[k])
            torch.sum(d_value, -1, out=g[k + 1])
            torch.bmm(d_adv, top_t, out=g[k + 2])
            torch.sum(d_adv, -1, out=g[k + 3])
            d_a = torch.bmm(v[k].transpose(1, 2), d_value).baddbmm_(v[k + 2].transpose(1, 2), d_adv)
        else:
            torch.bmm(d_out, top_t, out=g[k])
            torch.sum(d_out, -1, out=g[k + 1])
            d_a = torch.bmm(v[k].transpose(1, 2), d_out)
        for layer in range(self.layers - 1, -1, -1):
            a_in, h = cache[layer]
            if layer == 0 or self.all_layers:
                d_h, d_skip = d_a, None
            else:
                on = self.layer_on[layer]
                d_h, d_skip = torch.where(on, d_a, 0.0), torch.where(on, 0.0, d_a)
            d_z = self.activation_backward(d_h, h)
            torch.bmm(d_z, a_in.transpose(1, 2), out=g[2 * layer])
            torch.sum(d_z, -1, out=g[2 * layer + 1])
            if layer > 0:
                d_a = torch.bmm(v[2 * layer].transpose(1, 2), d_z)
                if d_skip is not None:
                    d_a = d_a + d_skip
        return grad


ACTIVATION_BACKWARD = {
    "tanh": lambda d_h, h: torch.ops.aten.tanh_backward(d_h, h),
    "relu": lambda d_h, h: torch.ops.aten.threshold_backward(d_h, h, 0.0),
    "leaky_relu": lambda d_h, h: torch.ops.aten.leaky_relu_backward(d_h, h, 0.01, True),
}
"""Activation name -> (gradient w.r.t. output, output) -> gradient w.r.t. input (torch's fused kernels)."""


class _Lockstep:
    """All per-member training state, as rows; `compact` drops the rows of finished members."""

    def __init__(self, task: Task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None):
        m = len(specs)
        self.task, self.env, self.solved = task, env, solved
        self.configs = [s.config for s in specs]
        self.rows = np.arange(m)  # original member index of each row
        self.q = BatchedQ(task.obs_dim, task.n_actions, specs)
        self.final_theta = self.q.theta.clone()
        self.theta = self.q.theta.clone()
        self.target = self.q.theta.clone()
        self.adam_m, self.adam_v = torch.zeros_like(self.target), torch.zeros_like(self.target)
        self.adam_step = np.zeros(m)

        def col(name):
            return np.array([getattr(c, name) for c in self.configs])
        self.lr, self.batch = col("lr").astype(np.float64), col("batch_size")
        self.gamma = torch.tensor(col("gamma"), dtype=torch.float32)[:, None]
        self.tau = torch.tensor(col("tau"), dtype=torch.float32)[:, None]
        self.eps_min, self.eps_decay, self.init_episodes = col("eps_min"), col("eps_decay"), col("init_episodes")
        self.eps = col("eps_init").astype(np.float64)
        self.keys = np.array([rng.member_key(s.seed) for s in specs], dtype=np.uint64)

        self.caps = np.array([buffer_capacity(c, task.max_steps) for c in self.configs])
        cap = int(self.caps.max())
        o = task.obs_dim  # one packed replay tensor: obs | next obs | action | reward | terminated
        self.buffer = torch.zeros(m, cap, 2 * o + 3)
        self.col_obs, self.col_next, self.col_act, self.col_rew, self.col_done = (
            slice(0, o), slice(o, 2 * o), 2 * o, 2 * o + 1, 2 * o + 2)
        self.ptr, self.size = np.zeros(m, np.int64), np.zeros(m, np.int64)

        self.results = [TrainResult() for _ in range(m)]
        self.t = np.zeros(m, np.int64)  # per-member global step counter
        self.updates = np.zeros(m, np.int64)
        self.ep_return, self.ep_len = np.zeros(m), np.zeros(m, np.int64)
        self.alive = np.ones(m, bool)
        self.learning = self.init_episodes <= 0
        env.reset(np.arange(m), [rng.seed_value(k, rng.Stream.TRAIN_RESET, 0) for k in self.keys])
        self.obs = env.observation()

    _ROW_ARRAYS = ("rows", "adam_step", "lr", "batch", "eps_min", "eps_decay", "init_episodes", "eps", "keys",
                   "caps", "ptr", "size", "t", "updates", "ep_return", "ep_len", "alive", "learning", "obs")
    _ROW_TENSORS = ("theta", "target", "adam_m", "adam_v", "gamma", "tau", "buffer")

    def compact(self) -> None:
        """Keep only the rows of members still training (their state is copied, nothing else changes)."""
        keep = np.flatnonzero(self.alive)
        keep_t = torch.from_numpy(keep)
        for name in self._ROW_ARRAYS:
            setattr(self, name, getattr(self, name)[keep])
        for name in self._ROW_TENSORS:
            setattr(self, name, getattr(self, name)[keep_t])
        self.q.select(keep_t)
        self.env.select(keep)

    @torch.no_grad()
    def run(self) -> tuple[list[TrainResult], BatchedQ]:
        while len(self.rows):
            self.tick()
            if self.alive.sum() <= 0.75 * len(self.rows):
                self.compact()
        self.q.theta = self.final_theta
        self.q.select_all(len(self.results))
        return self.results, self.q

    def tick(self) -> None:
        task, keys, alive = self.task, self.keys, self.alive
        greedy = self.q.forward(self.theta, torch.from_numpy(self.obs)[:, None, :])[:, :, 0].max(1).indices.numpy()
        explore = rng.uniform(keys, rng.Stream.EXPLORE_COIN, self.t) < self.eps
        random_action = rng.integers(keys, rng.Stream.EXPLORE_ACTION, self.t, 0, task.n_actions)
        action = np.where(explore, random_action, greedy)
        next_obs, reward, terminated, truncated, real = step_env(self.env, action)

        idx = np.flatnonzero(alive)
        row = np.concatenate([self.obs[idx], next_obs[idx], action[idx, None], reward[idx, None],
                              terminated[idx, None]], axis=1).astype(np.float32)
        self.buffer[torch.from_numpy(idx), torch.from_numpy(self.ptr[idx])] = torch.from_numpy(row)
        self.ptr[idx] = (self.ptr[idx] + 1) % self.caps[idx]
        self.size[idx] = np.minimum(self.size[idx] + 1, self.caps[idx])
        self.t[idx] += 1
        self.ep_len[idx] += 1
        self.ep_return[idx] += real[idx]  # the recorded return is the real one (see BatchedEnv)

        diverged = np.zeros(len(alive), bool)
        active = alive & self.learning
        if active.any():
            diverged = self.update(active)
            self.updates[active] += 1

        ended = alive & (terminated | truncated | diverged)
        for i in np.flatnonzero(ended):
            member = self.rows[i]
            res = self.results[member]
            res.diverged = res.diverged or bool(diverged[i])
            res.returns.append(float(self.ep_return[i]))
            res.lengths.append(int(self.ep_len[i]))
            self.eps[i] = max(self.eps_min[i], self.eps[i] * self.eps_decay[i])
            self.ep_return[i], self.ep_len[i] = 0.0, 0
            if res.diverged or should_stop(res.returns, res.steps, self.configs[member], self.solved):
                alive[i] = False
                self.final_theta[member] = self.theta[i]
            else:
                self.learning[i] = res.episodes >= self.init_episodes[i]
        restart = np.flatnonzero(ended & alive)
        if len(restart):
            self.env.reset(restart, [rng.seed_value(keys[i], rng.Stream.TRAIN_RESET,
                                                    self.results[self.rows[i]].episodes) for i in restart])
            next_obs = next_obs.copy()
            next_obs[restart] = self.env.observation()[restart]
        self.obs = next_obs

    def update(self, active: np.ndarray) -> np.ndarray:
        """One DDQN update of every active row; returns the rows whose loss was not finite."""
        q, theta, target = self.q, self.theta, self.target
        bmax = int(self.batch[active].max())
        idx = torch.from_numpy(rng.integers(self.keys[:, None], rng.Stream.REPLAY, self.updates[:, None],
                                            np.arange(bmax)[None], np.maximum(self.size, 1)[:, None]))
        m, cap, width = self.buffer.shape
        flat_idx = (idx + torch.arange(0, m * cap, cap)[:, None]).view(-1)
        sample = self.buffer.view(m * cap, width).index_select(0, flat_idx).view(m, bmax, width)
        obs, nxt = sample[:, :, self.col_obs], sample[:, :, self.col_next]
        act = sample[:, :, self.col_act].long()
        next_action = q.forward(theta, nxt).max(1, keepdim=True).indices
        next_q = q.forward(target, nxt).gather(1, next_action)[:, 0]
        y = sample[:, :, self.col_rew] + self.gamma * (1.0 - sample[:, :, self.col_done]) * next_q
        cache: list = []
        out = q.forward(theta, obs, cache)
        td = out.gather(1, act[:, None, :])[:, 0] - y  # [M, B]
        batch_mask = torch.from_numpy((np.arange(bmax)[None] < self.batch[:, None]).astype(np.float32))
        inv_batch = torch.from_numpy(1.0 / self.batch.astype(np.float32))[:, None]
        td = td * batch_mask
        finite = torch.isfinite((td * td).sum(1)).numpy()
        step_mask = active & finite
        d_out = torch.zeros_like(out).scatter_(1, act[:, None, :], (2.0 * inv_batch * td)[:, None, :])
        grad = torch.nan_to_num(q.backward(theta, cache, d_out))
        self.adam_step[step_mask] += 1
        steps = np.maximum(self.adam_step, 1)
        step_size = torch.from_numpy((self.lr / (1.0 - _BETA1 ** steps)).astype(np.float32))[:, None]
        bc2_sqrt = torch.from_numpy(np.sqrt(1.0 - _BETA2 ** steps).astype(np.float32))[:, None]
        new_m = self.adam_m.lerp(grad, 1.0 - _BETA1)
        new_v = self.adam_v * _BETA2 + (1.0 - _BETA2) * grad * grad
        new_theta = theta - step_size * new_m / (new_v.sqrt() / bc2_sqrt + _ADAM_EPS)
        new_target = self.tau * new_theta + (1.0 - self.tau) * target
        if step_mask.all():
            self.adam_m, self.adam_v, self.theta, self.target = new_m, new_v, new_theta, new_target
        else:  # rows that do not learn this tick keep every piece of their state
            col = torch.from_numpy(step_mask)[:, None]
            self.adam_m = torch.where(col, new_m, self.adam_m)
            self.adam_v = torch.where(col, new_v, self.adam_v)
            self.theta = torch.where(col, new_theta, theta)
            self.target = torch.where(col, new_target, target)
        return active & ~finite


def train_batched(task: Task, env: BatchedEnv, specs: list[AgentSpec],
                  solved: float | None) -> tuple[list[TrainResult], BatchedQ]:
    """Train one agent per spec on env copy i, all in lockstep; `solved` as in DDQN.train."""
    assert env.n == len(specs), "one environment copy per member"
    return _Lockstep(task, env, specs, solved).run()


@torch.no_grad()
def evaluate_batched(task: Task, q: BatchedQ, seeds: list[int], episodes: int,
                     env: BatchedEnv | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy test returns (real, see BatchedEnv) and lengths [M, episodes] of every member, all at once: on the
    real task, or on `env` (M * episodes copies, member-major: copy i * episodes + e is member i's episode e)."""
    m = q.m
    env = BatchedTask(task, m * episodes) if env is None else env
    keys = [rng.member_key(s) for s in seeds]
    env.reset(np.arange(m * episodes),
              [rng.seed_value(k, rng.Stream.TEST_RESET, e) for k in keys for e in range(episodes)])
    returns, lengths = np.zeros(m * episodes), np.zeros(m * episodes, np.int64)
    running = np.ones(m * episodes, bool)
    obs = env.observation()
    with np.errstate(all="ignore"):  # finished copies keep stepping (masked) and may leave the valid range
        while running.any():
            action = q.forward(q.theta, torch.from_numpy(obs).view(m, episodes, -1)).max(1).indices.reshape(-1)
            obs, _, terminated, truncated, real = step_env(env, action.numpy())
            returns += np.where(running, real, 0.0)
            lengths += running
            running &= ~(terminated | truncated)
    return returns.reshape(m, episodes), lengths.reshape(m, episodes)
