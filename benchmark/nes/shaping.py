"""The paper's eight fitness shapings as pure functions (scores, centre score) -> utilities.

`scores` are the population's fitnesses (higher is better); `centre` is the score of the unperturbed SE,
used by the shapings that only reward members better than the centre.
"""
from __future__ import annotations

import enum
from typing import Callable

import numpy as np
import scipy.stats

_TINY = 1e-9  # guards divisions by a zero spread
_MARGIN = 1e-6  # a member must beat the centre by more than this to count as better


class ShapingName(str, enum.Enum):
    MIN_MAX = "min_max"
    RANK = "rank"
    NES = "nes"
    NES_ZERO_MEAN = "nes_zero_mean"
    SINGLE_BEST = "single_best"
    SINGLE_BEST_ABOVE_CENTRE = "single_best_above_centre"
    ABOVE_CENTRE_MAX = "above_centre_max"
    ABOVE_CENTRE_SUM = "above_centre_sum"


def min_max(scores: np.ndarray, centre: float) -> np.ndarray:
    """Linear map of [min, max] onto [0, 1]."""
    return (scores - scores.min()) / (scores.max() - scores.min() + _TINY)


def rank(scores: np.ndarray, centre: float) -> np.ndarray:
    """(Rank - 1) / (n - 1) with rank 1 for the worst: the worst gets 0, the best 1; ties share their mean rank."""
    return (scipy.stats.rankdata(scores) - 1.0) / max(len(scores) - 1, 1)


def _nes_utilities(scores: np.ndarray) -> np.ndarray:
    n = len(scores)
    ranks = scipy.stats.rankdata(-scores)  # best member has rank 1; ties share their mean rank
    u = np.maximum(0.0, np.log(n / 2 + 1) - np.log(ranks))
    return u / u.sum()


def nes(scores: np.ndarray, centre: float) -> np.ndarray:
    """Wierstra et al. (2014) rank utilities max(0, log(n/2+1) - log(rank)), normalised to sum 1, then to max 1."""
    u = _nes_utilities(scores)
    return u / u.max()


def nes_zero_mean(scores: np.ndarray, centre: float) -> np.ndarray:
    """NES utilities minus 1/n (zero mean), then divided by the largest; all zero (no step) when every member
    scored the same (the utilities are then all 1/n: nothing to tell them apart)."""
    u = _nes_utilities(scores) - 1.0 / len(scores)
    return u / u.max() if u.max() > _TINY else np.zeros_like(u)


def single_best(scores: np.ndarray, centre: float) -> np.ndarray:
    """1 for the best member, 0 elsewhere."""
    out = np.zeros(len(scores))
    out[np.argmax(scores)] = 1.0
    return out


def single_best_above_centre(scores: np.ndarray, centre: float) -> np.ndarray:
    """1 for the best member if it beats the centre, else all 0 (no step)."""
    return single_best(scores, centre) if np.any(scores > centre + _MARGIN) else np.zeros(len(scores))


def _above_centre(scores: np.ndarray, centre: float) -> np.ndarray:
    better = scores > centre + _MARGIN
    return np.where(better, (scores - centre) / (scores.max() - centre + _TINY), 0.0)


def above_centre_max(scores: np.ndarray, centre: float) -> np.ndarray:
    """Members better than the centre, weighted by their margin, normalised so the largest weight is 1."""
    u = _above_centre(scores, centre)
    return u / u.max() if u.max() > 0 else u


def above_centre_sum(scores: np.ndarray, centre: float) -> np.ndarray:
    """Members better than the centre, weighted by their margin, normalised so the weights sum to 1."""
    u = _above_centre(scores, centre)
    return u / u.sum() if u.sum() > 0 else u


SHAPINGS: dict[ShapingName, Callable[[np.ndarray, float], np.ndarray]] = {
    ShapingName.MIN_MAX: min_max,
    ShapingName.RANK: rank,
    ShapingName.NES: nes,
    ShapingName.NES_ZERO_MEAN: nes_zero_mean,
    ShapingName.SINGLE_BEST: single_best,
    ShapingName.SINGLE_BEST_ABOVE_CENTRE: single_best_above_centre,
    ShapingName.ABOVE_CENTRE_MAX: above_centre_max,
    ShapingName.ABOVE_CENTRE_SUM: above_centre_sum,
}


def shape(name: ShapingName | str, scores, centre: float) -> np.ndarray:
    """Apply the shaping called `name` (ValueError for a non-finite score: it would step the SE to NaN)."""
    scores = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(scores)) or not np.isfinite(centre):
        raise ValueError(f"shaping {name}: non-finite scores {scores.tolist()} or centre {centre}")
    return SHAPINGS[ShapingName(name)](scores, float(centre))
