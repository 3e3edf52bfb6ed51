"""Counter-based random streams shared by the scalar and the batched engine.

Every random draw an agent makes is a pure function of (member key, stream, counter, index), so a member
draws the same numbers whether it trains alone (scalar engine) or in lockstep with others (batched engine),
and no generator state has to be carried between steps. The mixer is splitmix64's finaliser.
"""
from __future__ import annotations

import enum

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV_2_53 = 1.0 / float(1 << 53)


class Stream(enum.IntEnum):
    """Independent purposes for random numbers; each gets its own stream."""

    EXPLORE_COIN = 1  # epsilon-greedy: explore or not
    EXPLORE_ACTION = 2  # epsilon-greedy: which random action
    REPLAY = 3  # replay-buffer minibatch indices
    TRAIN_RESET = 4  # seeds of training-episode resets
    TEST_RESET = 5  # seeds of test-episode resets
    INIT = 6  # network initialisation seed


class SeedPath(enum.IntEnum):
    """What a family of child seeds (`child_seeds(seed, n, path, ...)`) is for; each purpose has its own."""

    INITIAL_PARAMETERS = 0  # an NES run's initial SE / RN parameters
    MEMBER_AGENTS = 1  # seeds of the agents that score an NES iteration's members
    MEMBER_HP = 2  # seed of those agents' hyperparameter sample
    CENTRE_AGENTS = 3  # seeds of the agents that score an NES iteration's centre
    CENTRE_HP = 4  # seed of those agents' hyperparameter sample
    HP_SAMPLE = 5  # after a path of agent seeds (a transfer cell's, an RN evaluation's): their hyperparameters
    TRANSITIONS = 7  # the supervised baseline's transition collectors
    PROXY_AGENTS = 11  # the agents of one proxy-objective evaluation


def _mix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def bits(key, stream: int, counter, index=0) -> np.ndarray:
    """64 random bits for each broadcast combination of key, counter and index (all uint64-able)."""
    with np.errstate(over="ignore"):
        x = _mix(np.asarray(key, dtype=np.uint64) ^ np.uint64(int(stream) * 0x632BE59BD9B4E019 % (1 << 64)))
        x = _mix(x ^ np.asarray(counter, dtype=np.uint64))
        return _mix(x ^ np.asarray(index, dtype=np.uint64))


def uniform(key, stream: int, counter, index=0) -> np.ndarray:
    """Uniform floats in [0, 1) (53-bit resolution)."""
    return (bits(key, stream, counter, index) >> _S11).astype(np.float64) * _INV_2_53


def integers(key, stream: int, counter, index, high) -> np.ndarray:
    """Uniform integers in [0, high) for positive `high` (broadcast)."""
    u = uniform(key, stream, counter, index)
    return np.minimum((u * np.asarray(high)).astype(np.int64), np.asarray(high, dtype=np.int64) - 1)


def normal(key, stream: int, counter, index=0) -> np.ndarray:
    """Standard normal floats (Box-Muller on the two 32-bit halves of one 64-bit draw), so a normal uses up the
    same single (counter, index) slot as a uniform: keep the indices of uniforms and normals apart."""
    b = bits(key, stream, counter, index)
    u1 = ((b >> np.uint64(32)).astype(np.float64) + 0.5) * (1.0 / 4294967296.0)  # (0, 1): log is finite
    u2 = (b & np.uint64(0xFFFFFFFF)).astype(np.float64) * (1.0 / 4294967296.0)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def seed_value(key, stream: int, counter, index=0) -> int:
    """A non-negative 63-bit integer seed (for gymnasium resets and torch generators)."""
    return int(bits(key, stream, counter, index) >> np.uint64(1))


def member_key(seed: int) -> int:
    """The 64-bit key of an agent with integer seed `seed`."""
    with np.errstate(over="ignore"):
        return int(_mix(np.asarray(seed % (1 << 64), dtype=np.uint64)))


def child_seeds(seed: int, n: int, *path: int) -> list[int]:
    """`n` independent child seeds of `seed` under a path (iteration, member, ...), via SeedSequence.spawn."""
    root = np.random.SeedSequence([seed, *path])
    return [int(c.generate_state(1, np.uint32)[0]) for c in root.spawn(n)]
