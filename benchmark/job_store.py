"""Finished jobs of an unfinished NES iteration, kept on disk.

An iteration's population trains in a few long jobs (an Acrobot-v1 iteration takes half an hour on 2 cores). When
a run is killed mid-iteration, the jobs that had finished are kept here, so `--resume` redoes only the others.
A job is a pure function of its inputs, so a job file is named by a digest of everything its outcomes depend on
(task, engine, agent configs and seeds, SE architecture and parameters, test episodes): a kept outcome is the
one a rerun would compute, and a file of another iteration or configuration is never matched. JSON only
(the values are Python floats, ints and bools, so they round-trip exactly).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from benchmark import io
from benchmark.agents.common import AgentOutcome, TrainResult


def job_digest(task, engine: str, specs, se_config, se_params: np.ndarray | None, test_episodes: int,
               test_on_real: bool) -> str:
    """sha256 of a job's inputs (task: a benchmark.envs.tasks.Task)."""
    described = json.dumps({
        "task": task.name, "solved": task.solved, "fast_path": task.fast, "engine": engine,
        "test_episodes": test_episodes, "test_on_real": test_on_real,
        "specs": [[type(s.config).__name__, dataclasses.asdict(s.config), s.seed] for s in specs],
        "se_config": None if se_config is None else dataclasses.asdict(se_config),
    }, sort_keys=True, default=str)
    h = hashlib.sha256(described.encode())
    if se_params is not None:
        params = np.ascontiguousarray(se_params)
        h.update(f"{params.dtype.str}{params.shape}".encode())
        h.update(params.tobytes())
    return h.hexdigest()


class JobStore:
    """Outcomes of finished jobs, one JSON file per job in `folder` (made on the first save)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, digest: str) -> Path:
        return self.folder / f"{digest[:32]}.json"

    def load(self, digest: str) -> list | None:
        """The outcomes saved for `digest`, else None."""
        path = self._path(digest)
        if not path.is_file():
            return None
        data = io.read_json(path)
        if data.get("digest") != digest:
            return None
        try:
            return [AgentOutcome(TrainResult(**o["train"]), o["test_returns"], o["test_steps"], o["wall_s"],
                                 o.get("cpu_s", float("nan"))) for o in data["outcomes"]]
        except (KeyError, TypeError):  # written by a sebench whose outcomes had other fields: run the job again
            return None

    def save(self, digest: str, outcomes: list) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        io.write_json(self._path(digest), {"digest": digest, "outcomes": [dataclasses.asdict(o) for o in outcomes]})

    def clear(self) -> None:
        """Forget every job (the iteration they belong to is checkpointed)."""
        shutil.rmtree(self.folder, ignore_errors=True)
