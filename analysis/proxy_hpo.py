"""Compare HPO-on-the-proxy runs (`sebench proxy-hpo` output folders): each run's incumbent real-task score over
wall time (figure) and a table of final incumbent real score, evaluations done and real-environment steps used."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.figures import save_figure  # noqa: E402
from benchmark import io  # noqa: E402
from benchmark.errors import ConfigError  # noqa: E402
from benchmark.schema import INCUMBENTS, PROXY_HPO_SUMMARY  # noqa: E402


def _load(run: Path) -> tuple[dict, pd.DataFrame]:
    run = Path(run)
    if not (run / PROXY_HPO_SUMMARY).exists() or not (run / INCUMBENTS).exists():
        raise ConfigError(f"{run} holds no finished proxy-hpo run ({PROXY_HPO_SUMMARY} and {INCUMBENTS} missing)")
    summary = io.read_json(run / PROXY_HPO_SUMMARY)
    try:
        incumbents = pd.read_csv(run / INCUMBENTS)
    except pd.errors.EmptyDataError:
        incumbents = pd.DataFrame(columns=["wall_time_s", "real_score"])
    return summary, incumbents


def comparison_table(runs: list[Path]) -> pd.DataFrame:
    rows = []
    for run in runs:
        summary, _ = _load(run)
        final = summary.get("final_incumbent") or {}
        rows.append({"run": Path(run).name, "label": summary["label"], "optimizer": summary["optimizer"],
                     "environment": summary["environment"], "wall_budget_s": summary["wall_budget_s"],
                     "evaluations": summary["evaluations"], "real_env_steps": summary["real_env_steps"],
                     "incumbents": summary["incumbents"], "final_real_score": final.get("real_score", float("nan")),
                     "final_proxy_value": final.get("proxy_value", float("nan"))})
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame) -> str:
    lines = ["| run | optimizer | trained on | wall budget (s) | evaluations | real-env steps | incumbents | "
             "final incumbent real score |", "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.run} | {r.optimizer} | {r.environment} | {r.wall_budget_s:g} | {r.evaluations} | "
                     f"{r.real_env_steps:,} | {r.incumbents} | {r.final_real_score:.1f} |")
    return "\n".join(lines) + "\n"


def analyze_proxy_hpo(runs: list[Path], out: Path) -> list[Path]:
    """Figure (PNG + PDF) and table (CSV + markdown) comparing the runs; returns the written paths."""
    runs = [Path(r) for r in runs]
    if not runs:
        raise ConfigError("analyze_proxy_hpo: no runs given")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(runs)
    io.write_csv(out / "proxy_hpo_summary.csv", table)
    io.atomic_write(out / "proxy_hpo_summary.md", lambda p: p.write_text(markdown_table(table)))
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for run, row in zip(runs, table.itertuples()):
        _, inc = _load(run)
        if inc.empty:
            continue
        times = [*inc.wall_time_s.astype(float), max(float(row.wall_budget_s), float(inc.wall_time_s.max()))]
        scores = [*inc.real_score.astype(float), float(inc.real_score.iloc[-1])]
        label = row.label if list(table.label).count(row.label) == 1 else f"{row.label} ({row.run})"
        ax.step(times, scores, where="post", label=label, marker="o", markersize=3)
    ax.set(xlabel="wall time of the HPO run (s)", ylabel="incumbent's real-task score (mean test return)",
           title="HPO on the proxy: incumbent quality over wall time")
    ax.legend(loc="lower right", fontsize="small")
    return [out / "proxy_hpo_summary.csv", out / "proxy_hpo_summary.md", *save_figure(fig, out, "proxy_hpo_incumbents")]
