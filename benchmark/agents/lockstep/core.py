"""What every lockstep trainer shares (`benchmark.agents.lockstep.ddqn` for DDQN, `benchmark.agents.lockstep.td3`
for continuous TD3, `benchmark.agents.lockstep.td3_discrete` for discrete TD3; what only the two TD3s share is in
`benchmark.agents.lockstep.td3_common`): many agents trained as one computation, each member in one row of every
tensor.

- `BatchedMLP`: stacked, padded MLPs in one flat parameter tensor, with a hand-written backward pass;
- `BatchedAdam`: torch.optim.Adam's step with per-row learning rates and step counts;
- `BatchedReplay`: one packed replay tensor for all members, sampled with the members' counter-based draws;
- `EpsilonGreedy`: DDQN's epsilon-greedy training actions and schedule (DDQN and discrete TD3);
- `Lockstep`: the per-member episode bookkeeping, stopping rules and compaction of finished members' rows;
- `evaluate_batched`: greedy test episodes of every member as one vectorised rollout.

Every random number comes from `benchmark.rng`, keyed by the member's seed, which is what lets each member train
as its scalar agent would (up to float summation order).
"""
from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
import torch

from benchmark import rng
from benchmark.agents.common import AgentSpec, TrainResult, buffer_capacity, should_stop
from benchmark.nets import ACTIVATION_FNS

ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
"""torch.optim.Adam's default betas and eps (`BatchedAdam` applies the same formula as its step())."""
ADAM_V_FLOOR = 1e-36
"""The floor under Adam's second moment before its square root (see `BatchedAdam.step`)."""


class BatchedEnv(Protocol):
    """N environment copies stepped together (numpy in, numpy out).

    `step` returns (next obs, reward, terminated, truncated), optionally followed by the real reward and then by
    the done the agents store for their TD targets. The real reward is there for an environment whose agents
    learn from a reward other than the real one (`benchmark.envs.reward.BatchedRewardEnv`): the engine records
    returns of the real reward (training curve, stopping rule, test returns), as the scalar agents do with
    info["real_reward"]; without it the reward is the real one (real task, SE). The TD done is an SE's learned
    done output (`benchmark.envs.synthetic.SEConfig.done_target`, info["td_done"] of the scalar SE); without it,
    terminated.
    """

    n: int

    def reset(self, idx: np.ndarray, seeds: list[int]) -> None: ...

    def observation(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]: ...

    def select(self, idx: np.ndarray) -> None: ...


class EnvStep(NamedTuple):
    """One step of N copies (`step_env`)."""

    obs: np.ndarray
    reward: np.ndarray
    """The reward the agents learn from."""
    terminated: np.ndarray
    truncated: np.ndarray
    real_reward: np.ndarray
    """The task's reward, which returns record."""
    td_done: np.ndarray
    """The done stored for the TD target (float)."""


def step_env(env: BatchedEnv, actions: np.ndarray) -> EnvStep:
    """One step of `env`, its optional arrays filled in (see BatchedEnv)."""
    out = tuple(env.step(actions))
    if len(out) == 4:
        out += (out[1],)
    if len(out) == 5:
        out += (out[2].astype(np.float32),)
    return EnvStep(*out)


VIEWS_CACHED = 6
"""Flat weight tensors whose per-layer views BatchedMLP keeps: a DDQN update with minibatch rows views theta,
target and gradient buffers of the rows besides the members' theta (the TD3 trainers view a few more)."""


class BatchedMLP:
    """Stacked, padded MLPs of M rows in one flat parameter tensor theta [M, D]: in_dim -> hidden layers ->
    out_dim, or with `dueling` a value head (1) and an advantage head (out_dim) combined as V + A - mean(A).

    `configs` give each row's hidden_size, hidden_layers and activation (one activation per batch). All weights
    start at zero; `load_member` writes a scalar network's parameters into a row.
    """

    ragged_activation = True
    """Skip padded units in the activation where cheaper (the same bits either way; False for benchmarks)."""

    def __init__(self, in_dim: int, out_dim: int, configs: list, dueling: bool = False):
        first = configs[0]
        if any(c.activation != first.activation for c in configs):
            raise ValueError("one batch needs one activation; group members first")
        self.m, self.in_dim, self.out_dim = len(configs), in_dim, out_dim
        self.activation, self.dueling = ACTIVATION_FNS[first.activation], dueling
        self.activation_backward = ACTIVATION_BACKWARD[first.activation]
        self.hidden = max(c.hidden_size for c in configs)
        self.layers = max(c.hidden_layers for c in configs)
        shapes = [(self.hidden, in_dim), (self.hidden,)]
        for _ in range(self.layers - 1):
            shapes += [(self.hidden, self.hidden), (self.hidden,)]
        heads = [(1, self.hidden), (1,), (out_dim, self.hidden), (out_dim,)] if dueling else \
            [(out_dim, self.hidden), (out_dim,)]
        self.shapes = shapes + heads
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self._views_cache: list[tuple[torch.Tensor, list[torch.Tensor]]] = []
        self.theta = torch.zeros(self.m, int(self.offsets[-1]))
        layers_t = torch.tensor([c.hidden_layers for c in configs])
        self.layer_on = [(layers_t > i)[:, None, None] for i in range(self.layers)]  # gate of hidden layer i
        self._all_layer_on = self.layer_on
        self.all_layers = bool((layers_t == self.layers).all())
        # units of hidden layer i that are a member's own (the rest, and every unit of a layer it lacks, is padding)
        self.units = np.array([[c.hidden_size if c.hidden_layers > i else 0 for i in range(self.layers)]
                               for c in configs], dtype=np.int64).reshape(self.m, self.layers)
        self._all_units = self.units
        self.activation_inplace = ACTIVATION_INPLACE[first.activation]
        self._activation_ns = ACTIVATION_NS_PER_UNIT[first.activation]
        self._runs_cache: list[tuple[object, list]] = []

    def select(self, rows: torch.Tensor) -> None:
        """Keep the per-member gates of `rows` (weights are passed to forward by the caller)."""
        self.layer_on = [g[rows] for g in self.layer_on]
        self.units = self.units[rows.numpy()]
        self._runs_cache = []

    def select_all(self, m: int) -> None:
        """Restore the gates of all m members (after training compacted them)."""
        self.layer_on = self._all_layer_on
        self.units = self._all_units
        self._runs_cache = []
        assert self.layer_on[0].shape[0] == m

    def views(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer views [M, *shape] of a flat [M, D] tensor (the last VIEWS_CACHED are cached by identity)."""
        for cached, views in self._views_cache:
            if cached is theta:
                return views
        m = theta.shape[0]
        views = [theta[:, a:b].view(m, *s) for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]
        self._views_cache = [(theta, views)] + self._views_cache[:VIEWS_CACHED - 1]
        return views

    def _segments(self, n_params: int) -> list[int]:
        """Segment (index into self.shapes) of each of a scalar network's n_params parameter tensors, given in
        torch's order: hidden layers (weight, bias) first, then the head(s)."""
        n_heads = 4 if self.dueling else 2
        return list(range(n_params - n_heads)) + [2 * self.layers + j for j in range(n_heads)]

    @torch.no_grad()
    def load_member(self, i: int, params: list[torch.Tensor]) -> None:
        """Write a scalar network's parameters (torch's order, nn.Linear layout) into row i."""
        views = self.views(self.theta)
        for seg, p in zip(self._segments(len(params)), params):
            views[seg][i][tuple(slice(0, d) for d in p.shape)] = p.detach()

    @torch.no_grad()
    def copy_member(self, i: int, params: list[torch.Tensor]) -> None:
        """Copy row i's weights into a scalar network's parameters (torch's order, nn.Linear layout)."""
        views = self.views(self.theta)
        for seg, p in zip(self._segments(len(params)), params):
            p.copy_(views[seg][i][tuple(slice(0, d) for d in p.shape)])

    def _gates(self, rows: slice | torch.Tensor | None) -> list[torch.Tensor]:
        if rows is None:
            return self.layer_on
        return [g[rows] if isinstance(rows, slice) else g.index_select(0, rows) for g in self.layer_on]

    def _unit_runs(self, rows: slice | torch.Tensor | None) -> list[list[tuple[int, int, int]]]:
        """Per hidden layer, runs (first row, end row, units) of consecutive rows with the same number of own units
        (rows of one member are consecutive), for the rows of a forward pass; cached by the identity of `rows`."""
        for cached, runs in self._runs_cache:
            if cached is rows or (isinstance(rows, slice) and isinstance(cached, slice) and cached == rows):
                return runs
        units = self.units if rows is None else self.units[rows if isinstance(rows, slice) else rows.numpy()]
        runs = []
        for layer in range(self.layers):
            u = units[:, layer]
            starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
            ends = np.r_[starts[1:], len(u)]
            runs.append([(int(a), int(b), int(u[a])) for a, b in zip(starts, ends)])
        self._runs_cache = [(rows, runs)] + self._runs_cache[:3]
        return runs

    def _activate(self, z: torch.Tensor, layer: int, rows: slice | torch.Tensor | None) -> torch.Tensor:
        """The activation of pre-activations z [R, hidden, N], computed on the rows' own units only where that is
        cheaper: a padded unit's pre-activation is exactly 0 (zero weights and bias) and act(0) = 0, and each
        element's activation does not depend on what else is computed with it, so the result is the same bits."""
        runs = self._unit_runs(rows)[layer]
        padded = sum((b - a) * (self.hidden - u) for a, b, u in runs) * z.shape[2]
        calls = sum(1 for _, _, u in runs if u)
        if not self.ragged_activation or padded * self._activation_ns <= calls * ACTIVATION_CALL_NS:
            return self.activation(z)
        for a, b, u in runs:
            if u:
                self.activation_inplace(z[a:b, :u])
        return z

    def forward(self, theta: torch.Tensor, x: torch.Tensor, cache: list | None = None,
                rows: slice | torch.Tensor | None = None) -> torch.Tensor:
        """Outputs [M, out, N] (feature-major) of inputs x [M, N, in]; `rows`: theta holds these rows (a slice, or
        member indices: rows that share a member's weights).

        Feature-major layout is several times faster for narrow layers. Padded units need no mask: their
        weights and biases start at zero and act(0) = 0 for every supported activation, so they output zero
        and receive zero gradients (tests check this). Pass a list as `cache` to keep what backward needs.
        """
        v = self.views(theta)
        gates = self._gates(rows)
        a = x.transpose(1, 2)
        for layer in range(self.layers):
            w, b = v[2 * layer], v[2 * layer + 1]
            h = self._activate(torch.baddbmm(b[:, :, None], w, a), layer, rows)
            if cache is not None:
                cache.append((a, h))
            a = h if layer == 0 or self.all_layers else torch.where(gates[layer], h, a)
        k = 2 * self.layers
        if cache is not None:
            cache.append(a)
        if self.dueling:
            value = torch.baddbmm(v[k + 1][:, :, None], v[k], a)
            adv = torch.baddbmm(v[k + 3][:, :, None], v[k + 2], a)
            return value + adv - adv.mean(1, keepdim=True)
        return torch.baddbmm(v[k + 1][:, :, None], v[k], a)

    def backward(self, theta: torch.Tensor, cache: list, d_out: torch.Tensor, input_grad: bool = False,
                 rows: slice | torch.Tensor | None = None, param_grad: bool = True, out: torch.Tensor | None = None):
        """Gradient [M, D] of sum(d_out * forward(theta, x)) for the x that filled `cache` (written into `out` when
        given: a buffer kept across calls keeps its views cached); with `input_grad`, (that gradient, the gradient
        w.r.t. x, feature-major [M, in, N]); without `param_grad` the first is None (not computed).

        Written out by hand (no autograd graph): the per-step cost of autograd dominates at these sizes.
        """
        v = self.views(theta)
        gates = self._gates(rows)
        grad = (torch.empty_like(theta) if out is None else out) if param_grad else None
        g = self.views(grad) if param_grad else None
        k = 2 * self.layers
        top = cache[-1]
        top_t = top.transpose(1, 2)
        if self.dueling:
            assert param_grad, "dueling heads: parameter gradients only"
            d_value = d_out.sum(1, keepdim=True)
            d_adv = d_out - d_out.mean(1, keepdim=True)
            torch.bmm(d_value, top_t, out=g[k])
            torch.sum(d_value, -1, out=g[k + 1])
            torch.bmm(d_adv, top_t, out=g[k + 2])
            torch.sum(d_adv, -1, out=g[k + 3])
            d_a = torch.bmm(v[k].transpose(1, 2), d_value).baddbmm_(v[k + 2].transpose(1, 2), d_adv)
        else:
            if param_grad:
                torch.bmm(d_out, top_t, out=g[k])
                torch.sum(d_out, -1, out=g[k + 1])
            d_a = torch.bmm(v[k].transpose(1, 2), d_out)
        for layer in range(self.layers - 1, -1, -1):
            a_in, h = cache[layer]
            if layer == 0 or self.all_layers:
                d_h, d_skip = d_a, None
            else:
                on = gates[layer]
                d_h, d_skip = torch.where(on, d_a, 0.0), torch.where(on, 0.0, d_a)
            d_z = self.activation_backward(d_h, h)
            if param_grad:
                torch.bmm(d_z, a_in.transpose(1, 2), out=g[2 * layer])
                torch.sum(d_z, -1, out=g[2 * layer + 1])
            if layer > 0 or input_grad:
                d_a = torch.bmm(v[2 * layer].transpose(1, 2), d_z)
                if d_skip is not None:
                    d_a = d_a + d_skip
        return (grad, d_a) if input_grad else grad


ACTIVATION_BACKWARD = {
    "tanh": lambda d_h, h: torch.ops.aten.tanh_backward(d_h, h),
    "relu": lambda d_h, h: torch.ops.aten.threshold_backward(d_h, h, 0.0),
    "leaky_relu": lambda d_h, h: torch.ops.aten.leaky_relu_backward(d_h, h, 0.01, True),
}
"""Activation name -> (gradient w.r.t. output, output) -> gradient w.r.t. input (torch's fused kernels)."""

ACTIVATION_INPLACE = {
    "tanh": torch.Tensor.tanh_,
    "relu": torch.Tensor.relu_,
    "leaky_relu": torch.nn.functional.leaky_relu_,
}
"""Activation name -> in-place function (the same values as ACTIVATION_FNS)."""

ACTIVATION_NS_PER_UNIT = {"tanh": 3.0, "relu": 0.15, "leaky_relu": 0.15}
ACTIVATION_CALL_NS = 4500.0
"""Measured cost of an activation per element and of one more in-place call on a slice (torch 2.13 CPU, one
thread): BatchedMLP skips padded units where the elements saved cost more than the calls it takes
(`python bench/activation_cost.py`)."""


class BatchedAdam:
    """torch.optim.Adam (default betas and eps) for the rows of a flat [M, D] parameter tensor, each row with its
    own learning rate and step count."""

    def __init__(self, theta: torch.Tensor, lr: np.ndarray):
        self.m, self.v = torch.zeros_like(theta), torch.zeros_like(theta)
        self.lr = np.asarray(lr, np.float64)
        self.steps = np.zeros(len(self.lr))

    def select(self, keep: np.ndarray) -> None:
        keep_t = torch.from_numpy(keep)
        self.m, self.v, self.lr, self.steps = self.m[keep_t], self.v[keep_t], self.lr[keep], self.steps[keep]

    def step(self, theta: torch.Tensor, grad: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
        """theta after one Adam step of the rows in `mask` (bool [M]); the other rows keep their parameters and
        their Adam state.

        The moments are updated in place, each operation the one torch.optim.Adam's formula applies, in its
        order (so the same floats bit for bit), without the temporaries of the out-of-place form (1.5-2x faster:
        these passes over [M, D] are a third of a discrete-TD3 tick)."""
        self.steps[mask] += 1
        steps = np.maximum(self.steps, 1)
        step_size = torch.from_numpy((self.lr / (1.0 - ADAM_BETA1 ** steps)).astype(np.float32))[:, None]
        bc2_sqrt = torch.from_numpy(np.sqrt(1.0 - ADAM_BETA2 ** steps).astype(np.float32))[:, None]
        idle = None if mask.all() else torch.from_numpy(~mask)
        if idle is not None:
            kept_m, kept_v = self.m[idle], self.v[idle]
        self.m.lerp_(grad, 1.0 - ADAM_BETA1)
        scratch = grad.mul(1.0 - ADAM_BETA2).mul_(grad)
        self.v.mul_(ADAM_BETA2).add_(scratch)
        # sqrt of v >= 1e-36 instead of v: the same denominator bit for bit (sqrt(1e-36) / bc2_sqrt <= 3.2e-17 is
        # below half an ulp of eps), but torch's sqrt is some 20x slower on zeros (never-updated weights)
        denom = torch.clamp_min(self.v, ADAM_V_FLOOR, out=scratch).sqrt_().div_(bc2_sqrt).add_(ADAM_EPS)
        new_theta = theta - torch.mul(step_size, self.m).div_(denom)
        if idle is not None:
            self.m[idle], self.v[idle] = kept_m, kept_v
            new_theta[idle] = theta[idle]
        return new_theta


class Minibatch(NamedTuple):
    """Sampled transitions of every row: obs and next_obs [M, B, obs], action [M, B, action width], reward and
    terminated [M, B] (float32)."""

    obs: torch.Tensor
    next_obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor


ROW_SLOTS = 16
"""What one more minibatch row costs beyond its weights, in padded sample slots (one more small GEMM per layer)."""


class BatchLayout(NamedTuple):
    """Where the members' minibatches sit in an update's rows: row r holds slots `position[r]` of member
    `member[r]`'s minibatch; `mask` [R, b] (float32) is 1 where that slot is one of the member's batch_size
    samples and 0 on padding. Members with large batches span several rows, so a group pads its batches to the
    row width b rather than to its largest batch. `rows`: `member` as a tensor, for gathering each row's
    weights; None when row i is member i's whole minibatch (nothing to gather)."""

    member: np.ndarray
    position: np.ndarray
    mask: torch.Tensor
    rows: torch.Tensor | None

    @property
    def identity(self) -> bool:
        """Row i is member i's whole minibatch (no weights need gathering into rows)."""
        return self.rows is None

    @staticmethod
    def padded(batch_sizes: np.ndarray, width: int) -> "BatchLayout":
        """One row per member, every minibatch padded (or cut) to `width` slots."""
        batch_sizes = np.asarray(batch_sizes)
        position = np.broadcast_to(np.arange(width)[None], (len(batch_sizes), width))
        return BatchLayout(np.arange(len(batch_sizes)), position,
                           torch.from_numpy((position < batch_sizes[:, None]).astype(np.float32)), None)

    @staticmethod
    def split(batch_sizes: np.ndarray, hidden: int, layers: int) -> "BatchLayout":
        """Rows of width `row_width` (networks padded to `hidden` units and `layers` hidden layers), member i's
        minibatch in ceil(batch_sizes[i] / width) of them."""
        batch_sizes = np.asarray(batch_sizes)
        width = row_width(batch_sizes, hidden, layers)
        per_member = -(-batch_sizes // width)
        if np.all(per_member == 1):
            return BatchLayout.padded(batch_sizes, width)
        member = np.repeat(np.arange(len(batch_sizes)), per_member)
        first_row = np.concatenate([[0], np.cumsum(per_member)[:-1]])
        chunk = np.arange(len(member)) - first_row[member]
        position = (chunk * width)[:, None] + np.arange(width)[None]
        return BatchLayout(member, position,
                           torch.from_numpy((position < batch_sizes[member, None]).astype(np.float32)),
                           torch.from_numpy(member))


def row_width(batch_sizes: np.ndarray, hidden: int, layers: int) -> int:
    """The row width that costs least: the member batch size b minimising sum(ceil(B_i / b)) rows times (b slots
    + what a row costs beyond them: ROW_SLOTS, plus its copy of the weights, some hidden * (layers - 1) / layers
    slots' worth of activations); the largest batch when all are alike."""
    sizes = np.asarray(batch_sizes)
    per_row = ROW_SLOTS + hidden * (layers - 1) // layers
    return int(min(np.unique(sizes)[::-1], key=lambda b: int((-(-sizes // b) * (b + per_row)).sum()), default=1))


def padded_slots(batch_sizes: np.ndarray, hidden: int, layers: int) -> int:
    """Sample slots (valid and padding) of one update under `BatchLayout.split`."""
    sizes = np.asarray(batch_sizes)
    width = row_width(sizes, hidden, layers)
    return int((-(-sizes // width)).sum() * width)


class BatchedReplay:
    """The replay buffers of all rows as one packed tensor [M, capacity, obs | next obs | action | reward |
    terminated]; row i holds at most caps[i] transitions (a ring, like `benchmark.agents.common.ReplayBuffer`).
    Actions take action_width columns (1 for an integer action, stored as a float)."""

    def __init__(self, caps: np.ndarray, obs_dim: int, action_width: int):
        self.caps = np.asarray(caps, np.int64)
        o, w = obs_dim, action_width
        self.buffer = torch.zeros(len(self.caps), int(self.caps.max()), 2 * o + w + 2)
        self.cols = (slice(0, o), slice(o, 2 * o), slice(2 * o, 2 * o + w), 2 * o + w, 2 * o + w + 1)
        self.ptr, self.size = np.zeros(len(self.caps), np.int64), np.zeros(len(self.caps), np.int64)

    def select(self, keep: np.ndarray) -> None:
        self.buffer = self.buffer[torch.from_numpy(keep)]
        self.caps, self.ptr, self.size = self.caps[keep], self.ptr[keep], self.size[keep]

    def add(self, idx: np.ndarray, obs, next_obs, action, reward, terminated) -> None:
        """Append the transition of each row in idx (arguments are arrays over all rows)."""
        action = np.asarray(action).reshape(len(action), -1)
        row = np.concatenate([obs[idx], next_obs[idx], action[idx], reward[idx, None], terminated[idx, None]],
                             axis=1).astype(np.float32)
        self.buffer[torch.from_numpy(idx), torch.from_numpy(self.ptr[idx])] = torch.from_numpy(row)
        self.ptr[idx] = (self.ptr[idx] + 1) % self.caps[idx]
        self.size[idx] = np.minimum(self.size[idx] + 1, self.caps[idx])

    def sample(self, keys: np.ndarray, updates: np.ndarray, layout: BatchLayout) -> Minibatch:
        """Every member's minibatch laid out in `layout`'s rows ([R, width, ...]); the index of a member's slot
        p is drawn like the scalar agents': REPLAY stream at counter `updates[i]`, index p, uniform over the
        member's filled size (padding slots draw too, and are masked by the caller)."""
        member = layout.member
        idx = rng.integers(keys[member, None], rng.Stream.REPLAY, updates[member, None], layout.position,
                           np.maximum(self.size, 1)[member, None])
        m, cap, width = self.buffer.shape
        rows, slots = layout.position.shape
        flat_idx = torch.from_numpy((idx + (member * cap)[:, None]).reshape(-1))
        sample = self.buffer.view(m * cap, width).index_select(0, flat_idx).view(rows, slots, width)
        return Minibatch(*(sample[:, :, c] for c in self.cols))


def config_column(configs: list, name: str) -> np.ndarray:
    """The config field `name` of every member."""
    return np.array([getattr(c, name) for c in configs])


class EpsilonGreedy:
    """Epsilon-greedy training actions of every row with DDQN's per-episode schedule: eps starts at eps_init and
    is multiplied by eps_decay after every episode, down to eps_min; a row acts at random during its first
    init_episodes episodes and learns once they are done (`learning`). The draws are the scalar agents': coin from
    EXPLORE_COIN, random action from EXPLORE_ACTION (index 0), both at the row's step counter."""

    def __init__(self, configs: list):
        self.eps_min, self.eps_decay = config_column(configs, "eps_min"), config_column(configs, "eps_decay")
        self.init_episodes = config_column(configs, "init_episodes")
        self.eps = config_column(configs, "eps_init").astype(np.float64)
        self.learning = self.init_episodes <= 0

    def select(self, keep: np.ndarray) -> None:
        for name in ("eps_min", "eps_decay", "init_episodes", "eps", "learning"):
            setattr(self, name, getattr(self, name)[keep])

    def actions(self, keys: np.ndarray, t: np.ndarray, greedy: np.ndarray, n_actions: int) -> np.ndarray:
        """Each row's training action: a uniformly random one with probability eps, else its `greedy` one."""
        # rows still in their initial episodes act at random (coin < 1 always)
        explore = rng.uniform(keys, rng.Stream.EXPLORE_COIN, t) < np.where(self.learning, self.eps, 1.0)
        random_action = rng.integers(keys, rng.Stream.EXPLORE_ACTION, t, 0, n_actions)
        return np.where(explore, random_action, greedy)

    def episode_ended(self, i: int, episodes: int) -> None:
        """Row i's schedule after its episodes-th episode."""
        self.eps[i] = max(self.eps_min[i], self.eps[i] * self.eps_decay[i])
        self.learning[i] = episodes >= self.init_episodes[i]


class Lockstep:
    """Per-member training state as rows, and the loop: `tick` (one environment step of every row, written by
    the agent's trainer, which ends with `advance`) until every member has stopped; rows of finished members are
    compacted away.

    Row i belongs to member rows[i]. Subclasses name their own per-row numpy arrays and tensors in _ROW_ARRAYS /
    _ROW_TENSORS (compacted here) and select their networks' and optimisers' rows in `_select`.
    """

    _ROW_ARRAYS: tuple[str, ...] = ("rows", "keys", "t", "updates", "ep_return", "ep_len", "alive")
    _ROW_TENSORS: tuple[str, ...] = ()

    def __init__(self, task, env: BatchedEnv, specs: list[AgentSpec], solved: float | None, action_width: int):
        """action_width: replay columns of one action (1 for an integer action)."""
        m = len(specs)
        self.task, self.env, self.solved = task, env, solved
        self.configs = [s.config for s in specs]
        caps = np.array([buffer_capacity(c, task.max_steps) for c in self.configs])
        self.replay = BatchedReplay(caps, task.obs_dim, action_width)
        self.rows = np.arange(m)  # original member index of each row
        self.keys = np.array([rng.member_key(s.seed) for s in specs], dtype=np.uint64)
        self.results = [TrainResult() for _ in range(m)]
        self.t = np.zeros(m, np.int64)  # per-member global step counter
        self.updates = np.zeros(m, np.int64)
        self.ep_return, self.ep_len = np.zeros(m), np.zeros(m, np.int64)
        self.alive = np.ones(m, bool)
        env.reset(np.arange(m), [rng.seed_value(k, rng.Stream.TRAIN_RESET, 0) for k in self.keys])
        self.obs = env.observation()

    def col(self, name: str) -> np.ndarray:
        """The config field `name` of every member."""
        return config_column(self.configs, name)

    def compact(self) -> None:
        """Keep only the rows of members still training (their state is copied, nothing else changes)."""
        keep = np.flatnonzero(self.alive)
        keep_t = torch.from_numpy(keep)
        for name in self._ROW_ARRAYS + ("obs",):
            setattr(self, name, getattr(self, name)[keep])
        for name in self._ROW_TENSORS:
            setattr(self, name, getattr(self, name)[keep_t])
        self.replay.select(keep)
        self.env.select(keep)
        self._select(keep)

    def _select(self, keep: np.ndarray) -> None:
        """Keep the rows `keep` of the trainer's networks and optimisers."""

    @torch.no_grad()
    def run(self) -> list[TrainResult]:
        while len(self.rows):
            self.tick()
            if self.alive.sum() <= 0.75 * len(self.rows):
                self.compact()
        return self.results

    def tick(self) -> None:
        raise NotImplementedError

    def advance(self, action: np.ndarray, stepped: tuple[np.ndarray, ...]) -> None:
        """The rest of a tick after the environment step `stepped` (`step_env`'s tuple) with `action`: store the
        transitions, one `update` of the rows that learn (`_learning`), then end, record and restart episodes."""
        alive = self.alive
        next_obs, reward, terminated, truncated, real, td_done = stepped
        self.record_step(next_obs, action, reward, td_done, real)
        diverged = np.zeros(len(alive), bool)
        active = alive & self._learning()
        if active.any():
            diverged = self.update(active)
            self.updates[active] += 1
        self.obs = self.end_episodes(alive & (terminated | truncated | diverged), diverged, next_obs)

    def _learning(self) -> np.ndarray:
        """Rows that update at this step (read after the step is recorded)."""
        raise NotImplementedError

    def update(self, active: np.ndarray) -> np.ndarray:
        """One update of every active row; returns the rows whose loss was not finite (they stop, diverged)."""
        raise NotImplementedError

    def record_step(self, next_obs, action, reward, td_done, real) -> np.ndarray:
        """Store the transitions (with the done of their TD targets) of the rows still training and advance their
        clocks and returns; their idx."""
        idx = np.flatnonzero(self.alive)
        self.replay.add(idx, self.obs, next_obs, action, reward, td_done)
        self.t[idx] += 1
        self.ep_len[idx] += 1
        self.ep_return[idx] += real[idx]  # the recorded return is the real one (see BatchedEnv)
        return idx

    def end_episodes(self, ended: np.ndarray, diverged: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """Record the episodes of rows `ended`; a member that diverged or meets its stopping rule stops, the
        others start their next episode. Returns next_obs with the restarted rows' first observations."""
        for i in np.flatnonzero(ended):
            member = self.rows[i]
            res = self.results[member]
            res.diverged = res.diverged or bool(diverged[i])
            res.returns.append(float(self.ep_return[i]))
            res.lengths.append(int(self.ep_len[i]))
            self._episode_ended(i, res.episodes)
            self.ep_return[i], self.ep_len[i] = 0.0, 0
            if res.diverged or should_stop(res.returns, res.steps, self.configs[member], self.solved):
                self.stop(i)
        restart = np.flatnonzero(ended & self.alive)
        if len(restart):
            self.env.reset(restart, [rng.seed_value(self.keys[i], rng.Stream.TRAIN_RESET,
                                                    self.results[self.rows[i]].episodes) for i in restart])
            next_obs = next_obs.copy()
            next_obs[restart] = self.env.observation()[restart]
        return next_obs

    def _episode_ended(self, i: int, episodes: int) -> None:
        """Per-episode schedules of row i, after its episodes-th episode."""

    def stop(self, i: int) -> None:
        """Row i's member has finished: mask it and keep its final parameters."""
        self.alive[i] = False
        self._keep_final(i, self.rows[i])

    def _keep_final(self, i: int, member: int) -> None:
        raise NotImplementedError


@torch.no_grad()
def evaluate_batched(task, policy, seeds: list[int], episodes: int,
                     env: BatchedEnv | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy test returns (real, see BatchedEnv) and lengths [M, episodes] of every member of `policy` (M
    members; `greedy(obs [M, episodes, obs_dim])` -> actions of the M * episodes copies), all at once: on the
    real task, or on `env` (M * episodes copies, member-major: copy i * episodes + e is member i's episode e)."""
    m = policy.m
    env = task.batched(m * episodes) if env is None else env
    keys = [rng.member_key(s) for s in seeds]
    env.reset(np.arange(m * episodes),
              [rng.seed_value(k, rng.Stream.TEST_RESET, e) for k in keys for e in range(episodes)])
    returns, lengths = np.zeros(m * episodes), np.zeros(m * episodes, np.int64)
    running = np.ones(m * episodes, bool)
    obs = env.observation()
    with np.errstate(all="ignore"):  # finished copies keep stepping (masked) and may leave the valid range
        while running.any():
            action = policy.greedy(torch.from_numpy(obs).view(m, episodes, -1))
            obs, _, terminated, truncated, real, _ = step_env(env, action)
            returns += np.where(running, real, 0.0)
            lengths += running
            running &= ~(terminated | truncated)
    return returns.reshape(m, episodes), lengths.reshape(m, episodes)
