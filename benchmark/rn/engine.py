"""The RN inner loop's jobs through either engine (`run_agents`), the reward-network counterpart of
`benchmark.engine`. With the batched engine, the agents of a job whose kind has a lockstep trainer (DDQN / Dueling
DDQN, `benchmark.agents.lockstep.ddqn`; discrete TD3, `benchmark.agents.lockstep.td3_discrete`; continuous TD3,
`benchmark.agents.lockstep.td3`) train in lockstep on `BatchedRewardEnv` copies (an RN setting) or `BatchedTask`
copies (the real reward) of a task with vectorised dynamics (`benchmark.envs.tasks.vectorised_task`: CartPole,
Acrobot, MountainCarContinuous), and come back as the same `AgentRun` records as `benchmark.rn.inner.run_agent`
would give them.

Agents without a lockstep trainer (tabular, PPO), the ICM setting (trained online) and tasks
without vectorised dynamics (Cliff Walking, HalfCheetah) take the scalar path, one agent at a time. A member whose
RN gave a non-finite term at any training step is marked diverged, as the scalar path's DivergenceLatch does.
"""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch

from benchmark.agents.common import AgentSpec
from benchmark.agents.lockstep.core import evaluate_batched
from benchmark.agents.registry import action_space_type, kind_of
from benchmark.engine import ENGINES, batch_key, partition_by_cost
from benchmark.envs.reward import BatchedRewardEnv
from benchmark.envs.tasks import BatchedTask, task_limits, vectorised_task
from benchmark.errors import check_choice
from benchmark.rn.inner import REAL, AgentRun, RewardSetting, agent_run, run_agent


def run_agents(task: str, jobs: list[tuple[RewardSetting, object, int]], test_episodes: int,
               stop_at_solved: bool = True, engine: str = "scalar") -> list[AgentRun]:
    """run_agent for each (setting, config, seed): one executor job. engine scalar: one agent after another;
    batched: the DDQN / Dueling DDQN and TD3 (discrete, continuous) agents on the real reward or an RN of a
    vectorised task train in lockstep, the others one after another (`run_agents_batched`); the records are the
    same either way (the TD3s' up to float summation order)."""
    check_choice("engine", engine, ENGINES)
    if engine == "batched":
        return run_agents_batched(task, jobs, test_episodes, stop_at_solved)
    return [run_agent(task, s, c, seed, test_episodes, stop_at_solved) for s, c, seed in jobs]


def lockstep_job(task: str, setting: RewardSetting, config) -> bool:
    """Whether the agent of `config` on `setting` trains in a lockstep batch (engine batched): its kind has a
    lockstep trainer and acts in the action space of `task`, which has vectorised dynamics; the reward is the
    real one or an RN."""
    kind, vector = kind_of(config), vectorised_task(task)
    return (vector is not None and setting.kind in (REAL, "rn") and kind.lockstep is not None
            and action_space_type(vector.action_space) in kind.action_spaces)


def run_agents_batched(task: str, jobs: list[tuple[RewardSetting, object, int]], test_episodes: int,
                       stop_at_solved: bool = True) -> list[AgentRun]:
    """`benchmark.rn.inner.run_agent` for each (setting, config, seed), the lockstep-able ones together.

    Lockstep agents are grouped by what one batch shares: the lockstep trainer, the reward setting's kind and RN
    architecture (the parameter vectors and gammas may differ per agent) and the networks' activation and dueling
    flag; each group is split by cost as in the SE engine (`benchmark.engine.partition_by_cost`). wall_s of a
    lockstep agent is its group's wall time divided by the group's size.
    """
    torch.set_num_threads(1)
    runs: list[AgentRun | None] = [None] * len(jobs)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (setting, config, seed) in enumerate(jobs):
        if lockstep_job(task, setting, config):
            groups[(setting.kind, setting.rn, *batch_key(config))].append(i)
        else:
            runs[i] = run_agent(task, setting, config, seed, test_episodes, stop_at_solved)
    for members in (g for group in groups.values()
                    for g in partition_by_cost([AgentSpec(jobs[i][1], jobs[i][2]) for i in group], group)):
        for i, run in zip(members, _train_group(task, [jobs[i] for i in members], test_episodes, stop_at_solved)):
            runs[i] = run
    return runs  # type: ignore[return-value]


def _train_group(task_name: str, jobs: list[tuple[RewardSetting, object, int]], test_episodes: int,
                 stop_at_solved: bool) -> list[AgentRun]:
    start = time.perf_counter()
    task = vectorised_task(task_name)
    _, threshold = task_limits(task_name)
    specs = [AgentSpec(config, seed) for _, config, seed in jobs]
    setting = jobs[0][0]
    if setting.kind == REAL:
        env = BatchedTask(task, len(jobs))
    else:
        env = BatchedRewardEnv(task, setting.rn, np.stack([np.asarray(s.params) for s, _, _ in jobs]),
                               [float(c.gamma) for _, c, _ in jobs])
    train = kind_of(specs[0].config).lockstep_trainer()
    results, policy = train(task, env, specs, threshold if stop_at_solved else float("inf"))
    rn_diverged = getattr(env, "diverged", np.zeros(len(jobs), bool))
    returns, lengths = evaluate_batched(task, policy, [s.seed for s in specs], test_episodes)
    wall = (time.perf_counter() - start) / len(jobs)
    return [agent_run(result, threshold, spec.config.early_out_num, rn_diverged[j], returns[j], lengths[j], wall)
            for j, (result, spec) in enumerate(zip(results, specs))]
