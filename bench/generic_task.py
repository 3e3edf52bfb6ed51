"""Cost of one NES iteration's evaluation on the generic task path (gymnasium's own vector env for the real-task
tests and the SE's start states) against the fast path (vectorised numpy dynamics), on CartPole-v0 (prints
figures).

    python bench/generic_task.py [--preset paper_opt] [--population 4] [--centre-agents 4] [--repeats 2]

Both paths score the same population (the initial centre and its members, the same agents and seeds) in this
process, one after the other, `repeats` times, alternating; the generic task is `gym_task("CartPole-v0")`, which
steps gymnasium's CartPoleEnv where the fast path steps its numpy copy. Prints wall and CPU seconds per path (CPU time is what to compare on a
loaded machine: the run is serial, in this process) and the ratios,
and whether both paths scored the population alike.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmark.config_layers import layered
from benchmark.engine import train_and_test
from benchmark.envs.tasks import get_task, gym_task
from benchmark.nes.loop import population
from benchmark.nes.presets import PRESETS, preset_fields
from benchmark.nes.strategy import NESStrategy
from benchmark.nes.trainer import RunConfig, centre_specs, initial_centre, member_specs
from benchmark.parallel import SerialExecutor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="paper_opt")
    ap.add_argument("--population", type=int, default=4)
    ap.add_argument("--centre-agents", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    run = RunConfig.from_dict(layered(RunConfig().to_dict(), ("preset", preset_fields(args.preset)), ("flags", {
        "centre_agents": args.centre_agents, "nes": {"population": args.population}})))
    centre = initial_centre(run)
    members = population(NESStrategy(centre, run.nes), run.seed, 0)
    params = np.vstack([np.repeat(centre[None], run.centre_agents, axis=0), members])
    specs = centre_specs(run, 0) + member_specs(run, 0, len(members))
    paths = {"fast": get_task("CartPole-v0"), "generic": gym_task("CartPole-v0")}
    seconds = {name: [] for name in paths}
    cpu = {name: [] for name in paths}
    scores = {}
    for _ in range(args.repeats):
        for name, task in paths.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            outcomes = train_and_test(task, specs, run.se, params, run.test_episodes, run.engine, SerialExecutor(), 1)
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            scores[name] = [o.fitness for o in outcomes]
    steps = sum(o.train.steps for o in outcomes)
    for name, s in seconds.items():
        print(f"{name:8s} {min(s):7.1f} s wall, {min(cpu[name]):7.1f} s CPU (best of {len(s)}; wall "
              f"{', '.join(f'{x:.1f}' for x in s)})  {len(specs)} agents, {steps} training steps")
    print(f"generic / fast: {min(seconds['generic']) / min(seconds['fast']):.2f}x wall, "
          f"{min(cpu['generic']) / min(cpu['fast']):.2f}x CPU; same scores: {np.allclose(scores['fast'], scores['generic'])}")


if __name__ == "__main__":
    main()
