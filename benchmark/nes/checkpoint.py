"""An NES run's state after its last finished iteration (`RunState`), and its checkpoint: the centre and best centre
as tensors, the run config and the rest of the state as JSON metadata (`benchmark.schema.CHECKPOINT`), the history
as a CSV (`benchmark.schema.HISTORY`). Shared by the SE trainer (`benchmark.nes.trainer`) and the RN trainer
(`benchmark.rn.trainer`); `benchmark.nes.loop` updates the state every iteration."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark import io, schema
from benchmark.config_layers import describe_differences
from benchmark.errors import ConfigError

__all__ = ["RunState", "load_checkpoint", "save_checkpoint"]


@dataclass
class RunState:
    """Everything needed to continue a run after its last finished iteration."""

    iteration: int
    centre: np.ndarray
    best_centre: np.ndarray
    best_score: float
    best_iteration: int
    history: list[dict]
    elapsed_s: float
    real_steps: int
    solved: bool = False
    given_up: bool = False
    """Set when a GiveUp rule ended the run (recorded in given_up.json, not in the checkpoint)."""


def save_checkpoint(out: Path, run, state: RunState) -> None:
    """Write the checkpoint and the history of `state` into `out` (run: the run's config, anything with to_dict)."""
    meta = {"run": run.to_dict(), "state": {
        "iteration": state.iteration, "best_score": state.best_score, "best_iteration": state.best_iteration,
        "history": state.history, "elapsed_s": state.elapsed_s, "real_steps": state.real_steps,
        "solved": state.solved}}
    io.save_tensors(out / schema.CHECKPOINT, {"centre": torch.from_numpy(np.asarray(state.centre)),
                                              "best_centre": torch.from_numpy(np.asarray(state.best_centre))}, meta)
    io.write_csv(out / schema.HISTORY, pd.DataFrame(state.history))


def load_checkpoint(out: Path, run, from_dict) -> RunState | None:
    """The state of the run in `out` for --resume (None when it has no checkpoint yet).

    `from_dict` rebuilds the stored run config (RunConfig.from_dict, RNRunConfig.from_dict); a run started with
    another configuration is refused (raising the iteration limit is allowed), as is a limit below the
    iterations already done.
    """
    if not (out / schema.CHECKPOINT).exists():
        return None
    tensors, meta = io.load_tensors(out / schema.CHECKPOINT)
    if meta is None or "run" not in meta:
        raise ConfigError(f"checkpoint {out / schema.CHECKPOINT} has no run metadata")
    try:
        stored = from_dict(meta["run"])
    except (TypeError, KeyError):
        raise ConfigError(f"--resume: the checkpoint in {out} is not one of a {type(run).__name__} run") from None
    stored = dataclasses.replace(stored, iterations=run.iterations)  # raising the limit is allowed
    if stored != run:
        raise ConfigError(f"--resume: the run in {out} was started with a different configuration: "
                          f"{describe_differences(stored.to_dict(), run.to_dict())}; resume with the stored values "
                          "or start a new --out")
    s = meta["state"]
    if run.iterations < s["iteration"]:
        raise ConfigError(f"--resume: iterations={run.iterations} is below the {s['iteration']} "
                          f"iterations the run in {out} has already done")
    return RunState(s["iteration"], tensors["centre"].numpy(), tensors["best_centre"].numpy(), s["best_score"],
                    s["best_iteration"], s["history"], s["elapsed_s"], s["real_steps"], s["solved"])
