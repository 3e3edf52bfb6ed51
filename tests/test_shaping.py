import numpy as np
import pytest

from benchmark.nes.shaping import SHAPINGS, ShapingName, shape

SCORES = [1.0, 0.0, 5.0]
CENTRE = 0.5
L = np.log
NES_RAW = np.array([L(2.5) - L(2), 0.0, L(2.5)])  # ranks 2, 3, 1 of n=3; max(0, log(n/2+1) - log(rank))


@pytest.mark.parametrize("name, expected", [
    ("min_max", [0.2, 0.0, 1.0]),
    ("rank", [0.5, 0.0, 1.0]),
    ("nes", NES_RAW / NES_RAW.max()),
    ("nes_zero_mean", (NES_RAW / NES_RAW.sum() - 1 / 3) / (NES_RAW / NES_RAW.sum() - 1 / 3).max()),
    ("single_best", [0.0, 0.0, 1.0]),
    ("single_best_above_centre", [0.0, 0.0, 1.0]),
    ("above_centre_max", [1 / 9, 0.0, 1.0]),
    ("above_centre_sum", [0.1, 0.0, 0.9]),
])
def test_shaping_against_hand_computed_values(name, expected):
    np.testing.assert_allclose(shape(name, SCORES, CENTRE), expected, rtol=1e-7, atol=1e-8)


def test_every_named_shaping_is_registered():
    assert set(SHAPINGS) == set(ShapingName) and len(SHAPINGS) == 8


@pytest.mark.parametrize("name", ["single_best_above_centre", "above_centre_max", "above_centre_sum"])
def test_no_member_above_centre_means_no_step(name):
    np.testing.assert_array_equal(shape(name, SCORES, 10.0), [0.0, 0.0, 0.0])


def test_nes_zero_mean_sums_to_zero_before_scaling():
    u = shape("nes_zero_mean", [3.0, 1.0, 2.0, 7.0], 0.0)
    assert abs(u.sum()) < 1e-12 and u.max() == 1.0


def test_ties_share_rank():
    np.testing.assert_array_equal(shape("rank", [2.0, 2.0], 0.0), [0.5, 0.5])


@pytest.mark.parametrize("name", [n.value for n in ShapingName])
def test_a_population_that_scored_alike_gets_finite_utilities(name):
    """All members tied (e.g. every agent at 9.4 early on, or at 200): no NaN, which would step the SE to NaN."""
    for scores in ([9.4] * 8, [200.0] * 2, [5.0]):
        assert np.all(np.isfinite(shape(name, scores, 9.4)))
    np.testing.assert_array_equal(shape("nes_zero_mean", [9.4] * 8, 0.0), np.zeros(8))  # nothing to tell apart


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [float("inf"), 1.0]])
def test_a_non_finite_score_is_refused_not_turned_into_a_step(bad):
    with pytest.raises(ValueError, match="non-finite"):
        shape("rank", bad, 0.0)
