"""Parallelism behind one interface: a concurrent.futures.Executor (serial, local processes, or a
dask.distributed cluster)."""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator

from benchmark.errors import ConfigError


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


class DaskExecutor(Executor):
    """Jobs on a dask.distributed cluster (`Client(scheduler).get_executor()`); shutting it down closes the client.

    The cluster's workers must have sebench installed (they import the job functions by name).
    """

    def __init__(self, scheduler: str):
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("scheduler: dask.distributed is not installed; pip install 'sebench[dask]'") from None
        try:
            self.client = Client(scheduler, timeout="30s", set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"scheduler={scheduler!r}: cannot connect to a dask scheduler ({err})") from None
        self._executor = self.client.get_executor(pure=False)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait and not cancel_futures)  # wait=False cancels the cluster's futures
        self.client.close()


def make_executor(workers: int, scheduler: str | None = None) -> Executor:
    """scheduler given (e.g. tcp://HOST:8786): the dask.distributed cluster there; else workers <= 1: serial
    (in this process), more: a local process pool (spawned, one torch thread each)."""
    if scheduler:
        return DaskExecutor(scheduler)
    if workers <= 1:
        return SerialExecutor()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def shutdown_now(executor: Executor) -> None:
    """Stop at once (error or Ctrl-C): cancel queued jobs and end local worker processes mid-job."""
    processes = list((getattr(executor, "_processes", None) or {}).values())  # ProcessPoolExecutor only;
    executor.shutdown(wait=False, cancel_futures=True)  # read before shutdown, which forgets them
    for process in processes:
        process.terminate()


@contextmanager
def executor_scope(executor: Executor | None, workers: int, scheduler: str | None = None) -> Iterator[Executor]:
    """`executor` as given (the caller owns it), or a new one (make_executor) owned by this scope: shut down at
    once (queued jobs cancelled, workers ended) on an error or Ctrl-C, after its jobs otherwise."""
    if executor is not None:
        yield executor
        return
    owned = make_executor(workers, scheduler)
    try:
        yield owned
    except BaseException:
        shutdown_now(owned)
        raise
    else:
        owned.shutdown()
