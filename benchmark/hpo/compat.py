"""Compatibility fixes for hpbandster 0.7.4 (unmaintained), each tested in tests/test_hpo.py.

What goes wrong without them, and the fix here:

1. numpy scalars cross Pyro4 and the JSON logger. BOHB's budgets are np.float64; under numpy >= 2 their repr
   ("np.float64(3.0)") is what Pyro4's serpent serialiser writes, the worker cannot decode it and the job is lost
   without an error (the sweep hangs). ConfigSpace >= 1.1 hands out configurations holding numpy scalars, which
   break `json.dumps` in the result logger and serpent (np.int64 is refused outright). Fix: `plain()` turns every
   value into an exact Python builtin; `SweepBOHB` (`benchmark.hpo.bohb`, like every `SweepBOHB` fix below)
   submits only plain budgets and configurations, and the
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
from pathlib import Path

import numpy as np

from benchmark.errors import ConfigError
from benchmark.schema import CONFIGS, RESULTS, has_results

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
        self.config_fn = self.directory / CONFIGS
        self.results_fn = self.directory / RESULTS
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
    for fn in (CONFIGS, RESULTS):
        path = directory / fn
        if path.exists():
            drop_partial_line(path)
            ids += [json.loads(line)[0][0] for line in path.read_text().splitlines() if line.strip()]
    next_iteration = max(ids, default=-1) + 1
    if not has_results(directory):
        return None, next_iteration
    result = logged_results_to_HBS_result(str(directory))
    for datum in result.data.values():
        for budget, res in list(datum.results.items()):
            if res is None:
                datum.results[budget] = {"loss": float("inf"), "info": {"crashed": True}}
    return result, next_iteration


class SweepAborted(RuntimeError):
    """The master gave up: no worker alive for too long, or the sweep was stopped."""


class DoneIteration:
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


def dispatcher_thread_alive(master) -> bool:
    return master.dispatcher_thread.is_alive()


def release_owned(cond) -> None:
    """Release a Condition's (R)Lock as often as this thread holds it: hpbandster's run() leaves it held when an
    exception (Ctrl-C, SweepAborted) leaves its loop, which would block the dispatcher's result callbacks."""
    while cond._is_owned():
        cond.release()
