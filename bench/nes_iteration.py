"""Wall time of NES iterations, scalar versus batched engine, same seeds and settings (prints figures).

    python bench/nes_iteration.py --preset paper_transfer --workers 2 --iterations 1 --engines batched

Runs `iterations` NES iterations from the same initial SE with each engine in a fresh folder and prints
seconds per iteration, agent-steps per second and the ratio. Add --profile to print a cProfile summary of
the costliest batched job of iteration 0 (in-process).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.config_layers import layered
from benchmark.nes.loop import population
from benchmark.nes.presets import PRESETS, preset_fields
from benchmark.nes.strategy import NESStrategy
from benchmark.nes.trainer import RunConfig, centre_specs, initial_centre, member_specs, train_se


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="CartPole-v0")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="paper_transfer")
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--centre-agents", type=int, default=16)
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", default="scalar,batched")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    timings = {}
    for engine in args.engines.split(","):
        run = _run(args, engine)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            train_se(run, Path(out), workers=args.workers, progress=False)
            total = time.perf_counter() - start
            hist = pd.read_csv(Path(out) / "history.csv")
        steps = float((hist.mean_train_steps * (2 * args.population + args.centre_agents)).sum())
        timings[engine] = float(hist.time_s.mean())
        print(f"{engine:8s} {timings[engine]:8.1f} s/iteration  ({total:.1f} s with start-up)  "
              f"{steps / hist.time_s.sum():9.0f} agent-steps/s  mean train steps/agent "
              f"{hist.mean_train_steps.mean():.0f}  centre scores {hist.centre_score.tolist()}")
    if {"scalar", "batched"} <= timings.keys():
        print(f"speed-up batched vs scalar: {timings['scalar'] / timings['batched']:.1f}x")
    if args.profile:
        _profile(args)


def _run(args, engine: str) -> RunConfig:
    return RunConfig.from_dict(layered(RunConfig().to_dict(), ("preset", preset_fields(args.preset)), ("flags", {
        "task": args.task, "iterations": args.iterations, "seed": args.seed, "engine": engine,
        "centre_agents": args.centre_agents, "nes": {"population": args.population}})))


def _profile(args) -> None:
    """cProfile of the costliest batched job of NES iteration 0 (the population `sebench train-se` draws)."""
    from benchmark.engine import run_chunk, plan_chunks

    run = _run(args, "batched")
    centre = initial_centre(run)
    members = population(NESStrategy(centre, run.nes), run.seed, 0)
    params = np.vstack([np.repeat(centre[None], run.centre_agents, axis=0), members])
    specs = centre_specs(run, 0) + member_specs(run, 0, len(members))
    job = plan_chunks(specs, "batched", args.workers)[0]
    profiler = cProfile.Profile()
    profiler.enable()
    run_chunk("batched", run.task, [specs[i] for i in job], run.se, params[job], run.test_episodes)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
