"""The real tasks: any registered gymnasium id with flat Box observations and Discrete actions (`gym_task`), with a
vectorised copy of the dynamics (numpy float64, equal to gymnasium's step for step) as the fast path for the tasks
that have one (`TASKS`).

`TASKS` are the Discrete-action tasks with a fast path; any other such gymnasium id is a generic task, stepped
through gymnasium's own vector env (`GymVectorTask`). `BOX_TASKS` are the Box-action tasks with vectorised dynamics
(MountainCarContinuous-v0), which only reward networks use (an SE's action input is one-hot).

To give a task a fast path: write its start-state sampler (drawing exactly as its reset does from np_random), its
observation map and its batched dynamics below, add it to TASKS, and add it to the step-for-step test against
gymnasium (tests/test_envs.py).
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from functools import lru_cache, partial
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
    solved: float | None
    """Mean test return at which the task counts as solved (None: its gymnasium spec names none and none was
    given; commands that need one refuse the task, `require_solved`)."""
    state_dim: int
    """Length of the internal physical state (the observation for a generic task)."""
    sample_state: Callable[[np.random.Generator], np.ndarray]
    """Draws a start state exactly as the gymnasium env's reset does from its np_random (the fast path: a copy of
    that code; a generic task: the env's own reset with the generator as its np_random)."""
    observe: Callable[[np.ndarray], np.ndarray]
    """Maps internal states [N, state_dim] to float32 observations [N, obs_dim]."""
    dynamics: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None
    """(states [N, state_dim], actions [N] (Discrete) or [N, action_dim] (Box)) -> (next states, rewards,
    terminated); None for a generic task (stepped through gymnasium)."""
    action_dim: int = 0
    """Entries of a Box action, each in [-1, 1] (gymnasium's bounds for the registered tasks); 0: Discrete."""

    @property
    def action_space(self) -> gym.spaces.Space:
        """The task's gymnasium action space: Discrete(n_actions) or Box(-1, 1, (action_dim,), float32)."""
        if self.action_dim:
            return gym.spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)
        return gym.spaces.Discrete(self.n_actions)

    @property
    def fast(self) -> bool:
        """A vectorised copy of the dynamics exists (else the task steps through gymnasium)."""
        return self.dynamics is not None

    def make(self, seed: int | None = None) -> gym.Env:
        """A seeded gymnasium instance of the task."""
        env = gym_make(self.name)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        return env

    def batched(self, n: int, asynchronous: bool = False):
        """n copies stepped together (a `benchmark.agents.lockstep.core.BatchedEnv`): the vectorised dynamics where the
        task has them, else gymnasium's vector env (`asynchronous`: AsyncVectorEnv, one process per copy)."""
        return BatchedTask(self, n) if self.fast else GymVectorTask(self, n, asynchronous)

    def require_solved(self, what: str = "this command") -> float:
        """The solved threshold; a ConfigError asking for --solved when the task has none."""
        if self.solved is None:
            raise ConfigError(f"task={self.name!r}: its gymnasium spec has no reward_threshold and {what} needs "
                              f"one: give the solved threshold with --solved (a mean test return)")
        return self.solved


def as_float32(states: np.ndarray) -> np.ndarray:
    return states.astype(np.float32)


# --- CartPole ----------------------------------------------------------------------------------------
_CP_GRAVITY, _CP_MASSPOLE, _CP_TOTAL_MASS, _CP_LENGTH = 9.8, 0.1, 1.1, 0.5
_CP_PML, _CP_FORCE, _CP_TAU = 0.05, 10.0, 0.02
CARTPOLE_THETA_LIMIT, CARTPOLE_X_LIMIT = 12 * 2 * np.pi / 360, 2.4
"""CartPole's failure limits: |pole angle| above 12 degrees (in radians), |cart position| above 2.4."""


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
    term = ((nxt[:, 0] < -CARTPOLE_X_LIMIT) | (nxt[:, 0] > CARTPOLE_X_LIMIT)
            | (nxt[:, 2] < -CARTPOLE_THETA_LIMIT) | (nxt[:, 2] > CARTPOLE_THETA_LIMIT))
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
_MC_POWER, _MC_MAX_POS = 0.0015, 0.6
MOUNTAIN_CAR_MAX_SPEED, MOUNTAIN_CAR_MIN_POS, MOUNTAIN_CAR_GOAL = 0.07, -1.2, 0.45
"""Mountain Car's speed limit, left wall and goal position (both versions, discrete and continuous)."""


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
    velocity = np.where(velocity > MOUNTAIN_CAR_MAX_SPEED, MOUNTAIN_CAR_MAX_SPEED, velocity)
    velocity = np.where(velocity < -MOUNTAIN_CAR_MAX_SPEED, -MOUNTAIN_CAR_MAX_SPEED, velocity)
    position = position + velocity
    position = np.where(position > _MC_MAX_POS, _MC_MAX_POS, position)
    position = np.where(position < MOUNTAIN_CAR_MIN_POS, MOUNTAIN_CAR_MIN_POS, position)
    velocity = np.where((position == MOUNTAIN_CAR_MIN_POS) & (velocity < 0), 0.0, velocity)
    term = (position >= MOUNTAIN_CAR_GOAL) & (velocity >= 0.0)
    reward = np.where(term, 100.0, 0.0) - action ** 2 * 0.1
    return np.stack([position, velocity], axis=1).astype(np.float32).astype(np.float64), reward, term


TASKS: dict[str, Task] = {
    "CartPole-v0": Task("CartPole-v0", 4, 2, 200, 195.0, 4, _cartpole_state, as_float32, _cartpole_dynamics),
    "CartPole-v1": Task("CartPole-v1", 4, 2, 500, 475.0, 4, _cartpole_state, as_float32, _cartpole_dynamics),
    "Acrobot-v1": Task("Acrobot-v1", 6, 3, 500, -100.0, 4, _acrobot_state, _acrobot_observe, _acrobot_dynamics),
}


# --- tasks without an SE fast path that reward networks learn for (episode limit, threshold) -------------
CLIFF_WALKING = "CliffWalking-v1"
"""gymnasium 1.4's Cliff Walking (4 x 12 grid, start 36, goal 47; -1 per step, -100 and back to the start for
stepping into the cliff; terminates only at the goal)."""
CLIFF_MAX_STEPS = 100
"""Episode limit for Cliff Walking (gymnasium sets none): a TimeLimit truncates episodes after 100 steps."""
CLIFF_SOLVED = -20.0
"""Cliff Walking counts as solved when the mean real return of the last 10 (early_out_num) training episodes
reaches -20 (the paper's Cliff threshold). The optimal return is -13; an epsilon-greedy agent that has learned
the cliff-edge path still explores, hence the margin."""

MOUNTAIN_CAR_CONTINUOUS = "MountainCarContinuous-v0"
"""gymnasium's continuous Mountain Car (a Box-action task with vectorised dynamics: `BOX_TASKS`)."""
MOUNTAIN_CAR_CONTINUOUS_MAX_STEPS = 999
"""Episode limit of MountainCarContinuous (gymnasium's own)."""
MOUNTAIN_CAR_CONTINUOUS_SOLVED = 90.0
"""MountainCarContinuous counts as solved at a mean return of 90 (gymnasium's reward_threshold)."""

HALF_CHEETAH = "HalfCheetah-v5"
"""gymnasium's MuJoCo HalfCheetah (17-dimensional observation, 6 torques in [-1, 1]; reward: forward velocity
minus 0.1 x squared torques; never terminates). An optional task: it needs the `mujoco` extra
(``pip install -e ".[mujoco]"``, i.e. gymnasium[mujoco]); without it `benchmark.envs.reward.make_env` raises a
ConfigError saying so."""
HALF_CHEETAH_MAX_STEPS = 1000
"""Episode limit of HalfCheetah (gymnasium's own, and the paper's code's max_steps)."""
HALF_CHEETAH_SOLVED = 3000.0
"""HalfCheetah counts as solved at a mean real return of 3000 over the last early_out_num training episodes: the
paper's threshold (solved_reward 3000 in automl/learning_environments' HalfCheetah-v3 RN configuration), not
gymnasium's reward_threshold of 4800 for HalfCheetah-v5, which TD3 reaches only after several hundred thousand
steps (v5 keeps v3's reward, so the paper's threshold means the same)."""

EXTRA_TASKS: dict[str, tuple[int, float]] = {CLIFF_WALKING: (CLIFF_MAX_STEPS, CLIFF_SOLVED),
                                             MOUNTAIN_CAR_CONTINUOUS: (MOUNTAIN_CAR_CONTINUOUS_MAX_STEPS,
                                                                       MOUNTAIN_CAR_CONTINUOUS_SOLVED),
                                             HALF_CHEETAH: (HALF_CHEETAH_MAX_STEPS, HALF_CHEETAH_SOLVED)}
"""Reward-network tasks outside `TASKS`: name -> (episode limit, solved threshold); their episode limit is what
`benchmark.envs.reward.make_env` makes the environment with."""


def task_limits(name: str) -> tuple[int, float]:
    """(episode limit, solved threshold) of an RN task: EXTRA_TASKS first, else the SE task registry (TASKS)."""
    if name in EXTRA_TASKS:
        return EXTRA_TASKS[name]
    if name in TASKS:
        return TASKS[name].max_steps, TASKS[name].solved
    raise ConfigError(f"task={name!r} has no episode limit and threshold; known: "
                      f"{sorted(set(EXTRA_TASKS) | set(TASKS))}")


BOX_TASKS: dict[str, Task] = {
    MOUNTAIN_CAR_CONTINUOUS: Task(MOUNTAIN_CAR_CONTINUOUS, 2, 0, MOUNTAIN_CAR_CONTINUOUS_MAX_STEPS,
                                  MOUNTAIN_CAR_CONTINUOUS_SOLVED, 2, _mountain_car_state, as_float32,
                                  _mountain_car_dynamics, action_dim=1),
}


def vectorised_task(name: str) -> Task | None:
    """The task `name` of TASKS or BOX_TASKS (a copy of its dynamics exists), else None."""
    return TASKS.get(name) or BOX_TASKS.get(name)


def get_task(name: str | Task, solved: float | None = None) -> Task:
    """The task `name` (a Task is returned as it is): its fast path (TASKS) where it has one, else the generic
    task of that gymnasium id (`gym_task`); `solved` overrides the threshold."""
    if isinstance(name, Task):
        return name if solved is None else dataclasses.replace(name, solved=float(solved))
    fast = TASKS.get(name)
    if fast is not None:
        return fast if solved is None else dataclasses.replace(fast, solved=float(solved))
    return gym_task(name, solved)


@lru_cache(maxsize=None)
def gym_task(name: str, solved: float | None = None) -> Task:
    """The generic task of gymnasium id `name`: sizes from its spaces, episode limit and threshold from its spec
    (`solved` where given), start states from its own seeded reset. ConfigError, naming what is wrong, for an id
    that is not registered, observations that are not a flat Box, or actions that are not Discrete."""
    try:
        spec = gym.spec(name)
    except gym.error.Error:
        raise ConfigError(f"task={name!r} is not a known task: not a registered gymnasium id (tasks with a fast "
                          f"path: {sorted(TASKS)})") from None
    env = gym_make(name)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if isinstance(act_space, gym.spaces.Box):
        raise ConfigError(f"task={name!r} has a Box action space ({act_space}); an SE's action input is a one-hot "
                          f"Discrete action, so SEs are for Discrete-action tasks: learn a reward network for this "
                          f"one (sebench train-rn)")
    if not isinstance(act_space, gym.spaces.Discrete):
        raise ConfigError(f"task={name!r}: SEs need a Discrete action space; this task's is {act_space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ConfigError(f"task={name!r}: SEs need flat Box observations (a vector); this task's are {obs_space}")
    limit = spec.max_episode_steps
    if not limit:
        raise ConfigError(f"task={name!r}: its gymnasium spec has no max_episode_steps; SEs need an episode limit "
                          f"(register the id with one)")
    threshold = spec.reward_threshold if solved is None else solved
    return Task(name, int(obs_space.shape[0]), int(act_space.n), int(limit),
                None if threshold is None else float(threshold), int(obs_space.shape[0]),
                partial(_gym_start_state, name), as_float32, None)


def _gym_start_state(name: str, rng: np.random.Generator) -> np.ndarray:
    """A start state of gymnasium id `name`: its own reset, drawing from `rng` as its np_random (so the generator
    of a seed gives what reset(seed=seed) gives, as the fast path's samplers do)."""
    env = _reset_env(name)
    env.np_random = rng
    return np.asarray(env.reset()[0], np.float64)


@lru_cache(maxsize=None)
def _reset_env(name: str) -> gym.Env:
    """One instance of `name` per process, used only for its reset (start states)."""
    return gym_make(name)


@lru_cache(maxsize=None)
def random_policy_return(name: str, episodes: int = 100, seed: int = 0) -> float:
    """Mean return of the uniformly random policy on task `name` over seeded episodes (CartPole-v0 about 22,
    Acrobot-v1 about -500): the level below which an agent has learned nothing."""
    task = vectorised_task(name) or get_task(name)
    env = task.batched(episodes)
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


class GymVectorTask:
    """N copies of a generic task stepped through gymnasium's own vector env (SyncVectorEnv, or AsyncVectorEnv
    with `asynchronous`): the same interface as BatchedTask. Copies are reset with the given seeds; finished
    copies reset themselves (gymnasium's same-step autoreset) until the caller resets them with its seed; copies
    dropped by `select` keep stepping, out of sight, with action 0."""

    def __init__(self, task: Task, n: int, asynchronous: bool = False):
        self.task, self.n = task, n
        makers = [partial(gym_make, task.name)] * n
        vector = gym.vector.AsyncVectorEnv if asynchronous else gym.vector.SyncVectorEnv
        self.vec = vector(makers, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        self.rows = np.arange(n)  # vector-env copy of each row
        self.obs = np.zeros((n, task.obs_dim), np.float32)  # of every copy

    def reset(self, idx: np.ndarray, seeds: list[int]) -> None:
        copies = self.rows[np.asarray(idx, np.int64)]
        mask = np.zeros(self.vec.num_envs, bool)
        mask[copies] = True
        seed_of = [None] * self.vec.num_envs
        for copy, seed in zip(copies, seeds):
            seed_of[copy] = int(seed)
        obs, _ = self.vec.reset(seed=seed_of, options={"reset_mask": mask})
        self.obs[mask] = obs[mask]

    def observation(self) -> np.ndarray:
        return self.obs[self.rows].copy()

    def select(self, idx: np.ndarray) -> None:
        """Keep only rows `idx` (in that order)."""
        self.rows, self.n = self.rows[idx], len(idx)

    def step(self, actions: np.ndarray):
        """Step every row with actions [N]; returns (obs, reward, terminated, truncated) of the rows, obs the last
        one of an episode that ended (gymnasium's final_obs)."""
        full = np.zeros(self.vec.num_envs, np.int64)
        full[self.rows] = actions
        obs, reward, term, trunc, info = self.vec.step(full)
        self.obs = np.asarray(obs, np.float32)
        last = self.obs.copy()
        ended = np.flatnonzero(term | trunc)
        if len(ended):
            last[ended] = np.stack([info["final_obs"][i] for i in ended])
        rows = self.rows
        return last[rows], np.asarray(reward, np.float64)[rows], np.asarray(term)[rows], np.asarray(trunc)[rows]

    def close(self) -> None:
        self.vec.close()
