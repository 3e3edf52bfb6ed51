"""The real tasks: a registry with gymnasium id, solved threshold, episode limit, seeded reset and a
vectorised copy of each task's dynamics (numpy float64, equal to gymnasium's step for step).

`TASKS` are the Discrete-action tasks SEs are learned for; `BOX_TASKS` the Box-action tasks with vectorised
dynamics (MountainCarContinuous-v0), which only reward networks use (an SE's action input is one-hot).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import gymnasium as gym
import numpy as np

from benchmark.errors import ConfigError


def gym_make(name: str, **kwargs) -> gym.Env:
    """gym.make without gymnasium's "out of date" warning: the paper's task versions (CartPole-v0) are chosen on
    purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
        return gym.make(name, **kwargs)


@dataclass(frozen=True)
class Task:
    """A real gymnasium task the suite can learn SEs for."""

    name: str
    """gymnasium id, e.g. CartPole-v0."""
    obs_dim: int
    """Length of the observation vector."""
    n_actions: int
    """Number of discrete actions (0 for a Box task)."""
    max_steps: int
    """Episode limit (truncation)."""
    solved: float
    """Mean test return at which the task counts as solved."""
    state_dim: int
    """Length of the internal physical state."""
    sample_state: Callable[[np.random.Generator], np.ndarray]
    """Draws a start state exactly as the gymnasium env's reset does from its np_random."""
    observe: Callable[[np.ndarray], np.ndarray]
    """Maps internal states [N, state_dim] to float32 observations [N, obs_dim]."""
    dynamics: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    """(states [N, state_dim], actions [N] (Discrete) or [N, action_dim] (Box)) -> (next states, rewards,
    terminated)."""
    action_dim: int = 0
    """Entries of a Box action, each in [-1, 1] (gymnasium's bounds for the registered tasks); 0: Discrete."""

    @property
    def action_space(self) -> gym.spaces.Space:
        """The task's gymnasium action space: Discrete(n_actions) or Box(-1, 1, (action_dim,), float32)."""
        if self.action_dim:
            return gym.spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)
        return gym.spaces.Discrete(self.n_actions)

    def make(self, seed: int | None = None) -> gym.Env:
        """A seeded gymnasium instance of the task."""
        env = gym_make(self.name)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        return env


# --- CartPole ----------------------------------------------------------------------------------------
_CP_GRAVITY, _CP_MASSPOLE, _CP_TOTAL_MASS, _CP_LENGTH = 9.8, 0.1, 1.1, 0.5
_CP_PML, _CP_FORCE, _CP_TAU = 0.05, 10.0, 0.02
_CP_THETA, _CP_X = 12 * 2 * np.pi / 360, 2.4


def _cartpole_state(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(low=-0.05, high=0.05, size=(4,))


def _cartpole_dynamics(s: np.ndarray, a: np.ndarray):
    x, x_dot, theta, theta_dot = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    force = np.where(a == 1, _CP_FORCE, -_CP_FORCE)
    cos, sin = np.cos(theta), np.sin(theta)
    temp = (force + _CP_PML * np.square(theta_dot) * sin) / _CP_TOTAL_MASS
    thetaacc = (_CP_GRAVITY * sin - cos * temp) / (
        _CP_LENGTH * (4.0 / 3.0 - _CP_MASSPOLE * np.square(cos) / _CP_TOTAL_MASS))
    xacc = temp - _CP_PML * thetaacc * cos / _CP_TOTAL_MASS
    nxt = np.stack([x + _CP_TAU * x_dot, x_dot + _CP_TAU * xacc,
                    theta + _CP_TAU * theta_dot, theta_dot + _CP_TAU * thetaacc], axis=1)
    term = (nxt[:, 0] < -_CP_X) | (nxt[:, 0] > _CP_X) | (nxt[:, 2] < -_CP_THETA) | (nxt[:, 2] > _CP_THETA)
    return nxt, np.ones(len(s)), term


# --- Acrobot -----------------------------------------------------------------------------------------
_AC_DT, _AC_G = 0.2, 9.8
_AC_MAX_VEL_1, _AC_MAX_VEL_2 = 4 * np.pi, 9 * np.pi
_AC_TORQUE = np.array([-1.0, 0.0, 1.0])


def _acrobot_state(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(low=-0.1, high=0.1, size=(4,)).astype(np.float32).astype(np.float64)


def _acrobot_dsdt(y: np.ndarray) -> np.ndarray:
    # unit masses, lengths and moments of inertia, centres of mass at 0.5; the "book" dynamics
    a, theta1, theta2, dtheta1, dtheta2 = y[:, 4], y[:, 0], y[:, 1], y[:, 2], y[:, 3]
    d1 = 0.25 + (1.0 + 0.25 + 2 * 0.5 * np.cos(theta2)) + 1.0 + 1.0
    d2 = (0.25 + 0.5 * np.cos(theta2)) + 1.0
    phi2 = 0.5 * _AC_G * np.cos(theta1 + theta2 - np.pi / 2.0)
    phi1 = (-0.5 * dtheta2 ** 2 * np.sin(theta2) - 2 * 0.5 * dtheta2 * dtheta1 * np.sin(theta2)
            + (0.5 + 1.0) * _AC_G * np.cos(theta1 - np.pi / 2) + phi2)
    ddtheta2 = (a + d2 / d1 * phi1 - 0.5 * dtheta1 ** 2 * np.sin(theta2) - phi2) / (0.25 + 1.0 - d2 ** 2 / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2, np.zeros_like(a)], axis=1)


def _wrap(x: np.ndarray, low: float, high: float) -> np.ndarray:
    diff = high - low
    x = x.copy()
    while np.any(x > high):
        x = np.where(x > high, x - diff, x)
    while np.any(x < low):
        x = np.where(x < low, x + diff, x)
    return x


def _acrobot_dynamics(s: np.ndarray, a: np.ndarray):
    y0 = np.concatenate([s, _AC_TORQUE[a][:, None]], axis=1)
    dt, dt2 = _AC_DT, _AC_DT / 2.0
    k1 = _acrobot_dsdt(y0)
    k2 = _acrobot_dsdt(y0 + dt2 * k1)
    k3 = _acrobot_dsdt(y0 + dt2 * k2)
    k4 = _acrobot_dsdt(y0 + dt * k3)
    ns = (y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4))[:, :4]
    ns[:, 0] = _wrap(ns[:, 0], -np.pi, np.pi)
    ns[:, 1] = _wrap(ns[:, 1], -np.pi, np.pi)
    ns[:, 2] = np.clip(ns[:, 2], -_AC_MAX_VEL_1, _AC_MAX_VEL_1)
    ns[:, 3] = np.clip(ns[:, 3], -_AC_MAX_VEL_2, _AC_MAX_VEL_2)
    term = -np.cos(ns[:, 0]) - np.cos(ns[:, 1] + ns[:, 0]) > 1.0
    return ns, np.where(term, 0.0, -1.0), term


def _acrobot_observe(s: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(s[:, 0]), np.sin(s[:, 0]), np.cos(s[:, 1]), np.sin(s[:, 1]), s[:, 2], s[:, 3]],
                    axis=1).astype(np.float32)


# --- MountainCarContinuous ------------------------------------------------------------------------------
_MC_POWER, _MC_MAX_SPEED, _MC_MIN_POS, _MC_MAX_POS, _MC_GOAL = 0.0015, 0.07, -1.2, 0.6, 0.45


def _mountain_car_state(rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.uniform(low=-0.6, high=-0.4), 0])


def _mountain_car_dynamics(s: np.ndarray, a: np.ndarray):
    """gymnasium's Continuous_MountainCarEnv.step: its scalar arithmetic is float64 (numpy scalars mixed with
    Python floats), its state float32 after every step (float64 after a reset), its action cost uses the
    unclipped action."""
    action = np.asarray(a, np.float64).reshape(len(s), -1)[:, 0]
    position, velocity = s[:, 0], s[:, 1]
    force = np.clip(action, -1.0, 1.0)
    velocity = velocity + (force * _MC_POWER - 0.0025 * np.cos(3 * position))
    velocity = np.where(velocity > _MC_MAX_SPEED, _MC_MAX_SPEED, velocity)
    velocity = np.where(velocity < -_MC_MAX_SPEED, -_MC_MAX_SPEED, velocity)
    position = position + velocity
    position = np.where(position > _MC_MAX_POS, _MC_MAX_POS, position)
    position = np.where(position < _MC_MIN_POS, _MC_MIN_POS, position)
    velocity = np.where((position == _MC_MIN_POS) & (velocity < 0), 0.0, velocity)
    term = (position >= _MC_GOAL) & (velocity >= 0.0)
    reward = np.where(term, 100.0, 0.0) - action ** 2 * 0.1
    return np.stack([position, velocity], axis=1).astype(np.float32).astype(np.float64), reward, term


TASKS: dict[str, Task] = {
    "CartPole-v0": Task("CartPole-v0", 4, 2, 200, 195.0, 4, _cartpole_state,
                        lambda s: s.astype(np.float32), _cartpole_dynamics),
    "CartPole-v1": Task("CartPole-v1", 4, 2, 500, 475.0, 4, _cartpole_state,
                        lambda s: s.astype(np.float32), _cartpole_dynamics),
    "Acrobot-v1": Task("Acrobot-v1", 6, 3, 500, -100.0, 4, _acrobot_state, _acrobot_observe, _acrobot_dynamics),
}


BOX_TASKS: dict[str, Task] = {
    "MountainCarContinuous-v0": Task("MountainCarContinuous-v0", 2, 0, 999, 90.0, 2, _mountain_car_state,
                                     lambda s: s.astype(np.float32), _mountain_car_dynamics, action_dim=1),
}


def vectorised_task(name: str) -> Task | None:
    """The task `name` of TASKS or BOX_TASKS (a copy of its dynamics exists), else None."""
    return TASKS.get(name) or BOX_TASKS.get(name)


def get_task(name: str) -> Task:
    """The registered task `name`, or a ConfigError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"task={name!r} is not a known task; choose one of {sorted(TASKS)}") from None


@lru_cache(maxsize=None)
def random_policy_return(name: str, episodes: int = 100, seed: int = 0) -> float:
    """Mean return of the uniformly random policy on task `name` over seeded episodes (CartPole-v0 about 22,
    Acrobot-v1 about -500): the level below which an agent has learned nothing."""
    task = vectorised_task(name) or get_task(name)
    env = BatchedTask(task, episodes)
    env.reset(np.arange(episodes), [seed * 100_003 + i for i in range(episodes)])
    rng = np.random.default_rng(seed)
    returns, alive = np.zeros(episodes), np.ones(episodes, dtype=bool)
    while alive.any():
        if task.action_dim:
            actions = rng.uniform(-1.0, 1.0, (episodes, task.action_dim))
        else:
            actions = rng.integers(task.n_actions, size=episodes)
        _, reward, term, trunc = env.step(actions)
        returns += np.where(alive, reward, 0.0)
        alive &= ~(term | trunc)
    return float(returns.mean())


class BatchedTask:
    """N independent copies of a real task stepped together; each copy has its own episode clock."""

    def __init__(self, task: Task, n: int):
        self.task, self.n = task, n
        self.state = np.zeros((n, task.state_dim))
        self.t = np.zeros(n, dtype=np.int64)

    def reset(self, idx: np.ndarray, seeds: list[int]) -> None:
        """Reset copies `idx` with gymnasium-equivalent seeded start states."""
        for i, seed in zip(idx, seeds):
            self.state[i] = self.task.sample_state(np.random.default_rng(seed))
        self.t[idx] = 0

    def observation(self) -> np.ndarray:
        return self.task.observe(self.state)

    def select(self, idx: np.ndarray) -> None:
        """Keep only copies `idx` (in that order)."""
        self.state, self.t, self.n = self.state[idx], self.t[idx], len(idx)

    def step(self, actions: np.ndarray):
        """Step every copy with actions [N] (Discrete) or [N, action_dim] (Box); returns (obs, reward,
        terminated, truncated) as arrays of length N."""
        self.state, reward, term = self.task.dynamics(self.state, actions)
        self.t += 1
        trunc = (self.t >= self.task.max_steps) & ~term
        return self.observation(), reward, term, trunc
