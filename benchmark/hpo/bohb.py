"""`SweepBOHB`: hpbandster's BOHB master with the fixes of `benchmark.hpo.compat` (plain budgets and configurations,
resume numbering, a no-worker watchdog, a wall-clock limit, a safe shutdown), and `StoppableSH`, the successive
halving it runs. Import it where a sweep starts: importing it imports hpbandster's optimiser stack and installs
`compat.guard_dispatcher()`.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import Pyro4
from hpbandster.optimizers.bohb import BOHB
from hpbandster.optimizers.iterations import SuccessiveHalving

from benchmark.hpo.compat import (DoneIteration, SweepAborted, budgets, check_space, dispatcher_thread_alive,
                                  guard_dispatcher, hp_logger, plain, release_owned)

guard_dispatcher()


class SweepBOHB(BOHB):
    """BOHB with plain budgets/configurations, resume numbering, a no-worker watchdog and a safe shutdown.

    first_iteration: index of the first new SH iteration (after the logged ones when resuming).
    worker_wait: seconds without any live worker after which run() raises SweepAborted (None: never).
    start_grace: seconds after which run() starts with fewer than min_n_workers workers (at least one).
    time_limit: seconds, counted from when the workers are there (see wait_for_workers), after which no new job
        is submitted; run() returns once the jobs running then have finished (and been logged). None: no limit.
    deadline: the same as an absolute time.monotonic() instant (a caller whose budget started before run());
        give one of the two. The check comes before a configuration is sampled and dispatched, so a job decided
        on just before the limit reaches its worker a sampling and a Pyro round trip later.
    """

    def __init__(self, configspace, *, min_budget, max_budget, eta, first_iteration: int = 0,
                 worker_wait: float | None = None, start_grace: float | None = 120.0,
                 time_limit: float | None = None, deadline: float | None = None, **kwargs):
        if time_limit is not None and deadline is not None:
            raise ValueError("give time_limit or deadline, not both")
        check_space(configspace)  # refuse bad input before hpbandster starts its (non-daemon) threads
        plain_budgets = budgets(min_budget, max_budget, eta)
        kwargs.setdefault("logger", hp_logger("master"))
        super().__init__(configspace=configspace, eta=eta, min_budget=min_budget, max_budget=max_budget, **kwargs)
        self.budgets = plain_budgets
        self.max_SH_iter = len(self.budgets)
        self.config.update(budgets=list(self.budgets), max_SH_iter=self.max_SH_iter, min_budget=float(min_budget),
                           max_budget=float(max_budget), eta=float(eta))
        self.iterations = [DoneIteration() for _ in range(first_iteration)]
        self.worker_wait = worker_wait
        self.start_grace = start_grace
        self.time_limit = time_limit
        self._deadline: float | None = deadline  # absolute (time.monotonic()); time_limit sets it in _start_clock
        self._time_up_logged = False
        self._abort_reason: str | None = None
        self._watchdog_stop = threading.Event()

    # -- plain values only -------------------------------------------------------------------------
    def time_up(self) -> bool:
        up = self._deadline is not None and time.monotonic() >= self._deadline
        if up and not self._time_up_logged:
            self._time_up_logged = True
            self.logger.warning("time limit reached: no new jobs; waiting for the %d running", self.num_running_jobs)
        return up

    def get_next_iteration(self, iteration, iteration_kwargs={}):
        if self.time_up():
            return DoneIteration()
        s = self.max_SH_iter - 1 - (iteration % self.max_SH_iter)
        n0 = int(np.floor(self.max_SH_iter / (s + 1)) * self.eta ** s)
        ns = [max(int(n0 * self.eta ** (-i)), 1) for i in range(s + 1)]
        sampler = self.config_generator.get_config

        def plain_sampler(budget):
            config, info = sampler(budget)
            return plain(dict(config)), plain(info)

        return StoppableSH(self.time_up, HPB_iter=iteration, num_configs=ns, budgets=self.budgets[(-s - 1):],
                            config_sampler=plain_sampler, logger=self.logger, **iteration_kwargs)

    def _submit_job(self, config_id, config, budget):
        super()._submit_job(plain(config_id), plain(config), plain(budget))

    # -- never wait forever --------------------------------------------------------------------------
    def abort(self, reason: str) -> None:
        """Make run() raise SweepAborted(reason) (callable from any thread)."""
        self._abort_reason = reason
        with self.thread_cond:
            self.thread_cond.notify_all()

    def _check_abort(self):
        if self._abort_reason is not None:
            raise SweepAborted(self._abort_reason)

    def wait_for_workers(self, min_n_workers=1):
        """Wait for min_n_workers; after start_grace seconds, start with the workers there are (at least one);
        the watchdog aborts if none comes within worker_wait."""
        start = time.monotonic()
        with self.thread_cond:
            while True:
                n = self.dispatcher.number_of_workers()
                if n >= min_n_workers:
                    return self._start_clock()
                waited = time.monotonic() - start
                if n >= 1 and self.start_grace is not None and waited >= self.start_grace:
                    self.logger.warning("starting with %d of %d workers after %.0f s", n, min_n_workers, waited)
                    return self._start_clock()
                self._check_abort()
                self.thread_cond.wait(1)
                self.dispatcher.trigger_discover_worker()

    def _queue_wait(self):
        self._check_abort()
        super()._queue_wait()
        self._check_abort()

    def active_iterations(self):
        self._check_abort()
        if self.time_up() and self.num_running_jobs == 0:
            return []  # ends run(): nothing running, nothing new to start
        return super().active_iterations()

    def _watchdog(self):
        since, warned = None, 0.0
        while not self._watchdog_stop.wait(1.0):
            if self.dispatcher.number_of_workers() > 0:
                since, warned = None, 0.0
                continue
            now = time.monotonic()
            since = now if since is None else since
            idle = now - since
            if self.worker_wait is not None and idle >= self.worker_wait:
                self.abort(f"no hpbandster worker alive for {idle:.0f} s (worker_wait={self.worker_wait:g} s); "
                           "finished results are in the logs: start workers and rerun with --resume")
                return
            if idle - warned >= 60:
                warned = idle
                self.logger.warning("no worker alive for %.0f s: the sweep waits (start `sebench hpo worker`)", idle)

    def _start_clock(self) -> None:
        """time_limit counts from here: the workers are there and the first job can be handed out."""
        if self.time_limit is not None and self._deadline is None:
            self._deadline = time.monotonic() + self.time_limit

    def run(self, n_iterations=1, min_n_workers=1, iteration_kwargs=None):
        watchdog = threading.Thread(target=self._watchdog, name="sebench-hpo-watchdog", daemon=True)
        watchdog.start()
        try:
            return super().run(n_iterations=n_iterations, min_n_workers=min_n_workers,
                               iteration_kwargs=dict(iteration_kwargs or {}))
        finally:
            self._watchdog_stop.set()
            release_owned(self.thread_cond)

    # -- shutdown that never raises or hangs ---------------------------------------------------------
    def shutdown(self, shutdown_workers=False, timeout: float = 30.0):
        dispatcher = self.dispatcher
        if shutdown_workers:
            with dispatcher.discover_cond:
                for worker in list(dispatcher.worker_pool.values()):
                    try:
                        worker.shutdown()
                    except Pyro4.errors.PyroError as err:
                        self.logger.info("worker %s gone already (%s)", worker.name, err)
        deadline = time.monotonic() + timeout
        while not hasattr(dispatcher, "pyro_daemon") and dispatcher_thread_alive(self) \
                and time.monotonic() < deadline:
            time.sleep(0.05)  # the dispatcher thread is still starting its daemon
        if hasattr(dispatcher, "pyro_daemon"):
            with dispatcher.runner_cond:
                dispatcher.pyro_daemon.shutdown()
        self.dispatcher_thread.join(max(0.0, deadline - time.monotonic()))
        if self.dispatcher_thread.is_alive():
            self.logger.warning("the dispatcher thread did not stop within %.0f s", timeout)

class StoppableSH(SuccessiveHalving):
    """Successive halving that hands out no further run once `stop()` is true.

    stop() is asked once per call from the master, not again in hpbandster's own recursive call after it has
    sampled (and logged) a new configuration: otherwise a deadline passing while the configuration is sampled
    would leave it logged in configs.json but never run.
    """

    def __init__(self, stop, **kwargs):
        super().__init__(**kwargs)
        self._stop = stop
        self._inside = False

    def get_next_run(self):
        if self._inside:
            return super().get_next_run()
        if self._stop():
            return None
        self._inside = True
        try:
            return super().get_next_run()
        finally:
            self._inside = False
