"""sebench: learning synthetic environments (SEs) and reward networks for RL, and measuring what they are worth."""
import gymnasium

__version__ = "0.3.0"

SE_ENV_ID = "sebench/SyntheticEnv-v0"
"""gymnasium id of a stored SE: gymnasium.make("sebench/SyntheticEnv-v0", path=DIR)."""


def load_se(path):
    """The learned SE stored in folder `path` as a gymnasium.Env."""
    from benchmark.envs.synthetic import load_se as _load

    return _load(path)


if SE_ENV_ID not in gymnasium.registry:
    gymnasium.register(id=SE_ENV_ID, entry_point="benchmark.envs.synthetic:load_se")
