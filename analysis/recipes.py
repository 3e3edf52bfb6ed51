"""The recipe table: what each SE recipe (an arm of an ablation) costs to learn and what its SEs teach.

`sebench recipes ARM=SET[,TRANSFER] ... [--real TRANSFER]` reads, per arm, a train-ses folder (cost: seeds tried,
solved, given up and still learning, the yield, NES iterations and wall hours per solved SE) and optionally a
transfer folder run on that arm's SEs (per agent kind: agents, test return, training steps, the change against the
real baseline, the share of agents solved). The real rows come from `--real` or from the arms' own transfer
folders. Reads files only; safe while the runs write.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import io
from benchmark.errors import ConfigError
from benchmark.schema import AGENTS_TABLE, GIVEN_UP, PROTOCOL_META, REAL, SE_META, agent_table, collect_transfer, \
    read_history

from analysis.transfer import summarize

COST_COLUMNS = ["arm", "tried", "solved", "given_up", "learning", "yield", "iterations_median", "hours_median",
                "hours_min", "hours_max"]


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
        if not arm.set_dir.is_dir():
            raise ConfigError(f"arm '{name}': {arm.set_dir} is not a folder (a train-ses --out folder)")
        if arm.transfer_dir is not None and not (arm.transfer_dir / PROTOCOL_META).is_file():
            raise ConfigError(f"arm '{name}': {arm.transfer_dir} is not a transfer folder (no {PROTOCOL_META})")
        return arm


def seed_runs(set_dir: Path) -> list[dict]:
    """One row per seed folder of a set: state, NES iterations and summed iteration wall time (s)."""
    rows = []
    for folder in sorted(p for p in Path(set_dir).glob("se_*") if p.is_dir()):
        history = read_history(folder)
        if (folder / SE_META).is_file():
            state = "solved" if io.read_json(folder / SE_META).get("solved") else "finished unsolved"
        else:
            state = "given up" if (folder / GIVEN_UP).is_file() else "learning"
        rows.append({"seed_folder": folder.name, "state": state, "iterations": len(history),
                     "wall_s": float(sum(float(r["time_s"]) for r in history))})
    return rows


def cost_row(arm: Arm) -> dict:
    runs = pd.DataFrame(seed_runs(arm.set_dir), columns=["seed_folder", "state", "iterations", "wall_s"])
    solved = runs[runs.state == "solved"]
    ended = runs[runs.state != "learning"]
    hours = solved.wall_s / 3600
    return {"arm": arm.name, "tried": len(runs), "solved": len(solved),
            "given_up": int((runs.state == "given up").sum()), "learning": int((runs.state == "learning").sum()),
            "yield": len(solved) / len(ended) if len(ended) else np.nan,
            "iterations_median": solved.iterations.median() if len(solved) else np.nan,
            "hours_median": hours.median() if len(solved) else np.nan,
            "hours_min": hours.min() if len(solved) else np.nan, "hours_max": hours.max() if len(solved) else np.nan}


def transfer_rows(arms: list[Arm], real: Path | None) -> pd.DataFrame:
    """summarize() of every arm's SE rows (setting = the arm's name) and of the real rows."""
    frames, solved = [], None
    for arm in arms:
        if arm.transfer_dir is None:
            continue
        frame = agent_table(arm.transfer_dir, collect_transfer, AGENTS_TABLE)
        solved = io.read_json(arm.transfer_dir / PROTOCOL_META)["task_solved"]
        if frame.empty:
            continue
        ses = frame[frame.setting != REAL].assign(setting=arm.name)
        frames += [ses, frame[frame.setting == REAL]] if real is None else [ses]
    if real is not None:
        frame = agent_table(real, collect_transfer, AGENTS_TABLE)
        solved = io.read_json(real / PROTOCOL_META)["task_solved"]
        frames.append(frame[frame.setting == REAL])
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    table = summarize(frame, solved)
    envs = frame.groupby(["agent", "setting"]).env_index.nunique()
    table.insert(3, "envs", [envs[(a, s)] for a, s in zip(table.agent, table.setting)])
    return table


def recipe_tables(arms: list[Arm], real: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if real is not None and not (Path(real) / PROTOCOL_META).is_file():
        raise ConfigError(f"--real {real} is not a transfer folder (no {PROTOCOL_META})")
    names = [a.name for a in arms]
    if len(set(names)) != len(names) or REAL in names:
        raise ConfigError(f"arm names must be distinct and not '{REAL}': {names}")
    return pd.DataFrame([cost_row(a) for a in arms], columns=COST_COLUMNS), transfer_rows(arms, real)


def _num(value, fmt: str) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


def markdown(cost: pd.DataFrame, transfer: pd.DataFrame) -> str:
    lines = ["| arm | seeds tried | solved | given up | learning | yield | NES iterations (median) | "
             "wall hours per solved SE, median (range) |", "|" + "---|" * 8]
    for r in cost.rename(columns={"yield": "yield_share"}).itertuples():
        span = f" ({_num(r.hours_min, '.2f')}-{_num(r.hours_max, '.2f')})" if r.solved > 1 else ""
        lines.append(f"| {r.arm} | {r.tried} | {r.solved} | {r.given_up} | {r.learning} | "
                     f"{_num(100 * r.yield_share, '.0f')}{'' if np.isnan(r.yield_share) else '%'} | "
                     f"{_num(r.iterations_median, '.0f')} | {_num(r.hours_median, '.2f')}{span} |")
    text = "\n".join(lines) + "\n"
    if len(transfer):
        lines = ["| agent | setting | SEs (envs) | agents | test return | train steps | steps vs real | solved |",
                 "|" + "---|" * 8]
        for r in transfer.itertuples():
            change = "" if r.setting == REAL or np.isnan(r.steps_change_vs_real_pct) \
                else f"{r.steps_change_vs_real_pct:+.0f}%"
            lines.append(f"| {r.agent} | {r.setting} | {r.envs} | {r.agents} | {r.test_return_mean:.1f} ± "
                         f"{r.test_return_std:.1f} | {r.train_steps_mean:,.0f} | {change} | "
                         f"{100 * r.solved_share:.0f}% |")
        text += "\n" + "\n".join(lines) + "\n"
    return text


def write_recipe_tables(arms: list[Arm], real: Path | None, out: Path) -> list[Path]:
    cost, transfer = recipe_tables(arms, real)
    out.mkdir(parents=True, exist_ok=True)
    io.write_csv(out / "recipes_cost.csv", cost)
    io.write_csv(out / "recipes_transfer.csv", transfer)
    text = markdown(cost, transfer)
    io.atomic_write(out / "recipes.md", lambda p: p.write_text(text))
    return [out / "recipes_cost.csv", out / "recipes_transfer.csv", out / "recipes.md"]
