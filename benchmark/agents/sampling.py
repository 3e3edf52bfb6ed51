"""Seeded sampling of varied agent hyperparameters from a search space onto a base config."""
from __future__ import annotations

import dataclasses

from search_spaces import builder


def sample_configs(base, n: int, seed: int, space: str = "ddqn_varied") -> list:
    """n configs: `base` with the hyperparameters of `space` (built around `base`'s values) drawn, seeded.

    Each value replaces the config field of the same name; nothing is renamed or transformed.
    """
    cs = builder(space)(seed=seed, defaults=base)
    samples = cs.sample_configuration(n) if n > 1 else [cs.sample_configuration()]
    return [dataclasses.replace(base, **{k: _plain(v) for k, v in dict(s).items()}) for s in samples]


def _plain(value):
    """numpy scalars -> Python scalars (configs stay JSON-safe)."""
    return value.item() if hasattr(value, "item") else value
