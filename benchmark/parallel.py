"""Parallelism behind one interface: a concurrent.futures.Executor (serial or local processes)."""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Executor, Future, ProcessPoolExecutor


class SerialExecutor(Executor):
    """Runs each job at submit time in this process (debugging, determinism checks)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the caller through the future, as a pool would
            future.set_exception(err)
        return future


def _init_worker() -> None:
    """One torch thread per worker; on Linux the worker is killed when its parent dies (no orphans)."""
    import torch
    torch.set_num_threads(1)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def make_executor(workers: int) -> Executor:
    """workers <= 1: serial (in this process); else a process pool (spawned, one torch thread each)."""
    if workers <= 1:
        return SerialExecutor()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def shutdown_now(executor: Executor) -> None:
    """Stop at once (error or Ctrl-C): cancel queued jobs and end local worker processes mid-job."""
    executor.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(executor, "_processes", None) or {}).values()):  # ProcessPoolExecutor only
        process.terminate()
