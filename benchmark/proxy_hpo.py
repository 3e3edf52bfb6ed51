"""HPO on the proxy: tune an agent with BOHB or random search, training on SEs, on the real task, or both
(multi-fidelity), under one wall-clock budget; then score every incumbent on the real task.

Fidelity mapping (the optimiser's budget b, min_budget <= b <= max_budget):
  environment "se"    every evaluation trains (and tests) on the SE set, max_episodes = round(b);
  environment "real"  every evaluation trains (and tests) on the real task, max_episodes = round(b);
  environment "multi" (BOHB only) the SE is the low fidelity and the real task the high one: budgets below
                      max_budget train and test on SEs with max_episodes = round(b); the top budget trains and
                      tests on the real task with max_episodes = max_budget.
Random search evaluates every configuration at max_budget on its environment. Each evaluation is
`AgentBenchmark.objective_function(config, {"environment", "agents", "max_episodes"}, seed)` with the same seed
for every configuration (common random numbers: configurations differ, agent seeds do not).

The wall budget counts from the start of the run (setup included); no evaluation is decided on after it is spent
(random search: none starts after it; BOHB: one decided just before reaches its worker a moment later), and the
running ones finish. Every evaluation is appended to OUT/evaluations.jsonl when it ends: config, budget,
fidelity, function_value, cost, real-environment steps, wall-clock start/end since the run started.

Incumbent over time: walking the evaluations in the order they ended, the incumbent is the evaluation with the
lowest function_value at the highest budget seen so far (so SE and real values are never compared in a multi
run). A configuration that stays incumbent after a promotion to a higher budget keeps its row (the time it
first became incumbent) with the higher budget's value. After the run, outside the wall budget, each distinct
incumbent configuration is scored on the real task:
`objective_function(config, {"environment": "real", "agents": score_agents, "max_episodes": score_max_episodes},
seed + 1)` (a seed the optimiser never saw, so a run on the real task gets no selection bonus);
real_score = mean real test return (higher is better). Written to OUT/incumbents.csv; OUT/summary.json sums up.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import io
from benchmark.errors import ConfigError, check_choice, check_range
from benchmark.hpo import compat
from benchmark.objective import AgentBenchmark
from benchmark.schema import INCUMBENTS, PROXY_HPO_BOHB, PROXY_HPO_EVALUATIONS, PROXY_HPO_META, PROXY_HPO_SUMMARY

OPTIMIZERS = ("bohb", "random")
ENVIRONMENTS = ("se", "real", "multi")
log = compat.logger("proxy_hpo")


@dataclass(frozen=True)
class ProxyHPOConfig:
    task: str = "CartPole-v0"
    solved: float | None = None
    """The task's solved threshold where its gymnasium spec has none, or to override the spec's."""
    agent: str = "ddqn"
    optimizer: str = "bohb"
    """'bohb' (hpbandster BOHB, in-process) or 'random' (random search)."""
    environment: str = "se"
    """Where evaluations train: 'se', 'real', or 'multi' (SEs below the top budget, the real task at it; BOHB)."""
    wall_budget_s: float = 1200.0
    """Wall-clock seconds after which no new evaluation starts (post-hoc real scoring is not counted)."""
    seed: int = 0
    agents: int = 1
    """Agents trained per evaluation (on SEs: agent i on SE i modulo the set size)."""
    test_episodes: int = 10
    min_budget: float = 10.0
    """Smallest max_episodes BOHB uses."""
    max_budget: float = 200.0
    """Largest max_episodes (random search uses only this one)."""
    eta: float = 3.0
    score_agents: int = 3
    """Agents trained on the real task to score each incumbent."""
    score_max_episodes: int | None = None
    """Training episodes of each scoring agent (None: max_budget)."""
    max_iterations: int = 1000
    """Upper bound on BOHB's successive-halving iterations (the wall budget normally ends the run first)."""

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("environment", self.environment, ENVIRONMENTS)
        if self.environment == "multi" and self.optimizer != "bohb":
            raise ConfigError("environment='multi' (SE = low fidelity, real task = high fidelity) needs "
                              "optimizer='bohb'; random search has a single fidelity")
        check_range("wall_budget_s", self.wall_budget_s, 1e-3, 10**7)
        check_range("agents", self.agents, 1, 40, integer=True)
        check_range("score_agents", self.score_agents, 1, 40, integer=True)
        check_range("test_episodes", self.test_episodes, 1, 10_000, integer=True)
        check_range("max_budget", self.max_budget, 10, 1000)
        check_range("min_budget", self.min_budget, 10, self.max_budget)
        check_range("max_iterations", self.max_iterations, 1, 100_000, integer=True)
        if self.score_max_episodes is not None:
            check_range("score_max_episodes", self.score_max_episodes, 10, 1000, integer=True)
        if self.optimizer == "bohb":
            compat.budgets(self.min_budget, self.max_budget, self.eta)  # refuses a bad eta with a clear message

    @property
    def scoring_episodes(self) -> int:
        return int(self.score_max_episodes or round(self.max_budget))

    @property
    def label(self) -> str:
        return f"{self.optimizer} on {self.environment}"


def fidelity_of(config: ProxyHPOConfig, budget: float) -> dict:
    """The objective's fidelity for an optimiser budget (see the module docstring)."""
    if config.environment == "multi":
        top = budget >= config.max_budget * (1 - 1e-9)
        env = "real" if top else "se"
    else:
        env = config.environment
    return {"environment": env, "agents": config.agents, "max_episodes": int(round(budget))}


class _Run:
    """State shared by the optimiser's evaluations: benchmark, clock, evaluation log."""

    def __init__(self, config: ProxyHPOConfig, bench: AgentBenchmark, out: Path, start: float):
        self.config, self.bench, self.out, self.start = config, bench, out, start
        self.path = out / PROXY_HPO_EVALUATIONS
        self.path.touch()
        self.count = 0
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.start

    def evaluate(self, values: dict, budget: float, config_id=None, t0: float | None = None) -> dict:
        """Evaluate and log one configuration; t0: its start as the caller read it (default: now)."""
        values = compat.plain(dict(values))
        fid = fidelity_of(self.config, budget)
        t0 = self.now() if t0 is None else t0
        record = {"config_id": compat.plain(config_id), "config": values, "budget": float(budget), **fid}
        try:
            result = self.bench.objective_function(values, fid, seed=self.config.seed)
        except Exception as err:
            self._log({**record, "t_start": t0, "t_end": self.now(), "function_value": None, "cost": None,
                       "real_env_steps": 0, "error": f"{type(err).__name__}: {err}"})
            raise
        info = result["info"]
        self._log({**record, "t_start": t0, "t_end": self.now(), "function_value": float(result["function_value"]),
                   "cost": float(result["cost"]), "real_env_steps": int(info["real_env_steps"]),
                   "train_steps": int(info["train_steps"]), "test_returns": info["test_returns"]})
        return result

    def _log(self, record: dict) -> None:
        with self.lock:
            record = {"index": self.count, **record}
            self.count += 1
            line = json.dumps(compat.plain(record)) + "\n"
            with open(self.path, "a") as fh:
                fh.write(line)
                fh.flush()


def _run_random(run: _Run) -> None:
    space = run.bench.get_configuration_space(seed=run.config.seed)
    while True:
        values = dict(space.sample_configuration())
        t0 = run.now()  # the start that is logged is the one checked against the budget
        if t0 >= run.config.wall_budget_s:
            return
        run.evaluate(values, run.config.max_budget, t0=t0)


def _run_bohb(run: _Run) -> None:
    from hpbandster.core.worker import Worker

    from benchmark.hpo.launch import DEFAULT_HOST, nameserver, new_run_id

    config = run.config
    space = run.bench.get_configuration_space(seed=config.seed)
    compat.check_space(space)
    run_id = new_run_id()

    class ObjectiveWorker(Worker):
        def compute(self, config_id, config, budget, working_directory):
            result = run.evaluate(compat.plain(config), compat.plain(budget), compat.plain(config_id))
            info = {k: v for k, v in result["info"].items() if k != "configuration"}
            return compat.plain({"loss": float(result["function_value"]),
                                 "info": {**info, "cost": float(result["cost"])}})

    from benchmark.hpo.bohb import SweepBOHB

    np.random.seed(config.seed)  # BOHB's KDE sampler draws from numpy's global generator (it takes no seed)
    with nameserver(run_id, None, DEFAULT_HOST) as (ns_host, ns_port):
        worker = ObjectiveWorker(run_id, nameserver=ns_host, nameserver_port=ns_port, host=DEFAULT_HOST, id=0,
                                 logger=compat.hp_logger("worker"))
        master = None
        try:
            worker.run(background=True)
            master = SweepBOHB(space, min_budget=config.min_budget, max_budget=config.max_budget, eta=config.eta,
                               worker_wait=60, start_grace=30, deadline=run.start + config.wall_budget_s,
                               run_id=run_id, nameserver=ns_host, nameserver_port=ns_port, host=DEFAULT_HOST,
                               ping_interval=1, working_directory=str(run.out / PROXY_HPO_BOHB),
                               result_logger=compat.ResultLogger(run.out / PROXY_HPO_BOHB))
            master.run(n_iterations=config.max_iterations, min_n_workers=1)
        finally:
            if master is not None:
                master.shutdown(shutdown_workers=True)
            else:  # the worker alone: stop its Pyro daemon and thread
                _stop_worker(worker)
        thread = getattr(worker, "thread", None)
        if thread is not None:
            thread.join(10)


def _stop_worker(worker) -> None:
    try:
        worker.shutdown()
    except Exception as err:  # noqa: BLE001 - best effort on the error path only
        log.info("worker shutdown: %s", err)


def read_evaluations(out: Path) -> pd.DataFrame:
    path = Path(out) / PROXY_HPO_EVALUATIONS
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return pd.DataFrame(rows)


def incumbent_trajectory(evaluations: pd.DataFrame) -> list[dict]:
    """Each change of incumbent (lowest function_value at the highest budget seen so far), in the order the
    evaluations ended: {wall_time_s, index, config, budget, environment, max_episodes, proxy_value}."""
    if evaluations.empty:
        return []
    done = evaluations[evaluations.function_value.notna()].sort_values(["t_end", "index"])
    changes, top, best = [], -np.inf, None
    for row in done.itertuples():
        if row.budget > top:
            top, best = row.budget, None
        if row.budget == top and (best is None or row.function_value < best.function_value):
            best = row
            key = json.dumps(row.config, sort_keys=True)
            if changes and changes[-1]["config_key"] == key:
                changes[-1].update(proxy_value=float(row.function_value), budget=float(row.budget),
                                   environment=row.environment, max_episodes=int(row.max_episodes))
                continue
            changes.append({"wall_time_s": float(row.t_end), "index": int(row.index), "config_key": key,
                            "config": row.config, "budget": float(row.budget), "environment": row.environment,
                            "max_episodes": int(row.max_episodes), "proxy_value": float(row.function_value)})
    return changes


def score_incumbents(config: ProxyHPOConfig, bench: AgentBenchmark, evaluations: pd.DataFrame) -> pd.DataFrame:
    """Real-task score of every incumbent (cached per configuration); cumulative real steps used by then."""
    fid = {"environment": "real", "agents": config.score_agents, "max_episodes": config.scoring_episodes}
    cache: dict = {}
    rows = []
    for inc in incumbent_trajectory(evaluations):
        key = inc.pop("config_key")
        if key not in cache:
            cache[key] = bench.objective_function(inc["config"], fid, seed=config.seed + 1)
        r = cache[key]
        used = evaluations[evaluations.t_end <= inc["wall_time_s"]]
        rows.append({**inc, "config": json.dumps(inc["config"], sort_keys=True),
                     "evaluations_so_far": int(len(used)), "real_env_steps_so_far": int(used.real_env_steps.sum()),
                     "real_score": -float(r["function_value"]),
                     "real_score_std": float(np.std(r["info"]["test_returns"])),
                     "scoring_cost_s": float(r["cost"])})
    columns = ["wall_time_s", "index", "config", "budget", "environment", "max_episodes", "proxy_value",
               "evaluations_so_far", "real_env_steps_so_far", "real_score", "real_score_std", "scoring_cost_s"]
    return pd.DataFrame(rows, columns=columns)


def run_proxy_hpo(config: ProxyHPOConfig, ses: Path | str | None, out: Path) -> dict:
    """Run the optimiser under the wall budget, then score the incumbents on the real task; returns the summary."""
    start = time.monotonic()
    if config.environment in ("se", "multi") and ses is None:
        raise ConfigError(f"environment={config.environment!r} needs an SE set (--ses)")
    out = io.prepare_out_dir(out, False, PROXY_HPO_META)
    bench = AgentBenchmark(config.task, config.agent, ses, config.test_episodes, solved=config.solved)
    io.write_json(out / PROXY_HPO_META, {"config": dataclasses.asdict(config), "label": config.label,
                                   "ses": None if ses is None else str(ses), "versions": io.package_versions()})
    run = _Run(config, bench, out, start)
    if config.optimizer == "random":
        _run_random(run)
    else:
        _run_bohb(run)
    wall = run.now()
    evaluations = read_evaluations(out)
    incumbents = score_incumbents(config, bench, evaluations)
    io.write_csv(out / INCUMBENTS, incumbents)
    final = incumbents.iloc[-1].to_dict() if len(incumbents) else None
    summary = {"label": config.label, "optimizer": config.optimizer, "environment": config.environment,
               "wall_budget_s": config.wall_budget_s, "wall_used_s": wall,
               "evaluations": int(len(evaluations)),
               "failed": int(evaluations.function_value.isna().sum()) if len(evaluations) else 0,
               "evaluations_per_environment": ({k: int(v) for k, v in evaluations.environment.value_counts().items()}
                                               if len(evaluations) else {}),
               "real_env_steps": int(evaluations.real_env_steps.sum()) if len(evaluations) else 0,
               "incumbents": int(len(incumbents)),
               "final_incumbent": None if final is None else {
                   "config": json.loads(final["config"]), "wall_time_s": final["wall_time_s"],
                   "proxy_value": final["proxy_value"], "real_score": final["real_score"],
                   "budget": final["budget"], "environment": final["environment"]},
               "scoring": {"environment": "real", "agents": config.score_agents,
                           "max_episodes": config.scoring_episodes, "seed": config.seed + 1}}
    io.write_json(out / PROXY_HPO_SUMMARY, compat.plain(summary))
    return summary
