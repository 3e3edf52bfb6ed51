"""Learn an SE with NES: each iteration scores the centre with K agents (their mean test return on the real task is
the centre's score and the stopping criterion) and the 2P mirrored perturbations with one agent each; checkpoints
every iteration and resumes from the last one."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from benchmark import io, rng, schema
from benchmark.agents.common import AgentSpec
from benchmark.agents.ddqn import DDQNConfig
from benchmark.agents.sampling import sample_configs
from benchmark.engine import ENGINES, train_and_test
from benchmark.envs.synthetic import SEConfig, initial_se_parameters, se_network
from benchmark.envs.tasks import Task, get_task, random_policy_return
from benchmark.errors import check_choice, check_range
from benchmark.job_store import JobStore
from benchmark.nes.checkpoint import RunState, load_checkpoint, save_checkpoint
from benchmark.nes.loop import Scores, run_nes
from benchmark.nes.shaping import ShapingName
from benchmark.nes.strategy import NESConfig
from benchmark.parallel import default_workers
from benchmark.schema import GIVEN_UP, UNFINISHED_ITERATION

PAPER_TRANSFER_AGENT = DDQNConfig(lr=1e-3, batch_size=128, gamma=0.99, hidden_size=128, hidden_layers=2,
                                  activation="relu", tau=0.01, eps_init=1.0, eps_min=0.01, eps_decay=0.9,
                                  init_episodes=10, max_episodes=1000)
"""The inner-loop DDQN of the paper's transfer SEs (the authors' default_config_cartpole.yaml, November 2020)."""


@dataclass(frozen=True)
class RunConfig:
    """One SE training run; the defaults are the recipe of the paper's transfer SEs (preset paper_transfer)."""

    task: str = "CartPole-v0"
    """Real task: a gymnasium id with flat Box observations and Discrete actions (benchmark.envs.tasks)."""
    solved: float | None = None
    """The task's solved threshold where its gymnasium spec has none, or to override the spec's."""
    iterations: int = 50
    """NES iteration limit."""
    seed: int = 0
    """Root seed; every random number of the run derives from it."""
    vary_hp: bool = True
    """Each agent (centre and members) draws its own lr, batch size, hidden size and layers (search_spaces/
    ddqn_varied, around `agent`)."""
    centre_agents: int = 16
    """Agents that score the centre, each with its own seed (and hyperparameters with vary_hp); the centre's score,
    the stopping criterion and the baseline of the shapings that compare with the centre is their mean."""
    test_episodes: int = 10
    """Real-task test episodes per agent; an agent's score is their mean return."""
    engine: str = "batched"
    """batched (lockstep, fast) or scalar (one agent at a time, the reference)."""
    nes: NESConfig = field(default_factory=lambda: NESConfig(noise_std=0.05, step_size=1.0,
                                                             shaping=ShapingName.ABOVE_CENTRE_SUM.value))
    agent: DDQNConfig = PAPER_TRANSFER_AGENT
    """Inner-loop DDQN (the base of the sampled hyperparameters with vary_hp)."""
    se: SEConfig = field(default_factory=SEConfig)
    preset: str = "paper_transfer"
    """The named recipe the run started from (benchmark.nes.presets); the fields above may override parts of it."""

    def __post_init__(self):
        self.real_task.require_solved("learning an SE (the centre's stopping criterion)")
        check_range("iterations", self.iterations, 1, 100_000, integer=True)
        check_range("seed", self.seed, 0, 2**63 - 1, integer=True)
        check_range("centre_agents", self.centre_agents, 1, 10_000, integer=True)
        check_range("test_episodes", self.test_episodes, 1, 10_000, integer=True)
        check_choice("engine", self.engine, ENGINES)

    @property
    def real_task(self) -> Task:
        """The task, with `solved` applied."""
        return get_task(self.task, self.solved)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        return cls(**{**d, "nes": NESConfig(**d["nes"]), "agent": DDQNConfig(**d["agent"]),
                      "se": SEConfig.from_dict(d["se"])})


@dataclass(frozen=True)
class GiveUp:
    """Abandon an SE whose population shows no learning: `after` consecutive NES iterations in which no member
    scored above `below` (None: the task's random-policy return, benchmark.envs.tasks.random_policy_return).

    Some seeds start where every agent collapses to a constant action (CartPole-v0 members at 9-10 for
    iteration after iteration); giving them up lets an SE set move on to the next seed instead of spending
    the whole iteration limit there.
    """

    after: int
    below: float | None = None

    def __post_init__(self):
        check_range("give_up_after", self.after, 1, 100_000, integer=True)

    def floor(self, task: str) -> float:
        return random_policy_return(task) if self.below is None else float(self.below)

    def applies(self, task: str, history: list[dict]) -> bool:
        """True when the last `after` rows of `history` all have best_member_score <= the floor."""
        if len(history) < self.after:
            return False
        floor = self.floor(task)
        return all(row["best_member_score"] <= floor for row in history[-self.after:])


NO_LEARNING, UNSOLVED = "no_learning", "unsolved"
"""Reasons in given_up.json: a GiveUp rule applied; the iteration limit came without the centre solving the task
(only when the run was told to keep solved SEs only, as SE sets are)."""


def agent_specs(run: RunConfig, iteration: int, n: int, seeds: rng.SeedPath, hps: rng.SeedPath) -> list[AgentSpec]:
    """Agent configs and seeds of n agents of an iteration, from the seed paths `seeds` and `hps` (child seeds per
    agent; with vary_hp each draws its hyperparameters around run.agent)."""
    agent_seeds = rng.child_seeds(run.seed, n, seeds, iteration)
    if run.vary_hp:
        configs = sample_configs(run.agent, n, seed=rng.child_seeds(run.seed, 1, hps, iteration)[0])
    else:
        configs = [run.agent] * n
    return [AgentSpec(c, s) for c, s in zip(configs, agent_seeds)]


def centre_specs(run: RunConfig, iteration: int) -> list[AgentSpec]:
    """The run.centre_agents agents that score iteration `iteration`'s centre."""
    return agent_specs(run, iteration, run.centre_agents, rng.SeedPath.CENTRE_AGENTS, rng.SeedPath.CENTRE_HP)


def member_specs(run: RunConfig, iteration: int, n: int) -> list[AgentSpec]:
    """The agents of an iteration's n members, one each."""
    return agent_specs(run, iteration, n, rng.SeedPath.MEMBER_AGENTS, rng.SeedPath.MEMBER_HP)


def train_se(run: RunConfig, out: Path, *, workers: int | None = None, resume: bool = False,
             progress: bool = True, executor=None, stop_after: int | None = None,
             give_up: GiveUp | None = None, solved_only: bool = False) -> RunState:
    """Run (or resume) NES for `run`, writing SE, metadata, history and checkpoints into `out`.

    stop_after: end after this many iterations of this call (used to test resuming).
    give_up: end without an SE when this rule applies; writes out/given_up.json (history and checkpoint stay,
    so a later --resume without the rule can continue the run).
    solved_only: at the iteration limit without solving, write out/given_up.json instead of the best centre's SE
    (the paper kept solved SEs only).
    """
    task = run.real_task
    out = io.prepare_out_dir(out, resume, schema.CHECKPOINT)
    workers = default_workers() if workers is None else workers
    state = _load_or_start(run, out, resume)

    unfinished = JobStore(out / UNFINISHED_ITERATION)

    def evaluate(it: int, centre: np.ndarray, members: np.ndarray, pool) -> Scores:
        k = run.centre_agents
        specs = centre_specs(run, it) + member_specs(run, it, len(members))
        params = np.vstack([np.repeat(centre[None], k, axis=0), members])
        outcomes = train_and_test(task, specs, run.se, params, run.test_episodes, run.engine, pool, workers,
                                  store=unfinished)
        fitness = np.array([o.fitness for o in outcomes])
        return Scores(fitness[:k], fitness[k:], sum(o.test_steps for o in outcomes), outcomes)

    def checkpoint(s: RunState) -> None:
        save_checkpoint(out, run, s)
        unfinished.clear()

    run_nes(run, state, evaluate, _columns, checkpoint, workers=workers,
            executor=executor, progress=progress, desc=f"NES {run.task}", stop_after=stop_after,
            solved_at=task.solved, give_up=None if give_up is None else partial(give_up.applies, run.task))
    unsolved = solved_only and not state.solved and state.iteration >= run.iterations
    if state.given_up or unsolved:
        rule = {"after": give_up.after, "below": give_up.floor(run.task)} if state.given_up else {}
        io.write_json(out / GIVEN_UP, {"seed": run.seed, "task": run.task, "iterations": state.iteration,
                                       "reason": NO_LEARNING if state.given_up else UNSOLVED, **rule,
                                       "best_centre_score": state.best_score, "wall_time_s": state.elapsed_s,
                                       "cpu_time_s": schema.cpu_time_s(state.history), "real_env_steps": state.real_steps})
    elif state.solved or state.iteration >= run.iterations:
        _write_final(out, run, state)
        (out / GIVEN_UP).unlink(missing_ok=True)  # a given-up run continued to the end is an SE after all
    return state


def given_up_reason(out: Path) -> str | None:
    """Why the run in `out` was given up (NO_LEARNING, UNSOLVED), or None when it was not."""
    path = Path(out) / GIVEN_UP
    return io.read_json(path).get("reason", NO_LEARNING) if path.is_file() else None


def _load_or_start(run: RunConfig, out: Path, resume: bool) -> RunState:
    state = load_checkpoint(out, run, RunConfig.from_dict) if resume else None
    if state is not None:
        return state
    centre = initial_centre(run)
    return RunState(0, centre, centre.copy(), -np.inf, -1, [], 0.0, 0)


def initial_centre(run: RunConfig) -> np.ndarray:
    """The SE parameters a fresh run of `run` starts NES from (float64)."""
    seed = rng.child_seeds(run.seed, 1, rng.SeedPath.INITIAL_PARAMETERS)[0]
    return initial_se_parameters(run.real_task, run.se, seed).double().numpy()


def _columns(scores: Scores, metrics: dict) -> dict:
    outcomes = scores.runs
    cpu = float(sum(o.cpu_s for o in outcomes))
    return {
        "mean_train_steps": float(np.mean([o.train.steps for o in outcomes])),
        "mean_train_episodes": float(np.mean([o.train.episodes for o in outcomes])),
        "diverged_agents": int(sum(o.train.diverged for o in outcomes)),
        "cpu_s": None if np.isnan(cpu) else round(cpu, 3),  # the agents' job-thread CPU seconds
    }


def _write_final(out: Path, run: RunConfig, state: RunState) -> None:
    """The SE: the centre that solved the task, else the best-scoring centre of the run."""
    task = run.real_task
    net = se_network(task, run.se)
    params = state.best_centre
    torch.nn.utils.vector_to_parameters(torch.as_tensor(params, dtype=torch.float32), net.parameters())
    selected = next((row for row in state.history if row["iteration"] == state.best_iteration), {})
    meta = {
        "kind": "synthetic_env",
        "task": run.task,
        "task_solved": task.solved,
        "preset": run.preset,
        "architecture": dataclasses.asdict(run.se),
        "seed": run.seed,
        "versions": io.package_versions(),
        "nes": dataclasses.asdict(run.nes),
        "agent": dataclasses.asdict(run.agent),
        "vary_hp": run.vary_hp,
        "engine": run.engine,
        "iterations": state.iteration,
        "selected_iteration": state.best_iteration,
        "centre_agents": run.centre_agents,
        "centre_score": state.best_score,
        "centre_scores": json.loads(selected.get("centre_scores", "[]")),
        "mean_member_score": selected.get("mean_member_score"),
        "solved": state.solved,
        "wall_time_s": state.elapsed_s,
        "cpu_time_s": schema.cpu_time_s(state.history),
        "real_env_steps": state.real_steps,
        "run": run.to_dict(),
    }
    schema.save_se(out, net.state_dict(), meta)
