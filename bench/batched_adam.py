"""Milliseconds per BatchedAdam step, the in-place form against the out-of-place form of the same formula, and
whether both give the same floats (prints figures).

    python bench/batched_adam.py

Rows x parameters: (10, 300,000) is a discrete-TD3 critic pair of 2 x 340 units, (16, 20,000) a lockstep group
of DDQN members; `mask 0.5`: every other row updates (delayed actor updates, rows that stopped).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from benchmark.agents.lockstep.core import ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ADAM_V_FLOOR, BatchedAdam


class OutOfPlaceAdam(BatchedAdam):
    """The earlier form: every operation allocates its result."""

    def step(self, theta, grad, mask):
        self.steps[mask] += 1
        steps = np.maximum(self.steps, 1)
        step_size = torch.from_numpy((self.lr / (1.0 - ADAM_BETA1 ** steps)).astype(np.float32))[:, None]
        bc2_sqrt = torch.from_numpy(np.sqrt(1.0 - ADAM_BETA2 ** steps).astype(np.float32))[:, None]
        new_m = self.m.lerp(grad, 1.0 - ADAM_BETA1)
        new_v = self.v * ADAM_BETA2 + (1.0 - ADAM_BETA2) * grad * grad
        new_theta = theta - step_size * new_m / (new_v.clamp_min(ADAM_V_FLOOR).sqrt() / bc2_sqrt + ADAM_EPS)
        if mask.all():
            self.m, self.v = new_m, new_v
            return new_theta
        col = torch.from_numpy(mask)[:, None]
        self.m, self.v = torch.where(col, new_m, self.m), torch.where(col, new_v, self.v)
        return torch.where(col, new_theta, theta)


def main(reps: int = 30) -> None:
    torch.set_num_threads(1)
    for rows, size in ((10, 300_000), (16, 20_000), (8, 60_000)):
        g = torch.Generator().manual_seed(0)
        theta0 = torch.randn(rows, size, generator=g)
        grads = [torch.randn(rows, size, generator=g) * 1e-2 for _ in range(5)]
        lr = np.linspace(1e-4, 1e-3, rows)
        for share in (1.0, 0.5):
            masks = [np.ones(rows, bool) if share == 1 else (np.arange(rows) + k) % 2 == 0 for k in range(5)]
            ms, final = {}, {}
            for cls in (OutOfPlaceAdam, BatchedAdam):
                theta, adam = theta0.clone(), cls(theta0, lr)
                start = time.perf_counter()
                for r in range(reps):
                    theta = adam.step(theta, grads[r % 5], masks[r % 5])
                ms[cls] = (time.perf_counter() - start) / reps * 1e3
                final[cls] = (theta, adam.m, adam.v)
            same = all(torch.equal(a, b) for a, b in zip(final[OutOfPlaceAdam], final[BatchedAdam]))
            print(f"{rows:3d} rows x {size:7,d}  mask {share}: out-of-place {ms[OutOfPlaceAdam]:7.2f} ms  in place "
                  f"{ms[BatchedAdam]:7.2f} ms  ({ms[OutOfPlaceAdam] / ms[BatchedAdam]:.2f}x)  same floats: {same}")


if __name__ == "__main__":
    main()
