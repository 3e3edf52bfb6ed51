"""Figures: the same data gives the same bytes (docs/ figures regenerate without spurious diffs)."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.figures import save_figure, seeded_jitter


def _strip_figure(out):
    data = pd.DataFrame({"env": [0, 0, 0, 1, 1, 1], "score": [1.0, 2.0, 2.5, 3.0, 3.5, 1.5]})
    fig, ax = plt.subplots()
    with seeded_jitter():
        sns.stripplot(data=data, x="env", y="score", ax=ax)
    return save_figure(fig, out, "strip")


def test_a_figure_saved_twice_has_the_same_bytes_and_the_global_rng_moves_on(tmp_path):
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    first = _strip_figure(tmp_path / "a")
    assert np.random.random() == expected  # seeded_jitter restored numpy's global generator
    np.random.seed(123)
    second = _strip_figure(tmp_path / "b")
    assert [p.name for p in first] == ["strip.png", "strip.pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
