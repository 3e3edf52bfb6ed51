"""Reward networks (RNs): keep a real task's dynamics and learn to replace or augment its reward.

`RewardEnv` wraps a real gymnasium environment; a small MLP (the RN) turns each transition (s, a, s', r) into
the reward the agent learns from. The mode (`RewardMode`) says how:

===========================  =========================================================================
mode                         reward the agent sees for a transition s -> s' with real reward r
===========================  =========================================================================
potential_exclusive          gamma * Phi(x(s')) - Phi(x(s))
potential_additive           r + gamma * Phi(x(s')) - Phi(x(s))
potential_exclusive_info     gamma * Phi(x(s') ++ info(s')) - Phi(x(s) ++ info(s))
potential_additive_info      r + gamma * Phi(x(s') ++ info(s')) - Phi(x(s) ++ info(s))
plain_exclusive              f(x(s'))
plain_additive               r + f(x(s'))
plain_exclusive_info         f(x(s') ++ info(s'))
plain_additive_info          r + f(x(s') ++ info(s'))
---------------------------  -------------------------------------------------------------------------
real (baseline)              r  (identity; no parameters)
weighted_info_exclusive      w . info(s')      (baseline; parameters: w, one weight per info entry)
weighted_info_additive       r + w . info(s')  (baseline)
===========================  =========================================================================

Phi and f are the same network (one scalar output); only how its output is used differs. x(s) is the network's
state input: the observation as float32, or its one-hot code for a Discrete observation space (CliffWalking's
48 cells). gamma is the discount factor of the agent that trains on the RewardEnv (it is given to the wrapper,
not learned). The curiosity (ICM) baseline lives in `benchmark.agents.icm`, as it is trained online.

Documented choices (and where they differ from the paper's code, automl/learning_environments):

- **Terminal states have potential 0.** On a transition that *terminates* the episode (not one that is
  truncated by the time limit), Phi(s') is taken as 0. Potential-based shaping leaves the optimal policy of an
  episodic task unchanged only with this convention (Ng et al. 1999; Grzes 2017); the paper's code used
  Phi(s') of the terminal observation. Non-potential modes use f(s') of the terminal observation as is.
- **The info vector is a function of the observation** (`INFO_FEATURES`, below): a few task-specific,
  normalised features (distance to the goal, distance to failure, height, ...). The paper's code used the
  values of the environment's step-info dict, which gymnasium's tasks leave empty. Because info(s) depends on s
  only, the potential modes *with* info remain true potentials (Phi(s ++ info(s)) is a function of s), so they
  keep the policy-invariance guarantee.
- **Divergence.** A non-finite network term (NaN/inf output, or gamma*Phi(s') - Phi(s) overflowing) counts as 0:
  exclusive modes give 0, additive modes give r. The step's info then holds ``rn_diverged=True`` and the
  wrapper's `diverged` attribute stays True until the next `reset`; nothing raises.
- **Real reward.** Every step's info holds ``real_reward`` (the wrapped environment's reward), so agents report
  and stopping rules use the real return while they learn from the shaped one.

`BatchedRewardEnv` is N RewardEnvs of a task with vectorised dynamics (CartPole, Acrobot, MountainCarContinuous)
as one batched computation per step (stacked per-copy parameters and gammas), for the lockstep engine
(`benchmark.rn.engine`); it computes what RewardEnv computes for every mode (tested step for step).

Files: an RN is stored like an SE (`benchmark.schema.save_se`: se.safetensors + se.json) with metadata
``{"kind": "reward_network", "task": ..., "architecture": asdict(RNConfig), "gamma": ..., ...}``; `load_rn`
reads it back as a RewardEnv.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from benchmark.envs.tasks import (CARTPOLE_THETA_LIMIT, CARTPOLE_X_LIMIT, EXTRA_TASKS, MOUNTAIN_CAR_GOAL,
                                  MOUNTAIN_CAR_MAX_SPEED, MOUNTAIN_CAR_MIN_POS, gym_make)
from benchmark.errors import ConfigError, check_choice, check_range
from benchmark.nets import (ACTIVATION_FNS, ACTIVATIONS, flat_parameters, init_uniform_, linear_layers,
                            load_flat_parameters, mlp)


class RewardMode(str, enum.Enum):
    """How the reward network's output becomes the agent's reward (see the module docstring's table)."""

    POTENTIAL_EXCLUSIVE = "potential_exclusive"
    """gamma * Phi(s') - Phi(s): replaces the real reward; potential-based."""
    POTENTIAL_ADDITIVE = "potential_additive"
    """r + gamma * Phi(s') - Phi(s): potential-based shaping of the real reward."""
    POTENTIAL_EXCLUSIVE_INFO = "potential_exclusive_info"
    """As potential_exclusive, the network's input extended by the info vector."""
    POTENTIAL_ADDITIVE_INFO = "potential_additive_info"
    """As potential_additive, the network's input extended by the info vector."""
    PLAIN_EXCLUSIVE = "plain_exclusive"
    """f(s'): replaces the real reward; not potential-based."""
    PLAIN_ADDITIVE = "plain_additive"
    """r + f(s'): adds to the real reward; not potential-based."""
    PLAIN_EXCLUSIVE_INFO = "plain_exclusive_info"
    """As plain_exclusive, the network's input extended by the info vector."""
    PLAIN_ADDITIVE_INFO = "plain_additive_info"
    """As plain_additive, the network's input extended by the info vector."""
    REAL = "real"
    """Baseline: the real reward alone (identity wrapper, no parameters)."""
    WEIGHTED_INFO_EXCLUSIVE = "weighted_info_exclusive"
    """Baseline: w . info(s'), a learned weight per info entry, replaces the real reward."""
    WEIGHTED_INFO_ADDITIVE = "weighted_info_additive"
    """Baseline: r + w . info(s')."""

    @property
    def learned_network(self) -> bool:
        """One of the eight RN modes (an MLP), not a baseline."""
        return self in RN_MODES

    @property
    def potential(self) -> bool:
        return self.value.startswith("potential_")

    @property
    def additive(self) -> bool:
        """The real reward is kept and the network term added to it."""
        return self is RewardMode.REAL or self.value.endswith("additive") or self.value.endswith("additive_info")

    @property
    def uses_info(self) -> bool:
        """The info vector is (part of) the input."""
        return self.value.endswith("_info") or self.value.startswith("weighted_info")


RN_MODES: tuple[RewardMode, ...] = (
    RewardMode.POTENTIAL_EXCLUSIVE, RewardMode.POTENTIAL_ADDITIVE,
    RewardMode.POTENTIAL_EXCLUSIVE_INFO, RewardMode.POTENTIAL_ADDITIVE_INFO,
    RewardMode.PLAIN_EXCLUSIVE, RewardMode.PLAIN_ADDITIVE,
    RewardMode.PLAIN_EXCLUSIVE_INFO, RewardMode.PLAIN_ADDITIVE_INFO,
)
"""The eight reward-network modes: {potential, plain} x {exclusive, additive} x {without, with info}."""

BASELINE_MODES: tuple[RewardMode, ...] = (
    RewardMode.REAL, RewardMode.WEIGHTED_INFO_EXCLUSIVE, RewardMode.WEIGHTED_INFO_ADDITIVE)
"""Baselines expressed as modes of the same wrapper (ICM is separate: benchmark.agents.icm)."""


def make_env(name: str) -> gym.Env:
    """The real gymnasium environment of an RN task, with its episode limit (Cliff Walking: 100 steps); a task
    whose optional dependency is missing (HalfCheetah without mujoco) is a ConfigError that names the extra."""
    try:
        if name in EXTRA_TASKS:
            return gym_make(name, max_episode_steps=EXTRA_TASKS[name][0])
        return gym_make(name)
    except gym.error.DependencyNotInstalled as err:
        raise ConfigError(f"task={name!r} needs an optional dependency ({err}); for the MuJoCo tasks install "
                          "the mujoco extra: pip install -e \".[mujoco]\"") from None
    except gym.error.Error as err:
        raise ConfigError(f"task={name!r} cannot be made: {err}") from None


# --- info vectors ---------------------------------------------------------------------------------------
_MC_SPAN = MOUNTAIN_CAR_GOAL - MOUNTAIN_CAR_MIN_POS
"""Mountain Car's distance from the left wall to the goal (1.65): progress 1 at the goal."""


def _cliff_info(obs) -> np.ndarray:
    """Cliff Walking cell s (row = s // 12, col = s % 12): [row / 3, col / 11, Manhattan distance to the goal
    (3, 11) / 14]."""
    row, col = divmod(int(obs), 12)
    return np.array([row / 3.0, col / 11.0, ((3 - row) + (11 - col)) / 14.0], np.float32)


def _cartpole_info(obs) -> np.ndarray:
    """CartPole: distance to failure as fractions of the limits, [|x| / 2.4, |theta| / 12 degrees]."""
    return np.array([abs(obs[0]) / CARTPOLE_X_LIMIT, abs(obs[2]) / CARTPOLE_THETA_LIMIT], np.float32)


def _acrobot_info(obs) -> np.ndarray:
    """Acrobot: tip height over the pivot / 2 (the task ends above 0.5), -cos(t1) - cos(t1 + t2) over 2."""
    c1, s1, c2, s2 = obs[0], obs[1], obs[2], obs[3]
    return np.array([(-c1 - (c1 * c2 - s1 * s2)) / 2.0], np.float32)


def _mountain_car_info(obs) -> np.ndarray:
    """MountainCar(Continuous): [progress (pos + 1.2) / 1.65 (1 at the goal 0.45), |velocity| / 0.07,
    height (sin(3 pos) + 1) / 2]."""
    pos, vel = float(obs[0]), float(obs[1])
    return np.array([(pos - MOUNTAIN_CAR_MIN_POS) / _MC_SPAN, abs(vel) / MOUNTAIN_CAR_MAX_SPEED,
                     (np.sin(3 * pos) + 1) / 2], np.float32)


def _half_cheetah_info(obs) -> np.ndarray:
    """HalfCheetah: forward velocity of the torso (observation entry 8)."""
    return np.array([obs[8]], np.float32)


def _cartpole_info_batch(obs: np.ndarray) -> np.ndarray:
    """`_cartpole_info` of every row of obs [N, 4] (the same float64 arithmetic, bit for bit)."""
    o = np.asarray(obs, np.float32).astype(np.float64)
    return np.stack([np.abs(o[:, 0]) / CARTPOLE_X_LIMIT, np.abs(o[:, 2]) / CARTPOLE_THETA_LIMIT],
                    axis=1).astype(np.float32)


def _mountain_car_info_batch(obs: np.ndarray) -> np.ndarray:
    """`_mountain_car_info` of every row of obs [N, 2] (the same float64 arithmetic, bit for bit)."""
    o = np.asarray(obs, np.float32).astype(np.float64)
    pos, vel = o[:, 0], o[:, 1]
    return np.stack([(pos - MOUNTAIN_CAR_MIN_POS) / _MC_SPAN, np.abs(vel) / MOUNTAIN_CAR_MAX_SPEED,
                     (np.sin(3 * pos) + 1) / 2], axis=1).astype(np.float32)


def _acrobot_info_batch(obs: np.ndarray) -> np.ndarray:
    """`_acrobot_info` of every row of obs [N, 6] (the same float32 arithmetic, bit for bit)."""
    o = np.asarray(obs, np.float32)
    c1, s1, c2, s2 = o[:, 0], o[:, 1], o[:, 2], o[:, 3]
    return ((-c1 - (c1 * c2 - s1 * s2)) / np.float32(2.0))[:, None].astype(np.float32)


@dataclass(frozen=True)
class InfoFeatures:
    """A task's info vector: a fixed function of the observation."""

    dim: int
    fn: Callable[[object], np.ndarray]
    batch: Callable[[np.ndarray], np.ndarray] | None = None
    """fn of every row of an observation array [N, ...] at once, equal to fn row by row (None: row by row)."""

    def of_rows(self, obs: np.ndarray) -> np.ndarray:
        """Info vectors [N, dim] of the observations obs [N, ...]."""
        if self.batch is not None:
            return self.batch(obs)
        return np.stack([self.fn(o) for o in obs]).astype(np.float32).reshape(len(obs), self.dim)


INFO_FEATURES: dict[str, InfoFeatures] = {
    "CliffWalking": InfoFeatures(3, _cliff_info),
    "CartPole": InfoFeatures(2, _cartpole_info, _cartpole_info_batch),
    "Acrobot": InfoFeatures(1, _acrobot_info, _acrobot_info_batch),
    "MountainCarContinuous": InfoFeatures(3, _mountain_car_info, _mountain_car_info_batch),
    "MountainCar": InfoFeatures(3, _mountain_car_info, _mountain_car_info_batch),
    "HalfCheetah": InfoFeatures(1, _half_cheetah_info),
}
"""gymnasium id without version -> info features (see each function's docstring for its entries)."""


def info_features(task: str) -> InfoFeatures:
    """The info features of a gymnasium id (any version)."""
    base = task.split("-v")[0]
    if base not in INFO_FEATURES:
        raise ConfigError(f"task={task!r} has no info vector; tasks with one: {sorted(INFO_FEATURES)}")
    return INFO_FEATURES[base]


# --- config and network ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RNConfig:
    """Architecture of a reward network."""

    mode: str = "potential_additive"
    """A RewardMode value (see the module docstring); a RewardMode member is accepted and stored as its value."""
    hidden_size: int = 32
    """Units per hidden layer (paper: 32)."""
    hidden_layers: int = 1
    """Number of hidden layers (paper: 1)."""
    activation: str = "leaky_relu"
    """Hidden activation: tanh, relu or leaky_relu (paper: PReLU, which the suite does not have)."""

    def __post_init__(self):
        check_choice("rn.mode", getattr(self.mode, "value", self.mode), [m.value for m in RewardMode])
        object.__setattr__(self, "mode", RewardMode(self.mode).value)
        check_range("rn.hidden_size", self.hidden_size, 1, 4096, integer=True)
        check_range("rn.hidden_layers", self.hidden_layers, 1, 8, integer=True)
        check_choice("rn.activation", self.activation, ACTIVATIONS)

    @property
    def reward_mode(self) -> RewardMode:
        return RewardMode(self.mode)


def state_dim(space: gym.Space) -> int:
    """Length of the network's state input x(s): n for Discrete(n) (one-hot), the flat size of a Box."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    raise ConfigError(f"reward networks need a Discrete or Box observation space, not {space}")


def rn_network(obs_dim: int, config: RNConfig, info_dim: int = 0) -> nn.Module:
    """The network of `config`'s mode for a state input of obs_dim entries (one-hot size for Discrete tasks).

    RN modes: MLP (obs_dim [+ info_dim with info]) -> hidden layers -> 1. weighted_info: a bias-free Linear
    info_dim -> 1 (the weights w). real: an empty module (no parameters).
    """
    mode = config.reward_mode
    if mode.uses_info and info_dim < 1:
        raise ConfigError(f"rn.mode={mode.value!r} needs the task's info vector (info_dim >= 1)")
    if mode is RewardMode.REAL:
        return nn.Sequential()
    if not mode.learned_network:
        return nn.Linear(info_dim, 1, bias=False)
    in_dim = obs_dim + (info_dim if mode.uses_info else 0)
    return mlp(in_dim, config.hidden_size, config.hidden_layers, 1, config.activation)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def initial_rn_parameters(obs_dim: int, config: RNConfig, seed: int, info_dim: int = 0) -> torch.Tensor:
    """A seeded initial parameter vector: torch's default init scale for RN modes, zeros for weighted_info (the
    paper's start: the real reward), empty for real."""
    net = rn_network(obs_dim, config, info_dim)
    if parameter_count(net) == 0:
        return torch.zeros(0)
    if not config.reward_mode.learned_network:
        return torch.zeros(parameter_count(net))
    return flat_parameters(init_uniform_(net, torch.Generator().manual_seed(seed)))


def task_name(env: gym.Env) -> str:
    """The gymnasium id of an environment (its spec), for info features and file metadata."""
    spec = env.spec or getattr(env.unwrapped, "spec", None)
    if spec is None:
        raise ConfigError("the environment has no gymnasium spec; make it with gymnasium.make(...)")
    return spec.id


def rn_dims(env: gym.Env, config: RNConfig) -> tuple[int, int]:
    """(state input size, info size) of `env` for `config` (info size 0 when the mode does not use it)."""
    info_dim = info_features(task_name(env)).dim if config.reward_mode.uses_info else 0
    return state_dim(env.observation_space), info_dim


# --- the wrapper -------------------------------------------------------------------------------------------
class RewardEnv(gym.Wrapper):
    """A real environment whose reward comes from a reward network (see the module docstring for the modes).

    RewardEnv(env, parameters, config, gamma): `parameters` is the network's flat parameter vector (ignored for
    mode real), `gamma` the discount of the agent that will train on it. Observations, actions, termination and
    truncation are the wrapped environment's; each step's info adds ``real_reward`` (the real reward) and
    ``rn_diverged`` (the network term was non-finite and counted as 0).
    """

    def __init__(self, env: gym.Env, parameters, config: RNConfig = RNConfig(), gamma: float = 0.99):
        super().__init__(env)
        check_range("gamma", gamma, 0.0, 1.0)
        self.config, self.mode, self.gamma = config, config.reward_mode, float(gamma)
        self.task = task_name(env)
        self.discrete = isinstance(env.observation_space, gym.spaces.Discrete)
        self.obs_dim, self.info_dim = rn_dims(env, config)
        self._info_fn = info_features(self.task).fn if self.mode.uses_info else None
        self.net = rn_network(self.obs_dim, config, self.info_dim).eval()
        n = parameter_count(self.net)
        params = torch.zeros(0) if parameters is None else torch.as_tensor(parameters, dtype=torch.float32).flatten()
        if params.numel() != n:
            raise ConfigError(f"RN parameter vector has {params.numel()} entries; mode {self.mode.value!r} on "
                              f"{self.task} needs {n}")
        if n:
            load_flat_parameters(self.net, params)
        self._table = self._value_table() if self.discrete and n else None
        self._obs = None
        self.diverged = False

    @property
    def parameters(self) -> torch.Tensor:
        return flat_parameters(self.net) if parameter_count(self.net) else torch.zeros(0)

    def network_input(self, obs) -> np.ndarray:
        """x(obs) [++ info(obs)] as float32: the network's input for one observation."""
        if self.discrete:
            x = np.zeros(self.obs_dim, np.float32)
            x[int(obs)] = 1.0
        else:
            x = np.asarray(obs, np.float32).reshape(-1)
        if self.mode.uses_info and self.mode.learned_network:
            x = np.concatenate([x, self._info_fn(obs)])
        elif self.mode.uses_info:  # weighted_info: the info vector alone
            x = self._info_fn(obs)
        return x

    @torch.no_grad()
    def value(self, obs) -> float:
        """The network's output for one observation: Phi(s) or f(s) (w . info(s) for weighted_info)."""
        if self.mode is RewardMode.REAL:
            return 0.0
        if self._table is not None:
            return float(self._table[int(obs)])
        return float(self.net(torch.from_numpy(self.network_input(obs))[None])[0, 0])

    @torch.no_grad()
    def _value_table(self) -> np.ndarray:
        """Outputs for every state of a Discrete task at once (float64 copies of the float32 outputs)."""
        x = torch.from_numpy(np.stack([self.network_input(s) for s in range(self.obs_dim)]))
        return self.net(x)[:, 0].double().numpy()

    def shaping(self, obs, next_obs, terminated: bool) -> float:
        """The network term of a transition obs -> next_obs (non-finite: NaN, left to `step` to count as 0)."""
        mode = self.mode
        if mode is RewardMode.REAL:
            return 0.0
        if mode.potential:
            next_phi = 0.0 if terminated else self.value(next_obs)
            with np.errstate(over="ignore", invalid="ignore"):
                return float(np.float64(self.gamma) * next_phi - self.value(obs))
        return self.value(next_obs)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._obs, self.diverged = obs, False
        return obs, info

    def step(self, action):
        assert self._obs is not None, "call reset() before step()"
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        term = self.shaping(self._obs, next_obs, bool(terminated))
        bad = not np.isfinite(term)
        if bad:
            term, self.diverged = 0.0, True
        shaped = (float(reward) + term) if self.mode.additive else term
        self._obs = next_obs
        return next_obs, shaped, terminated, truncated, {**info, "real_reward": float(reward), "rn_diverged": bad}


class BatchedRewardEnv:
    """N RewardEnvs of one real task stepped together (the batched engine's BatchedEnv; numpy in, numpy out).

    Copy i is RewardEnv(task, parameters[i], config, gammas[i]) on a copy of the real task's vectorised dynamics
    (`benchmark.envs.tasks.BatchedTask`, equal to gymnasium step for step; actions [N] for a Discrete task,
    [N, action_dim] floats for a Box task such as MountainCarContinuous-v0): the same reward for every mode, the
    same terminal-potential rule and the same divergence rule (a non-finite network term counts as 0). The
    copies may hold different parameter vectors and gammas (different NES members and agents); all networks
    are evaluated as one stacked computation per step. `step` returns the real reward as a fifth array, so the
    lockstep engine records real returns while the agents learn from the shaped reward.

    `diverged[i]` (indexed by the original copy, kept through `select`) latches like
    `benchmark.rn.inner.DivergenceLatch`: a step of copy i within an episode gave a non-finite network term.
    Steps of a copy past its episode's end (masked copies of finished members keep stepping until compacted)
    do not count.
    """

    def __init__(self, task, config: RNConfig, parameters, gammas):
        from benchmark.envs.tasks import BatchedTask

        self.task, self.config, self.mode = task, config, config.reward_mode
        params = torch.as_tensor(np.asarray(parameters), dtype=torch.float32)
        if params.ndim != 2:
            raise ConfigError(f"RN parameters must be one row per copy, [N, D]; got shape {tuple(params.shape)}")
        self.n = params.shape[0]
        self.gamma = np.broadcast_to(np.asarray(gammas, np.float64), (self.n,)).copy()
        for g in self.gamma:
            check_range("gamma", float(g), 0.0, 1.0)
        self.base = BatchedTask(task, self.n)
        self.info = info_features(task.name) if self.mode.uses_info else None
        net = rn_network(task.obs_dim, config, self.info.dim if self.info else 0)
        if params.shape[1] != parameter_count(net):
            raise ConfigError(f"RN parameter vectors have {params.shape[1]} entries; mode {self.mode.value!r} on "
                              f"{task.name} needs {parameter_count(net)}")
        self.layers: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        offset = 0
        for layer in linear_layers(net):  # parameters_to_vector order: weight, then bias, layer by layer
            out_f, in_f = layer.weight.shape
            w = params[:, offset:offset + out_f * in_f].reshape(self.n, out_f, in_f).transpose(1, 2).contiguous()
            offset += out_f * in_f
            b = None
            if layer.bias is not None:
                b = params[:, offset:offset + out_f].reshape(self.n, 1, out_f).contiguous()
                offset += out_f
            self.layers.append((w, b))
        self.activation = ACTIVATION_FNS[config.activation]
        self.rows = np.arange(self.n)  # original copy index of each row
        self.diverged = np.zeros(self.n, bool)
        self.ended = np.ones(self.n, bool)  # the copy's episode has ended (or never started): steps are masked

    def reset(self, idx: np.ndarray, seeds: list[int]) -> None:
        self.base.reset(idx, seeds)
        self.ended[idx] = False

    def observation(self) -> np.ndarray:
        return self.base.observation()

    def select(self, idx: np.ndarray) -> None:
        """Keep only copies `idx` (in that order)."""
        self.base.select(idx)
        self.n = self.base.n
        rows = torch.from_numpy(np.asarray(idx))
        self.layers = [(w[rows], None if b is None else b[rows]) for w, b in self.layers]
        self.gamma, self.rows, self.ended = self.gamma[idx], self.rows[idx], self.ended[idx]

    def network_input(self, obs: np.ndarray) -> np.ndarray:
        """x(obs) [++ info(obs)] of every row of obs [N, obs_dim] (weighted_info: info(obs) alone)."""
        x = np.asarray(obs, np.float32)
        if self.info is None:
            return x
        info = self.info.of_rows(x)
        return np.concatenate([x, info], axis=1) if self.mode.learned_network else info

    @torch.no_grad()
    def values(self, obs: np.ndarray) -> np.ndarray:
        """Network outputs [N, K] (float64 copies of float32 outputs) of observations obs [N, K, obs_dim]; row i
        goes through copy i's network."""
        n, k, d = obs.shape
        x = torch.from_numpy(self.network_input(obs.reshape(n * k, d)).reshape(n, k, -1))
        for i, (w, b) in enumerate(self.layers):
            x = torch.bmm(x, w) if b is None else torch.baddbmm(b, x, w)
            if i < len(self.layers) - 1:
                x = self.activation(x)
        return x[:, :, 0].double().numpy()

    def shaping(self, obs: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray) -> np.ndarray:
        """RewardEnv.shaping of every copy's transition (non-finite entries left as they are)."""
        if self.mode is RewardMode.REAL:
            return np.zeros(len(obs))
        if self.mode.potential:
            phi = self.values(np.stack([obs, next_obs], axis=1))
            next_phi = np.where(terminated, 0.0, phi[:, 1])
            with np.errstate(over="ignore", invalid="ignore"):
                return self.gamma * next_phi - phi[:, 0]
        return self.values(next_obs[:, None])[:, 0]

    def step(self, actions: np.ndarray):
        """Step every copy with actions [N] (Discrete) or [N, action_dim] (Box); returns (obs, shaped reward,
        terminated, truncated, real reward), arrays of length N."""
        obs = self.base.observation()
        next_obs, reward, terminated, truncated = self.base.step(actions)
        with np.errstate(all="ignore"):  # masked copies may have left the valid range
            term = self.shaping(obs, next_obs, terminated)
        bad = ~np.isfinite(term)
        self.diverged[self.rows[bad & ~self.ended]] = True
        term = np.where(bad, 0.0, term)
        self.ended |= terminated | truncated
        shaped = reward + term if self.mode.additive else term
        return next_obs, shaped, terminated, truncated, reward


def real_reward(reward: float, info: dict) -> float:
    """The real reward of a step: info["real_reward"] when the environment is a RewardEnv (or ICM), else reward."""
    return float(info.get("real_reward", reward))


# --- files -------------------------------------------------------------------------------------------------
def save_rn(out, env: RewardEnv, extra_meta: dict | None = None) -> None:
    """The RN of `env` as <out>/se.safetensors + <out>/se.json (the SE format), kind reward_network; `out` is
    created if missing; extra_meta (seed, training settings, scores, ...) is merged into the metadata."""
    from pathlib import Path

    from benchmark import schema

    Path(out).mkdir(parents=True, exist_ok=True)

    meta = {"kind": "reward_network", "task": env.task, "architecture": dataclasses.asdict(env.config),
            "gamma": env.gamma, "obs_dim": env.obs_dim, "info_dim": env.info_dim, **(extra_meta or {})}
    schema.save_se(out, env.net.state_dict(), meta)


def load_rn(path, env: gym.Env | None = None, gamma: float | None = None) -> RewardEnv:
    """The RN stored in folder `path` wrapped around `env` (default: a fresh real environment of its task).

    gamma: the discount of the agent that will train on it (default: the gamma stored with the RN, i.e. that
    of the agent it was trained with).
    """
    from benchmark import schema

    meta, weights = schema.read_se(path)
    if meta.get("kind") != "reward_network":
        raise ConfigError(f"{path} holds a {meta.get('kind', 'unknown')!r}, not a reward network")
    try:
        config = RNConfig(**meta["architecture"])
        task = meta["task"]
        gamma = meta["gamma"] if gamma is None else gamma
    except (KeyError, TypeError) as err:
        raise ConfigError(f"RN files in {path} do not match their metadata: {err}") from None
    env = make_env(task) if env is None else env
    if task_name(env) != task:
        raise ConfigError(f"the RN in {path} is for {task}; the environment given is {task_name(env)}")
    obs_dim, info_dim = rn_dims(env, config)
    net = rn_network(obs_dim, config, info_dim)
    try:
        net.load_state_dict(weights)
    except RuntimeError as err:
        raise ConfigError(f"RN files in {path} do not match their metadata: {err}") from None
    params = flat_parameters(net) if parameter_count(net) else torch.zeros(0)
    return RewardEnv(env, params, config, gamma)
