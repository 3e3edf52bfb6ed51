"""What a learned reward network is worth: agents trained with each RN, with the real reward and with the ICM
curiosity bonus, measured on the real task (steps and episodes to reach the threshold, final real test return).

For every setting (real, icm, one per RN folder) and every agent kind, `agents_count` agents with seeded (and,
with vary_hp, sampled) hyperparameters train on the setting's reward. The design is paired: agent k of a kind has
the same seed and hyperparameters in every setting, so the settings differ only in the reward. An agent of a
kind other than the one the RN was trained with (SARSA for a Q-learning RN) is a *transfer* agent (column
`transfer`). With full_curves (default) every agent trains for the whole max_episodes budget, so the training
curves cover the same episodes; the solve point (the first episode at which the mean real return of the last
early_out_num episodes reaches the threshold) is what the real-task stopping rule would have stopped at.

One (setting, agent kind, agent index) is a *cell*; each finished cell is written at once to OUT/cells/, so a
killed run resumes without redoing it (like `benchmark.protocol`). With engine batched, the DDQN cells (CartPole,
Acrobot) or TD3 cells (MountainCarContinuous) of one (setting, agent kind) train in lockstep as one job per worker
and are written when that job ends; a killed run redoes the jobs in progress. Outputs: OUT/rn_eval.json (config,
settings), OUT/rns/<label>/ (copies of the RN files and their NES history), OUT/rn_agents.csv (one row per
agent), OUT/rn_curves.csv (one row per training episode); `analysis.rn` makes the tables and figures.
"""
from __future__ import annotations

import dataclasses
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmark import io, rng
from benchmark.agents.icm import ICMConfig
from benchmark.agents.registry import check_agent_fits_task, get_agent_kind
from benchmark.agents.sampling import sample_configs
from benchmark.cells import run_cells
from benchmark.config_layers import describe_differences
from benchmark.engine import ENGINES
from benchmark.envs.reward import load_rn, make_env
from benchmark.envs.tasks import task_limits
from benchmark.errors import ConfigError, check_choice, check_range
from benchmark.parallel import executor_scope
from benchmark.rn.engine import run_agents
from benchmark.rn.inner import AgentRun, RewardSetting, rn_setting
from benchmark.schema import (CELLS, FAILURES, ICM, REAL, RN_EVAL_META, RNS, SE_META, cell_path, collect_rn_eval,
                              copy_run_files)



@dataclass(frozen=True)
class RNEvalConfig:
    """One RN evaluation run."""

    task: str = "CliffWalking-v1"
    """Real task every agent trains and is tested on."""
    agents: tuple[str, ...] = ("q_learning", "sarsa")
    """Agent kinds (benchmark.agents.registry.AGENTS)."""
    agents_count: int = 10
    """Agents per (setting, agent kind)."""
    max_episodes: int = 100
    """Training episode budget of every agent."""
    test_episodes: int = 1
    """Greedy real test episodes per agent after training."""
    vary_hp: bool = True
    """Sample each agent's hyperparameters from its kind's varied space (False: the kind's defaults)."""
    icm: bool = True
    """Include the ICM curiosity baseline."""
    icm_config: ICMConfig = field(default_factory=ICMConfig)
    """ICM hyperparameters of that baseline."""
    full_curves: bool = True
    """Train for the whole budget (False: stop at the threshold, cheaper; same solve points)."""
    seed: int = 0
    """Root seed of agent seeds and hyperparameter samples."""
    engine: str = "batched"
    """batched: the DDQN / Dueling DDQN / discrete TD3 / TD3 cells of one (setting, agent kind) on a task with
    vectorised dynamics train in lockstep, one job per worker (`benchmark.rn.engine`); ICM, other agents and tasks,
    and scalar: one cell per job, one agent at a time. An evaluation written before this field existed ran
    scalar."""

    def __post_init__(self):
        task_limits(self.task)
        check_choice("engine", self.engine, ENGINES)
        if not self.agents:
            raise ConfigError("agents: name at least one agent")
        action_space = make_env(self.task).action_space
        for name in self.agents:
            check_agent_fits_task(name, self.task, action_space)
        check_range("agents_count", self.agents_count, 1, 10_000, integer=True)
        check_range("max_episodes", self.max_episodes, 1, 10**7, integer=True)
        check_range("test_episodes", self.test_episodes, 1, 10_000, integer=True)
        check_range("seed", self.seed, 0, 2**63 - 1, integer=True)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "agents": list(self.agents)}

    @classmethod
    def from_dict(cls, d: dict) -> "RNEvalConfig":
        return cls(**{**d, "agents": tuple(d["agents"]), "icm_config": ICMConfig(**d["icm_config"])})


@dataclass(frozen=True)
class EvalSetting:
    """Where agents get their reward: real, icm, or a learned RN (its folder, mode and training agent)."""

    name: str
    reward: RewardSetting
    path: Path | None = None
    mode: str = REAL
    rn_agent: str | None = None
    """Agent kind the RN was trained with (None for the baselines)."""

    def describe(self) -> dict:
        return {"kind": self.reward.kind, "path": None if self.path is None else str(self.path), "mode": self.mode,
                "rn_agent": self.rn_agent}


def make_settings(config: RNEvalConfig, rn_dirs: list[Path | str]) -> list[EvalSetting]:
    """real, icm (if config.icm), then one setting per RN folder (DIR or LABEL=DIR; default label: its mode)."""
    settings = [EvalSetting(REAL, RewardSetting(REAL))]
    if config.icm:
        settings.append(EvalSetting(ICM, RewardSetting(ICM, icm=config.icm_config), mode=ICM))
    for entry in rn_dirs:
        label, _, folder = str(entry).rpartition("=") if "=" in str(entry) else ("", "", str(entry))
        folder = Path(folder)
        meta = io.read_json(folder / SE_META)
        if meta.get("kind") != "reward_network":
            raise ConfigError(f"{folder} holds a {meta.get('kind', 'unknown')!r}, not a reward network")
        if meta.get("task") != config.task:
            raise ConfigError(f"the RN in {folder} was learned for task {meta.get('task')!r}, not {config.task!r}")
        env = load_rn(folder, make_env(config.task))
        name = label or env.config.mode
        settings.append(EvalSetting(name, rn_setting(env.config, env.parameters.double().numpy()), folder,
                                    env.config.mode, meta.get("agent")))
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise ConfigError(f"two settings share a name ({names}); name RNs as --rns LABEL=DIR")
    return settings


def agent_specs(config: RNEvalConfig, agent: str) -> list[tuple[object, int]]:
    """(config, seed) of the agents of one kind: the same in every setting (paired design)."""
    kind = get_agent_kind(agent)
    key = zlib.crc32(agent.encode())
    seeds = rng.child_seeds(config.seed, config.agents_count, key)
    base = kind.defaults(max_episodes=config.max_episodes)
    if config.vary_hp:
        hp_seed = rng.child_seeds(config.seed, 1, key, rng.SeedPath.HP_SAMPLE)[0]
        configs = sample_configs(base, config.agents_count, seed=hp_seed, space=kind.varied_space)
    else:
        configs = [base] * config.agents_count
    return list(zip(configs, seeds))


def run_rn_eval(config: RNEvalConfig, rn_dirs: list[Path | str], out: Path, *, workers: int = 1,
                resume: bool = False, progress: bool = True, executor=None) -> pd.DataFrame:
    """Run every unfinished cell and return the tidy per-agent table (also written to OUT)."""
    settings = make_settings(config, rn_dirs)
    out = io.prepare_out_dir(out, resume, RN_EVAL_META)
    _write_or_check_meta(out, config, settings, resume)
    (out / CELLS).mkdir(exist_ok=True)
    _copy_rns(out, settings)
    specs = {agent: agent_specs(config, agent) for agent in config.agents}
    todo = [(s, a, k) for k in range(config.agents_count) for s in settings for a in config.agents
            if not cell_path(out, s.name, a, k).exists()]
    total = len(settings) * len(config.agents) * config.agents_count

    jobs = _jobs(config, todo, specs, workers)
    _drop_stale_failures(out / FAILURES)

    def name(job) -> str:
        return ",".join(cell_path(out, setting.name, agent, k).stem for setting, agent, k in job)

    with executor_scope(executor, workers) as pool, \
            tqdm(total=total, initial=total - len(todo), disable=not progress, unit="agent", desc="rn-eval") as bar:

        def submit(job):
            agents = [(setting.reward, *specs[agent][k]) for setting, agent, k in job]
            return pool.submit(run_agents, config.task, agents, config.test_episodes, not config.full_curves,
                               config.engine)

        def write(job, runs):
            for (setting, agent, k), run in zip(job, runs):
                agent_config, seed = specs[agent][k]
                io.write_json(cell_path(out, setting.name, agent, k),
                              {"row": _row(config, setting, agent, k, agent_config, seed, run)})
                bar.update(1)

        failures = run_cells(pool, jobs, submit=submit, write=write, name=name, failures_path=out / FAILURES,
                             workers=workers)
    frame = collect_rn_eval(out)
    if failures:
        raise RuntimeError(f"{len(failures)} cell(s) failed (see {out / FAILURES}); rerun with --resume")
    return frame


def _jobs(config: RNEvalConfig, todo: list[tuple], specs: dict, workers: int) -> list[tuple]:
    """The executor jobs of the unfinished cells, each a tuple of cells: with engine batched, the lockstep cells
    of one (setting, agent kind) split into one job per worker (at most); every other cell a job of its own."""
    from benchmark.rn.engine import lockstep_job

    groups: dict[tuple, list] = {}
    for cell in todo:
        setting, agent, k = cell
        batched = config.engine == "batched" and lockstep_job(config.task, setting.reward, specs[agent][k][0])
        groups.setdefault((setting.name, agent) if batched else (setting.name, agent, k), []).append(cell)
    return [tuple(group[i] for i in part) for group in groups.values()
            for part in np.array_split(np.arange(len(group)), max(1, min(workers, len(group))))]


def _drop_stale_failures(path: Path) -> None:
    """Forget the failures of an earlier call: every unfinished cell runs again (and is recorded again if it
    fails), and with engine batched a job's name (its cells) may differ from the earlier call's."""
    path.unlink(missing_ok=True)


def _row(config: RNEvalConfig, setting: EvalSetting, agent: str, k: int, agent_config, seed: int,
         run: AgentRun) -> dict:
    from search_spaces import get_space

    varied = sorted(get_space(get_agent_kind(agent).varied_space).keys())
    _, threshold = task_limits(config.task)
    return {
        "setting": setting.name, "kind": setting.reward.kind, "mode": setting.mode, "rn_agent": setting.rn_agent,
        "transfer": setting.rn_agent is not None and setting.rn_agent != agent,
        "agent": agent, "agent_index": k, "seed": seed,
        "hyperparameters": json.dumps({f: getattr(agent_config, f) for f in varied}, sort_keys=True),
        "solved": run.solved, "steps_to_solve": run.steps_to_solve, "episodes_to_solve": run.episodes_to_solve,
        "train_steps": run.train_steps, "train_episodes": run.train_episodes, "diverged": run.diverged,
        "mean_train_return": run.mean_return, "test_mean": float(np.mean(run.test_returns)),
        "test_solved": float(np.mean(run.test_returns)) >= threshold,
        "test_returns": json.dumps(run.test_returns), "test_steps": run.test_steps, "wall_s": round(run.wall_s, 4),
        "curve_returns": json.dumps(run.returns), "curve_lengths": json.dumps(run.lengths),
    }


def _write_or_check_meta(out: Path, config: RNEvalConfig, settings: list[EvalSetting], resume: bool) -> None:
    limit, solved = task_limits(config.task)
    meta = {"config": config.to_dict(), "task_solved": solved, "episode_limit": limit,
            "settings": {s.name: s.describe() for s in settings}, "versions": io.package_versions()}
    path = out / RN_EVAL_META
    if resume and path.exists():
        stored = io.read_json(path)
        stored_config = {"engine": "scalar", **stored["config"]}  # written before the engine field: scalar
        if stored_config != json.loads(json.dumps(meta["config"])) or stored["settings"] != meta["settings"]:
            changed = describe_differences({"config": stored_config, "settings": stored["settings"]},
                                           {"config": meta["config"], "settings": meta["settings"]})
            raise ConfigError(f"--resume: the evaluation in {out} was started with another configuration or other "
                              f"settings: {changed}")
        return
    io.write_json(path, meta)


def _copy_rns(out: Path, settings: list[EvalSetting]) -> None:
    """Keep a copy of every RN used (weights, metadata, NES history) so analysis needs only OUT."""
    for setting in settings:
        if setting.path is not None:
            copy_run_files(setting.path, out / RNS / setting.name)

