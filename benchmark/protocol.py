"""The transfer protocol: what a learned SE is worth for agents and hyperparameters it was not trained with.

For every setting (the real task, or one SE set) and every agent kind, `num_envs` environments x
`agents_per_env` agents with freshly sampled hyperparameters are trained and tested for `episodes` on the
real task. One (setting, environment, agent kind) is a *cell*; each finished cell is written at once to
OUT/cells/, so a killed run resumes without redoing it. The design is paired: environment i and agent kind k
get the same agent seeds and the same sampled hyperparameters in every setting, so the settings differ only in
where the agents trained. So a cell does not depend on `agents` or `num_envs`: `reuse_from` copies finished cells
from earlier runs of the same protocol (see `reuse_cells`).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmark import __version__, io, rng
from benchmark.agents.common import AgentSpec
from benchmark.agents.registry import get_agent_kind
from benchmark.agents.sampling import sample_configs
from benchmark.cells import run_cells
from benchmark.config_layers import describe_differences
from benchmark.engine import ENGINES, submit_chunk
from benchmark.envs.synthetic import SEConfig
from benchmark.envs.tasks import Task, get_task
from benchmark.errors import ConfigError, check_choice, check_range
from benchmark.nets import flat_parameters
from benchmark.parallel import default_workers, executor_scope
from benchmark.nes.presets import PRESETS, agent_base
from benchmark.schema import (CELLS, FAILURES, GIVEN_UP_RUNS, PROTOCOL_META, REAL, SE_META, SE_WEIGHTS, SES,
                              cell_path, collect_transfer, copy_run_files)
from benchmark.se_sets import find_ses, given_up_runs, set_label

CELL_FIELDS = ("task", "solved", "seed", "agents_per_env", "episodes", "max_episodes", "vary_hp", "engine",
               "preset")
"""The ProtocolConfig fields a cell depends on (besides its setting's SE, agent kind and env index)."""
CELL_NUMERICS = 2
"""Revision of what a cell computes, down to float summation order (an agent's trajectory amplifies the smallest
difference). Bump it with any change that alters a cell's numbers: cells are reused, and a run resumed, only
between folders of equal CELL_NUMERICS (recorded in protocol.json; absent = an earlier revision)."""


@dataclass(frozen=True)
class ProtocolConfig:
    """One transfer-protocol run."""

    task: str = "CartPole-v0"
    """Real task every agent is tested on."""
    agents: tuple[str, ...] = ("ddqn", "dueling_ddqn", "td3_discrete")
    """Agent kinds (benchmark.agents.registry.AGENTS)."""
    num_envs: int = 40
    """Environments per setting: SEs of each set, or seeded instances of the real task."""
    agents_per_env: int = 10
    """Agents trained on each environment, each with freshly sampled hyperparameters."""
    episodes: int = 10
    """Real-task test episodes per agent."""
    vary_hp: bool = True
    """Sample each agent's hyperparameters from its kind's varied space (False: the kind's defaults)."""
    max_episodes: int = 1000
    """Training episode limit of every agent (real task: until solved; SE: the 1% rule)."""
    seed: int = 0
    """Root seed of agent seeds and hyperparameter samples."""
    engine: str = "batched"
    solved: float | None = None
    """The task's solved threshold where its gymnasium spec has none, or to override the spec's (real-task
    training stops there; an agent counts as solved at it)."""
    preset: str = "paper_transfer"
    """The SE recipe (benchmark.nes.presets) whose inner-loop DDQN is the base of the DDQN and Dueling DDQN agents
    in every setting, as in the paper (the SE's stored agent config); other kinds start from their defaults."""

    def __post_init__(self):
        self.real_task.require_solved("the transfer protocol (real-task training, agents solved)")
        check_choice("preset", self.preset, PRESETS)
        if not self.agents:
            raise ConfigError("agents: name at least one agent")
        for name in self.agents:
            get_agent_kind(name)
        check_range("num_envs", self.num_envs, 1, 10_000, integer=True)
        check_range("agents_per_env", self.agents_per_env, 1, 10_000, integer=True)
        check_range("episodes", self.episodes, 1, 10_000, integer=True)
        check_range("max_episodes", self.max_episodes, 1, 10**7, integer=True)
        check_range("seed", self.seed, 0, 2**63 - 1, integer=True)
        check_choice("engine", self.engine, ENGINES)

    @property
    def real_task(self) -> Task:
        """The task, with `solved` applied."""
        return get_task(self.task, self.solved)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "agents": list(self.agents)}

    @classmethod
    def from_dict(cls, d: dict) -> "ProtocolConfig":
        return cls(**{**d, "agents": tuple(d["agents"])})


@dataclass(frozen=True)
class Setting:
    """Where agents train: the real task (no SEs) or a set of SEs."""

    name: str
    ses: tuple[Path, ...] = ()


def cell_specs(config: ProtocolConfig, agent: str, env_index: int) -> list[AgentSpec]:
    """Agents of one (environment, agent kind): the same in every setting (paired design)."""
    kind = get_agent_kind(agent)
    key = zlib.crc32(agent.encode())
    seeds = rng.child_seeds(config.seed, config.agents_per_env, key, env_index)
    base = agent_base(agent, config.preset, max_episodes=config.max_episodes)
    if config.vary_hp:
        hp_seed = rng.child_seeds(config.seed, 1, key, env_index, rng.SeedPath.HP_SAMPLE)[0]
        configs = sample_configs(base, config.agents_per_env, seed=hp_seed, space=kind.varied_space)
    else:
        configs = [base] * config.agents_per_env
    return [AgentSpec(c, s) for c, s in zip(configs, seeds)]


def make_settings(config: ProtocolConfig, se_sets: list[Path | str], include_real: bool = True,
                  order_from: list[Path] = ()) -> list[Setting]:
    """The real setting plus one per SE set; a set is DIR or LABEL=DIR (default label from its metadata).

    A set's SEs take env indices in name order, except that SEs an earlier run in `order_from` (transfer folders,
    the first that ran the setting) gave env indices keep them: a set that grows while its table is computed
    (seeds finishing out of order) appends its new SEs, so every finished cell stays valid.
    """
    if not include_real and not se_sets:
        raise ConfigError("--no-real needs at least one SE set in --ses (otherwise there is nothing to run)")
    settings = [Setting(REAL)] if include_real else []
    for entry in se_sets:
        label, _, folder = str(entry).rpartition("=") if "=" in str(entry) else ("", "", str(entry))
        ses = find_ses(Path(folder))
        label = label or set_label(io.read_json(ses[0] / SE_META))
        ses = _in_recorded_order(ses, recorded_ses(order_from, label))
        if len(ses) < config.num_envs:
            raise ConfigError(f"num_envs={config.num_envs} needs {config.num_envs} SEs per set, but {folder} holds "
                              f"{len(ses)}; lower --num-envs or learn more SEs (sebench train-ses)")
        for p in ses[:config.num_envs]:
            task = io.read_json(p / SE_META).get("task")
            if task != config.task:
                raise ConfigError(f"SE {p} was learned for task {task!r}, not {config.task!r}")
        settings.append(Setting(label, tuple(ses[:config.num_envs])))
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise ConfigError(f"two settings share a name ({names}); name them as --ses LABEL=DIR")
    return settings


def recorded_ses(folders: list[Path], setting: str) -> list[str]:
    """The SE folder names, by env index, of `setting` in the first transfer folder of `folders` that ran it."""
    for folder in map(Path, folders):
        meta_path = folder / PROTOCOL_META
        recorded = io.read_json(meta_path).get("settings", {}).get(setting) if meta_path.is_file() else None
        if recorded:
            return [Path(p).name for p in recorded]
    return []


def _in_recorded_order(ses: list[Path], recorded: list[str]) -> list[Path]:
    """`ses` with those named in `recorded` first, in that order (as far as the set still holds them)."""
    by_name = {p.name: p for p in ses}
    first = [by_name[name] for name in recorded if name in by_name]
    return first + [p for p in ses if p not in first]


def run_protocol(config: ProtocolConfig, settings: list[Setting], out: Path, *, workers: int | None = None,
                 resume: bool = False, progress: bool = True, executor=None, scheduler: str | None = None,
                 reuse_from: list[Path] | None = None) -> pd.DataFrame:
    """Run every unfinished cell and return the tidy per-agent table (also written to OUT).

    Cells run on `executor`, else on a new one: the dask.distributed cluster at `scheduler` or local processes.
    Missing cells are first copied from the transfer folders `reuse_from` where they match (`reuse_cells`).
    """
    for folder in reuse_from or ():
        _source_meta(folder)  # a bad folder fails before OUT is touched
    out = io.prepare_out_dir(out, resume, PROTOCOL_META)
    _write_or_check_meta(out, config, settings, resume)
    (out / CELLS).mkdir(exist_ok=True)
    copy_ses(out, settings)
    for folder, counts in reuse_cells(out, config, settings, reuse_from or []).items():
        if progress:
            print(reuse_report(folder, counts))
    todo = [(s, e, a) for e in range(config.num_envs) for s in settings for a in config.agents
            if not cell_path(out, s.name, a, e).exists()]
    workers = default_workers() if workers is None else workers
    total = len(settings) * config.num_envs * len(config.agents)
    with executor_scope(executor, workers, scheduler) as pool, \
            tqdm(total=total, initial=total - len(todo), disable=not progress, unit="cell", desc="transfer") as bar:
        failures = run_cells(
            pool, todo, submit=lambda cell: _submit_cell(pool, config, *cell),
            write=lambda cell, outcomes: io.write_json(cell_path(out, cell[0].name, cell[2], cell[1]),
                                                       {"rows": _cell_rows(config, *cell, outcomes)}),
            name=lambda cell: cell_path(out, cell[0].name, cell[2], cell[1]).stem, failures_path=out / FAILURES,
            workers=workers, on_done=lambda: bar.update(1))
    frame = collect_transfer(out)
    if failures:
        raise RuntimeError(f"{len(failures)} cell(s) failed (see {out / FAILURES}); rerun with --resume")
    return frame


def _submit_cell(executor, config: ProtocolConfig, setting: Setting, env_index: int, agent: str):
    specs = cell_specs(config, agent, env_index)
    if setting.name == REAL:
        return submit_chunk(executor, config.engine, config.real_task, specs, None, None, config.episodes)
    se_config, params = _se_parameters(setting.ses[env_index])
    return submit_chunk(executor, config.engine, config.real_task, specs, se_config,
                        np.repeat(params[None], len(specs), axis=0), config.episodes)


def _se_parameters(folder: Path) -> tuple[SEConfig, np.ndarray]:
    from benchmark.envs.synthetic import load_se

    env = load_se(folder)
    return env.config, flat_parameters(env.net).double().numpy()


def _cell_rows(config, setting: Setting, env_index: int, agent: str, outcomes) -> list[dict]:
    specs = cell_specs(config, agent, env_index)
    se_id = REAL if setting.name == REAL else setting.ses[env_index].name
    task = config.real_task
    rows = []
    for k, (spec, o) in enumerate(zip(specs, outcomes)):
        hps = {f: getattr(spec.config, f) for f in _varied_fields(agent)}
        rows.append({
            "setting": setting.name, "env_index": env_index, "se_id": se_id, "agent": agent, "agent_index": k,
            "seed": spec.seed, "hyperparameters": json.dumps(hps, sort_keys=True),
            "train_steps": o.train.steps, "train_episodes": o.train.episodes, "diverged": o.train.diverged,
            "wall_s": round(o.wall_s, 4), "test_mean": o.fitness, "solved": o.fitness >= task.solved,
            "test_returns": json.dumps([float(r) for r in o.test_returns]), "test_steps": o.test_steps,
        })
    return rows


def _varied_fields(agent: str) -> list[str]:
    from search_spaces import get_space

    return sorted(get_space(get_agent_kind(agent).varied_space).keys())


def _write_or_check_meta(out: Path, config: ProtocolConfig, settings: list[Setting], resume: bool) -> None:
    """Record the protocol in OUT, or on --resume check it against the recorded one. A resumed run may grow
    num_envs (cells do not depend on it): the recorded SEs must then be the first of the new ones. `hosts` lists
    every CPU the run computed on (cells from different CPUs may differ in float rounding)."""
    host = io.host_description()
    meta = {"config": config.to_dict(), "task_solved": config.real_task.solved,
            "settings": {s.name: [str(p) for p in s.ses] for s in settings}, "versions": io.package_versions(),
            "cell_numerics": CELL_NUMERICS, "hosts": [host]}
    path = out / PROTOCOL_META
    if resume and path.exists():
        stored = io.read_json(path)
        _check_resumable(out, stored, meta, settings)
        hosts = stored.get("hosts", [])
        if stored["config"]["num_envs"] != config.num_envs or host not in hosts:
            io.write_json(path, {**stored, "config": meta["config"], "settings": meta["settings"],
                                 "hosts": hosts + [host] * (host not in hosts)})
        return
    io.write_json(path, meta)


def _check_resumable(out: Path, stored: dict, meta: dict, settings: list[Setting]) -> None:
    """A ConfigError unless the run recorded in OUT (`stored`) can continue as `meta`."""
    def but_envs(config: dict) -> dict:
        return {k: v for k, v in config.items() if k != "num_envs"}

    old, new = stored["config"], meta["config"]
    if (but_envs(old) != but_envs(new) or new["num_envs"] < old["num_envs"]
            or sorted(stored["settings"]) != sorted(meta["settings"])):  # stored sorted (io.write_json)
        changed = describe_differences({"config": old, "settings": sorted(stored["settings"])},
                                       {"config": new, "settings": sorted(meta["settings"])})
        raise ConfigError(f"--resume: the protocol in {out} was started with another configuration or other "
                          f"settings (a resumed run may only grow --num-envs): {changed}")
    if stored.get("cell_numerics") != CELL_NUMERICS:
        raise ConfigError(f"--resume: the cells in {out} were computed by another revision of the cell code "
                          f"(cell_numerics {stored.get('cell_numerics')}, this sebench {CELL_NUMERICS}); start a "
                          "new --out (earlier cells cannot be mixed with new ones)")
    for setting in settings:
        recorded = stored["settings"][setting.name]
        for index, (before, now) in enumerate(zip(recorded, setting.ses)):
            copy = out / SES / setting.name / Path(before).name / SE_WEIGHTS
            if Path(before).name != now.name or (
                    copy.is_file() and io.sha256(copy) != io.sha256(now / SE_WEIGHTS)):
                raise ConfigError(f"--resume: SE {index} of setting {setting.name!r} is {now}, but the cells in {out} "
                                  f"were computed on {before}; start a new --out")


def copy_ses(out: Path, settings: list[Setting]) -> None:
    """Keep a copy of every SE used (weights, metadata, NES history: kilobytes) so analysis needs only OUT, and
    the histories of the runs given up on the way to them (OUT/ses/SETTING/given_up/)."""
    for setting in settings:
        for folder in setting.ses:
            copy_run_files(folder, out / SES / setting.name / folder.name)
        for folder in given_up_runs(setting.ses):
            copy_run_files(folder, out / SES / setting.name / GIVEN_UP_RUNS / folder.name)


def reuse_cells(out: Path, config: ProtocolConfig, settings: list[Setting], dirs: list[Path]) -> dict[Path, Counter]:
    """Copy into OUT/cells each missing cell that an earlier transfer folder in `dirs` holds and that a fresh run
    would compute the same: same CELL_FIELDS, same sebench version and (SE settings) the same SE at that env index
    (same folder name and sha256 of its weights). Returns per folder a Counter: "reused" and a count per reason
    a cell there was skipped."""
    report = {}
    for folder in map(Path, dirs):
        meta, counts = _source_meta(folder), Counter()
        stale = ("other configuration" if any(meta["config"].get(f) != getattr(config, f) for f in CELL_FIELDS)
                 else "other sebench version" if meta.get("versions", {}).get("sebench") != __version__
                 else "other cell numerics" if meta.get("cell_numerics") != CELL_NUMERICS else None)
        for setting, e in itertools.product(settings, range(config.num_envs)):
            cells = [(cell_path(folder, setting.name, a, e), cell_path(out, setting.name, a, e))
                     for a in config.agents]
            cells = [(src, dst) for src, dst in cells if src.exists() and not dst.exists()]
            if not cells:
                continue
            reason = stale or _se_mismatch(folder, setting, meta.get("settings", {}).get(setting.name, []), e)
            if reason is None:
                for src, dst in cells:
                    io.copy_file(src, dst)
            counts[reason or "reused"] += len(cells)
        report[folder] = counts
    return report


def reuse_report(folder: Path, counts: Counter) -> str:
    """One line: `reused N cells from DIR (skipped M: reason, ...)`."""
    skipped = {k: n for k, n in counts.items() if k != "reused"}
    reasons = ", ".join(f"{n} {k}" for k, n in sorted(skipped.items()))
    return f"reused {counts['reused']} cells from {folder}" + (f" (skipped {sum(skipped.values())}: {reasons})"
                                                                  if skipped else "")


def _source_meta(folder: Path) -> dict:
    """The protocol.json of an earlier transfer folder; a ConfigError naming any other folder."""
    meta = io.read_json(Path(folder) / PROTOCOL_META) if (Path(folder) / PROTOCOL_META).is_file() else {}
    if "config" not in meta:
        raise ConfigError(f"{folder} is not a transfer folder (no {PROTOCOL_META} with a config); reuse cells only "
                          "from earlier `sebench transfer --out` folders")
    return meta


def _se_mismatch(folder: Path, setting: Setting, recorded: list[str], env_index: int) -> str | None:
    """Why the SE of `setting` at env_index differs in transfer folder `folder` (None: the same SE or REAL)."""
    if setting.name == REAL:
        return None
    ours = setting.ses[env_index]
    if env_index >= len(recorded) or Path(recorded[env_index]).name != ours.name:
        return "other SE"
    theirs = [folder / SES / setting.name / ours.name / SE_WEIGHTS, Path(recorded[env_index]) / SE_WEIGHTS]
    theirs = next((p for p in theirs if p.is_file()), None)
    if theirs is None:
        return "SE weights missing"
    return None if io.sha256(theirs) == io.sha256(ours / SE_WEIGHTS) else "other SE"

