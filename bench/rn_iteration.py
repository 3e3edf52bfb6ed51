"""Wall time of RN NES iterations, scalar versus batched engine, same seeds and settings (prints figures).

    python bench/rn_iteration.py --population 4 --agents-per-member 1 --workers 1 --iterations 1
    python bench/rn_iteration.py --task MountainCarContinuous-v0 --agent td3 --population 2 --max-episodes 10

Runs `iterations` NES iterations of `sebench train-rn` (DDQN on CartPole-v0 by default, potential_additive RN)
from the same initial RN with each engine in a fresh folder and prints seconds per iteration, agent-steps per
second, the ratio, and whether both engines gave every member the same fitness (with continuous TD3 the engines
agree up to float summation order, which drifts over training: the largest difference is printed too). Add
--profile to print a cProfile summary (top 15 by own time) of one batched iteration's inner loop (in-process).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.nes.strategy import NESConfig
from benchmark.rn.trainer import RNRunConfig, train_rn


def _run_config(args, engine: str) -> RNRunConfig:
    return RNRunConfig(task=args.task, agent=args.agent, mode=args.mode, iterations=args.iterations, seed=args.seed,
                       max_episodes=args.max_episodes, agents_per_member=args.agents_per_member,
                       nes=NESConfig(population=args.population, noise_std=0.1, step_size=0.5), engine=engine)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="CartPole-v0")
    ap.add_argument("--agent", default="ddqn")
    ap.add_argument("--mode", default="potential_additive")
    ap.add_argument("--population", type=int, default=4)
    ap.add_argument("--agents-per-member", type=int, default=1)
    ap.add_argument("--max-episodes", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", default="scalar,batched")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    timings, scores = {}, {}
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as out:
            start, cpu = time.perf_counter(), time.process_time()
            train_rn(_run_config(args, engine), Path(out), workers=args.workers, progress=False)
            total, cpu = time.perf_counter() - start, time.process_time() - cpu
            hist = pd.read_csv(Path(out) / "history.csv")
        timings[engine] = float(hist.time_s.mean())
        scores[engine] = [x for row in hist.member_scores for x in json.loads(row)] + hist.centre_score.tolist()
        print(f"{engine:8s} {timings[engine]:8.1f} s/iteration  ({total:.1f} s with start-up, {cpu:.1f} CPU-s in this "
              f"process)  "
              f"{hist.real_env_steps.sum() / hist.time_s.sum():9.0f} agent-steps/s  "
              f"{(2 * args.population + 1) * args.agents_per_member} agents/iteration, mean train steps/agent "
              f"{hist.mean_train_steps.mean():.0f}, solved share {hist.solved_share.mean():.2f}, "
              f"centre scores {hist.centre_score.tolist()}")
    if {"scalar", "batched"} <= timings.keys():
        diff = np.max(np.abs(np.array(scores["scalar"]) - np.array(scores["batched"])))
        print(f"speed-up batched vs scalar: {timings['scalar'] / timings['batched']:.1f}x; same member fitness: "
              f"{scores['scalar'] == scores['batched']} (largest difference {diff:.3g})")
    if args.profile:
        _profile(args)


def _profile(args) -> None:
    from benchmark.envs.reward import initial_rn_parameters, make_env, rn_dims
    from benchmark.rn.engine import run_agents
    from benchmark.rn.inner import rn_setting
    from benchmark.rn.trainer import member_agents

    run = _run_config(args, "batched")
    n = 2 * args.population + 1
    obs_dim, info_dim = rn_dims(make_env(run.task), run.rn)
    centre = initial_rn_parameters(obs_dim, run.rn, 0, info_dim).double().numpy()
    params = centre[None] + np.random.default_rng(0).standard_normal((n, centre.size)) * run.nes.noise_std
    agents = member_agents(run, 0, n)
    jobs = [(rn_setting(run.rn, params[i]), c, s) for i in range(n) for c, s in agents[i]]
    profiler = cProfile.Profile()
    profiler.enable()
    run_agents(run.task, jobs, run.test_episodes, True, "batched")
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
