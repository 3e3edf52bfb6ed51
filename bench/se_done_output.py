"""What an SE's done output does: episode lengths and done outputs under random actions and under a simple
balancing controller, next to the real task's (prints figures; CartPole-v0 SEs).

    python bench/se_done_output.py --ses results/zoo/CartPole-v0/paper_transfer_v3/se_00{0,1,2} --episodes 100

On the real task random actions end an episode after about 22 steps and the controller (push toward the side the
pole falls to) keeps it up for the 200-step limit. An SE whose done output encodes failure ends random episodes
early too; one whose done output stays below 0.5 runs every episode to the limit (each then costs an agent 200
steps). With the raw done (the paper_transfer recipe) the done output is also the agents' TD discount
(1 - done): its mean says how much it shortens their horizon.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmark.envs.synthetic import load_se
from benchmark.envs.tasks import get_task


def controller(obs: np.ndarray, rng: np.random.Generator) -> int:
    """Push toward the side the pole is falling to (angle + angular velocity)."""
    return int(obs[2] + obs[3] > 0)


def random_action(obs: np.ndarray, rng: np.random.Generator) -> int:
    return int(rng.integers(2))


def rollouts(env, policy, episodes: int, seed: int) -> dict:
    """Episode lengths and every step's done output (info["td_done"] of an SE with the raw done; NaN otherwise)."""
    rng = np.random.default_rng(seed)
    lengths, dones = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        for t in range(1, 10_000):
            obs, _, terminated, truncated, info = env.step(policy(obs, rng))
            dones.append(info.get("td_done", np.nan))
            if terminated or truncated:
                break
        lengths.append(t)
    dones = np.asarray(dones, dtype=float)
    return {"length": float(np.mean(lengths)), "length_min": int(np.min(lengths)),
            "done_mean": float(np.nanmean(dones)) if np.isfinite(dones).any() else np.nan,
            "done_p90": float(np.nanpercentile(dones, 90)) if np.isfinite(dones).any() else np.nan,
            "ended_early": float(np.mean(np.asarray(lengths) < 200))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ses", type=Path, nargs="+", required=True, help="SE folders (se.json, se.safetensors)")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    envs = [("real CartPole-v0", get_task("CartPole-v0").make())] + [(str(p), load_se(p)) for p in args.ses]
    print("| environment | policy | mean episode length (min) | episodes ended before 200 | done output: mean, "
          "90th percentile |")
    print("|---|---|---|---|---|")
    for name, env in envs:
        for label, policy in (("random", random_action), ("controller", controller)):
            r = rollouts(env, policy, args.episodes, args.seed)
            done = "" if np.isnan(r["done_mean"]) else f"{r['done_mean']:.3f}, {r['done_p90']:.3f}"
            print(f"| {name} | {label} | {r['length']:.1f} ({r['length_min']}) | {100 * r['ended_early']:.0f}% | "
                  f"{done} |")


if __name__ == "__main__":
    main()
