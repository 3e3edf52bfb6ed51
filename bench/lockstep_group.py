"""Train one lockstep DDQN group with varied hyperparameters on the real task; print its wall time and a digest
of everything it learned (prints figures).

    python bench/lockstep_group.py [--members 8] [--episodes 60] [--seed 3] [--repeats 3]

For changes meant to cut overhead without touching the arithmetic: run it before and after (for example from
a `git worktree` of the old commit, with PYTHONPATH pointing there), interleaved, with the cores otherwise idle.
The digests must be equal (bit for bit the same weights and training returns); the wall times are the speed-up.
Sampled batch sizes differ, so the group's minibatches are laid out in rows (`BatchLayout`).
"""
from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np
import torch

from benchmark.agents.common import AgentSpec
from benchmark.agents.ddqn import DDQNConfig
from benchmark.agents.lockstep.ddqn import train_batched
from benchmark.agents.sampling import sample_configs
from benchmark.allocator import retain_freed_memory
from benchmark.envs.tasks import BatchedTask
from benchmark.envs.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=60, help="episode limit per member")
    parser.add_argument("--seed", type=int, default=3, help="seed of the sampled hyperparameters")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    retain_freed_memory()
    task = get_task("CartPole-v0")
    configs = sample_configs(DDQNConfig(max_episodes=args.episodes), args.members, seed=args.seed)
    specs = [AgentSpec(c, i) for i, c in enumerate(configs)]
    for _ in range(args.repeats):
        start = time.perf_counter()
        results, q = train_batched(task, BatchedTask(task, args.members), specs, solved=task.solved)
        wall = time.perf_counter() - start
        digest = hashlib.sha256(q.theta.numpy().tobytes())
        for r in results:
            digest.update(np.asarray(r.returns, dtype=np.float64).tobytes())
        steps = sum(r.steps for r in results)
        print(f"digest {digest.hexdigest()[:16]}  steps {steps}  wall {wall:.2f} s  "
              f"({steps / wall:,.0f} agent-steps/s)")


if __name__ == "__main__":
    main()
