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


@dataclass(frozen=True)
class SEConfig:
    """Architecture of a synthetic environment."""

    hidden_size: int = 83
    """Units per hidden layer (paper: 83)."""
    hidden_layers: int = 1
    """Number of hidden layers (paper: 1)."""
    activation: str = "leaky_relu"
    """Hidden activation: tanh, relu or leaky_relu (paper: leaky_relu)."""
    state_bound: float = 1000.0
    """An output state beyond +-state_bound (or a non-finite output) ends the episode with reward 0."""

    def __post_init__(self):
        check_range("se.hidden_size", self.hidden_size, 1, 4096, integer=True)
        check_range("se.hidden_layers", self.hidden_layers, 1, 8, integer=True)
        check_choice("se.activation", self.activation, ACTIVATIONS)
        check_range("se.state_bound", self.state_bound, 1e-3, None)


def se_network(task: Task, config: SEConfig) -> torch.nn.Sequential:
    """The SE network: input = state ++ one-hot action; output = next state ++ reward ++ done output."""
    return mlp(task.obs_dim + task.n_actions, config.hidden_size, config.hidden_layers, task.obs_dim + 2,
               config.activation)


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
            return self._state.copy(), 0.0, True, False, {"diverged": True}
        self._state = next_state.astype(np.float32)
        terminated = done > DONE_THRESHOLD
        return self._state.copy(), reward, terminated, truncated and not terminated, {"diverged": False}


class BatchedSE:
    """M synthetic environments (one parameter vector each) stepped together; numpy in, numpy out.

    Behaves as M copies of SyntheticEnv: same reset distribution, termination, divergence rule and limit.
    """

    def __init__(self, task: Task, config: SEConfig, parameters: torch.Tensor):
        self.task, self.config = task, config
        parameters = torch.as_tensor(parameters, dtype=torch.float32)
        self.n = parameters.shape[0]
        shapes = [tuple(p.shape) for p in se_network(task, config).parameters()]
        self.layers, offset = [], 0
        for w_shape, b_shape in zip(shapes[::2], shapes[1::2]):
            w_size, b_size = int(np.prod(w_shape)), int(np.prod(b_shape))
            w = parameters[:, offset:offset + w_size].reshape(self.n, *w_shape).transpose(1, 2).contiguous()
            b = parameters[:, offset + w_size:offset + w_size + b_size].reshape(self.n, 1, *b_shape)
            self.layers.append((w, b))
            offset += w_size + b_size
        if offset != parameters.shape[1]:
            raise ValueError(f"SE parameter vectors have {parameters.shape[1]} entries; the architecture needs {offset}")
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
        return self.state.copy(), np.where(diverged, 0.0, reward), terminated, truncated


def load_se(path) -> SyntheticEnv:
    """The SE stored in folder `path` (se.safetensors + se.json) as a gymnasium environment."""
    from benchmark import io
    from benchmark.errors import ConfigError

    meta, weights = io.read_se(path)
    try:
        task, config = get_task(meta["task"]), SEConfig(**meta["architecture"])
        net = se_network(task, config)
        net.load_state_dict(weights)
    except (KeyError, TypeError, RuntimeError) as err:
        raise ConfigError(f"SE files in {path} do not match their metadata: {err}") from None
    return SyntheticEnv(task, flat_parameters(net), config)
