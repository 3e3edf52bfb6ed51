"""Learn a reward network (RN) with NES: each iteration scores the centre and the mirrored perturbations by
training agents on the real task with each member's reward; checkpoints every iteration and resumes.

Fitness (learning speed on the real task). Each agent trains on the member's RewardEnv with the real task's
stopping rule (mean real return of the last early_out_num episodes reaches the task's threshold) and a budget of
`max_episodes` episodes; B = max_episodes x the task's episode limit is the largest number of steps it can use.
An agent's fitness is

    -(real training steps until solved)                          when it solved (a value in [-B, 0));
    -2 B + min(0, best real training return - threshold)        when it did not (below every solved agent);
    -inf                                                         when its reward diverged (non-finite RN term)
                                                                 or its own update diverged.

So NES ranks members by steps-to-solve, and an unsolved member still ranks above a worse unsolved one by the
best real return of any of its training episodes: without that term every member of a mode that starts out
unsolved (the exclusive modes on Cliff Walking) would tie and NES would walk at random. The best episode, not
the mean one, because the mean is deceptive where exploring is costly: on Cliff Walking an RN whose agents walk
in circles (-100 per episode) beats one whose agents explore, fall and sometimes reach the goal, and NES then
settles on the circling (seen with the mean; the best episode rewards reaching the goal once). A member's
fitness is the mean over its `agents_per_member` agents. NES shapes fitness by rank (`NESConfig.shaping`,
default nes), so only the order matters for one agent per member.

Continuous-action tasks (MountainCarContinuous-v0, HalfCheetah-v5) use the same fitness with td3 or ppo agents
(the agent kind must act in the task's action space, `benchmark.agents.registry.check_agent_fits_task`). On
MountainCarContinuous (limit 999 steps, threshold 90, the paper's and gymnasium's; B = 99,900 steps at the
default 100 episodes) an episode that reaches the goal pays +100 minus 0.1 x the squared actions and ends early,
so steps-to-solve rewards both learning in fewer episodes and reaching the goal faster; TD3 with the real reward
solves in 25-53 episodes (16k-42k steps, README), well inside the budget, so in the additive modes NES compares
steps. An unsolved agent's term min(0, best return - 90) separates agents that never reached the goal (their
returns are -0.1 x the summed squared actions, at most 0, so a term of -90 or below) from those that did (a best
return of 80-95, a term near 0); agents whose best episode reached 90 without the 10-episode mean doing so tie.
HalfCheetah never terminates: every episode is 1000 steps, steps-to-solve is 1000 x episodes-to-solve.

Unlike the SE trainer, the run does not stop when the task is solved (every member solves it from the start in
the additive modes): it runs `iterations` iterations, and the RN written at the end is the *last* centre (the
objective is noisy, so the best-scoring centre would mostly select a lucky agent); the best-scoring centre and
its iteration are kept in the checkpoint and the metadata.

Engines (`RNRunConfig.engine`): batched (default) trains the DDQN / Dueling DDQN and discrete TD3 agents (CartPole,
Acrobot) or the continuous TD3 agents (MountainCarContinuous) of a worker's members in lockstep on a task with
vectorised dynamics (`benchmark.rn.engine`; the same AgentRun records as scalar, tested; the TD3s' up to float
summation order, see `benchmark.agents.lockstep.td3` and `benchmark.agents.lockstep.td3_discrete`); scalar trains
one agent at a time. Tabular agents, PPO, other tasks and ICM
always take the scalar path.

Files in OUT, as for SEs: checkpoint.safetensors (centre, best centre; JSON metadata with the run config and
state), history.csv (one row per iteration), and at the end the RN as se.safetensors + se.json
(`benchmark.envs.reward.save_rn`, kind reward_network).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark import io, rng, schema
from benchmark.agents.registry import check_agent_fits_task, get_agent_kind, kind_of
from benchmark.agents.sampling import sample_configs
from benchmark.engine import ENGINES
from benchmark.envs.reward import RewardEnv, RewardMode, RNConfig, initial_rn_parameters, make_env, rn_dims, save_rn
from benchmark.envs.tasks import task_limits
from benchmark.errors import ConfigError, check_choice, check_range
from benchmark.nes.checkpoint import RunState, load_checkpoint, save_checkpoint
from benchmark.nes.loop import Scores, run_nes
from benchmark.nes.strategy import NESConfig
from benchmark.rn.engine import run_agents
from benchmark.rn.inner import AgentRun, rn_setting

CLIFF_NES = NESConfig(population=16, noise_std=0.1, step_size=0.5)
"""The paper's NES settings for Cliff Walking RNs (population 16, noise 0.1, step size 0.5)."""


@dataclass(frozen=True)
class RNRunConfig:
    """One RN training run."""

    task: str = "CliffWalking-v1"
    """Real task (`benchmark.envs.tasks.task_limits`: CliffWalking-v1, MountainCarContinuous-v0, HalfCheetah-v5
    (mujoco extra), the SE tasks)."""
    mode: str = RewardMode.POTENTIAL_ADDITIVE.value
    """RewardMode value of the RN (any mode with parameters; `real` has nothing to learn)."""
    iterations: int = 50
    """NES iterations (a fixed number; the run does not stop when the task is solved)."""
    seed: int = 0
    """Root seed; every random number of the run derives from it."""
    vary_hp: bool = False
    """Agents draw their hyperparameters from the agent kind's varied space (search_spaces/<kind>_varied)."""
    agent: str = "q_learning"
    """Agent kind of the inner loop (benchmark.agents.registry.AGENTS): q_learning or sarsa on Cliff Walking,
    ddqn on CartPole, td3 or ppo on MountainCarContinuous and HalfCheetah; it must act in the task's action
    space (Discrete or Box), else a ConfigError names both."""
    agent_config: object = None
    """The agent's config (the kind's config class); None: the kind's defaults with max_episodes."""
    max_episodes: int = 100
    """Training episode budget of every agent (its config's max_episodes); B = max_episodes x episode limit."""
    agents_per_member: int = 1
    """Agents trained on each member; its fitness is their mean."""
    common_seeds: bool = True
    """All members of an iteration train agents with the same seeds and hyperparameters (common random numbers),
    so members differ only in their RN; False: child seeds (and samples) per member."""
    test_episodes: int = 1
    """Greedy real test episodes per agent after training (reported in the history, not part of the fitness)."""
    nes: NESConfig = CLIFF_NES
    """Outer loop (default: the paper's Cliff Walking settings)."""
    rn: RNConfig | None = None
    """RN architecture; None: RNConfig's defaults with this run's mode (if given, its mode must be `mode`)."""
    engine: str = "batched"
    """batched: DDQN / Dueling DDQN, discrete TD3 and continuous TD3 agents on a task with vectorised dynamics
    (benchmark.envs.tasks.vectorised_task) train in lockstep (`benchmark.rn.engine`); other agents and tasks, and
    scalar: one agent at a time (the reference).
    A checkpoint written before this field existed ran scalar."""

    def __post_init__(self):
        task_limits(self.task)
        check_choice("engine", self.engine, ENGINES)
        mode = getattr(self.mode, "value", self.mode)
        if mode == RewardMode.REAL.value:
            raise ConfigError("mode='real' has no parameters to learn; choose one of "
                              f"{[m.value for m in RewardMode if m is not RewardMode.REAL]}")
        rn = RNConfig(mode=mode) if self.rn is None else self.rn
        if rn.mode != mode:
            raise ConfigError(f"rn.mode={rn.mode!r} differs from mode={mode!r}; give the mode once")
        object.__setattr__(self, "mode", rn.mode)
        object.__setattr__(self, "rn", rn)
        check_range("iterations", self.iterations, 1, 100_000, integer=True)
        check_range("seed", self.seed, 0, 2**63 - 1, integer=True)
        check_range("max_episodes", self.max_episodes, 1, 10**7, integer=True)
        check_range("agents_per_member", self.agents_per_member, 1, 10_000, integer=True)
        check_range("test_episodes", self.test_episodes, 1, 10_000, integer=True)
        kind = get_agent_kind(self.agent)
        config = kind.defaults(max_episodes=self.max_episodes) if self.agent_config is None else self.agent_config
        if isinstance(config, dict):
            config = kind.config_type()(**config)
        if kind_of(config) is not kind:
            raise ConfigError(f"agent_config is a {type(config).__name__} ({kind_of(config).name}), "
                              f"not a config of agent={self.agent!r}")
        if config.max_episodes != self.max_episodes:
            raise ConfigError(f"agent_config.max_episodes={config.max_episodes} differs from "
                              f"max_episodes={self.max_episodes}; give the budget once")
        object.__setattr__(self, "agent_config", config)
        env = make_env(self.task)
        rn_dims(env, self.rn)  # the task has the info vector the mode needs
        check_agent_fits_task(self.agent, self.task, env.action_space)

    @property
    def budget_steps(self) -> int:
        """B: the most training steps an agent can use (max_episodes x the task's episode limit)."""
        return self.max_episodes * task_limits(self.task)[0]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RNRunConfig":
        rn = d.get("rn")
        return cls(**{**d, "nes": NESConfig(**d["nes"]), "rn": RNConfig(**rn) if isinstance(rn, dict) else rn})


def agent_fitness(run: AgentRun, budget_steps: int, threshold: float) -> float:
    """One agent's fitness (see the module docstring)."""
    if run.diverged:
        return float("-inf")
    if run.solved:
        return -float(run.steps_to_solve)
    return -2.0 * budget_steps + min(0.0, run.best_return - threshold)


def member_agents(run: RNRunConfig, iteration: int, n: int) -> list[list[tuple[object, int]]]:
    """(config, seed) of the agents of each of an iteration's n members (centre first)."""
    k = run.agents_per_member
    count = k if run.common_seeds else n * k
    seeds = rng.child_seeds(run.seed, count, rng.SeedPath.MEMBER_AGENTS, iteration)
    if run.vary_hp:
        space = get_agent_kind(run.agent).varied_space
        hp_seed = rng.child_seeds(run.seed, 1, rng.SeedPath.MEMBER_HP, iteration)[0]
        configs = sample_configs(run.agent_config, count, seed=hp_seed, space=space)
    else:
        configs = [run.agent_config] * count
    pairs = list(zip(configs, seeds))
    return [pairs if run.common_seeds else pairs[i * k:(i + 1) * k] for i in range(n)]


def evaluate_members(run: RNRunConfig, params: np.ndarray, agents: list[list[tuple[object, int]]], executor,
                     workers: int) -> list[list[AgentRun]]:
    """Agent runs of every member (row of params), in chunks of members, one executor job per chunk."""
    jobs = [[(rn_setting(run.rn, params[i]), c, s) for c, s in agents[i]] for i in range(len(params))]
    chunks = [list(c) for c in np.array_split(np.arange(len(params)), max(1, min(workers, len(params))))]
    futures = [(chunk, executor.submit(run_agents, run.task, [j for i in chunk for j in jobs[i]],
                                       run.test_episodes, True, run.engine)) for chunk in chunks]
    out: list[list[AgentRun]] = [[] for _ in params]
    k = run.agents_per_member
    for chunk, future in futures:
        results = future.result()
        for j, i in enumerate(chunk):
            out[i] = results[j * k:(j + 1) * k]
    return out


def train_rn(run: RNRunConfig, out: Path, *, workers: int = 1, resume: bool = False, progress: bool = True,
             executor=None, stop_after: int | None = None) -> RunState:
    """Run (or resume) NES for `run`, writing the RN, history and checkpoints into `out`.

    stop_after: end after this many iterations of this call (used to test resuming).
    """
    _, threshold = task_limits(run.task)
    out = io.prepare_out_dir(out, resume, schema.CHECKPOINT)
    state = _load_or_start(run, out, resume)

    def evaluate(it: int, centre: np.ndarray, members: np.ndarray, pool) -> Scores:
        params = np.vstack([centre[None], members])
        runs = evaluate_members(run, params, member_agents(run, it, len(params)), pool, workers)
        fitness = [[agent_fitness(a, run.budget_steps, threshold) for a in member] for member in runs]
        return Scores(np.array(fitness[0]), np.array([np.mean(f) for f in fitness[1:]]),
                      sum(a.train_steps + a.test_steps for member in runs for a in member), runs)

    run_nes(run, state, evaluate, _columns, lambda s: save_checkpoint(out, run, s), workers=workers,
            executor=executor, progress=progress, desc=f"RN {run.mode} {run.task}", score_format=".0f",
            stop_after=stop_after)
    if state.iteration >= run.iterations:
        _write_final(out, run, state)
    return state


def _load_or_start(run: RNRunConfig, out: Path, resume: bool) -> RunState:
    # a checkpoint written before RNRunConfig had an engine ran the scalar path
    state = load_checkpoint(out, run, lambda d: RNRunConfig.from_dict({"engine": "scalar", **d})) if resume else None
    if state is not None:
        return state
    obs_dim, info_dim = rn_dims(make_env(run.task), run.rn)
    seed = rng.child_seeds(run.seed, 1, rng.SeedPath.INITIAL_PARAMETERS)[0]
    centre = initial_rn_parameters(obs_dim, run.rn, seed, info_dim).double().numpy()
    return RunState(0, centre, centre.copy(), -np.inf, -1, [], 0.0, 0)


def _columns(scores: Scores, metrics: dict) -> dict:
    runs = scores.runs
    agents = [a for member in runs for a in member]
    solved = [a.steps_to_solve for a in agents if a.solved]
    return {
        "step_norm": round(metrics["step_norm"], 6),
        "centre_steps_to_solve": float(np.mean([a.steps_to_solve if a.solved else np.nan for a in runs[0]])),
        "centre_test_return": float(np.mean([np.mean(a.test_returns) for a in runs[0]])),
        "solved_share": len(solved) / len(agents),
        "mean_steps_to_solve": float(np.mean(solved)) if solved else float("nan"),
        "mean_train_steps": float(np.mean([a.train_steps for a in agents])),
        "mean_train_episodes": float(np.mean([a.train_episodes for a in agents])),
        "diverged_members": int(sum(any(a.diverged for a in member) for member in runs)),
    }


def _write_final(out: Path, run: RNRunConfig, state: RunState) -> None:
    """The RN: the last centre (see the module docstring)."""
    env = RewardEnv(make_env(run.task), torch.as_tensor(np.asarray(state.centre), dtype=torch.float32), run.rn,
                    gamma=float(run.agent_config.gamma))
    save_rn(out, env, {
        "seed": run.seed,
        "mode": run.mode,
        "agent": run.agent,
        "agent_config": dataclasses.asdict(run.agent_config),
        "vary_hp": run.vary_hp,
        "nes": dataclasses.asdict(run.nes),
        "iterations": state.iteration,
        "selected": "last_centre",
        "best_centre_score": state.best_score,
        "best_iteration": state.best_iteration,
        "last_centre_score": state.history[-1]["centre_score"] if state.history else None,
        "wall_time_s": state.elapsed_s,
        "real_env_steps": state.real_steps,
        "versions": io.package_versions(),
        "run": run.to_dict(),
    })
