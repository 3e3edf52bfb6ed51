"""Parallelism behind one interface: a concurrent.futures.Executor (serial, local processes, or a
dask.distributed cluster)."""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Iterator

from benchmark.errors import ConfigError


class SerialExecutor(Executor):
    """Runs each job at submit time in this process (debugging, determinism checks). A job's error is handed to
    the caller through its future, as a pool would; Ctrl-C and SIGTERM (KeyboardInterrupt) propagate at once, as
    they do in a pool's caller, instead of waiting in a future while the later jobs of the call run."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future


def die_with_parent(sig: int, parent_pid: int | None = None) -> None:
    """On Linux, have this process sent `sig` when its parent dies (no orphans). Called in the child itself, not
    in a `preexec_fn` (which runs the parent's at-fork hooks and is unsafe with threads); if `parent_pid` is given
    and the parent is already gone, `sig` is sent at once."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


def _init_worker() -> None:
    """One torch thread per worker, killed when its parent dies."""
    import signal

    import torch
    torch.set_num_threads(1)
    die_with_parent(signal.SIGKILL)


class WorkerDied(RuntimeError):
    """A job's worker process died on every try (killed, out of memory, a crash in native code)."""


class RestartingProcessPool(Executor):
    """Local worker processes (spawned, one torch thread each) that survive a dead worker.

    When a worker process dies, every job that was in flight fails in the underlying ProcessPoolExecutor; here the
    pool is replaced and those jobs are resubmitted (the jobs are pure functions of their arguments, so a retried
    job returns what it would have). A job that has seen `retries` restarts fails with WorkerDied, an ordinary
    exception that runners record as that job's failure. Each restart is reported on stderr and counted in
    `restarts`.
    """

    def __init__(self, workers: int, retries: int = 2):
        self.workers, self.retries, self.restarts = workers, retries, 0
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._closed = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker)

    @property
    def processes(self) -> list:
        """The current worker processes (multiprocessing.Process)."""
        return list((self._pool._processes or {}).values())

    def submit(self, fn, /, *args, **kwargs) -> Future:
        outer: Future = Future()
        self._submit(outer, 0, fn, args, kwargs)
        return outer

    def _submit(self, outer: Future, tries: int, fn, args, kwargs) -> None:
        with self._lock:
            pool = self._pool
        try:
            inner = pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool as err:  # broke between our check and this submit: handled as a failed job
            inner = Future()
            inner.set_exception(err)
        inner.add_done_callback(lambda done: self._settle(outer, done, pool, tries, fn, args, kwargs))

    def _settle(self, outer: Future, inner: Future, pool, tries: int, fn, args, kwargs) -> None:
        if outer.cancelled():
            return
        if inner.cancelled():
            outer.cancel()
            return
        error = inner.exception()
        if not isinstance(error, BrokenProcessPool) or self._closed:
            if error is None:
                outer.set_result(inner.result())
            else:
                outer.set_exception(error)
            return
        if tries >= self.retries:
            outer.set_exception(WorkerDied(f"{getattr(fn, '__name__', fn)}: its worker process died on each of "
                                           f"{tries + 1} tries ({error})"))
            return
        with self._lock:
            if self._pool is pool:  # the first of the failed jobs replaces the pool
                self.restarts += 1
                print(f"sebench: a worker process died ({error}); restarted the worker pool "
                      f"(restart {self.restarts}) and resubmitting its jobs", file=sys.stderr, flush=True)
                self._pool = self._new_pool()
                pool.shutdown(wait=False)
        self._submit(outer, tries + 1, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self) -> None:
        """Stop at once: cancel queued jobs and end the worker processes mid-job."""
        processes = self.processes  # read before shutdown, which forgets them
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()


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
    (in this process), more: a local process pool that restarts dead workers (RestartingProcessPool)."""
    if scheduler:
        return DaskExecutor(scheduler)
    if workers <= 1:
        return SerialExecutor()
    return RestartingProcessPool(workers)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def shutdown_now(executor: Executor) -> None:
    """Stop at once (error or Ctrl-C): cancel queued jobs and end local worker processes mid-job."""
    if isinstance(executor, RestartingProcessPool):
        executor.terminate()
    else:
        executor.shutdown(wait=False, cancel_futures=True)


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
