"""Tables and figures of a reward-network evaluation (`sebench rn-eval`), read from its output folder alone."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.figures import save_figure, seeded_jitter  # noqa: E402
from benchmark import io  # noqa: E402
from benchmark.schema import (HISTORY, ICM, REAL, RN_AGENTS_TABLE, RN_CURVES_TABLE, RN_EVAL_META, RNS,  # noqa: E402
                              agent_table, collect_rn_eval)

SUMMARY_COLUMNS = ["agent", "setting", "mode", "transfer", "agents", "solved_share", "steps_to_solve_mean",
                   "steps_to_solve_std", "episodes_to_solve_mean", "episodes_to_solve_std", "steps_change_vs_real_pct",
                   "test_return_mean", "test_return_std", "diverged"]


def is_rn_eval(path: Path) -> bool:
    return (Path(path) / RN_EVAL_META).exists()


def setting_order(settings) -> list[str]:
    """real, icm, then the RN settings in name order."""
    names = list(dict.fromkeys(settings))
    return [s for s in (REAL, ICM) if s in names] + sorted(s for s in names if s not in (REAL, ICM))


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (agent, setting): the share of agents that reached the threshold, steps and episodes to reach it
    (mean and std over the agents that did), the change in mean steps against the real reward (%), the final
    real test return (mean and std over agents) and the number of agents whose reward diverged."""
    rows = []
    for (agent, setting), g in frame.groupby(["agent", "setting"], sort=False):
        s = g[g.solved]
        rows.append({"agent": agent, "setting": setting, "mode": g["mode"].iloc[0], "transfer": bool(g.transfer.any()),
                     "agents": len(g), "solved_share": float(g.solved.mean()),
                     "steps_to_solve_mean": s.steps_to_solve.mean(), "steps_to_solve_std": s.steps_to_solve.std(ddof=0),
                     "episodes_to_solve_mean": s.episodes_to_solve.mean(),
                     "episodes_to_solve_std": s.episodes_to_solve.std(ddof=0),
                     "test_return_mean": g.test_mean.mean(), "test_return_std": g.test_mean.std(ddof=0),
                     "diverged": int(g.diverged.sum())})
    table = pd.DataFrame(rows)
    real = table[table.setting == REAL].set_index("agent").steps_to_solve_mean
    table["steps_change_vs_real_pct"] = [100.0 * (s / real[a] - 1.0) if a in real.index else np.nan
                                         for a, s in zip(table.agent, table.steps_to_solve_mean)]
    order = {s: i for i, s in enumerate(setting_order(table.setting))}
    agents = {a: i for i, a in enumerate(dict.fromkeys(frame.agent))}
    table = table.sort_values(["agent", "setting"], key=lambda c: c.map(order if c.name == "setting" else agents))
    return table[SUMMARY_COLUMNS].reset_index(drop=True)


def _pm(mean, std, fmt="{:,.0f}") -> str:
    return "–" if np.isnan(mean) else f"{fmt.format(mean)} ± {fmt.format(std)}"


def markdown_table(table: pd.DataFrame) -> str:
    header = ["agent", "reward", "agents", "solved", "steps to solve", "episodes to solve", "steps vs real",
              "test return"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in table.itertuples():
        change = ("" if np.isnan(r.steps_change_vs_real_pct) or r.setting == REAL
                  else f"{r.steps_change_vs_real_pct:+.0f}%")
        name = f"{r.setting} (transfer)" if r.transfer else r.setting
        if r.diverged:
            name += f", {r.diverged} diverged"
        lines.append(f"| {r.agent} | {name} | {r.agents} | {100 * r.solved_share:.0f}% | "
                     f"{_pm(r.steps_to_solve_mean, r.steps_to_solve_std)} | "
                     f"{_pm(r.episodes_to_solve_mean, r.episodes_to_solve_std, '{:.1f}')} | {change} | "
                     f"{_pm(r.test_return_mean, r.test_return_std, '{:.1f}')} |")
    return "\n".join(lines) + "\n"


def analyze_rn_eval(run: Path, out: Path | None = None) -> list[Path]:
    """Regenerate the table and figures of rn-eval run `run` from its files; returns the paths written."""
    run = Path(run)
    out = Path(out) if out else run
    out.mkdir(parents=True, exist_ok=True)
    meta = io.read_json(run / RN_EVAL_META)
    frame = agent_table(run, collect_rn_eval, RN_AGENTS_TABLE)
    if frame.empty:
        return []
    table = summarize(frame)
    io.atomic_write(out / "rn_summary.md", lambda p: p.write_text(markdown_table(table)))
    io.write_csv(out / "rn_summary.csv", table)
    written = [out / "rn_summary.md", out / "rn_summary.csv"]
    sns.set_theme(style="whitegrid")
    written += _curves(pd.read_csv(run / RN_CURVES_TABLE), meta, out)
    written += _steps(frame, out)
    histories = _histories(run)
    if not histories.empty:
        written += _nes_curves(histories, meta, out)
    return written


def _curves(curves: pd.DataFrame, meta: dict, out: Path) -> list[Path]:
    """Training curves per setting: the real return averaged over the last early_out_num episodes (the
    quantity of the solved rule), median over agents with the 25-75% band."""
    window = 10
    curves = curves.sort_values(["setting", "agent", "agent_index", "episode"]).copy()
    curves["rolling_return"] = curves.groupby(["setting", "agent", "agent_index"]).real_return.transform(
        lambda r: r.rolling(window, min_periods=1).mean())
    agents = list(dict.fromkeys(curves.agent))
    order = setting_order(curves.setting)
    fig, axes = plt.subplots(1, len(agents), figsize=(5.5 * len(agents), 4), squeeze=False)
    low = np.nanpercentile(curves.rolling_return, 10)
    for ax, agent in zip(axes[0], agents):
        sns.lineplot(data=curves[curves.agent == agent], x="episode", y="rolling_return", hue="setting",
                     hue_order=order, estimator="median", errorbar=("pi", 50), ax=ax)
        ax.axhline(meta["task_solved"], color="grey", linestyle=":")
        top = max(curves.rolling_return.max(), meta["task_solved"])
        ax.set(title=agent, xlabel="training episode", ylim=(min(low, meta["task_solved"]) - 5, top + 0.05 * abs(top)),
               ylabel=f"real return, mean of last {window} episodes")
    fig.suptitle("training curves per reward (median over agents, 25-75% band); dotted: solved threshold")
    return save_figure(fig, out, "rn_training_curves")


def _steps(frame: pd.DataFrame, out: Path) -> list[Path]:
    """Steps to solve per setting (agents that solved); tick labels give how many solved."""
    agents = list(dict.fromkeys(frame.agent))
    order = setting_order(frame.setting)
    fig, axes = plt.subplots(1, len(agents), figsize=(1.4 * len(order) * len(agents) + 2, 4), squeeze=False)
    for ax, agent in zip(axes[0], agents):
        g = frame[frame.agent == agent]
        solved = g[g.solved]
        sns.boxplot(data=solved, x="setting", y="steps_to_solve", order=order, color="lightsteelblue", ax=ax,
                    showfliers=False)
        with seeded_jitter():
            sns.stripplot(data=solved, x="setting", y="steps_to_solve", order=order, color="black", size=3, ax=ax)
        counts = g.groupby("setting").solved.agg(["sum", "count"])
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([f"{s}\n{int(counts.loc[s, 'sum'])}/{int(counts.loc[s, 'count'])} solved"
                            if s in counts.index else s for s in order], rotation=20, fontsize=8)
        ax.set(title=agent, xlabel="", ylabel="real training steps to solve", ylim=(0, None))
    return save_figure(fig, out, "rn_steps_to_solve")


def _histories(run: Path) -> pd.DataFrame:
    frames = []
    for path in sorted((run / RNS).glob("*/" + HISTORY)):
        h = pd.read_csv(path)
        frames.append(h[["iteration", "centre_score", "mean_member_score", "solved_share"]].assign(
            setting=path.parent.name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _nes_curves(histories: pd.DataFrame, meta: dict, out: Path) -> list[Path]:
    """NES progress of each RN (one panel each, own scale): member fitness per iteration (mean over members and
    its 10-iteration mean) and the centre's."""
    settings = list(dict.fromkeys(histories.setting))
    fig, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 3.8), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        h = histories[histories.setting == setting]
        ax.plot(h.iteration, h.mean_member_score, color="lightsteelblue", label="mean over members")
        ax.plot(h.iteration, h.mean_member_score.rolling(10, min_periods=1).mean(), color="navy",
                label="10-iteration mean")
        ax.plot(h.iteration, h.centre_score, ".", color="darkorange", markersize=3, label="centre")
        ax.set(title=setting, xlabel="NES iteration", ylabel="fitness (-steps to solve)")
        ax.legend(fontsize=7)
    fig.suptitle("RN training: fitness = -(real steps to solve); unsolved agents score below -2 x budget")
    return save_figure(fig, out, "rn_nes_curves")
