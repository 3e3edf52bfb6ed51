"""Learning speed of the PPO and continuous TD3 defaults on their real tasks (prints figures; not a test).

    python bench/agents_learn.py --ppo-seeds 0 1 2 --td3-seeds 0 1 2 [--td3-episodes 60]

PPO (`benchmark.agents.ppo`, PPOConfig defaults) trains on CartPole-v0 until the mean real return of the last 10
training episodes reaches 195; continuous TD3 (`benchmark.agents.td3`, TD3Config defaults) on
MountainCarContinuous-v0 (999-step episodes) until it reaches 90, or for --td3-episodes episodes. For each seed
it prints the steps and episodes until solved (or "not solved" with the best training return), wall seconds,
milliseconds per environment step (training updates included; one torch thread), and the mean greedy return
of 10 test episodes; then a summary line per agent. Wall figures depend on the machine's load.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np
import torch

from benchmark.agents.ppo import PPO, PPOConfig
from benchmark.agents.td3 import TD3, TD3Config
from benchmark.envs.reward import make_env
from benchmark.envs.tasks import task_limits
from benchmark.rn.inner import solve_point


def run(name: str, task: str, agent, test_episodes: int = 10) -> dict:
    limit, threshold = task_limits(task)
    start = time.perf_counter()
    result = agent.train(make_env(task), solved=threshold, max_steps=limit)
    wall = time.perf_counter() - start
    point = solve_point(result.returns, result.lengths, threshold, agent.config.early_out_num)
    test = agent.evaluate(make_env(task), test_episodes)
    row = {"agent": name, "seed": agent.seed, "solved": point is not None,
           "steps": point[1] if point else result.steps, "episodes": point[0] if point else result.episodes,
           "best": float(np.max(result.returns)), "wall_s": wall, "ms_per_step": 1000 * wall / max(1, result.steps),
           "test": float(np.mean(test)), "diverged": result.diverged}
    what = (f"solved after {row['steps']:>6} steps / {row['episodes']:>4} episodes" if row["solved"] else
            f"not solved in {row['steps']:>6} steps / {row['episodes']:>4} episodes (best return {row['best']:.1f})")
    print(f"{name:4} {task:25} seed {agent.seed:>3}: {what}; {wall:6.1f} s, {row['ms_per_step']:.2f} ms/step; "
          f"greedy test mean {row['test']:.1f}{' DIVERGED' if row['diverged'] else ''}", flush=True)
    return row


def summary(rows: list[dict]) -> None:
    if not rows:
        return
    solved = [r for r in rows if r["solved"]]
    steps = [r["steps"] for r in solved]
    print(f"{rows[0]['agent']}: solved {len(solved)}/{len(rows)}; steps to solve median "
          f"{np.median(steps) if steps else float('nan'):.0f} "
          f"(min {min(steps, default=0)}, max {max(steps, default=0)}); "
          f"ms/step median {np.median([r['ms_per_step'] for r in rows]):.2f}; greedy test mean of means "
          f"{np.mean([r['test'] for r in rows]):.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ppo-seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    parser.add_argument("--td3-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--td3-episodes", type=int, default=TD3Config().max_episodes,
                        help="TD3 episode budget (999 steps each)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # gymnasium's note on CartPole-v0
    ppo = [run("ppo", "CartPole-v0", PPO(4, 2, PPOConfig(), seed)) for seed in args.ppo_seeds]
    summary(ppo)
    box = make_env("MountainCarContinuous-v0").action_space
    td3_config = dataclasses.replace(TD3Config(), max_episodes=args.td3_episodes)
    td3 = [run("td3", "MountainCarContinuous-v0", TD3(2, box, td3_config, seed)) for seed in args.td3_seeds]
    summary(td3)


if __name__ == "__main__":
    main()
