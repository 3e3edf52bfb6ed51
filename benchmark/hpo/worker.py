"""One BOHB job = one SE training run with NES, as an hpbandster Worker.

Budget: the NES iteration limit (`RunConfig.iterations = max(1, round(budget))`). A job on a higher budget
continues the same configuration's checkpoint from its largest lower budget (NES is deterministic in serial
mode, so this equals a fresh run of the higher budget, at a fraction of the cost); successive halving never runs
a configuration on two budgets at once.

Loss (minimised; the paper minimised the NES iterations needed to solve the task):
  solved:     loss = NES iterations run until the centre SE solved the task (1 .. budget iterations);
  not solved: loss = budget iterations + 1 - progress, progress = clip((best - floor) / (solved - floor), 0, 1),
              best = the best centre score of the run, solved = the task's threshold, floor = the lowest return
              of an episode (0 for tasks with positive rewards, -max_steps for Acrobot's -1 per step).
So every solved configuration beats every unsolved one on the same budget, and among unsolved ones the
better-scoring SE wins (BOHB still learns something when no configuration solves at a small budget).

A job that raises is reported failed with its traceback (hpbandster's Worker catches the exception, the result
is None, BOHB counts the configuration as crashed), never with a loss. Each job trains serially (workers=1):
parallelism is across hpbandster workers.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np

from benchmark.hpo import compat
from benchmark.schema import CHECKPOINT, HISTORY, JOB_FILE, SWEEP_FILE, SWEEP_JOBS



@dataclasses.dataclass(frozen=True)
class Sweep:
    """What every job of a sweep shares (D/sweep.json, written by the master)."""

    space_name: str
    space: object  # ConfigSpace.ConfigurationSpace
    base: object  # RunConfig the hyperparameters are applied onto
    min_budget: float
    max_budget: float
    eta: float


def read_sweep(directory: Path) -> Sweep:
    from benchmark import io
    from benchmark.nes.trainer import RunConfig
    from search_spaces.tools import from_json

    data = io.read_json(Path(directory) / SWEEP_FILE)
    return Sweep(data["space_name"], from_json(json.dumps(data["space"])), RunConfig.from_dict(data["base"]),
                 data["min_budget"], data["max_budget"], data["eta"])


def budget_iterations(budget: float) -> int:
    return max(1, int(round(budget)))


def return_floor(task) -> float:
    """Lowest return of an episode: 0 with positive rewards, -max_steps with -1 per step (Acrobot)."""
    return 0.0 if task.solved >= 0 else -float(task.max_steps)


def loss_of(solved: bool, iterations_run: int, best_score: float, limit: int, task) -> float:
    if solved:
        return float(iterations_run)
    floor = return_floor(task)
    progress = float(np.clip((best_score - floor) / (task.solved - floor), 0.0, 1.0)) if np.isfinite(best_score) else 0.0
    return float(limit + 1 - progress)


def job_dir(sweep_dir: Path, config_id, budget: float) -> Path:
    return Path(sweep_dir) / SWEEP_JOBS / "_".join(str(int(i)) for i in config_id) / f"budget_{budget:.12g}"


def _lower_budget_checkpoint(sweep_dir: Path, config_id, budget: float) -> Path | None:
    this = job_dir(sweep_dir, config_id, budget)
    best = None
    for folder in this.parent.glob("budget_*") if this.parent.is_dir() else []:
        if folder == this:
            continue
        try:
            b = float(folder.name.removeprefix("budget_"))
        except ValueError:
            continue
        if b < budget and (folder / CHECKPOINT).is_file() and (best is None or b > best[0]):
            best = (b, folder)
    return None if best is None else best[1]


def evaluate(sweep_dir: Path, config_id, config: dict, budget: float) -> dict:
    """Train the SE of `config` for `budget` NES iterations; {"loss": float, "info": JSON-safe dict}."""
    from benchmark import io
    from benchmark.nes.trainer import train_se
    from search_spaces.tools import apply_config, validate_config

    sweep_dir = Path(sweep_dir)
    sweep = read_sweep(sweep_dir)
    config = validate_config(sweep.space, compat.plain(config), complete=True)
    limit = budget_iterations(budget)
    run = dataclasses.replace(apply_config(sweep.base, config), iterations=limit)
    task = run.real_task
    out = job_dir(sweep_dir, config_id, budget)
    previous = _lower_budget_checkpoint(sweep_dir, config_id, budget)
    if out.exists():  # an earlier attempt of this very job (lost worker): start it again from scratch
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if previous is not None:
        for name in (CHECKPOINT, HISTORY):
            if (previous / name).is_file():
                shutil.copy2(previous / name, out / name)
    io.write_json(out / JOB_FILE, {"config_id": list(config_id), "budget": budget, "iterations": limit,
                                   "config": config, "worker": f"{socket.gethostname()}:{os.getpid()}",
                                   "continued_from": None if previous is None else str(previous.relative_to(sweep_dir))})
    start = time.perf_counter()
    state = train_se(run, out, workers=1, resume=previous is not None, progress=False)
    wall = time.perf_counter() - start
    history = state.history
    info = {
        "se_path": str(out.relative_to(sweep_dir)),
        "solved": bool(state.solved),
        "iterations": int(state.iteration),
        "budget_iterations": limit,
        "best_score": float(state.best_score),
        "best_iteration": int(state.best_iteration),
        "wall_time_s": round(wall, 3),
        "nes_time_s": round(float(state.elapsed_s), 3),
        "real_env_steps": int(state.real_steps),
        "continued_from": None if previous is None else str(previous.relative_to(sweep_dir)),
        "history": {"centre_score": [round(float(r["centre_score"]), 3) for r in history],
                    "best_member_score": [round(float(r["best_member_score"]), 3) for r in history],
                    "mean_train_steps": [round(float(r["mean_train_steps"]), 1) for r in history]},
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    result = compat.plain({"loss": loss_of(state.solved, state.iteration, state.best_score, limit, task),
                           "info": info})
    json.dumps(result, allow_nan=False)  # raises (-> a failed job) rather than hand Pyro/JSON something odd
    return result


def make_worker(run_id: str, *, nameserver: str, nameserver_port: int, host: str | None = None,
                timeout: float | None = None, id=None):
    """An hpbandster Worker evaluating SE configurations (its class is built here so that importing this module
    does not import hpbandster)."""
    from hpbandster.core.worker import Worker

    class SEWorker(Worker):
        def compute(self, config_id, config, budget, working_directory):
            return evaluate(Path(working_directory), compat.plain(config_id), compat.plain(config),
                            compat.plain(budget))

    return SEWorker(run_id, nameserver=nameserver, nameserver_port=nameserver_port, host=host, timeout=timeout,
                    id=id, logger=compat.hp_logger("worker"))

