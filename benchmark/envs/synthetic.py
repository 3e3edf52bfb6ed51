"""The synthetic environment (SE): a small MLP that maps (state, action) to (next state, reward, done)."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from benchmark.envs.tasks import Task, get_task
from benchmark.errors import check_choice, check_range
from benchmark.nets import ACTIVATION_FNS, ACTIVATIONS, flat_parameters, init_uniform_, load_flat_parameters, mlp


DONE_THRESHOLD = 0.5
"""An episode on an SE ends when the done output exceeds this (as in the paper's code): a fresh SE's done
output is near 0, so its episodes start long and the SE learns when to end them."""


SE_HEADS = ("separate", "shared")
"""separate: next state, reward and done each from its own MLP (the paper's transfer SEs); shared: one MLP whose
last layer outputs all three (the paper's later "opt" SEs)."""
DONE_TARGETS = ("raw", "boolean")
"""What an agent trained on the SE stores as its transition's done, the d of its TD target r + gamma (1 - d) Q':
raw: the SE's done output itself, a learned soft discount (the paper's code); boolean: 1 when the episode
ended, else 0."""
LEGACY_SE_FIELDS = {"heads": "shared", "done_target": "boolean"}
"""The values of the fields added in 0.3.0 that an SE written before them was learned with."""


@dataclass(frozen=True)
class SEConfig:
    """Architecture of a synthetic environment (defaults: the paper's transfer SEs)."""

    hidden_size: int = 128
    """Units per hidden layer (of each head when heads is separate)."""
    hidden_layers: int = 1
    """Number of hidden layers."""
    activation: str = "leaky_relu"
    """Hidden activation: tanh, relu or leaky_relu."""
    state_bound: float = 1000.0
    """An output state beyond +-state_bound (or a non-finite output) ends the episode with reward 0."""
    heads: str = "separate"
    """separate (one MLP each for next state, reward and done) or shared (one MLP for all three)."""
    done_target: str = "raw"
    """raw (the done output is the agents' soft discount) or boolean (episode ended: 1, else 0)."""

    def __post_init__(self):
        check_range("se.hidden_size", self.hidden_size, 1, 4096, integer=True)
        check_range("se.hidden_layers", self.hidden_layers, 1, 8, integer=True)
        check_choice("se.activation", self.activation, ACTIVATIONS)
        check_range("se.state_bound", self.state_bound, 1e-3, None)
        check_choice("se.heads", self.heads, SE_HEADS)
        check_choice("se.done_target", self.done_target, DONE_TARGETS)

    @classmethod
    def from_dict(cls, d: dict) -> "SEConfig":
        """An SEConfig from metadata; fields an older sebench did not write take the values it used."""
        return cls(**{**LEGACY_SE_FIELDS, **d})


def head_outputs(task: Task, config: SEConfig) -> list[int]:
    """Output sizes of the SE's MLPs, in parameter order: [next state, reward, done] (separate) or their sum
    (shared); either way the network's output is next state ++ reward ++ done."""
    return [task.obs_dim, 1, 1] if config.heads == "separate" else [task.obs_dim + 2]


class SeparateHeads(torch.nn.Module):
    """One MLP per output (next state, reward, done) on the same input; their outputs concatenated."""

    def __init__(self, in_dim: int, outputs: list[int], config: SEConfig):
        super().__init__()
        names = ("state", "reward", "done")
        for name, out in zip(names, outputs):
            self.add_module(name, mlp(in_dim, config.hidden_size, config.hidden_layers, out, config.activation))
        self.names = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, name)(x) for name in self.names], dim=-1)


def se_network(task: Task, config: SEConfig) -> torch.nn.Module:
    """The SE network: input = state ++ one-hot action; output = next state ++ reward ++ done output."""
    in_dim, outputs = task.obs_dim + task.n_actions, head_outputs(task, config)
    if config.heads == "shared":
        return mlp(in_dim, config.hidden_size, config.hidden_layers, outputs[0], config.activation)
    return SeparateHeads(in_dim, outputs, config)


def initial_se_parameters(task: Task, config: SEConfig, seed: int) -> torch.Tensor:
    """A seeded initial SE parameter vector."""
    net = se_network(task, config)
    return flat_parameters(init_uniform_(net, torch.Generator().manual_seed(seed)))


class SyntheticEnv(gym.Env):
    """A learned SE as a gymnasium environment with the real task's action space and episode limit.

    Observations have the real task's shape and dtype; their box is +-state_bound, not the real task's box
    (a learned SE is not bound by it, and an output beyond state_bound ends the episode). Start states are
    drawn, seeded, from the real task's reset distribution.
    """

    metadata = {"render_modes": []}

    def __init__(self, task: str | Task, parameters, config: SEConfig = SEConfig()):
        self.task = get_task(task) if isinstance(task, str) else task
        self.config = config
        self.net = load_flat_parameters(se_network(self.task, config), parameters).eval()
        bound = config.state_bound
        self.observation_space = gym.spaces.Box(-bound, bound, (self.task.obs_dim,), np.float32)
        self.action_space = gym.spaces.Discrete(self.task.n_actions)
        self._state: np.ndarray | None = None
        self._t = 0

    @property
    def parameters(self) -> torch.Tensor:
        return flat_parameters(self.net)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = self.task.observe(self.task.sample_state(self.np_random)[None])[0]
        self._t = 0
        return self._state.copy(), {}

    def step(self, action):
        """The SE's step; info["td_done"] is the done an agent stores for its TD target (`td_done`)."""
        assert self._state is not None, "call reset() before step()"
        x = np.zeros(self.task.obs_dim + self.task.n_actions, dtype=np.float32)
        x[: self.task.obs_dim] = self._state
        x[self.task.obs_dim + int(action)] = 1.0
        with torch.no_grad():
            out = self.net(torch.from_numpy(x)[None])[0].numpy()
        next_state, reward, done = out[: self.task.obs_dim], float(out[-2]), float(out[-1])
        self._t += 1
        truncated = self._t >= self.task.max_steps
        if not np.all(np.isfinite(out)) or np.any(np.abs(next_state) > self.config.state_bound):
            # a broken or exploding SE ends the episode and gives nothing; the last finite state is kept
            return self._state.copy(), 0.0, True, False, {"diverged": True, "td_done": 1.0}
        self._state = next_state.astype(np.float32)
        terminated = done > DONE_THRESHOLD
        learned = done if self.config.done_target == "raw" else float(terminated)
        return (self._state.copy(), reward, terminated, truncated and not terminated,
                {"diverged": False, "td_done": learned})


def td_done(terminated: bool, info: dict) -> float:
    """The done an agent stores for its TD target r + gamma (1 - done) Q': the SE's (info["td_done"], see
    SEConfig.done_target) where the environment gives one, else whether the episode terminated."""
    return float(info.get("td_done", terminated))


class BatchedSE:
    """M synthetic environments (one parameter vector each) stepped together; numpy in, numpy out.

    Behaves as M copies of SyntheticEnv: same reset distribution, termination, divergence rule and limit. The
    heads of a separate-heads SE run fused: their first layers as one matrix, the later ones block-diagonal.
    """

    def __init__(self, task: Task, config: SEConfig, parameters: torch.Tensor):
        self.task, self.config = task, config
        parameters = torch.as_tensor(parameters, dtype=torch.float32)
        self.n = parameters.shape[0]
        self.layers = _fused_layers(task, config, parameters)
        self.activation = ACTIVATION_FNS[config.activation]
        self.state = np.zeros((self.n, task.obs_dim), np.float32)
        self.t = np.zeros(self.n, np.int64)
        self._onehot = torch.eye(task.n_actions)

    def reset(self, idx: np.ndarray, seeds: list[int]) -> None:
        for i, seed in zip(idx, seeds):
            self.state[i] = self.task.observe(self.task.sample_state(np.random.default_rng(seed))[None])[0]
        self.t[idx] = 0

    def observation(self) -> np.ndarray:
        return self.state.copy()

    def select(self, idx: np.ndarray) -> None:
        """Keep only SEs `idx` (in that order)."""
        rows = torch.from_numpy(np.asarray(idx))
        self.layers = [(w[rows], b[rows]) for w, b in self.layers]
        self.state, self.t, self.n = self.state[idx], self.t[idx], len(idx)

    @torch.no_grad()
    def step(self, actions: np.ndarray):
        """(next obs, reward, terminated, truncated, real reward (= reward), td_done) of every copy."""
        x = torch.cat([torch.from_numpy(self.state), self._onehot[torch.from_numpy(actions)]], dim=1)[:, None, :]
        for i, (w, b) in enumerate(self.layers):
            x = torch.baddbmm(b, x, w)
            if i < len(self.layers) - 1:
                x = self.activation(x)
        out = x[:, 0].numpy()
        obs_dim = self.task.obs_dim
        next_state, reward, done = out[:, :obs_dim], out[:, obs_dim].astype(np.float64), out[:, obs_dim + 1]
        diverged = ~np.isfinite(out).all(1) | (np.abs(next_state) > self.config.state_bound).any(1)
        terminated = (done > DONE_THRESHOLD) | diverged
        self.state = np.where(diverged[:, None], self.state, next_state).astype(np.float32)
        self.t += 1
        truncated = (self.t >= self.task.max_steps) & ~terminated
        reward = np.where(diverged, 0.0, reward)
        learned = done if self.config.done_target == "raw" else terminated
        learned = np.where(diverged, 1.0, learned).astype(np.float32)
        return self.state.copy(), reward, terminated, truncated, reward, learned


def _fused_layers(task: Task, config: SEConfig, parameters: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The SE's layers as (weights [n, in, out], biases [n, 1, out]) of n parameter vectors: one MLP as it is;
    separate heads side by side (first layers concatenated, later layers block-diagonal), so that one batched
    matmul per layer computes all heads and the last layer's output is next state ++ reward ++ done."""
    n = parameters.shape[0]
    shapes = [tuple(p.shape) for p in se_network(task, config).parameters()]
    per_head = 2 * (config.hidden_layers + 1)
    heads = [shapes[i:i + per_head] for i in range(0, len(shapes), per_head)]
    offset, layers = 0, [[] for _ in range(config.hidden_layers + 1)]
    for head in heads:
        for k, (w_shape, b_shape) in enumerate(zip(head[::2], head[1::2])):
            w_size, b_size = int(np.prod(w_shape)), int(np.prod(b_shape))
            w = parameters[:, offset:offset + w_size].reshape(n, *w_shape).transpose(1, 2)
            b = parameters[:, offset + w_size:offset + w_size + b_size].reshape(n, 1, *b_shape)
            layers[k].append((w, b))
            offset += w_size + b_size
    if offset != parameters.shape[1]:
        raise ValueError(f"SE parameter vectors have {parameters.shape[1]} entries; the architecture needs {offset}")
    fused = []
    for k, parts in enumerate(layers):
        bias = torch.cat([b for _, b in parts], dim=2)
        if k == 0:  # every head reads the same input
            weight = torch.cat([w for w, _ in parts], dim=2)
        else:
            weight = torch.zeros(n, sum(w.shape[1] for w, _ in parts), sum(w.shape[2] for w, _ in parts))
            row = col = 0
            for w, _ in parts:
                weight[:, row:row + w.shape[1], col:col + w.shape[2]] = w
                row, col = row + w.shape[1], col + w.shape[2]
        fused.append((weight.contiguous(), bias.contiguous()))
    return fused


def load_se(path) -> SyntheticEnv:
    """The SE stored in folder `path` (se.safetensors + se.json) as a gymnasium environment."""
    from pathlib import Path

    from benchmark import schema
    from benchmark.config_layers import check_fields
    from benchmark.errors import ConfigError

    meta, weights = schema.read_se(path)
    source = f"SE metadata {Path(path) / schema.SE_META}"
    if not isinstance(meta, dict) or not isinstance(meta.get("task"), str) or "architecture" not in meta:
        raise ConfigError(f"{source}: expected a JSON object with a string 'task' and an 'architecture' object")
    try:  # field names and types first, then the ranges and choices of SEConfig
        config = SEConfig.from_dict(check_fields(SEConfig, meta["architecture"], source, "architecture."))
    except ConfigError as err:
        raise ConfigError(str(err) if str(err).startswith(source) else f"{source}: architecture: {err}") from None
    try:
        task = get_task(meta["task"])
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    try:
        net = se_network(task, config)
        net.load_state_dict(weights)
    except (KeyError, TypeError, RuntimeError) as err:
        raise ConfigError(f"SE files in {path} do not match their metadata: {err}") from None
    return SyntheticEnv(task, flat_parameters(net), config)
