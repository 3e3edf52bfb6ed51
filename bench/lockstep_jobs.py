"""Seconds per lockstep job of one NES iteration's exact population, one job after another (prints figures).

    python bench/lockstep_jobs.py [--vary-hp] [--iteration 0] [--workers 2] [--ragged-ab]

Builds iteration `iteration`'s population as `sebench train-se` would from the initial SE (centre and mirrored
members of seed 0's first NES draw; later iterations reuse that centre), plans its jobs with
`benchmark.engine.plan_chunks` and runs them one after another in this process. Prints each job's shape
(members, hidden layers, hidden size, largest batch), predicted tick cost, training steps and seconds, then
the summed seconds and the makespan of `workers` processes taking the jobs in plan order, and a floor: each
member's own work per step (the fitted tick cost without its fixed part, no padding) times its steps. Comparing
the sum with `bench/nes_iteration.py`'s wall time tells the engine's cost apart from how evenly the workers are
loaded; the floor is what no grouping or balancing can beat. Run it with the cores otherwise idle.

`--ragged-ab` runs every job twice, first with `BatchedMLP.ragged_activation` off (every padded unit activated),
then on, prints both times and checks that the two runs' outcomes (training and test returns, steps) are equal.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmark.agents.lockstep.core import BatchedMLP
from benchmark.engine import TICK_COST_S, run_chunk, plan_chunks, tick_cost
from benchmark.nes.loop import population
from benchmark.nes.strategy import NESConfig, NESStrategy
from benchmark.nes.trainer import RunConfig, initial_centre, member_specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="CartPole-v0")
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--iteration", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vary-hp", action="store_true")
    ap.add_argument("--ragged-ab", action="store_true", help="time each job without and with the ragged activation")
    args = ap.parse_args()
    run = RunConfig(task=args.task, seed=args.seed, vary_hp=args.vary_hp, nes=NESConfig(population=args.population))
    params = population(NESStrategy(initial_centre(run), run.nes), run.seed, args.iteration)
    specs = member_specs(run, args.iteration, len(params))
    seconds, floors, unragged = [], [], []
    for job in plan_chunks(specs, "batched", args.workers):
        configs = [specs[i].config for i in job]
        run_job = lambda: run_chunk("batched", run.task, [specs[i] for i in job], run.se, params[job],  # noqa: E731
                                     run.test_episodes)
        if args.ragged_ab:
            BatchedMLP.ragged_activation = False
            start = time.perf_counter()
            before = run_job()
            unragged.append(time.perf_counter() - start)
            BatchedMLP.ragged_activation = True
        start = time.perf_counter()
        outcomes = run_job()
        seconds.append(time.perf_counter() - start)
        if args.ragged_ab:
            same = all(a.train == b.train and a.test_returns == b.test_returns for a, b in zip(before, outcomes))
            print(f"  without the ragged activation {unragged[-1]:6.1f} s, with {seconds[-1]:6.1f} s "
                  f"({unragged[-1] / seconds[-1]:.2f}x); same outcomes: {same}", flush=True)
        steps = [o.train.steps for o in outcomes]
        floors.append(sum(_work_per_step(c) * n for c, n in zip(configs, steps)))
        print(f"M={len(job):2d} L={max(c.hidden_layers for c in configs)} H={max(c.hidden_size for c in configs):3d} "
              f"B<={max(c.batch_size for c in configs):3d}  predicted {tick_cost(configs) * 1e3:5.2f} ms/tick  "
              f"steps max {max(steps):6d} sum {sum(steps):7d}  {seconds[-1]:6.1f} s  "
              f"{seconds[-1] / sum(steps) * 1e6:5.0f} us/agent-step  floor {floors[-1]:5.1f} s", flush=True)
    load = np.zeros(args.workers)
    for s in seconds:  # each job goes to the first worker to come free, in plan order
        load[np.argmin(load)] += s
    print(f"jobs summed {sum(seconds):.1f} s; makespan on {args.workers} workers {load.max():.1f} s")
    if args.ragged_ab:
        print(f"without the ragged activation: jobs summed {sum(unragged):.1f} s "
              f"({sum(unragged) / sum(seconds):.2f}x the time with it)")
    print(f"floor {sum(floors):.1f} s summed, {sum(floors) / args.workers:.1f} s on {args.workers} workers: each "
          f"member's own work per step (the tick cost model without its fixed per-tick part, no padding) times its "
          f"steps; what no grouping or balancing can beat at the fitted costs")


def _work_per_step(config) -> float:
    """Seconds of one member's own work in a tick: the cost model of it alone, less the fixed per-tick part."""
    return tick_cost([config]) - TICK_COST_S[0]


if __name__ == "__main__":
    main()
