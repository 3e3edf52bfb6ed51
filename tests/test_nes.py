import numpy as np
import pytest

from benchmark.errors import ConfigError
from benchmark.nes.strategy import NESConfig, NESStrategy


@pytest.mark.parametrize("estimate", ["best_of_pair", "antithetic"])
@pytest.mark.parametrize("shaping", ["nes", "rank", "min_max", "nes_zero_mean"])
def test_ask_tell_drives_a_quadratic_to_its_optimum(shaping, estimate):
    optimum = np.array([1.0, -2.0, 0.5, 3.0])
    strategy = NESStrategy(np.zeros(4), NESConfig(population=16, noise_std=0.1, step_size=0.05,
                                                  shaping=shaping, mirrored_estimate=estimate))
    rng = np.random.default_rng(0)
    start = np.linalg.norm(strategy.centre - optimum)
    for _ in range(300):
        members = strategy.ask(rng)
        fitness = -((members - optimum) ** 2).sum(1)
        centre_score = -((strategy.centre - optimum) ** 2).sum()
        strategy.tell(fitness, centre_score)
    assert np.linalg.norm(strategy.centre - optimum) < 0.1 * start


def test_mirrored_members_are_antithetic_and_equal_pairs_cancel():
    strategy = NESStrategy(np.ones(5), NESConfig(population=3, shaping="min_max", mirrored_estimate="antithetic"))
    members = strategy.ask(np.random.default_rng(1))
    assert members.shape == (6, 5)
    np.testing.assert_allclose(members[0::2] - 1.0, -(members[1::2] - 1.0))
    fitness = np.repeat([1.0, 4.0, 2.0], 2)  # each +eps/-eps pair scores the same
    strategy.tell(fitness, 0.0)
    np.testing.assert_allclose(strategy.centre, np.ones(5), atol=1e-12)


def test_step_size_divided_by_population_and_weight_decay():
    cfg = NESConfig(population=2, mirrored_sampling=False, shaping="single_best", step_size=1.0,
                    nes_step_size=True, weight_decay=0.5)
    strategy = NESStrategy(np.full(3, 2.0), cfg)
    members = strategy.ask(np.random.default_rng(2))
    eps_best = members[1] - 2.0
    strategy.tell(np.array([0.0, 1.0]), 0.0)
    np.testing.assert_allclose(strategy.centre, 1.0 + eps_best / 2)


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="population=0.*\\[1, 10000\\]"):
        NESConfig(population=0)
    with pytest.raises(ConfigError, match="shaping='best'"):
        NESConfig(shaping="best")


def test_best_of_pair_keeps_the_better_direction():
    strategy = NESStrategy(np.zeros(2), NESConfig(population=2, shaping="single_best", step_size=1.0))
    members = strategy.ask(np.random.default_rng(3))
    fitness = np.array([1.0, 5.0, 2.0, 0.0])  # pair 0: -eps wins with 5 (the best); pair 1: +eps wins
    metrics = strategy.tell(fitness, 0.0)
    np.testing.assert_array_equal(metrics["utilities"], [1.0, 0.0])
    np.testing.assert_allclose(strategy.centre, members[1])
