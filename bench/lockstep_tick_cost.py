"""Seconds per lockstep DDQN tick over a grid of batch shapes, and the fitted cost model (prints figures).

    python bench/lockstep_tick_cost.py [--ticks 200]

The batched engine splits members with varied hyperparameters into lockstep groups (`benchmark.engine.
partition_by_cost`); each group pads every member to its largest hidden size and layer count, and lays the
minibatches out in rows (`benchmark.agents.lockstep.core.BatchLayout`). This script times ticks of M identical
members (CartPole-v0, on an initial SE, learning from the first tick) and fits

    seconds per tick = overhead + elem * S*H*L + mac * S*H^2*(L-1) + slot * S

by non-negative least squares (S = M*B minibatch slots, H hidden size, L hidden layers). Paste the printed
constants into `benchmark/engine.py` when the machine changes. Run it with the cores otherwise idle.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

import numpy as np
import torch
from scipy.optimize import nnls

from benchmark.agents.common import AgentSpec
from benchmark.agents.ddqn import DDQNConfig
from benchmark.agents.lockstep.ddqn import DDQNLockstep
from benchmark.allocator import retain_freed_memory
from benchmark.engine import cost_features
from benchmark.envs.synthetic import BatchedSE, SEConfig, initial_se_parameters
from benchmark.envs.tasks import get_task


def tick_seconds(m: int, layers: int, hidden: int, batch: int, ticks: int) -> float:
    """Mean seconds per tick of m members with this shape, every member learning."""
    task, se = get_task("CartPole-v0"), SEConfig()
    config = dataclasses.replace(DDQNConfig(), hidden_layers=layers, hidden_size=hidden, batch_size=batch,
                                 init_episodes=0)
    params = initial_se_parameters(task, se, 0)[None].repeat(m, 1)
    trainer = DDQNLockstep(task, BatchedSE(task, se, params), [AgentSpec(config, s) for s in range(m)], None)
    for _ in range(20):  # warm-up (and a filled replay)
        trainer.tick()
    start = time.perf_counter()
    for _ in range(ticks):
        trainer.tick()
    return (time.perf_counter() - start) / ticks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    retain_freed_memory()  # as the engine's workers do
    rows, secs = [], []
    for m, layers, hidden, batch in itertools.product((1, 4, 12), (1, 2), (20, 60, 170), (66, 200, 600)):
        s = tick_seconds(m, layers, hidden, batch, args.ticks)
        rows.append(cost_features(m * batch, layers, hidden))
        secs.append(s)
        print(f"M={m:2d} L={layers} H={hidden:3d} B={batch:3d}  {s * 1e3:7.3f} ms/tick", flush=True)
    a, y = np.array(rows), np.array(secs)
    coef, _ = nnls(a / y[:, None], np.ones_like(y))  # relative error: small and large ticks weigh alike
    pred = a @ coef
    print("fitted (seconds): overhead, elem, mac, slot =", ", ".join(f"{c:.3g}" for c in coef))
    print(f"median |relative error| {np.median(np.abs(pred / y - 1)):.1%}, max {np.max(np.abs(pred / y - 1)):.1%}")


if __name__ == "__main__":
    main()
