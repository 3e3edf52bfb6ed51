"""Wall time of discrete TD3 agents with varied hyperparameters on real CartPole-v0: the scalar engine (one agent
at a time) versus the lockstep trainer (prints figures).

    python bench/td3_discrete_lockstep.py --agents 10 --max-episodes 30
    python bench/td3_discrete_lockstep.py --fixed-hp [--hidden-size 32 --batch-size 32]

Samples `agents` configurations from the transfer protocol's `td3_discrete_varied` space (lr, batch size, hidden
size, hidden layers; --fixed-hp: all TD3DiscreteConfig's defaults, or the given hidden and batch size), trains and
tests them through `benchmark.engine.train_and_test` with each engine on one worker (in-process; the lockstep
engine splits the agents into groups by `benchmark.engine.partition_by_cost`), and prints wall and CPU seconds,
agent-steps per (wall) second, the speed-up (wall and CPU; CPU is the steadier figure on a shared machine) and
whether both engines gave every agent the same training episodes and test returns (the lockstep trainer matches
the scalar agent up to float rounding, see `benchmark.agents.lockstep.td3_discrete`).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmark import rng
from benchmark.agents.common import AgentSpec
from benchmark.agents.sampling import sample_configs
from benchmark.agents.td3_discrete import TD3DiscreteConfig
from benchmark.engine import partition_by_cost, train_and_test
from benchmark.parallel import SerialExecutor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="CartPole-v0")
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--max-episodes", type=int, default=30)
    ap.add_argument("--test-episodes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixed-hp", action="store_true", help="every agent with the default hyperparameters")
    ap.add_argument("--hidden-size", type=int, help="with --fixed-hp: this hidden size instead of the default")
    ap.add_argument("--batch-size", type=int, help="with --fixed-hp: this batch size instead of the default")
    ap.add_argument("--engines", default="scalar,batched")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes = {k: v for k, v in (("hidden_size", args.hidden_size), ("batch_size", args.batch_size)) if v}
    if sizes and not args.fixed_hp:
        ap.error("--hidden-size and --batch-size need --fixed-hp (the varied space samples them)")
    base = TD3DiscreteConfig(max_episodes=args.max_episodes, **sizes)
    configs = [base] * args.agents if args.fixed_hp else sample_configs(base, args.agents, seed=args.seed,
                                                                        space="td3_discrete_varied")
    specs = [AgentSpec(c, s) for c, s in zip(configs, rng.child_seeds(args.seed, args.agents))]
    groups = partition_by_cost(specs, list(range(len(specs))))
    print(f"{args.agents} td3_discrete agents on {args.task}, max {args.max_episodes} episodes, "
          f"{args.test_episodes} test episodes; hidden sizes {sorted(c.hidden_size for c in configs)}, layers "
          f"{sorted(c.hidden_layers for c in configs)}, batch sizes {sorted(c.batch_size for c in configs)}; "
          f"lockstep groups {[len(g) for g in groups]}")
    outcomes, wall, cpu = {}, {}, {}
    for engine in args.engines.split(","):
        start, cpu_start = time.perf_counter(), time.process_time()
        outcomes[engine] = train_and_test(args.task, specs, None, None, args.test_episodes, engine, SerialExecutor(), 1)
        wall[engine], cpu[engine] = time.perf_counter() - start, time.process_time() - cpu_start
        steps = sum(o.train.steps for o in outcomes[engine])
        print(f"{engine:8s} {wall[engine]:7.1f} s wall, {cpu[engine]:7.1f} s CPU  {steps / wall[engine]:7.0f} "
              f"agent-steps/s  ({steps} training steps, {sum(o.train.episodes for o in outcomes[engine])} episodes, "
              f"mean test return {np.mean([o.fitness for o in outcomes[engine]]):.1f})")
    if {"scalar", "batched"} <= wall.keys():
        pairs = list(zip(outcomes["scalar"], outcomes["batched"]))
        same_train = sum(s.train.lengths == b.train.lengths and s.train.returns == b.train.returns for s, b in pairs)
        same_test = sum(s.test_returns == b.test_returns for s, b in pairs)
        print(f"speed-up lockstep vs scalar: {wall['scalar'] / wall['batched']:.1f}x wall, "
              f"{cpu['scalar'] / cpu['batched']:.1f}x CPU; same training episodes {same_train}/{len(pairs)} agents, "
              f"same test returns {same_test}/{len(pairs)}")


if __name__ == "__main__":
    main()
