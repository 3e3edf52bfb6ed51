"""What the batched engine's hidden-layer activation costs, and whether skipping padded units is exact (prints
figures).

    python bench/activation_cost.py

Prints nanoseconds per element of torch's tanh, relu and leaky_relu and of the K=4 `baddbmm` that feeds the first
hidden layer (a lockstep group's shape: 16 rows, 171 hidden units, 300 minibatch slots), the cost of one more
in-place call on a small slice, and whether each activation gives an element the same bits wherever it sits
(slices at every offset, strided views, in place). `BatchedMLP` takes its constants ACTIVATION_NS_PER_UNIT and
ACTIVATION_CALL_NS from these figures. Run it with the cores otherwise idle.
"""
from __future__ import annotations

import time

import torch

from benchmark.agents.lockstep.core import ACTIVATION_INPLACE
from benchmark.nets import ACTIVATION_FNS


def best_seconds(fn, repeats: int = 20, inner: int = 10) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def position_independent(name: str) -> bool:
    """The activation of each element is the same bits in slices at any offset, in strided views and in place."""
    x = torch.randn(200_003, generator=torch.Generator().manual_seed(0)) * 3
    act, full = ACTIVATION_FNS[name], ACTIVATION_FNS[name](x)
    same = all(torch.equal(act(x[o:o + n]), full[o:o + n]) for o in range(40) for n in (1, 7, 8, 9, 17, 33, 1001))
    grid = x[:200_000].view(400, 500)
    same &= torch.equal(act(grid[:, :333]), full[:200_000].view(400, 500)[:, :333])
    inplace = x.clone()
    ACTIVATION_INPLACE[name](inplace[5:1234])
    return same and torch.equal(inplace[5:1234], full[5:1234])


def main() -> None:
    torch.set_num_threads(1)
    m, hidden, slots, inputs = 16, 171, 300, 4
    z = torch.randn(m, hidden, slots)
    w, b, x = torch.randn(m, hidden, inputs), torch.randn(m, hidden), torch.randn(m, slots, inputs).transpose(1, 2)
    per_elem = lambda s: s * 1e9 / z.numel()  # noqa: E731
    print(f"baddbmm (K={inputs}): {per_elem(best_seconds(lambda: torch.baddbmm(b[:, :, None], w, x))):.2f} ns/element")
    small = torch.randn(m, hidden, 8)
    for name, act in ACTIVATION_FNS.items():
        call = best_seconds(lambda: ACTIVATION_INPLACE[name](small[3:4, :50]), inner=200)
        print(f"{name:10s} {per_elem(best_seconds(lambda: act(z))):.2f} ns/element; one in-place call on 400 elements "
              f"{call * 1e6:.2f} us; same bits at any position: {position_independent(name)}")


if __name__ == "__main__":
    main()
