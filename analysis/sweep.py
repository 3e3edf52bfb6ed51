"""A BOHB sweep's results (hpbandster json_result_logger files: configs.json, results.json) as tables and figures.

`analyze_sweep(D, out)` writes
  sweep_runs.csv            one row per job: config id, budget, loss, failure, times, solved, SE path, hyperparameters
  sweep_incumbent.json      the incumbent (lowest loss on the largest budget) with its config and info
  sweep_top_configs.md      the best configurations (largest budget reached first, then loss) as a markdown table
  sweep_incumbent_trajectory.png/.pdf   best loss so far per budget over the sweep's wall time
  sweep_losses_per_budget.png/.pdf      every job's loss per budget (failed jobs counted in the title)
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.figures import save_figure, seeded_jitter  # noqa: E402
from benchmark import io  # noqa: E402
from benchmark.errors import ConfigError  # noqa: E402
from benchmark.schema import CONFIGS, RESULTS  # noqa: E402


def is_sweep(path: Path) -> bool:
    """True for a folder that holds a sweep's logs (configs.json and results.json)."""
    path = Path(path)
    return path.is_dir() and (path / CONFIGS).is_file() and (path / RESULTS).is_file()


def _lines(path: Path) -> list:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(path.read_text().splitlines()):  # a last line cut short by a killed master
                continue
            raise ConfigError(f"{path}: line {n} is not JSON") from None
    return rows


def load_runs(path: Path) -> pd.DataFrame:
    """One row per logged job; `time_s` is seconds since the sweep's first submission."""
    path = Path(path)
    if not is_sweep(path):
        raise ConfigError(f"{path} holds no {CONFIGS} and {RESULTS}: not a sweep directory")
    configs = {tuple(row[0]): row[1] for row in _lines(path / CONFIGS)}
    records = []
    for config_id, budget, stamps, result, exception in _lines(path / RESULTS):
        info = (result or {}).get("info") or {}
        loss = (result or {}).get("loss")
        record = {"config_id": str(tuple(config_id)), "budget": float(budget),
                  "loss": float(loss) if loss is not None else math.nan,
                  "failed": result is None, "error": (exception or "").strip().splitlines()[-1:] or [""],
                  "submitted": stamps.get("submitted"), "finished": stamps.get("finished"),
                  "solved": info.get("solved"), "iterations": info.get("iterations"),
                  "best_score": info.get("best_score"), "wall_time_s": info.get("wall_time_s"),
                  "real_env_steps": info.get("real_env_steps"), "se_path": info.get("se_path")}
        record["error"] = record["error"][0]
        for name, value in (configs.get(tuple(config_id)) or {}).items():
            record[f"hp:{name}"] = value
        records.append(record)
    runs = pd.DataFrame(records)
    if runs.empty:
        return runs
    start = runs.submitted.min()
    runs["time_s"] = runs.finished - start
    return runs.sort_values("finished", ignore_index=True)


def incumbent(runs: pd.DataFrame) -> pd.Series | None:
    """hpbandster's incumbent: the lowest loss among the jobs on the largest budget."""
    done = runs[~runs.failed]
    if done.empty:
        return None
    top = done[done.budget == runs.budget.max()]
    return None if top.empty else top.loc[top.loss.idxmin()]


def trajectory(runs: pd.DataFrame) -> pd.DataFrame:
    """Best loss so far on each budget, at each job's finishing time."""
    frames = []
    for budget, group in runs[~runs.failed].groupby("budget"):
        group = group.sort_values("time_s")
        frames.append(pd.DataFrame({"budget": budget, "time_s": group.time_s, "best_loss": group.loss.cummin()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["budget", "time_s", "best_loss"])


def top_configs(runs: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Each configuration at its largest finished budget; largest budget first, then lowest loss."""
    done = runs[~runs.failed]
    last = done.sort_values("budget").groupby("config_id").tail(1)
    columns = ["config_id", "budget", "loss", "solved", "iterations", "best_score"] + \
        sorted(c for c in runs.columns if c.startswith("hp:"))
    return last.sort_values(["budget", "loss"], ascending=[False, True]).head(n)[columns]


def _markdown(frame: pd.DataFrame) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    header = [c.removeprefix("hp:") for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def analyze_sweep(path: Path, out: Path) -> list[Path]:
    """Tables and figures of the sweep in `path`, written to `out`; returns the files written."""
    path, out = Path(path), Path(out)
    runs = load_runs(path)
    if runs.empty:
        raise ConfigError(f"{path}: the sweep has no finished job yet")
    out.mkdir(parents=True, exist_ok=True)
    written = []

    table = runs.drop(columns=["submitted", "finished"])
    io.write_csv(out / "sweep_runs.csv", table)
    written.append(out / "sweep_runs.csv")

    inc = incumbent(runs)
    inc_record = None
    if inc is not None:
        inc_record = {"config_id": inc.config_id, "budget": inc.budget, "loss": inc.loss, "solved": inc.solved,
                      "iterations": inc.iterations, "best_score": inc.best_score, "se_path": inc.se_path,
                      "config": {k.removeprefix("hp:"): v for k, v in inc.items()
                                 if k.startswith("hp:") and not (isinstance(v, float) and math.isnan(v))}}
    summary = {"incumbent": inc_record, "jobs": int(len(runs)), "failed": int(runs.failed.sum()),
               "jobs_per_budget": {f"{b:g}": int(n) for b, n in runs.groupby("budget").size().items()},
               "wall_time_s": float(runs.time_s.max())}
    io.write_json(out / "sweep_incumbent.json", summary)
    written.append(out / "sweep_incumbent.json")

    top = top_configs(runs)
    text = f"# Top configurations of {path.name}\n\n{len(runs)} jobs, {int(runs.failed.sum())} failed; " \
           "loss = NES iterations to solve (or budget + 1 - progress when unsolved), lower is better.\n\n" + _markdown(top)
    io.atomic_write(out / "sweep_top_configs.md", lambda p: p.write_text(text))
    written.append(out / "sweep_top_configs.md")

    sns.set_theme(style="whitegrid")
    traj = trajectory(runs)
    fig, ax = plt.subplots(figsize=(7, 4))
    if not traj.empty:
        traj = traj.assign(budget=traj.budget.map(lambda b: f"{b:g}"))
        sns.lineplot(data=traj, x="time_s", y="best_loss", hue="budget", drawstyle="steps-post", marker="o", ax=ax)
    ax.set(xlabel="sweep wall time (s)", ylabel="best loss so far", title="Incumbent loss over time, per budget")
    written += save_figure(fig, out, "sweep_incumbent_trajectory")

    fig, ax = plt.subplots(figsize=(7, 4))
    done = runs[~runs.failed].assign(budget=lambda f: f.budget.map(lambda b: f"{b:g}"))
    if not done.empty:
        with seeded_jitter():
            sns.stripplot(data=done, x="budget", y="loss", hue="solved", ax=ax, jitter=0.2, size=6)
    ax.set(xlabel="budget (NES iterations)", ylabel="loss",
           title=f"Losses per budget ({int(runs.failed.sum())} failed jobs not shown)")
    written += save_figure(fig, out, "sweep_losses_per_budget")
    return written
