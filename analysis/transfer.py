"""Tables and figures of a transfer-protocol run, read from its output folder alone."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.figures import save_figure, seeded_jitter  # noqa: E402
from benchmark import io  # noqa: E402
from benchmark.schema import (AGENTS_TABLE, GIVEN_UP_RUNS, HISTORY, PROTOCOL_META, REAL, SE_META, SES,  # noqa: E402
                              agent_table, collect_transfer)

SUMMARY_COLUMNS = ["agent", "setting", "agents", "test_return_mean", "test_return_std", "train_steps_mean",
                   "train_episodes_mean", "steps_change_vs_real_pct", "solved_share"]
PER_ENV_COLUMNS = ["setting", "env_index", "se_id", "agent", "agents", "test_return_mean", "train_steps_mean",
                   "train_episodes_mean", "solved_share"]


def is_protocol_run(path: Path) -> bool:
    return (Path(path) / PROTOCOL_META).exists()


def summarize(frame: pd.DataFrame, solved: float) -> pd.DataFrame:
    """Per (agent, setting): test return mean/std over all test episodes, mean training steps and episodes,
    the change in mean steps against the real baseline (%), and the share of agents whose mean test return
    reaches the solved threshold."""
    rows = []
    for (agent, setting), g in frame.groupby(["agent", "setting"], sort=False):
        returns = np.concatenate([json.loads(r) for r in g.test_returns])
        rows.append({"agent": agent, "setting": setting, "agents": len(g), "test_return_mean": returns.mean(),
                     "test_return_std": returns.std(), "train_steps_mean": g.train_steps.mean(),
                     "train_episodes_mean": g.train_episodes.mean(),
                     "solved_share": float((g.test_mean >= solved).mean())})
    table = pd.DataFrame(rows)
    real = table[table.setting == REAL].set_index("agent").train_steps_mean
    table["steps_change_vs_real_pct"] = [100.0 * (s / real[a] - 1.0) if a in real.index else np.nan
                                         for a, s in zip(table.agent, table.train_steps_mean)]
    order = {s: i for i, s in enumerate([REAL] + sorted(set(table.setting) - {REAL}))}
    table = table.sort_values(["agent", "setting"], key=lambda c: c.map(order) if c.name == "setting" else c)
    return table[SUMMARY_COLUMNS].reset_index(drop=True)


def per_env(frame: pd.DataFrame, solved: float) -> pd.DataFrame:
    """Per (setting, environment, agent): the mean test return, training steps and episodes of its agents and the
    share that solved. Learned SEs differ a lot; this is where a table's mean hides it."""
    g = frame.groupby(["setting", "env_index", "se_id", "agent"], sort=True)
    table = g.agg(agents=("test_mean", "size"), test_return_mean=("test_mean", "mean"),
                  train_steps_mean=("train_steps", "mean"), train_episodes_mean=("train_episodes", "mean"),
                  solved_share=("test_mean", lambda m: float((m >= solved).mean()))).reset_index()
    return table[PER_ENV_COLUMNS]


def per_env_markdown(table: pd.DataFrame) -> str:
    """One row per (setting, environment), one column per agent kind: mean test return (mean training steps)."""
    agents = list(dict.fromkeys(table.agent))
    lines = ["| setting | env | SE | " + " | ".join(f"{a}: test return (steps)" for a in agents) + " |",
             "|" + "---|" * (3 + len(agents))]
    for (setting, env, se_id), g in table.groupby(["setting", "env_index", "se_id"], sort=True):
        by_agent = g.set_index("agent")
        cells = [f"{by_agent.test_return_mean[a]:.1f} ({by_agent.train_steps_mean[a]:,.0f})"
                 if a in by_agent.index else "" for a in agents]
        lines.append(f"| {setting} | {env} | {se_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _steps_change(r) -> str:
    change = r["steps_change_vs_real_pct"]
    return "" if r["setting"] == REAL or change is None or np.isnan(change) else f"{change:+.0f}%"


MARKDOWN_CELLS = {
    "agent": ("agent", lambda r: r["agent"]),
    "setting": ("setting", lambda r: r["setting"]),
    "envs": ("SEs (envs)", lambda r: f"{r['envs']}"),
    "agents": ("agents", lambda r: f"{r['agents']}"),
    "test_return": ("test return", lambda r: f"{r['test_return_mean']:.1f} ± {r['test_return_std']:.1f}"),
    "train_steps": ("train steps", lambda r: f"{r['train_steps_mean']:,.0f}"),
    "train_episodes": ("train episodes", lambda r: f"{r['train_episodes_mean']:.1f}"),
    "steps_change": ("steps vs real", _steps_change),
    "solved": ("solved", lambda r: f"{100 * r['solved_share']:.0f}%"),
}
"""Column name -> (header, cell of a summary row) for markdown_table."""
SUMMARY_MARKDOWN = ("agent", "setting", "agents", "test_return", "train_steps", "train_episodes", "steps_change",
                    "solved")


def markdown_table(table: pd.DataFrame, columns: tuple[str, ...] = SUMMARY_MARKDOWN) -> str:
    """A summary table (summarize()) as markdown, with the MARKDOWN_CELLS `columns` in that order."""
    cells = [MARKDOWN_CELLS[c] for c in columns]
    lines = ["| " + " | ".join(header for header, _ in cells) + " |", "|" + "---|" * len(cells)]
    lines += ["| " + " | ".join(cell(r) for _, cell in cells) + " |" for r in table.to_dict("records")]
    return "\n".join(lines) + "\n"


def latex_table(table: pd.DataFrame) -> str:
    lines = [r"\begin{tabular}{llrrrrrr}", r"\toprule",
             r"agent & setting & agents & test return & train steps & train episodes & steps vs real & solved \\",
             r"\midrule"]
    for r in table.itertuples():
        change = "--" if np.isnan(r.steps_change_vs_real_pct) or r.setting == REAL else f"{r.steps_change_vs_real_pct:+.0f}\\%"
        name = lambda s: s.replace("_", r"\_")  # noqa: E731
        lines.append(f"{name(r.agent)} & {name(r.setting)} & {r.agents} & ${r.test_return_mean:.1f} \\pm "
                     f"{r.test_return_std:.1f}$ & {r.train_steps_mean:.0f} & {r.train_episodes_mean:.1f} & {change} & "
                     f"{100 * r.solved_share:.0f}\\% \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def analyze_protocol(run: Path, out: Path | None = None) -> list[Path]:
    """Regenerate every table and figure of protocol run `run` from its files; returns the paths written."""
    run = Path(run)
    out = Path(out) if out else run
    out.mkdir(parents=True, exist_ok=True)
    meta = io.read_json(run / PROTOCOL_META)
    frame = agent_table(run, collect_transfer, AGENTS_TABLE)
    if frame.empty:
        return []
    table = summarize(frame, meta["task_solved"])
    written = []
    for name, text in (("summary.md", markdown_table(table)), ("summary.tex", latex_table(table))):
        io.atomic_write(out / name, lambda p, t=text: p.write_text(t))
        written.append(out / name)
    io.write_csv(out / "summary.csv", table)
    envs = per_env(frame, meta["task_solved"])
    io.write_csv(out / "per_env.csv", envs)
    io.atomic_write(out / "per_env.md", lambda p: p.write_text(per_env_markdown(envs)))
    written += [out / "summary.csv", out / "per_env.csv", out / "per_env.md"]
    sns.set_theme(style="whitegrid")
    written += _densities(frame, meta, out)
    written += _per_env_returns(frame, meta, out)
    written += _bars(frame, out)
    histories = se_histories(run)
    if not histories.empty:
        written += _nes_curves(histories[~histories.given_up], meta, out)
        written += _success_rate(histories, meta, out)
    written += _transition_histograms(run, meta, out)
    return written


def _densities(frame, meta, out) -> list[Path]:
    agents = list(dict.fromkeys(frame.agent))
    fig, axes = plt.subplots(1, len(agents), figsize=(4.5 * len(agents), 3.6), squeeze=False)
    for ax, agent in zip(axes[0], agents):
        g = frame[frame.agent == agent]
        sns.histplot(data=g, x="test_mean", hue="setting", stat="density", common_norm=False, element="step",
                     bins=20, ax=ax)
        ax.axvline(meta["task_solved"], color="grey", linestyle=":")
        ax.set(title=agent, xlabel="mean test return per agent (real task)")
    return save_figure(fig, out, "test_return_density")


def _per_env_returns(frame, meta, out) -> list[Path]:
    """Per agent kind: each agent's mean test return (dots) and their mean (bar) per environment, one colour per
    setting: how much the SEs (or real-task seeds) differ from one another."""
    agents = list(dict.fromkeys(frame.agent))
    fig, axes = plt.subplots(len(agents), 1, figsize=(max(6.0, 1.2 * frame.env_index.nunique() + 3), 3.2 * len(agents)),
                             squeeze=False, sharey=True)
    for ax, agent in zip(axes[:, 0], agents):
        g = frame[frame.agent == agent]
        sns.barplot(data=g, x="env_index", y="test_mean", hue="setting", errorbar=None, alpha=0.35, ax=ax)
        with seeded_jitter():
            sns.stripplot(data=g, x="env_index", y="test_mean", hue="setting", dodge=True, size=3, legend=False,
                          ax=ax)
        ax.axhline(meta["task_solved"], color="grey", linestyle=":")
        ax.set(title=agent, xlabel="environment (SE index or real-task seed)", ylabel="mean test return")
        if ax is axes[0, 0]:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), title="setting")
        else:
            ax.get_legend().remove()
    return save_figure(fig, out, "per_env_returns")


def _bars(frame, out) -> list[Path]:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, column, label in ((axes[0], "train_steps", "training steps"), (axes[1], "train_episodes",
                                                                            "training episodes")):
        sns.barplot(data=frame, x="agent", y=column, hue="setting", errorbar="sd", ax=ax)
        ax.set(ylabel=f"{label} (mean ± sd)", xlabel="")
    return save_figure(fig, out, "train_steps_episodes")


def se_histories(run: Path) -> pd.DataFrame:
    """The NES histories of the SEs a run used and (given_up: True) of the runs given up on the way to them."""
    frames = []
    for pattern, given_up in (("*/*/", False), (f"*/{GIVEN_UP_RUNS}/*/", True)):
        for path in sorted((run / SES).glob(pattern + HISTORY)):
            setting = path.parents[2 if given_up else 1].name
            h = pd.read_csv(path)[["iteration", "centre_score", "mean_member_score"]]
            frames.append(h.assign(setting=setting, se_id=path.parent.name, given_up=given_up))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _held_to_the_end(histories: pd.DataFrame) -> pd.DataFrame:
    """Every run extended to the longest run's last iteration, holding its last row (a run that solved the task
    stops early; its SE stays what it was)."""
    last = int(histories.iteration.max())
    frames = [h.set_index("iteration").reindex(range(last + 1)).ffill().reset_index()
              for _, h in histories.groupby(["setting", "se_id"])]
    return pd.concat(frames, ignore_index=True)


def _nes_curves(histories, meta, out) -> list[Path]:
    """Per setting, each SE run's mean population score (the paper's Figure 2) and centre score per NES
    iteration (thin), and their mean over runs (thick), runs that stopped held at their last value."""
    held = _held_to_the_end(histories)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, column, label in ((axes[0], "mean_member_score", "mean population score"),
                              (axes[1], "centre_score", "centre score (mean of the centre agents)")):
        sns.lineplot(data=histories, x="iteration", y=column, hue="setting", units="se_id", estimator=None,
                     alpha=0.3, linewidth=0.8, legend=False, ax=ax)
        sns.lineplot(data=held, x="iteration", y=column, hue="setting", errorbar=None, linewidth=2.5, ax=ax,
                     legend=ax is axes[0])
        ax.axhline(meta["task_solved"], color="grey", linestyle=":")
        ax.set(xlabel="NES iteration", ylabel=f"{label}, real-task return", title=label)
    fig.suptitle("SE runs: each run (thin) and the mean over runs (thick; a finished run held at its last value)")
    return save_figure(fig, out, "nes_curves")


def _success_rate(histories, meta, out) -> list[Path]:
    """Share of a setting's SE runs whose centre has solved the task by each iteration; the runs given up on the
    way to the setting's SEs count as runs that never solved."""
    rows = []
    last = int(histories.iteration.max())
    for setting, runs in histories.groupby("setting"):
        given_up = runs[runs.given_up].se_id.nunique()
        label = f"{setting} ({runs.se_id.nunique()} runs, {given_up} given up)"
        for se_id, h in runs.groupby("se_id"):
            solved_at = h.iteration[h.centre_score >= meta["task_solved"]]
            first = int(solved_at.min()) if len(solved_at) else None
            rows += [{"setting": label, "iteration": i, "solved": first is not None and i >= first}
                     for i in range(last + 1)]
    data = pd.DataFrame(rows).groupby(["setting", "iteration"], as_index=False).solved.mean()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    sns.lineplot(data=data, x="iteration", y="solved", hue="setting", drawstyle="steps-post", ax=ax)
    ax.set(xlabel="NES iteration", ylabel="share of SE runs solved", ylim=(-0.02, 1.02))
    return save_figure(fig, out, "success_rate")


def _transition_histograms(run: Path, meta, out, episodes: int = 10) -> list[Path]:
    """Next-state and reward histograms: real task vs SE rollouts vs the SE on real (state, action) inputs."""
    from analysis.transitions import sample_transitions

    written = []
    for setting_dir in sorted(p for p in (run / SES).glob("*") if p.is_dir()):
        data = sample_transitions([p for p in sorted(setting_dir.iterdir()) if (p / SE_META).exists()],
                                  meta["config"]["task"], episodes)
        columns = [c for c in data.columns if c != "source"]
        fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.2), squeeze=False)
        for ax, column in zip(axes[0], columns):
            finite = data[np.isfinite(data[column])]
            ranges = finite.groupby("source")[column].quantile([0.01, 0.99]).unstack()  # outliers clipped
            lo, hi = ranges[0.01].min(), ranges[0.99].max()
            margin = max(hi - lo, 1e-3) * 0.05
            clipped = finite.assign(**{column: finite[column].clip(lo - margin, hi + margin)})
            sns.histplot(data=clipped, x=column, hue="source", stat="density", common_norm=False, element="step",
                         bins=40, ax=ax, legend=ax is axes[0][-1])
        fig.suptitle(f"{setting_dir.name}: transitions of the real task, SE rollouts, SE on real inputs")
        written += save_figure(fig, out, f"transitions_{setting_dir.name}")
    return written
