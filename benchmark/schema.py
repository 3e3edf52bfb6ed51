"""The layout of result folders: the names of the files every command writes, where a cell's or a configuration's
file lies, and the small readers (and table writers) of those files.

The one module that both the commands that write results and those that only read them (`benchmark.status`,
`analysis/`) take file names from. It is built on `benchmark.io` (file formats, atomic writes) and imports no
training code, so reading a result folder never loads an agent, the engine or NES.

Folders:
- an SE or RN run (train-se, train-rn; each seed of train-ses and fit-models): SE_WEIGHTS + SE_META once finished,
  CHECKPOINT + HISTORY after every NES iteration, UNFINISHED_ITERATION/ (the finished jobs of the iteration in
  progress), GIVEN_UP when abandoned;
- an SE set (train-ses, fit-models): SET_META and one run per seed in `se_folder(out, seed)`;
- a transfer folder (transfer, headline): PROTOCOL_META, CELLS/ (`cell_path`), AGENTS_TABLE, RETURNS_TABLE,
  FAILURES, SES/SETTING/SE (copies of the SEs used, and GIVEN_UP_RUNS/ of the runs given up on the way to them);
- an RN evaluation (rn-eval): RN_EVAL_META, CELLS/ (`cell_path`), RN_AGENTS_TABLE, RN_CURVES_TABLE, FAILURES,
  RNS/LABEL (copies of the RNs used);
- a proxy study: STUDY_META, STUDY_CONFIGS/ (`study_config_path`), STUDY_SCORES, FAILURES;
- a proxy-HPO run: PROXY_HPO_META, PROXY_HPO_EVALUATIONS, INCUMBENTS, PROXY_HPO_SUMMARY, PROXY_HPO_BOHB/;
- a BOHB sweep (hpo): SWEEP_FILE, CONFIGS + RESULTS (hpbandster's json_result_logger format), NS_FILE,
  SWEEP_JOBS/ID/budget_B/ (an SE run with JOB_FILE).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark import io
from benchmark.errors import ConfigError

# --- SE and RN runs -------------------------------------------------------------------------------------------
SE_WEIGHTS, SE_META = "se.safetensors", "se.json"
CHECKPOINT = "checkpoint.safetensors"
HISTORY = "history.csv"
GIVEN_UP = "given_up.json"
UNFINISHED_ITERATION = "unfinished_iteration"
"""Folder of the jobs of the current NES iteration finished so far (benchmark.job_store), so that a run killed
mid-iteration resumes without redoing them; emptied at each checkpoint."""
SET_META = "set.json"

# --- transfer folders and RN evaluations ----------------------------------------------------------------------
REAL, ICM = "real", "icm"
"""Setting names: the real task's reward (transfer and rn-eval), the ICM curiosity bonus (rn-eval)."""
PROTOCOL_META = "protocol.json"
CELLS = "cells"
AGENTS_TABLE = "agents.csv"
RETURNS_TABLE = "test_returns.csv"
FAILURES = "failures.json"
SES = "ses"
GIVEN_UP_RUNS = "given_up"
"""OUT/ses/SETTING/given_up/: histories of the runs given up on the way to a setting's SEs."""
RN_EVAL_META = "rn_eval.json"
RN_AGENTS_TABLE = "rn_agents.csv"
RN_CURVES_TABLE = "rn_curves.csv"
RNS = "rns"

# --- proxy studies, proxy HPO, BOHB sweeps --------------------------------------------------------------------
STUDY_META = "study.json"
STUDY_CONFIGS = "configs"
STUDY_SCORES = "scores.csv"
PROXIES = ("proxy", "proxy_real")
"""The proxies of a proxy study: columns `<proxy>_score`, `<proxy>_cost_s`, ... of its scores."""
PROXY_HPO_META = "proxy_hpo.json"
PROXY_HPO_EVALUATIONS = "evaluations.jsonl"
PROXY_HPO_BOHB = "bohb"
"""The BOHB sweep of a proxy-HPO run (its CONFIGS and RESULTS)."""
INCUMBENTS = "incumbents.csv"
PROXY_HPO_SUMMARY = "summary.json"
SWEEP_FILE = "sweep.json"
SWEEP_JOBS = "jobs"
JOB_FILE = "job.json"
NS_FILE = "nameserver.json"
CONFIGS, RESULTS = "configs.json", "results.json"


def has_results(sweep: Path) -> bool:
    """Whether a BOHB sweep folder has logged a finished job (a RESULTS file with a line)."""
    path = Path(sweep) / RESULTS
    return path.is_file() and bool(path.read_text().strip())


def se_folder(out: Path, seed: int) -> Path:
    """The run of seed `seed` in an SE set."""
    return Path(out) / f"se_{seed:03d}"


def cell_path(out: Path, setting: str, agent: str, index: int) -> Path:
    """The file of one cell of a transfer folder (index: the environment) or an RN evaluation (the agent)."""
    return Path(out) / CELLS / f"{setting}__{agent}__{index:03d}.json"


def complete_envs(out: Path, setting: str, agents) -> int:
    """How many environments, from index 0 on, have the cells of every agent kind in `agents` for `setting` in
    OUT: the largest table (--num-envs) those cells support without computing."""
    n = 0
    while all(cell_path(out, setting, a, n).exists() for a in agents):
        n += 1
    return n


def study_config_path(out: Path, index: int) -> Path:
    """The scores of configuration `index` of a proxy study."""
    return Path(out) / STUDY_CONFIGS / f"config_{index:03d}.json"


def read_study_configs(out: Path) -> list[dict]:
    """The rows of a proxy study's finished configurations, in index order."""
    return [io.read_json(p) for p in sorted((Path(out) / STUDY_CONFIGS).glob("config_*.json"))]


def read_history(folder: Path) -> list[dict]:
    """The NES history rows of the run in `folder` as read from its CSV (strings; [] before its first
    iteration)."""
    path = Path(folder) / HISTORY
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cpu_time_s(history: list[dict]) -> float | None:
    """The agents' CPU seconds over a run's iterations (history column cpu_s); None where an iteration lacks it
    (run in part by a sebench before 0.3.0's CPU accounting)."""
    values = [float("nan") if row.get("cpu_s") in (None, "") else float(row["cpu_s"]) for row in history]
    return None if not values or any(np.isnan(v) for v in values) else round(sum(values), 3)


def read_transfer(out: Path) -> pd.DataFrame:
    """The per-agent rows of a transfer folder, from its cell files (else from its agents.csv: a folder copied
    without its cells); writes nothing, so it is safe while a run writes the folder. Empty when it has neither."""
    out = Path(out)
    if not (out / CELLS).is_dir() and (out / AGENTS_TABLE).is_file():
        return pd.read_csv(out / AGENTS_TABLE)
    return _cell_rows(out)


def _cell_rows(out: Path) -> pd.DataFrame:
    """One row per agent, from a transfer folder's cell files."""
    return pd.DataFrame([r for p in sorted((Path(out) / CELLS).glob("*.json")) for r in io.read_json(p)["rows"]])


def collect_transfer(out: Path) -> pd.DataFrame:
    """The tidy tables of a transfer folder from its cell files: OUT/agents.csv (one row per agent, returned) and
    OUT/test_returns.csv (one row per test episode)."""
    out = Path(out)
    frame = _cell_rows(out)
    io.write_csv(out / AGENTS_TABLE, frame)
    if len(frame):
        episodes = frame[["setting", "env_index", "se_id", "agent", "agent_index"]].copy()
        episodes["test_return"] = frame.test_returns.map(json.loads)
        episodes = episodes.explode("test_return")
        episodes["episode"] = episodes.groupby(["setting", "env_index", "agent", "agent_index"]).cumcount()
        io.write_csv(out / RETURNS_TABLE, episodes)
    return frame


def collect_rn_eval(out: Path) -> pd.DataFrame:
    """The tidy tables of an RN evaluation from its cell files: OUT/rn_agents.csv (one row per agent, without the
    curves) and OUT/rn_curves.csv (one row per training episode: return, length, cumulative steps); returns the
    rows with their curves."""
    out = Path(out)
    rows = [io.read_json(p)["row"] for p in sorted((out / CELLS).glob("*.json"))]
    frame = pd.DataFrame(rows)
    if frame.empty:
        io.write_csv(out / RN_AGENTS_TABLE, frame)
        return frame
    io.write_csv(out / RN_AGENTS_TABLE, frame.drop(columns=["curve_returns", "curve_lengths"]))
    curves = []
    for r in frame.itertuples():
        returns, lengths = json.loads(r.curve_returns), json.loads(r.curve_lengths)
        curves.append(pd.DataFrame({"setting": r.setting, "agent": r.agent, "agent_index": r.agent_index,
                                    "episode": np.arange(1, len(returns) + 1), "real_return": returns,
                                    "length": lengths, "steps": np.cumsum(lengths)}))
    io.write_csv(out / RN_CURVES_TABLE, pd.concat(curves, ignore_index=True))
    return frame


def agent_table(out: Path, collect, table: str) -> pd.DataFrame:
    """A folder's per-agent table: from its cells where it has them (`collect` rewrites the tables), else the
    table file `table` (a folder copied without its cells)."""
    out = Path(out)
    return collect(out) if (out / CELLS).exists() else pd.read_csv(out / table)


def save_se(out: Path, state_dict: dict[str, torch.Tensor], meta: dict) -> None:
    """An SE (or RN) as <out>/se.safetensors (weights) + <out>/se.json (metadata)."""
    io.save_tensors(Path(out) / SE_WEIGHTS, state_dict)
    io.write_json(Path(out) / SE_META, meta)


def read_se(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, weights) of the SE stored in folder `path`."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"no SE at {path}: not a directory")
    meta = io.read_json(path / SE_META)
    weights, _ = io.load_tensors(path / SE_WEIGHTS)
    return meta, weights


def copy_run_files(src: Path, dst: Path) -> None:
    """Copy an SE's or RN's weights, metadata and NES history (those src has) into dst, keeping files already
    there: result folders hold what they used, so analysis needs nothing else."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in (SE_META, SE_WEIGHTS, HISTORY):
        if (src / name).exists() and not (dst / name).exists():
            io.copy_file(src / name, dst / name)
