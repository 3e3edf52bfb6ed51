"""Learning curves of SE training runs: centre score and member scores per NES iteration."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.figures import save_figure  # noqa: E402
from benchmark import io, schema  # noqa: E402


def plot_runs(run_dirs: list[Path], out: Path) -> list[Path]:
    """One figure of every run's centre score (line) and member scores (dots) per iteration, as PNG and PDF."""
    frames, thresholds = [], set()
    for run in run_dirs:
        history = pd.read_csv(Path(run) / schema.HISTORY)
        history["run"] = Path(run).name
        frames.append(history)
        thresholds.add(_threshold(Path(run)))
    data = pd.concat(frames, ignore_index=True)
    members = data.assign(member_score=data.member_scores.map(json.loads)).explode("member_score")
    members["member_score"] = members.member_score.astype(float)
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sns.scatterplot(data=members, x="iteration", y="member_score", hue="run", alpha=0.15, s=10, legend=False, ax=ax)
    sns.lineplot(data=data, x="iteration", y="centre_score", hue="run", marker="o", ax=ax)
    sns.lineplot(data=data, x="iteration", y="mean_member_score", hue="run", linestyle="--", legend=False, ax=ax)
    for threshold in thresholds - {None}:
        ax.axhline(threshold, color="grey", linestyle=":", label=f"solved ({threshold:g})")
    ax.set(xlabel="NES iteration", ylabel="real-task test return",
           title="SE training: centre (solid), member mean (dashed), members (dots)")
    return save_figure(fig, out, "nes_curves")


def _threshold(run: Path) -> float | None:
    """The solved threshold of the run's task (from its checkpoint metadata)."""
    from benchmark.envs.tasks import get_task

    _, meta = io.load_tensors(run / schema.CHECKPOINT) if (run / schema.CHECKPOINT).exists() else (None, None)
    return get_task(meta["run"]["task"]).solved if meta else None
