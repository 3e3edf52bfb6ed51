"""Saving figures (PNG + PDF, atomically, the same bytes for the same data) and seeded jitter for strip plots."""
from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmark import io  # noqa: E402

_NO_DATES = {"pdf": {"CreationDate": None}, "png": {}}  # a PDF otherwise embeds the time it was written


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """Write fig as out/stem.png and out/stem.pdf (tight layout, 120 dpi), close it; returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.tight_layout()
    for path in paths:
        fmt = path.suffix[1:]
        io.atomic_write(path, lambda p, fmt=fmt: fig.savefig(p, format=fmt, dpi=120, metadata=_NO_DATES[fmt]))
    plt.close(fig)
    return paths


@contextlib.contextmanager
def seeded_jitter(seed: int = 0):
    """seaborn's strip plots jitter with numpy's global generator: seed it for the plot, then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
