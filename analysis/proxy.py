"""Table and scatter plot of a proxy (fidelity) study, read from its output folder alone."""
from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from analysis.figures import save_figure  # noqa: E402
from benchmark import io  # noqa: E402
from benchmark.schema import PROXIES, STUDY_META, read_study_configs  # noqa: E402

LABELS = {"proxy": "trained and tested on SEs", "proxy_real": "trained on SEs, tested on the real task"}


def is_proxy_study(path: Path) -> bool:
    return (Path(path) / STUDY_META).exists()


def _ratio(value: float) -> str:
    return "no real step used" if value == float("inf") else f"{value:.1f}x"


def _bootstrap(x: np.ndarray, y: np.ndarray, fn, resamples: int, seed: int) -> tuple[float, float]:
    if resamples == 0:
        return float("nan"), float("nan")
    gen = np.random.default_rng(seed)
    values = []
    with warnings.catch_warnings():  # a resample can be constant: its correlation is undefined (NaN, dropped)
        warnings.simplefilter("ignore")
        for _ in range(resamples):
            idx = gen.integers(0, len(x), len(x))
            values.append(fn(x[idx], y[idx])[0])
    values = np.array(values, dtype=float)
    values = values[np.isfinite(values)]
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if len(values) else (np.nan, np.nan)


def study_summary(frame: pd.DataFrame, bootstrap: int, seed: int) -> pd.DataFrame:
    """One row per proxy: correlations with the real scores (+ `bootstrap` resampled intervals, drawn with `seed`),
    cost ratio, regret."""
    real = frame.real_score.to_numpy(float)
    rows = []
    for proxy in PROXIES:
        score = frame[f"{proxy}_score"].to_numpy(float)
        row = {"proxy": proxy}
        for name, fn in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
            row[name] = float(fn(score, real)[0])
            row[f"{name}_low"], row[f"{name}_high"] = _bootstrap(score, real, fn, bootstrap, seed)
        row["cost_ratio"] = float(frame.real_cost_s.sum() / frame[f"{proxy}_cost_s"].sum())
        proxy_steps = frame[f"{proxy}_real_env_steps"].sum()  # 0 for the SE-only proxy: ratio infinite
        row["real_env_steps_ratio"] = float(frame.real_real_env_steps.sum() / proxy_steps) if proxy_steps else np.inf
        chosen = int(np.argmax(score))
        row["chosen_config"] = int(frame.config_index.iloc[chosen])
        row["regret"] = float(real.max() - real[chosen])
        rows.append(row)
    return pd.DataFrame(rows)


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
    config = io.read_json(run / STUDY_META)["config"]
    frame = pd.DataFrame(read_study_configs(run))
    if len(frame) < 2:
        return []
    summary = study_summary(frame, config["bootstrap"], config["seed"])
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
