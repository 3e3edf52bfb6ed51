"""The NES outer loop shared by the SE and RN trainers: ask, score the centre and members, tell, record and
checkpoint every iteration; what a trainer scores and records is passed in."""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from benchmark.nes.checkpoint import RunState
from benchmark.nes.strategy import NESStrategy
from benchmark.parallel import executor_scope

if TYPE_CHECKING:
    from concurrent.futures import Executor


class Scores(NamedTuple):
    """One iteration's evaluation of the centre and the population."""

    centre: np.ndarray
    """The scores of the centre: one per agent that scored it (the centre's score is their mean)."""
    members: np.ndarray
    """One score per member, in the order of `population`."""
    real_steps: int
    """Real-environment steps the evaluation used (added to RunState.real_steps)."""
    runs: Any
    """The trainer's own records of the evaluation, for its history columns."""

    @property
    def centre_score(self) -> float:
        return float(np.mean(self.centre))


Evaluate = Callable[[int, np.ndarray, np.ndarray, "Executor"], Scores]
"""(iteration, centre params [D], member params [2P, D], executor) -> Scores."""
Columns = Callable[[Scores, dict], dict]
"""(scores, NES metrics) -> the trainer's own history columns (between utilities and real_env_steps)."""


def _history_row(it: int, scores: Scores, metrics: dict, columns: dict, wall: float, elapsed_s: float) -> dict:
    """One iteration's history row: the common columns around the trainer's own `columns`."""
    members = scores.members
    return {
        "iteration": it,
        "centre_score": scores.centre_score,
        "best_member_score": float(members.max()),
        "mean_member_score": float(members.mean()),
        "member_scores": json.dumps([round(float(f), 4) for f in members]),
        "centre_scores": json.dumps([round(float(f), 4) for f in scores.centre]),
        "utilities": json.dumps([round(float(u), 6) for u in metrics["utilities"]]),
        **columns,
        "real_env_steps": int(scores.real_steps),
        "time_s": round(wall, 3),
        "elapsed_s": round(elapsed_s, 3),
    }


def population(strategy: NESStrategy, seed: int, it: int) -> np.ndarray:
    """Iteration `it`'s members [2P, D], drawn with np.random.default_rng([seed, 0, it]) (so a resumed run
    continues as if never stopped)."""
    return strategy.ask(np.random.default_rng([seed, 0, it]))


def run_nes(run, state: RunState, evaluate: Evaluate, columns: Columns,
            checkpoint: Callable[[RunState], None], *, workers: int, executor=None, progress: bool = True,
            desc: str, score_format: str = ".1f", stop_after: int | None = None, solved_at: float | None = None,
            give_up: Callable[[list[dict]], bool] | None = None) -> RunState:
    """Continue NES from `state` until `run.iterations` (run: any config with seed, iterations and nes),
    updating `state` in place, appending a history row (common columns around `columns(scores, metrics)`) and
    calling `checkpoint(state)` after every iteration.

    Iteration `it` evaluates the centre and `population(strategy, run.seed, it)`. stop_after: end after this many
    iterations of this call. solved_at: end once the centre's score (the mean over the agents that scored it)
    reaches this (state.solved; NES does not learn from that iteration). give_up(history): checked before each
    iteration; True ends the run with state.given_up set. score_format: of the progress bar's scores.
    """
    strategy = NESStrategy(state.centre, run.nes)
    bar = tqdm(total=run.iterations, initial=state.iteration, disable=not progress, unit="it", desc=desc)
    done_here = 0
    try:
        with executor_scope(executor, workers) as pool:
            while not state.solved and state.iteration < run.iterations:
                if stop_after is not None and done_here >= stop_after:
                    break
                if give_up is not None and give_up(state.history):
                    state.given_up = True
                    break
                start = time.perf_counter()
                it = state.iteration
                members = population(strategy, run.seed, it)
                scores = evaluate(it, strategy.centre.copy(), members, pool)
                centre_score = scores.centre_score
                if centre_score > state.best_score:
                    state.best_score, state.best_centre, state.best_iteration = centre_score, strategy.centre.copy(), it
                if solved_at is not None:
                    state.solved = centre_score >= solved_at
                metrics = ({"utilities": np.zeros(len(members))} if state.solved
                           else strategy.tell(scores.members, centre_score))
                state.real_steps += scores.real_steps
                wall = time.perf_counter() - start
                state.elapsed_s += wall
                state.history.append(_history_row(it, scores, metrics, columns(scores, metrics), wall,
                                                  state.elapsed_s))
                state.iteration = it + 1
                state.centre = strategy.centre
                checkpoint(state)
                done_here += 1
                bar.update(1)
                bar.set_postfix(centre=f"{centre_score:{score_format}}", best=f"{state.best_score:{score_format}}",
                                elapsed=f"{state.elapsed_s:.0f}s")
    finally:
        bar.close()
    return state
