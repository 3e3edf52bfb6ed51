"""Train agents on SEs (or on the real task) and test them on the real task, through either engine.

`scalar` trains one agent at a time with its scalar agent class (`benchmark.agents.registry.make_agent`) on
gymnasium environments (the readable reference); `batched` trains a chunk of agents in lockstep, each kind with its
own lockstep trainer (`AgentKind.lockstep`: DDQN / Dueling DDQN `benchmark.agents.lockstep.ddqn`, discrete TD3
`benchmark.agents.lockstep.td3_discrete`); kinds without one still train one at a time. Either way the jobs go
through a concurrent.futures.Executor: a lockstep group (`plan_chunks`) or an agent per job.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from functools import partial

import numpy as np
import torch

from benchmark.agents.common import AgentOutcome, AgentSpec
from benchmark.agents.lockstep.core import evaluate_batched, padded_slots
from benchmark.agents.registry import kind_of, make_agent
from benchmark.allocator import retain_freed_memory
from benchmark.envs.synthetic import BatchedSE, SEConfig, SyntheticEnv
from benchmark.envs.tasks import Task, get_task
from benchmark.errors import check_choice
from benchmark.job_store import JobStore, job_digest

ENGINES = ("batched", "scalar")


def train_and_test(task: str | Task, specs: list[AgentSpec], se_config: SEConfig | None,
                   se_params: np.ndarray | None, test_episodes: int, engine: str, executor,
                   workers: int, test_on_real: bool = True, store: JobStore | None = None) -> list[AgentOutcome]:
    """Agent i trains on SE row i of se_params (or on the real task when se_params is None), then tests
    for test_episodes on the real task (test_on_real=False: on the environment it trained on); results come
    back in the order of specs. With `store`, a job found there is not run, and each job is saved there as soon
    as it finishes (an interrupted call, rerun, redoes only the unfinished jobs); the call returns only once
    every save is done, so a checkpoint taken after it never races a save still in flight."""
    check_choice("engine", engine, ENGINES)
    task = get_task(task)
    outcomes: list[AgentOutcome | None] = [None] * len(specs)
    futures, saving = [], []
    for chunk in plan_chunks(specs, engine, workers):
        job = (task, [specs[i] for i in chunk], se_config,
               None if se_params is None else np.asarray(se_params)[chunk], test_episodes, test_on_real)
        digest = None if store is None else job_digest(task, engine, *job[1:])
        kept = None if store is None else store.load(digest)
        if kept is not None:
            future = Future()
            future.set_result(kept)
        else:
            future = submit_chunk(executor, engine, *job)
            if store is not None:
                saved = threading.Event()
                future.add_done_callback(partial(_keep, store, digest, saved))
                saving.append(saved)
        futures.append((chunk, future))
    for chunk, future in futures:
        for i, outcome in zip(chunk, future.result()):
            outcomes[i] = outcome
    for saved in saving:  # result() can return before the future's callbacks have run
        saved.wait()
    return outcomes  # type: ignore[return-value]


def _keep(store: JobStore, digest: str, saved: threading.Event, future) -> None:
    """A finished job's done callback: save its outcomes, then signal that the save is over."""
    try:
        if not future.cancelled() and future.exception() is None:
            store.save(digest, future.result())
    finally:
        saved.set()


def lockstep(spec: AgentSpec, engine: str) -> bool:
    """Whether `spec`'s agent trains in a lockstep batch under `engine` (its kind has a lockstep trainer for the
    Discrete tasks SEs stand in for)."""
    return engine == "batched" and kind_of(spec.config).batched


def plan_chunks(specs: list[AgentSpec], engine: str, workers: int) -> list[list[int]]:
    """Jobs of one call: one per lockstep group (members that share a trainer, activation and dueling flag, split
    by `partition_by_cost` over the whole call, so each group pads little; the costliest groups halved until
    there are at least `workers` jobs, so no worker idles), costliest first so that the workers finish together; every
    other agent alone."""
    groups = lockstep_groups(specs, engine)

    def cost(group: list[int]) -> float:
        return tick_cost([specs[i].config for i in group])

    while len(groups) < workers and max(map(len, groups), default=1) > 1:
        largest = max((g for g in groups if len(g) > 1), key=cost)
        groups.remove(largest)
        groups += [largest[:len(largest) // 2], largest[len(largest) // 2:]]
    groups.sort(key=lambda g: -cost(g))
    return groups + [[i] for i, s in enumerate(specs) if not lockstep(s, engine)]


def lockstep_groups(specs: list[AgentSpec], engine: str) -> list[list[int]]:
    """Indices of the lockstep members of `specs`, as groups that share a `batch_key` (one batch needs one trainer,
    activation and dueling flag), each split by `partition_by_cost`."""
    kinds: dict[tuple, list[int]] = defaultdict(list)
    for i, spec in enumerate(specs):
        if lockstep(spec, engine):
            kinds[batch_key(spec.config)].append(i)
    return [g for kind in kinds.values() for g in partition_by_cost([specs[i] for i in kind], kind)]


def submit_chunk(executor, engine: str, task: str | Task, specs: list[AgentSpec], se_config: SEConfig | None,
                 se_params: np.ndarray | None, test_episodes: int, test_on_real: bool = True):
    """One job: train and test `specs` (on SE rows se_params, or on the real task); a future of outcomes."""
    return executor.submit(run_chunk, engine, get_task(task), specs, se_config, se_params, test_episodes,
                           test_on_real)


def run_chunk(engine: str, task: str | Task, specs: list[AgentSpec], se_config: SEConfig | None,
              se_params: np.ndarray | None, test_episodes: int, test_on_real: bool = True) -> list[AgentOutcome]:
    """One job, in the worker: train `specs` (on SE rows se_params, or on the real task until solved), test them."""
    torch.set_num_threads(1)
    retain_freed_memory()
    task = get_task(task)
    solved = task.require_solved("training on the real task") if se_params is None else None
    outcomes: list[AgentOutcome | None] = [None] * len(specs)
    for i, spec in enumerate(specs):
        if not lockstep(spec, engine):
            outcomes[i] = _run_scalar(task, spec, se_config, None if se_params is None else se_params[i], solved,
                                      test_episodes, test_on_real)
    for members in lockstep_groups(specs, engine):
        start, cpu_start = time.perf_counter(), time.thread_time()
        group_specs = [specs[i] for i in members]
        if se_params is None:
            env = task.batched(len(members))
        else:
            env = BatchedSE(task, se_config, torch.as_tensor(se_params[members], dtype=torch.float32))
        results, policy = kind_of(group_specs[0].config).lockstep_trainer()(task, env, group_specs, solved)
        test_env = None
        if se_params is not None and not test_on_real:
            rows = np.repeat(se_params[members], test_episodes, axis=0)
            test_env = BatchedSE(task, se_config, torch.as_tensor(rows, dtype=torch.float32))
        returns, lengths = evaluate_batched(task, policy, [s.seed for s in group_specs], test_episodes, test_env)
        wall = (time.perf_counter() - start) / len(members)
        cpu = (time.thread_time() - cpu_start) / len(members)
        for j, i in enumerate(members):
            outcomes[i] = AgentOutcome(results[j], returns[j].tolist(), int(lengths[j].sum()), wall, cpu)
    return outcomes  # type: ignore[return-value]


def batch_key(config) -> tuple:
    """What the members of one lockstep batch share: the kind's trainer, the activation, the dueling flag."""
    return kind_of(config).lockstep, config.activation, getattr(config, "dueling", False)


TICK_COST_S = (1.39e-3, 4.86e-9, 1.1e-10, 0.0)
"""Seconds of one lockstep tick per cost feature (`cost_features`): fixed overhead, per padded activation
element, per hidden-to-hidden multiply-add, per sampled transition slot. Fitted by `bench/lockstep_tick_cost.py`."""


def cost_features(slots: int, layers: int, hidden: int) -> tuple[float, ...]:
    """What one tick of an update over `slots` minibatch slots (valid or padding) through networks padded to
    (layers, hidden) costs, as the features of TICK_COST_S."""
    return 1.0, slots * hidden * layers, slots * hidden ** 2 * (layers - 1), slots


def tick_cost(configs: list) -> float:
    """Predicted seconds per tick of a lockstep group of these member configs (padded to the largest): batches
    laid out in rows (`BatchLayout.split`) where the kind's trainer does that, else padded to the largest."""
    batches = np.array([c.batch_size for c in configs])
    layers, hidden = max(c.hidden_layers for c in configs), max(c.hidden_size for c in configs)
    split = kind_of(configs[0]).split_batches
    slots = padded_slots(batches, hidden, layers) if split else len(configs) * int(batches.max())
    feats = cost_features(slots, layers, hidden)
    return float(np.dot(TICK_COST_S, feats))


def partition_by_cost(specs: list[AgentSpec], index: list[int]) -> list[list[int]]:
    """Split members into lockstep groups so that padding to each group's largest member wastes little.

    Members are sorted by size (by layers and hidden size, and by layers and predicted cost alone: the cheaper
    outcome wins); a dynamic programme cuts the sorted list where the saved padding outweighs the fixed per-tick
    cost of one more group. Returns lists of the original indices in `index`.
    """
    configs = [s.config for s in specs]
    orders = [sorted(range(len(configs)), key=lambda i: (configs[i].hidden_layers, configs[i].hidden_size,
                                                        configs[i].batch_size)),
              sorted(range(len(configs)), key=lambda i: (configs[i].hidden_layers, tick_cost([configs[i]])))]
    _, cuts, order = min((*_cut_sorted([configs[i] for i in order]), order) for order in orders)
    return [[index[order[i]] for i in range(a, b)] for a, b in cuts]


def _cut_sorted(configs: list) -> tuple[float, list[tuple[int, int]]]:
    """The cheapest split of a sorted list into contiguous groups: (predicted seconds per tick, [(start, end)])."""
    n = len(configs)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end):
            cost = best[start] + tick_cost(configs[start:end])
            if cost < best[end]:
                best[end], cut[end] = cost, start
    spans, end = [], n
    while end > 0:
        spans.append((cut[end], end))
        end = cut[end]
    return best[n], spans[::-1]


def _run_scalar(task, spec: AgentSpec, se_config, params, solved, test_episodes, test_on_real=True) -> AgentOutcome:
    start, cpu_start = time.perf_counter(), time.thread_time()
    agent = make_agent(task.obs_dim, task.n_actions, spec.config, spec.seed)
    train_env = task.make() if params is None else SyntheticEnv(task, torch.as_tensor(params), se_config)
    result = agent.train(train_env, solved=solved, max_steps=task.max_steps)
    test_env = task.make() if params is None or test_on_real else SyntheticEnv(task, torch.as_tensor(params), se_config)
    returns, lengths = agent.evaluate_episodes(test_env, test_episodes)
    return AgentOutcome(result, returns.tolist(), int(lengths.sum()), time.perf_counter() - start,
                        time.thread_time() - cpu_start)
