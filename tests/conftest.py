import os
import time
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


class NanEnv(gym.Env):
    """4-entry observations and rewards that turn NaN after three steps (truncated at 50), in `action_space`."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)

    def __init__(self, action_space: gym.Space):
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        bad = self.t > 3
        obs = np.full(4, np.nan if bad else 0.1, np.float32)
        return obs, float("nan") if bad else 1.0, False, self.t >= 50, {}


@pytest.fixture
def nan_env():
    """``nan_env(action_space)``: a NanEnv (observations and rewards that turn NaN after a few steps)."""
    return NanEnv


class RealReturns(gym.Wrapper):
    """Logs the reward of every step of the wrapped (real) environment, one list per episode."""

    def __init__(self, env):
        super().__init__(env)
        self.log: list[list[float]] = []

    def reset(self, **kwargs):
        self.log.append([])
        return self.env.reset(**kwargs)

    def step(self, action):
        out = self.env.step(action)
        self.log[-1].append(float(out[1]))
        return out


@pytest.fixture
def real_envs(monkeypatch):
    """Every environment `benchmark.rn.inner` makes (by task name) wrapped in RealReturns, so it sits under the
    RewardEnv; the list of those wrappers in the order they were made (training env first, then test env)."""
    from benchmark.envs.reward import make_env
    from benchmark.rn import inner

    made: list[RealReturns] = []
    monkeypatch.setattr(inner, "make_env", lambda task: made.append(RealReturns(make_env(task))) or made[-1])
    return made


def _process_gone(process) -> bool:
    """Whether a worker process has exited. A pool's management thread may reap it first, after which
    Process.is_alive() wrongly reports True (its waitpid fails), so a missing pid counts as gone too."""
    if process.exitcode is not None:
        return True
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def processes_gone():
    """processes_gone(processes, timeout) -> whether all of them exited within timeout seconds."""
    def wait(processes, timeout: float) -> bool:
        deadline = time.time() + timeout
        while not all(_process_gone(p) for p in processes) and time.time() < deadline:
            time.sleep(0.05)
        return all(_process_gone(p) for p in processes)
    return wait
