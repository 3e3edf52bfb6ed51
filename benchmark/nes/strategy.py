"""Natural Evolution Strategies on a flat parameter vector, with an ask/tell interface."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.errors import check_choice, check_range
from benchmark.nes.shaping import ShapingName, shape


MIRRORED_ESTIMATES = ("best_of_pair", "antithetic")


@dataclass(frozen=True)
class NESConfig:
    """Outer-loop hyperparameters (paper settings for CartPole)."""

    population: int = 16
    """Number of noise directions P; with mirrored sampling each is evaluated as +eps and -eps (2P members)."""
    noise_std: float = 0.0124
    """Standard deviation of the parameter noise."""
    step_size: float = 0.148
    """Step size of the update centre += step_size * sum(utility_i * eps_i)."""
    nes_step_size: bool = False
    """Divide the step size by the population size P."""
    mirrored_sampling: bool = True
    """Antithetic pairs (+eps, -eps)."""
    mirrored_estimate: str = "best_of_pair"
    """How a pair enters the update: best_of_pair (the paper's code: the better of +eps/-eps, with its score,
    is one of P shaped members) or antithetic (all 2P members shaped; a pair contributes (u+ - u-) eps)."""
    shaping: str = ShapingName.NES.value
    """Fitness shaping, one of benchmark.nes.shaping.ShapingName."""
    weight_decay: float = 0.0
    """Centre is multiplied by (1 - weight_decay) before each step."""

    def __post_init__(self):
        check_range("population", self.population, 1, 10_000, integer=True)
        check_range("noise_std", self.noise_std, 1e-8, 100.0)
        check_range("step_size", self.step_size, 0.0, 100.0)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_choice("shaping", self.shaping, [s.value for s in ShapingName])
        check_choice("mirrored_estimate", self.mirrored_estimate, MIRRORED_ESTIMATES)

    @property
    def members(self) -> int:
        """Perturbed SEs evaluated per iteration."""
        return 2 * self.population if self.mirrored_sampling else self.population


class NESStrategy:
    """ask(rng) -> perturbed parameter vectors; tell(fitness, centre_score) -> metrics and an updated centre."""

    def __init__(self, centre: np.ndarray, config: NESConfig):
        self.centre = np.asarray(centre, dtype=np.float64).copy()
        self.config = config
        self._eps: np.ndarray | None = None

    def ask(self, rng: np.random.Generator) -> np.ndarray:
        """Members as rows: [c+e1, c-e1, c+e2, c-e2, ...] when mirrored, else [c+e1, c+e2, ...]."""
        cfg = self.config
        eps = rng.standard_normal((cfg.population, self.centre.size)) * cfg.noise_std
        if cfg.mirrored_sampling:
            eps = np.stack([eps, -eps], axis=1).reshape(-1, self.centre.size)
        self._eps = eps
        return self.centre[None] + eps

    def tell(self, fitness: np.ndarray, centre_score: float) -> dict:
        """Shape the members' fitness, step the centre; returns the utilities (one per shaped member: P for
        best_of_pair, else one per member) and the step norm."""
        assert self._eps is not None, "call ask() before tell()"
        fitness = np.asarray(fitness, dtype=np.float64)
        if fitness.shape != (len(self._eps),):
            raise ValueError(f"expected {len(self._eps)} fitness values, got shape {fitness.shape}")
        cfg = self.config
        eps = self._eps
        if cfg.mirrored_sampling and cfg.mirrored_estimate == "best_of_pair":
            plus_wins = fitness[0::2] >= fitness[1::2]
            fitness = np.where(plus_wins, fitness[0::2], fitness[1::2])
            eps = np.where(plus_wins[:, None], eps[0::2], eps[1::2])
        utilities = shape(cfg.shaping, fitness, centre_score)
        step_size = cfg.step_size / cfg.population if cfg.nes_step_size else cfg.step_size
        step = step_size * utilities @ eps
        self.centre = self.centre * (1.0 - cfg.weight_decay) + step
        self._eps = None
        return {"utilities": utilities, "step_norm": float(np.linalg.norm(step))}
