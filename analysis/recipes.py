"""The recipe table: what each SE recipe (an arm of an ablation) costs to learn and what its SEs teach.

`sebench recipes ARM=SET[,TRANSFER] ... [--real TRANSFER]` reads, per arm, a train-ses folder (its cost: seeds
tried, solved, ended unsolved, given up and still learning; the yield, solved / ended; NES iterations and wall
hours per solved SE) and optionally a transfer folder run on that arm's SEs (per agent kind: SEs, agents, test
return, training steps, the change against the real baseline, the share of agents solved). The real rows come
from `--real`, else from the first arm's transfer folder that has them. Every transfer folder must be of the same
task and threshold. Reads files only (it writes nothing into the folders), so it is safe while runs write them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.transfer import SUMMARY_COLUMNS, SUMMARY_MARKDOWN, markdown_table, summarize
from benchmark import io
from benchmark.errors import ConfigError
from benchmark.schema import (GIVEN_UP, PROTOCOL_META, REAL, SE_META, SET_META, cpu_time_s, read_history,
                              read_transfer)

COST_COLUMNS = ["arm", "tried", "solved", "unsolved", "given_up", "learning", "yield", "iterations_median",
                "hours_median", "hours_min", "hours_max", "hours_per_solved", "cpu_hours_median",
                "iteration_cpu_s_median", "iterations_measured"]
"""unsolved: finished without solving (a set made with solved_only off); yield: solved / ended (all but learning);
hours_*: each solved SE's own learning wall time; hours_per_solved: the wall time of every ended seed (given up
and unsolved ones included) per solved SE; cpu_hours_median: the agents' CPU hours per solved SE (independent
of what else ran on the cores; NaN unless every solved SE's iterations were measured); iteration_cpu_s_median: the
agents' CPU seconds of one NES iteration, median over the arm's measured iterations (every seed, learning ones too;
iterations_measured of them), the cost figure for runs begun before CPU accounting."""
TRANSFER_COLUMNS = SUMMARY_COLUMNS[:3] + ["envs"] + SUMMARY_COLUMNS[3:]
TRANSFER_MARKDOWN = tuple(c for c in SUMMARY_MARKDOWN[:2] + ("envs",) + SUMMARY_MARKDOWN[2:] if c != "train_episodes")
"""The transfer table's markdown columns: the protocol summary's, with the SEs (envs) behind each row."""


@dataclass(frozen=True)
class Arm:
    name: str
    set_dir: Path
    transfer_dir: Path | None = None

    @classmethod
    def parse(cls, text: str) -> "Arm":
        """NAME=SET_DIR[,TRANSFER_DIR]"""
        name, sep, paths = text.partition("=")
        if not sep or not name or not paths:
            raise ConfigError(f"arm '{text}': expected NAME=SET_DIR[,TRANSFER_DIR]")
        set_dir, _, transfer = paths.partition(",")
        arm = cls(name, Path(set_dir), Path(transfer) if transfer else None)
        if not (arm.set_dir / SET_META).is_file() and not any(arm.set_dir.glob("se_*")):
            raise ConfigError(f"arm '{name}': {arm.set_dir} is not an SE set (a train-ses --out folder, with "
                              f"{SET_META} or se_* runs)")
        if arm.transfer_dir is not None and not (arm.transfer_dir / PROTOCOL_META).is_file():
            raise ConfigError(not_transfer(arm.transfer_dir, f"arm '{name}'"))
        return arm


def not_transfer(folder: Path, who: str) -> str:
    return f"{who}: {folder} is not a transfer folder (no {PROTOCOL_META})"


def protocol_meta(folder: Path, who: str) -> dict:
    if not (Path(folder) / PROTOCOL_META).is_file():
        raise ConfigError(not_transfer(folder, who))
    return io.read_json(Path(folder) / PROTOCOL_META)


def seed_runs(set_dir: Path) -> list[dict]:
    """One row per seed folder of a set: state, NES iterations, learning wall time and the agents' CPU time (s)
    (from se.json or given_up.json where the run has ended, else from its history; CPU NaN where not measured),
    and its history rows as read."""
    rows = []
    for folder in sorted(p for p in Path(set_dir).glob("se_*") if p.is_dir()):
        history = read_history(folder)
        ended = {}
        if (folder / SE_META).is_file():
            ended = io.read_json(folder / SE_META)
            state = "solved" if ended.get("solved") else "unsolved"
        elif (folder / GIVEN_UP).is_file():
            ended, state = io.read_json(folder / GIVEN_UP), "given up"
        else:
            state = "learning"
        cpu = ended.get("cpu_time_s") if ended else cpu_time_s(history)
        rows.append({"seed_folder": folder.name, "state": state,
                     "iterations": int(ended.get("iterations", len(history))),
                     "wall_s": float(ended.get("wall_time_s", sum(float(r["time_s"]) for r in history))),
                     "cpu_s": np.nan if cpu is None else float(cpu), "history": history})
    return rows


def cost_row(arm: Arm) -> dict:
    runs = pd.DataFrame(seed_runs(arm.set_dir),
                        columns=["seed_folder", "state", "iterations", "wall_s", "cpu_s", "history"])
    measured = [float(r["cpu_s"]) for history in runs.history for r in history if r.get("cpu_s") not in (None, "")]
    counts = runs.state.value_counts()
    solved, ended = runs[runs.state == "solved"], runs[runs.state != "learning"]
    hours = solved.wall_s / 3600
    stat = (lambda f: f(hours)) if len(solved) else (lambda f: np.nan)
    return {"arm": arm.name, "tried": len(runs), "solved": len(solved), "unsolved": int(counts.get("unsolved", 0)),
            "given_up": int(counts.get("given up", 0)), "learning": int(counts.get("learning", 0)),
            "yield": len(solved) / len(ended) if len(ended) else np.nan,
            "iterations_median": solved.iterations.median() if len(solved) else np.nan,
            "hours_median": stat(pd.Series.median), "hours_min": stat(pd.Series.min), "hours_max": stat(pd.Series.max),
            "hours_per_solved": ended.wall_s.sum() / 3600 / len(solved) if len(solved) else np.nan,
            "cpu_hours_median": solved.cpu_s.median(skipna=False) / 3600 if len(solved) else np.nan,
            "iteration_cpu_s_median": float(np.median(measured)) if measured else np.nan,
            "iterations_measured": len(measured)}


def _check_same_task(metas: dict[Path, dict]) -> float:
    """The threshold all transfer folders share (ConfigError naming the folders where task or threshold differ)."""
    kinds = {(m["config"]["task"], m["task_solved"]) for m in metas.values()}
    if len(kinds) > 1:
        listed = "; ".join(f"{f}: {m['config']['task']} (solved at {m['task_solved']})" for f, m in metas.items())
        raise ConfigError(f"the transfer folders are of different tasks or thresholds: {listed}")
    return next(iter(kinds))[1]


def transfer_rows(arms: list[Arm], real: Path | None) -> tuple[pd.DataFrame, list[str]]:
    """summarize() of each arm's SE rows (setting = the arm's name) and of one real baseline, in arm order;
    and notes on what is missing."""
    metas = {a.transfer_dir: protocol_meta(a.transfer_dir, f"arm '{a.name}'") for a in arms if a.transfer_dir}
    if real is not None:
        metas[Path(real)] = protocol_meta(real, "--real")
    if not metas:
        return pd.DataFrame(columns=TRANSFER_COLUMNS), []
    solved = _check_same_task(metas)
    frames, notes, real_rows = [], [], None
    if real is not None:
        real_rows = _rows(real, REAL)
        if real_rows.empty:
            raise ConfigError(f"--real {real} has no real-task cells yet")
    for arm in arms:
        if arm.transfer_dir is None:
            continue
        frame = read_transfer(arm.transfer_dir)
        settings = sorted(set(frame.setting) - {REAL}) if len(frame) else []
        if len(settings) > 1:
            raise ConfigError(f"arm '{arm.name}': {arm.transfer_dir} holds several SE settings ({', '.join(settings)});"
                              " give each its own transfer folder")
        if not settings:
            notes.append(f"arm '{arm.name}': no SE cells in {arm.transfer_dir} yet")
        else:
            frames.append(frame[frame.setting == settings[0]].assign(setting=arm.name))
        if real_rows is None and len(frame) and (frame.setting == REAL).any():
            real_rows = frame[frame.setting == REAL]
            notes.append(f"real rows from {arm.transfer_dir}")
    if real_rows is None:
        notes.append("no real baseline (give --real): no change in steps against it")
    else:
        frames.insert(0, real_rows)
    if not frames:
        return pd.DataFrame(columns=TRANSFER_COLUMNS), notes
    frame = pd.concat(frames, ignore_index=True)
    table = summarize(frame, solved)
    envs = frame.groupby(["agent", "setting"]).env_index.nunique()
    table["envs"] = [envs[(a, s)] for a, s in zip(table.agent, table.setting)]
    order = {name: i for i, name in enumerate([REAL] + [a.name for a in arms])}
    table = table.sort_values(["agent", "setting"], key=lambda c: c.map(order) if c.name == "setting" else c)
    return table[TRANSFER_COLUMNS].reset_index(drop=True), notes


def _rows(folder: Path, setting: str) -> pd.DataFrame:
    frame = read_transfer(folder)
    return frame[frame.setting == setting] if len(frame) else frame


def recipe_tables(arms: list[Arm], real: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The cost table, the transfer table and notes on what is missing."""
    names = [a.name for a in arms]
    if len(set(names)) != len(names) or REAL in names:
        raise ConfigError(f"arm names must be distinct and not '{REAL}': {names}")
    cost = pd.DataFrame([cost_row(a) for a in arms], columns=COST_COLUMNS)
    return (cost, *transfer_rows(arms, real))


def _num(value, fmt: str, suffix: str = "") -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt) + suffix


def markdown(cost: pd.DataFrame, transfer: pd.DataFrame, notes: list[str]) -> str:
    lines = ["| arm | seeds tried | solved | ended unsolved | given up | learning | yield (solved / ended) | "
             "NES iterations, median | hours per solved SE, median (range) | hours of all ended seeds per solved SE | "
             "agents' CPU hours per solved SE, median | agents' CPU s per NES iteration, median (iterations) |",
             "|" + "---|" * 12]
    for r in cost.to_dict("records"):
        span = f" ({r['hours_min']:.2f}-{r['hours_max']:.2f})" if r["solved"] > 1 else ""
        measured = f" ({r['iterations_measured']})" if r["iterations_measured"] else ""
        lines.append(f"| {r['arm']} | {r['tried']} | {r['solved']} | {r['unsolved']} | {r['given_up']} | "
                     f"{r['learning']} | {_num(100 * r['yield'], '.0f', '%')} | {_num(r['iterations_median'], '.0f')} | "
                     f"{_num(r['hours_median'], '.2f')}{span} | {_num(r['hours_per_solved'], '.2f')} | "
                     f"{_num(r['cpu_hours_median'], '.2f')} | {_num(r['iteration_cpu_s_median'], ',.0f')}{measured} |")
    text = "\n".join(lines) + "\n"
    if len(transfer):
        text += "\n" + markdown_table(transfer, TRANSFER_MARKDOWN)
    return text + "".join(f"\n{note}" for note in notes) + ("\n" if notes else "")


def write_recipe_tables(arms: list[Arm], real: Path | None, out: Path | None) -> str:
    """The tables as markdown; with `out`, also out/recipes.md, recipes_cost.csv, recipes_transfer.csv and the
    arms' learning curves (recipe_curves.png / .pdf)."""
    cost, transfer, notes = recipe_tables(arms, real)
    text = markdown(cost, transfer, notes)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        io.write_csv(out / "recipes_cost.csv", cost)
        io.write_csv(out / "recipes_transfer.csv", transfer)
        io.atomic_write(out / "recipes.md", lambda p: p.write_text(text))
        plot_centre_curves(centre_curves(arms), out, [arm.name for arm in arms])
    return text


def centre_curves(arms: list[Arm]) -> pd.DataFrame:
    """Every seed's centre score per NES iteration, per arm (columns arm, seed, iteration, centre_score, state)."""
    frames = []
    for arm in arms:
        for run in seed_runs(arm.set_dir):
            frames.append(pd.DataFrame({"arm": arm.name, "seed": run["seed_folder"], "state": run["state"],
                                        "iteration": [int(r["iteration"]) for r in run["history"]],
                                        "centre_score": [float(r["centre_score"]) for r in run["history"]]}))
    columns = ["arm", "seed", "state", "iteration", "centre_score"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def plot_centre_curves(curves: pd.DataFrame, out: Path, arms: list[str] | None = None) -> list[Path]:
    """One panel per arm: each seed's centre score per NES iteration (a star where it solved, a cross where it was
    given up) and the median over the seeds, an ended seed held at its last score (a seed still learning is not),
    so arms compare iteration by iteration while they learn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from analysis.figures import save_figure

    arms = arms or list(dict.fromkeys(curves.arm))
    last = int(curves.iteration.max()) if len(curves) else 0
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, len(arms), figsize=(4 * len(arms), 3.8), sharex=True, sharey=True, squeeze=False)
    for ax, arm in zip(axes[0], arms):
        data, held = curves[curves.arm == arm], []
        for _, run in data.groupby("seed"):
            ax.plot(run.iteration, run.centre_score, linewidth=0.9, alpha=0.6, marker="o", markersize=2.5)
            state = run.state.iloc[0]
            if state != "learning":
                end = run.iloc[-1]
                ax.plot(end.iteration, end.centre_score, marker="*" if state == "solved" else "x", markersize=10,
                        color="black")
                run = run.set_index("iteration").reindex(range(last + 1)).ffill().reset_index()
            held.append(run)
        if held:
            median = pd.concat(held).groupby("iteration").centre_score.median()
            ax.plot(median.index, median.values, color="black", linewidth=2.2, label="median over seeds")
            if not any(a.get_legend() for a in axes[0]):
                ax.legend(loc="lower right")
        seeds = data.seed.nunique()
        ax.set(title=f"{arm} ({seeds} seed{'s' * (seeds != 1)})" if seeds else f"{arm} (no iteration yet)",
               xlabel="NES iteration")
    axes[0][0].set(ylabel="centre score (real test return)")
    fig.suptitle("Each seed (thin; star: solved, cross: given up) and the median (thick; ended seeds held)")
    return save_figure(fig, out, "recipe_curves")
