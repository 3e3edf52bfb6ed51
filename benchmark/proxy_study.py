"""Fidelity study: can agents be tuned on SEs instead of the real task, and what does it cost in quality?

K sampled agent configurations are each scored three ways (all with the same agent seeds):
  proxy      trained on the SEs, tested on the SEs (no real-environment step),
  proxy_real trained on the SEs, tested on the real task,
  real       trained and tested on the real task.
Each configuration's scores are written as soon as they are known (OUT/configs/), so a killed study resumes;
`analysis.proxy` reports the Spearman and Kendall rank correlations of each proxy with `real` (bootstrap 95%
intervals over configurations), the cost ratio (real seconds / proxy seconds), and the regret: the best real score
minus the real score of the configuration the proxy ranks first.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from benchmark import io
from benchmark.cells import run_cells
from benchmark.config_layers import describe_differences
from benchmark.errors import ConfigError, check_range
from benchmark.objective import AgentBenchmark
from benchmark.parallel import default_workers, executor_scope
from benchmark.schema import (FAILURES, STUDY_CONFIGS, STUDY_META, STUDY_SCORES, read_study_configs,
                              study_config_path)
from benchmark.se_sets import find_ses
from search_spaces.tools import plain



@dataclass(frozen=True)
class ProxyStudyConfig:
    task: str = "CartPole-v0"
    solved: float | None = None
    """The task's solved threshold where its gymnasium spec has none, or to override the spec's."""
    agent: str = "ddqn"
    configs: int = 30
    """Sampled agent configurations K."""
    agents: int = 3
    """Agents per configuration and environment (on SEs: agent i trains on SE i modulo the set size)."""
    max_episodes: int = 1000
    """Training-episode budget of each agent."""
    test_episodes: int = 10
    seed: int = 0
    bootstrap: int = 1000
    """Bootstrap resamples of the configurations for the correlation intervals."""

    def __post_init__(self):
        check_range("configs", self.configs, 2, 100_000, integer=True)
        check_range("agents", self.agents, 1, 40, integer=True)
        check_range("max_episodes", self.max_episodes, 10, 1000, integer=True)
        check_range("test_episodes", self.test_episodes, 1, 10_000, integer=True)
        check_range("bootstrap", self.bootstrap, 0, 10**6, integer=True)


def _score_config(config: ProxyStudyConfig, ses: list[str], index: int, values: dict) -> dict:
    bench = AgentBenchmark(config.task, config.agent, ses, config.test_episodes, solved=config.solved)
    fid = {"agents": config.agents, "max_episodes": config.max_episodes}
    runs = {"proxy": bench.objective_function(values, {**fid, "environment": "se"}, seed=config.seed + index),
            "proxy_real": bench.objective_function_test(values, {**fid, "environment": "se"}, seed=config.seed + index),
            "real": bench.objective_function(values, {**fid, "environment": "real"}, seed=config.seed + index)}
    row = {"config_index": index, "configuration": values}
    for name, r in runs.items():
        row.update({f"{name}_score": -r["function_value"], f"{name}_cost_s": r["cost"],
                    f"{name}_train_steps": r["info"]["train_steps"],
                    f"{name}_real_env_steps": r["info"]["real_env_steps"]})
    return row


def run_proxy_study(config: ProxyStudyConfig, ses: Path, out: Path, *, workers: int | None = None,
                    resume: bool = False, progress: bool = True) -> pd.DataFrame:
    out = io.prepare_out_dir(out, resume, STUDY_META)
    ses_list = [str(p) for p in find_ses(ses)]
    meta = {"config": dataclasses.asdict(config), "ses": ses_list}
    if resume and (out / STUDY_META).exists():
        stored = io.read_json(out / STUDY_META)
        if stored["config"] != meta["config"]:
            raise ConfigError(f"--resume: the study in {out} was started with another configuration: "
                              f"{describe_differences(stored['config'], meta['config'])}")
    io.write_json(out / STUDY_META, {**meta, "versions": io.package_versions()})
    (out / STUDY_CONFIGS).mkdir(exist_ok=True)
    space = AgentBenchmark(config.task, config.agent, solved=config.solved).get_configuration_space(seed=config.seed)
    samples = [{k: plain(v) for k, v in dict(c).items()} for c in space.sample_configuration(config.configs)]
    todo = [i for i in range(config.configs) if not study_config_path(out, i).exists()]
    workers = default_workers() if workers is None else workers
    with executor_scope(None, workers) as pool, \
            tqdm(total=config.configs, initial=config.configs - len(todo), disable=not progress, unit="config",
                 desc="proxy study") as bar:
        failures = run_cells(
            pool, todo, submit=lambda i: pool.submit(_score_config, config, ses_list, i, samples[i]),
            write=lambda i, row: io.write_json(study_config_path(out, i), row),
            name=lambda i: study_config_path(out, i).stem,
            failures_path=out / FAILURES, workers=workers, on_done=lambda: bar.update(1))
    if failures:
        raise RuntimeError(f"{len(failures)} configuration(s) failed (see {out / FAILURES}); rerun with --resume")
    frame = pd.DataFrame(read_study_configs(out))
    scores = frame.assign(configuration=frame.configuration.map(lambda c: json.dumps(c, sort_keys=True)))
    io.write_csv(out / STUDY_SCORES, scores)
    return frame
