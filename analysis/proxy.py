"""Table and scatter plot of a proxy (fidelity) study, read from its output folder alone."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.figures import save_figure  # noqa: E402
from benchmark import io  # noqa: E402
from benchmark.proxy_study import PROXIES, STUDY_META, ProxyStudyConfig, study_summary  # noqa: E402

LABELS = {"proxy": "trained and tested on SEs", "proxy_real": "trained on SEs, tested on the real task"}


def is_proxy_study(path: Path) -> bool:
    return (Path(path) / STUDY_META).exists()


def _ratio(value: float) -> str:
    return "no real step used" if value == float("inf") else f"{value:.1f}x"


def markdown_summary(summary: pd.DataFrame) -> str:
    lines = ["| proxy | Spearman [95% CI] | Kendall [95% CI] | cost ratio (real/proxy) | real-env steps ratio | regret |",
             "|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(f"| {r.proxy} ({LABELS[r.proxy]}) | {r.spearman:.2f} [{r.spearman_low:.2f}, {r.spearman_high:.2f}] | "
                     f"{r.kendall:.2f} [{r.kendall_low:.2f}, {r.kendall_high:.2f}] | {r.cost_ratio:.1f}x | "
                     f"{_ratio(r.real_env_steps_ratio)} | {r.regret:.1f} |")
    return "\n".join(lines) + "\n"


def analyze_proxy_study(run: Path, out: Path | None = None) -> list[Path]:
    run = Path(run)
    out = Path(out) if out else run
    out.mkdir(parents=True, exist_ok=True)
    config = ProxyStudyConfig(**io.read_json(run / STUDY_META)["config"])
    frame = pd.DataFrame([io.read_json(p) for p in sorted((run / "configs").glob("config_*.json"))])
    if len(frame) < 2:
        return []
    summary = study_summary(frame, config)
    io.write_csv(out / "proxy_summary.csv", summary)
    io.atomic_write(out / "proxy_summary.md", lambda p: p.write_text(markdown_summary(summary)))
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, len(PROXIES), figsize=(5 * len(PROXIES), 4.2), squeeze=False)
    for ax, proxy, row in zip(axes[0], PROXIES, summary.itertuples()):
        sns.scatterplot(data=frame, x=f"{proxy}_score", y="real_score", ax=ax)
        chosen = frame[frame.config_index == row.chosen_config]
        ax.scatter(chosen[f"{proxy}_score"], chosen.real_score, s=120, facecolors="none", edgecolors="red",
                   label="proxy's choice")
        ax.set(xlabel=f"proxy score ({LABELS[proxy]})", ylabel="real score (trained and tested on the real task)",
               title=f"Spearman {row.spearman:.2f}, Kendall {row.kendall:.2f}")
        ax.legend(loc="lower right")
    return [out / "proxy_summary.csv", out / "proxy_summary.md", *save_figure(fig, out, "proxy_scatter")]
