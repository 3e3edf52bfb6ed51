"""Compatibility fixes for hpbandster 0.7.4 (unmaintained), each tested in tests/test_hpo.py.

What goes wrong without them, and the fix here:

1. numpy scalars cross Pyro4 and the JSON logger. BOHB's budgets are np.float64; under numpy >= 2 their repr
   ("np.float64(3.0)") is what Pyro4's serpent serialiser writes, the worker cannot decode it and the job is lost
   without an error (the sweep hangs). ConfigSpace >= 1.1 hands out configurations holding numpy scalars, which
   break `json.dumps` in the result logger and serpent (np.int64 is refused outright). Fix: `plain()` turns every
   value into an exact Python builtin; `SweepBOHB` submits only plain budgets and configurations, and the
   worker and the logger make their outputs plain before they leave the process.
2. BOHB rejects Ordinal hyperparameters with a RuntimeError deep inside its constructor: `check_space` refuses
   them up front with a ConfigError naming the hyperparameter.
3. `NameServer(port=None)` binds Pyro's fixed port 9090, so two sweeps on one machine collide; hpbandster's
   NameServer also starts a broadcast responder on the fixed UDP port 9091 for non-loopback hosts and stores its
   address as a pickle. Fix: `benchmark.hpo.launch.nameserver` starts the Pyro name server itself on port 0 (a
   free port), without broadcast, and publishes host/port as JSON.
4. An exception after `NameServer.start()` or after constructing a Master leaves non-daemon threads running and
   the process never exits. Fix: context managers with try/finally shutdown (launch.py); `SweepBOHB.shutdown`
   never raises on a dead worker and joins its threads with a timeout.
5. `Worker(logger=None)` calls `logging.basicConfig(level=DEBUG)`: the root logger turns DEBUG for the whole
   process. Fix: every hpbandster object gets an explicit logger (`logger()` below).
6. A dead worker's job is recorded as crashed by the dispatcher's ping loop ('Worker died unexpectedly.'), but
   if *every* worker is gone the master waits forever. Fix: `SweepBOHB(worker_wait=S)` aborts the sweep with
   `SweepAborted` when no worker has been alive for S seconds (warning every minute meanwhile).
7. Resuming (`previous_result`) crashes on any crashed job in the logs (its loss is None, BOHB calls
   np.isfinite(None)), and new config ids restart at iteration 0 so they collide with the logged ones in
   configs.json. Fix: `previous_result()` maps crashed runs to an infinite loss (what BOHB assigns to crashes
   anyway) and `SweepBOHB(first_iteration=k)` numbers the new iterations after the logged ones.
8. BOHB computes the number of budgets as -int(log(min/max)/log(eta)) + 1, which float error can make one too
   small (min_budget 0.01, max_budget 466.56 = 0.01 * 6^6, eta 6: 6 budgets, not 7); `budgets()` rounds with a
   tolerance and returns plain floats.
9. The json result logger raises if a value is not JSON-serialisable, inside the dispatcher's callback thread:
   the result is lost and the master waits forever. `ResultLogger` never raises: values are made plain and
   anything else is logged by its repr.
10. hpbandster has no wall-clock budget: `SweepBOHB(time_limit=S)` submits no new job after S seconds and
    returns once the running jobs are logged.
11. The dispatcher's job-runner thread dies if handing a job to a worker fails (a worker killed while idle):
    no job is ever dispatched again and the master waits forever. `guard_dispatcher()` makes that call log the
    failure instead; the job stays assigned to the dead worker, whose job the next ping records as lost.
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import numpy as np

from benchmark.errors import ConfigError

LOGGER_NAME = "sebench.hpo"


def logger(name: str = "") -> logging.Logger:
    """sebench's own hpo logger."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def hp_logger(name: str) -> logging.Logger:
    """An explicit logger for an hpbandster object (never None, so hpbandster never touches the root logger);
    under 'hpbandster', so its chatter follows that logger's level."""
    return logging.getLogger(f"hpbandster.sebench.{name}")


def plain(obj):
    """obj with every value an exact Python builtin (bool, int, float, str, None, list, tuple, dict).

    numpy scalars and arrays and subclasses of int/float/str (np.float64 is a float subclass whose repr under
    numpy >= 2 is not a float literal) are converted; anything else raises TypeError.
    """
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, (str, np.str_)):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(plain(v) for v in obj)
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not a plain value: {type(obj).__name__} {obj!r}")


def check_space(space) -> None:
    """Refuse what hpbandster's BOHB cannot handle: Ordinal hyperparameters."""
    from ConfigSpace.hyperparameters import OrdinalHyperparameter

    for hp in space.values():
        if isinstance(hp, OrdinalHyperparameter):
            raise ConfigError(f"hyperparameter {hp.name!r} is Ordinal, which BOHB (hpbandster 0.7.4) does not support; "
                              "encode it as an Integer or a Categorical")
    if len(space) == 0:
        raise ConfigError("the search space has no hyperparameters")


def budgets(min_budget: float, max_budget: float, eta: float) -> list[float]:
    """The successive-halving budgets max_budget * eta^-k, smallest first, as plain floats."""
    if not (min_budget > 0 and max_budget >= min_budget):
        raise ConfigError(f"budgets: need 0 < min_budget <= max_budget, got min_budget={min_budget}, "
                          f"max_budget={max_budget}")
    if not eta > 1:
        raise ConfigError(f"eta={eta} is out of range; allowed: (1, inf), typically 2 or 3")
    n = int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)) + 1
    return [float(f"{max_budget * eta ** -k:.12g}") for k in range(n - 1, -1, -1)]


class ResultLogger:
    """hpbandster's json_result_logger format (configs.json, results.json; one JSON list per line), so
    `hpbandster.core.result.logged_results_to_HBS_result(directory)` loads it, but: appends when resuming,
    writes each line with one call, and never raises in the dispatcher's callback thread."""

    def __init__(self, directory: Path, resume: bool = False):
        self.directory = Path(directory)
        self.config_fn = self.directory / "configs.json"
        self.results_fn = self.directory / "results.json"
        self.directory.mkdir(parents=True, exist_ok=True)
        if not resume and (self.config_fn.exists() or self.results_fn.exists()):
            raise ConfigError(f"{self.directory} already holds a sweep (configs.json/results.json); pass --resume "
                              "to continue it or choose another directory")
        if resume:
            for fn in (self.config_fn, self.results_fn):
                drop_partial_line(fn)
        self.config_fn.touch()
        self.results_fn.touch()
        self.config_ids: set = set()
        self._log = logger("results")

    @staticmethod
    def _line(record) -> str:
        try:
            return json.dumps(plain(record))
        except (TypeError, ValueError):
            return json.dumps(record, default=repr)

    def _append(self, path: Path, record) -> None:
        line = self._line(record) + "\n"
        try:
            with open(path, "a") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:  # never raise in the dispatcher's thread: that would lose the result and hang the master
            self._log.exception("could not log to %s: %s", path, line)

    def new_config(self, config_id, config, config_info) -> None:
        if config_id not in self.config_ids:
            self.config_ids.add(config_id)
            self._append(self.config_fn, [config_id, config, config_info])

    def __call__(self, job) -> None:
        if job.id not in self.config_ids:
            self.new_config(job.id, job.kwargs["config"], {})
        self._append(self.results_fn, [job.id, job.kwargs["budget"], job.timestamps, job.result, job.exception])


def drop_partial_line(path: Path) -> None:
    """Remove a last line cut short (a master killed mid-write) so the logs load again."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    keep = data[:data.rfind(b"\n") + 1]
    logger("results").warning("%s: dropping a partial last line (%d bytes)", path, len(data) - len(keep))
    with open(path, "r+b") as fh:
        fh.truncate(len(keep))


def previous_result(directory: Path):
    """The logged sweep in `directory` as an hpbandster Result fit for warm-starting, and the index of the next
    iteration; (None, 0) when nothing has been logged yet.

    Crashed runs (result None) get an infinite loss, which is what BOHB assigns to crashes anyway; hpbandster's
    WarmStartIteration would otherwise fail on np.isfinite(None).
    """
    from hpbandster.core.result import logged_results_to_HBS_result

    directory = Path(directory)
    ids = []
    for fn in ("configs.json", "results.json"):
        path = directory / fn
        if path.exists():
            drop_partial_line(path)
            ids += [json.loads(line)[0][0] for line in path.read_text().splitlines() if line.strip()]
    next_iteration = max(ids, default=-1) + 1
    if not (directory / "results.json").exists() or not (directory / "results.json").read_text().strip():
        return None, next_iteration
    result = logged_results_to_HBS_result(str(directory))
    for datum in result.data.values():
        for budget, res in list(datum.results.items()):
            if res is None:
                datum.results[budget] = {"loss": float("inf"), "info": {"crashed": True}}
    return result, next_iteration


class SweepAborted(RuntimeError):
    """The master gave up: no worker alive for too long, or the sweep was stopped."""


class _DoneIteration:
    """Stands in for the iterations of an earlier run (resume), so new config ids do not collide."""

    is_finished = True
    data: dict = {}


class _GuardedProxy:
    """A dispatcher's proxy to a worker whose start_computation never raises into the job-runner thread."""

    def __init__(self, proxy, name: str):
        self._proxy, self._name = proxy, name

    def __getattr__(self, attr):
        return getattr(self._proxy, attr)

    def start_computation(self, *args, **kwargs):
        import Pyro4.errors

        try:
            return self._proxy.start_computation(*args, **kwargs)
        except Pyro4.errors.PyroError as err:
            logger("dispatcher").warning("could not hand a job to worker %s (%s); the next ping records it as lost",
                                         self._name, err)


def guard_dispatcher() -> None:
    """Make hpbandster's dispatcher wrap each worker's proxy in _GuardedProxy (idempotent)."""
    import hpbandster.core.dispatcher as dispatcher

    if getattr(dispatcher.Worker, "_sebench_guarded", False):
        return

    class GuardedWorker(dispatcher.Worker):
        _sebench_guarded = True

        def __init__(self, name, uri):
            super().__init__(name, uri)
            self.proxy = _GuardedProxy(self.proxy, name)

    dispatcher.Worker = GuardedWorker


def sweep_bohb_class():
    """SweepBOHB, defined lazily so importing this module does not import hpbandster's optimiser stack."""
    global _SweepBOHB
    if _SweepBOHB is None:
        guard_dispatcher()
        _SweepBOHB = _make_sweep_bohb()
    return _SweepBOHB


_SweepBOHB = None


def _make_sweep_bohb():
    import Pyro4
    from hpbandster.optimizers.bohb import BOHB
    from hpbandster.optimizers.iterations import SuccessiveHalving

    class SweepBOHB(BOHB):
        """BOHB with plain budgets/configurations, resume numbering, a no-worker watchdog and a safe shutdown.

        first_iteration: index of the first new SH iteration (after the logged ones when resuming).
        worker_wait: seconds without any live worker after which run() raises SweepAborted (None: never).
        start_grace: seconds after which run() starts with fewer than min_n_workers workers (at least one).
        time_limit: seconds after run() starts from which no new job is submitted; run() returns once the jobs
            running then have finished (and been logged). None: no limit.
        """

        def __init__(self, configspace, *, min_budget, max_budget, eta, first_iteration: int = 0,
                     worker_wait: float | None = None, start_grace: float | None = 120.0,
                     time_limit: float | None = None, **kwargs):
            check_space(configspace)  # refuse bad input before hpbandster starts its (non-daemon) threads
            plain_budgets = budgets(min_budget, max_budget, eta)
            kwargs.setdefault("logger", hp_logger("master"))
            super().__init__(configspace=configspace, eta=eta, min_budget=min_budget, max_budget=max_budget, **kwargs)
            self.budgets = plain_budgets
            self.max_SH_iter = len(self.budgets)
            self.config.update(budgets=list(self.budgets), max_SH_iter=self.max_SH_iter, min_budget=float(min_budget),
                               max_budget=float(max_budget), eta=float(eta))
            self.iterations = [_DoneIteration() for _ in range(first_iteration)]
            self.worker_wait = worker_wait
            self.start_grace = start_grace
            self.time_limit = time_limit
            self._deadline: float | None = None
            self._time_up_logged = False
            self._abort_reason: str | None = None
            self._watchdog_stop = threading.Event()

        # -- plain values only -------------------------------------------------------------------------
        def time_up(self) -> bool:
            up = self._deadline is not None and time.monotonic() >= self._deadline
            if up and not self._time_up_logged:
                self._time_up_logged = True
                self.logger.warning("time limit of %g s reached: no new jobs; waiting for the %d running",
                                    self.time_limit, self.num_running_jobs)
            return up

        def get_next_iteration(self, iteration, iteration_kwargs={}):
            if self.time_up():
                return _DoneIteration()
            s = self.max_SH_iter - 1 - (iteration % self.max_SH_iter)
            n0 = int(np.floor(self.max_SH_iter / (s + 1)) * self.eta ** s)
            ns = [max(int(n0 * self.eta ** (-i)), 1) for i in range(s + 1)]
            sampler = self.config_generator.get_config

            def plain_sampler(budget):
                config, info = sampler(budget)
                return plain(dict(config)), plain(info)

            return _StoppableSH(self.time_up, HPB_iter=iteration, num_configs=ns, budgets=self.budgets[(-s - 1):],
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
                        return
                    waited = time.monotonic() - start
                    if n >= 1 and self.start_grace is not None and waited >= self.start_grace:
                        self.logger.warning("starting with %d of %d workers after %.0f s", n, min_n_workers, waited)
                        return
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

        def run(self, n_iterations=1, min_n_workers=1, iteration_kwargs=None):
            if self.time_limit is not None:
                self._deadline = time.monotonic() + self.time_limit
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

    class _StoppableSH(SuccessiveHalving):
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

    SweepBOHB.StoppableSH = _StoppableSH
    return SweepBOHB


def dispatcher_thread_alive(master) -> bool:
    return master.dispatcher_thread.is_alive()


def release_owned(cond) -> None:
    """Release a Condition's (R)Lock as often as this thread holds it: hpbandster's run() leaves it held when an
    exception (Ctrl-C, SweepAborted) leaves its loop, which would block the dispatcher's result callbacks."""
    while cond._is_owned():
        cond.release()
