"""Run a list of independent jobs ("cells") through an Executor, writing each result as soon as it is known.

Used by every resumable runner (transfer protocol, proxy study, RN evaluation): a finished cell is written at
once, so a killed run resumes without redoing it; a cell whose job raised is recorded (with its error) in a
failures file and reruns on --resume, never turned into a score.
"""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from benchmark import io
from benchmark.parallel import SerialExecutor

Cell = TypeVar("Cell")


def run_cells(executor: Executor, cells: Iterable[Cell], submit: Callable[[Cell], Future],
              write: Callable[[Cell, object], None], name: Callable[[Cell], str], failures_path: Path,
              workers: int, on_done: Callable[[], None] = lambda: None) -> dict[str, str]:
    """Submit cells keeping at most 2 x workers in flight (one at a time on a SerialExecutor, so each result is
    written before the next cell starts); write every result as it arrives. Returns the failures by cell name
    (also in failures_path, which is removed when there are none). A dead worker pool or an interrupt raises."""
    window = 1 if isinstance(executor, SerialExecutor) else max(2, 2 * workers)
    failures = io.read_json(failures_path) if Path(failures_path).exists() else {}
    queue = iter(cells)
    pending: dict[Future, Cell] = {}

    def fill() -> None:
        for cell in queue:
            pending[submit(cell)] = cell
            if len(pending) >= window:
                return

    fill()
    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            cell = pending.pop(future)
            error = future.exception()
            if error is not None and (not isinstance(error, Exception) or isinstance(error, BrokenProcessPool)):
                raise error
            if error is not None:
                failures[name(cell)] = f"{type(error).__name__}: {error}"
                io.write_json(failures_path, failures)
                continue
            failures.pop(name(cell), None)
            write(cell, future.result())
            on_done()
        fill()
    if failures:
        io.write_json(failures_path, failures)
    else:
        Path(failures_path).unlink(missing_ok=True)
    return failures
