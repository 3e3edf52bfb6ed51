"""Real-task test return of agents trained on one SE for a fixed number of episodes instead of until the 1% rule
stops them: is an agent kind's poor transfer the SE's doing or its stopping rule's? (prints figures)

    python bench/se_training_length.py --se results/zoo/CartPole-v0/varied_hp_v2/se_000 --agent td3_discrete \
        --episodes 0,100

The agents are the transfer protocol's (`cell_specs` of --env-index: its sampled hyperparameters and seeds, so with
the SE's index in its set the first row repeats the protocol's cell); `0` in --episodes keeps the paper's 1% rule
(max 1000 episodes). --curves K also prints the first K agents' training returns, episode by episode (how fast
the SE's returns settle decides when the 1% rule stops an agent).
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from benchmark.engine import train_and_test
from benchmark.envs.synthetic import load_se
from benchmark.nets import flat_parameters
from benchmark.parallel import SerialExecutor
from benchmark.protocol import ProtocolConfig, cell_specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--se", type=Path, required=True, help="an SE folder (se.json, se.safetensors)")
    ap.add_argument("--agent", default="td3_discrete")
    ap.add_argument("--agents", type=int, default=10, help="agents per row (the protocol's agents-per-env)")
    ap.add_argument("--env-index", type=int, default=0, help="whose agents: the protocol's env index (0-based)")
    ap.add_argument("--episodes", default="0,100", help="training episodes per row; 0: the 1%% rule")
    ap.add_argument("--test-episodes", type=int, default=10)
    ap.add_argument("--curves", type=int, default=0, help="print the training returns of this many agents per row")
    args = ap.parse_args()
    env = load_se(args.se)
    params = flat_parameters(env.net).double().numpy()
    protocol = ProtocolConfig(task=env.task.name, agents=(args.agent,), agents_per_env=args.agents)
    specs = cell_specs(protocol, args.agent, args.env_index)
    print(f"{args.agent} on {args.se} ({env.task.name}), {args.agents} agents of the protocol's env "
          f"{args.env_index}")
    for episodes in (int(e) for e in args.episodes.split(",")):
        rows = specs if episodes == 0 else [
            dataclasses.replace(s, config=dataclasses.replace(s.config, max_episodes=episodes,
                                                              early_out_virtual_diff=0.0)) for s in specs]
        start = time.perf_counter()
        outcomes = train_and_test(env.task.name, rows, env.config, np.repeat(params[None], len(rows), axis=0),
                                  args.test_episodes, "batched", SerialExecutor(), 1)
        tests = np.array([o.fitness for o in outcomes])
        steps = np.array([o.train.steps for o in outcomes])
        label = "1% rule" if episodes == 0 else f"{episodes} episodes"
        print(f"{label:>14s}: test return {tests.mean():6.1f} ± {tests.std(ddof=1):5.1f}  solved "
              f"{(tests >= env.task.solved).mean():4.0%}  train steps {steps.mean():8,.0f}  "
              f"({time.perf_counter() - start:.0f} s)  per agent {np.round(tests, 1).tolist()}", flush=True)
        for i, outcome in enumerate(outcomes[:args.curves]):
            lengths = sorted(set(outcome.train.lengths))
            print(f"    agent {i}: {outcome.train.episodes} episodes (lengths {lengths[0]}-{lengths[-1]}), returns "
                  + " ".join(f"{r:.0f}" for r in outcome.train.returns))


if __name__ == "__main__":
    main()
