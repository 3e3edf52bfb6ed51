"""Starting and stopping the parts of a BOHB sweep: nameserver, workers, master, and all of them embedded.

A sweep lives in one directory D that every part can see (shared filesystem across machines):
  D/nameserver.json   host, port and run id of the Pyro4 nameserver (written by the nameserver, removed on exit)
  D/sweep.json        space, base RunConfig and budgets (written by the master; workers read it per job)
  D/configs.json, D/results.json   hpbandster's json_result_logger format (one JSON list per line)
  D/jobs/<iteration>_<stage>_<index>/budget_<b>/   each job's SE run folder (train-se layout + job.json)
  D/logs/             worker logs of `sebench hpo run`
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from benchmark.config_layers import describe_differences
from benchmark.errors import ConfigError
from benchmark.hpo import compat
from benchmark.nes.presets import DEFAULT_PRESET
from benchmark.schema import NS_FILE, SWEEP_FILE, has_results

DEFAULT_HOST = "127.0.0.1"
log = compat.logger("launch")


def new_run_id() -> str:
    return f"sebench-{uuid.uuid4().hex[:8]}"


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def local_address_towards(host: str) -> str:
    """The address of this machine on the interface that reaches `host` (loopback for a loopback host)."""
    if _is_loopback(host):
        return DEFAULT_HOST
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, 9))  # UDP: no packet is sent
            return s.getsockname()[0]
    except OSError as err:
        raise ConfigError(f"cannot find a local address that reaches the nameserver host {host!r}: {err}; "
                          "pass --host") from None


# -- nameserver ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def nameserver(run_id: str, directory: Path | None, host: str = DEFAULT_HOST, port: int = 0):
    """A Pyro4 nameserver on `host`:`port` (0: a free port) in a daemon thread; publishes D/nameserver.json.

    Always shut down (and the file removed) when the block exits, by return, exception or Ctrl-C.
    """
    from benchmark import io

    import Pyro4.naming

    try:
        _, daemon, _ = Pyro4.naming.startNS(host=host, port=port, enableBroadcast=False)
    except OSError as err:
        raise ConfigError(f"cannot start a nameserver on {host}:{port}: {err}") from None
    thread = threading.Thread(target=daemon.requestLoop, name=f"sebench-nameserver-{run_id}", daemon=True)
    thread.start()
    path = None
    try:
        ns_host, ns_port = daemon.locationStr.rsplit(":", 1)
        ns_host, ns_port = ns_host.strip("[]"), int(ns_port)
        if directory is not None:
            directory = Path(directory)
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / NS_FILE
            io.write_json(path, {"run_id": run_id, "host": ns_host, "port": ns_port, "pid": os.getpid()})
        yield ns_host, ns_port
    finally:
        daemon.shutdown()
        thread.join(10)
        daemon.close()
        if path is not None:
            with contextlib.suppress(FileNotFoundError, ValueError, ConfigError):
                if io.read_json(path).get("pid") == os.getpid():
                    path.unlink()


def read_nameserver(directory: Path, run_id: str, wait_s: float = 0.0) -> tuple[str, int]:
    """Host and port of run `run_id`'s nameserver from D/nameserver.json (waiting up to wait_s for the file)."""
    from benchmark import io

    import Pyro4
    import Pyro4.errors

    path = Path(directory) / NS_FILE
    deadline = time.monotonic() + wait_s
    while not path.is_file():
        if time.monotonic() >= deadline:
            raise ConfigError(f"no nameserver in {directory} ({NS_FILE} missing): start `sebench hpo nameserver "
                              f"--run-id {run_id} --dir {directory}` first")
        time.sleep(0.5)  # a shared filesystem is the only channel between machines before the nameserver
    data = io.read_json(path)
    if data.get("run_id") != run_id:
        raise ConfigError(f"{path} belongs to run {data.get('run_id')!r}, not --run-id {run_id!r}")
    host, port = data["host"], int(data["port"])
    try:
        with Pyro4.locateNS(host=host, port=port):
            pass
    except Pyro4.errors.PyroError as err:
        raise ConfigError(f"the nameserver {host}:{port} named in {path} does not answer ({err}); "
                          "is it still running? (a stale file: remove it and restart the nameserver)") from None
    return host, port


def serve_nameserver(run_id: str, directory: Path, host: str = DEFAULT_HOST, port: int = 0,
                     ready=None) -> None:
    """`sebench hpo nameserver`: serve until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        with nameserver(run_id, directory, host, port) as (ns_host, ns_port):
            print(f"nameserver for run {run_id} on {ns_host}:{ns_port} ({Path(directory) / NS_FILE}); "
                  "Ctrl-C to stop", flush=True)
            if ready is not None:
                ready(ns_host, ns_port)
            while not stop.wait(1.0):
                pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# -- worker -------------------------------------------------------------------------------------------------
def serve_worker(run_id: str, directory: Path, host: str | None = None, timeout: float | None = None,
                 wait_s: float = 60.0) -> None:
    """`sebench hpo worker`: register with the nameserver and evaluate jobs until the master shuts it down."""
    import Pyro4

    import torch

    torch.set_num_threads(1)  # each job trains serially; parallelism is across workers
    ns_host, ns_port = read_nameserver(directory, run_id, wait_s)
    host = host or local_address_towards(ns_host)
    from benchmark.hpo.worker import make_worker

    worker = make_worker(run_id, nameserver=ns_host, nameserver_port=ns_port, host=host, timeout=timeout)
    log.info("worker %s on %s", worker.worker_id, host)
    try:
        worker.run(background=False)
    finally:
        daemon = getattr(worker, "pyro_daemon", None)
        if daemon is not None:
            with contextlib.suppress(Exception):
                with Pyro4.locateNS(host=ns_host, port=ns_port) as ns:
                    ns.remove(worker.worker_id)
            daemon.close()


# -- master -------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class MasterSettings:
    """What `sebench hpo master` runs (all but the run id and directory)."""

    space: str = "se_cartpole"
    """Registered space name or ConfigSpace JSON file."""
    min_budget: float = 5
    """Smallest budget (NES iterations)."""
    max_budget: float = 45
    """Largest budget (NES iterations)."""
    eta: float = 3
    """Successive halving keeps 1/eta of the configurations per stage."""
    iterations: int = 4
    """Total number of successive-halving iterations (brackets) of the sweep; --resume runs the missing ones."""
    ping_interval: int = 10
    """Seconds between the dispatcher's worker pings (how fast a dead worker's job is recorded as lost)."""
    worker_wait: float | None = 600.0
    """Abort (SweepAborted) after this many seconds without any live worker; None: wait forever (warning each minute)."""
    min_workers: int = 1
    """Workers needed before the first job is submitted (after start_grace seconds, one is enough)."""
    start_grace: float = 120.0
    """Seconds to wait for min_workers before starting with the workers there are."""
    time_limit: float | None = None
    """Wall-clock seconds after which no new job starts (running ones finish and are logged); None: no limit."""
    bohb: dict = dataclasses.field(default_factory=dict)
    """Extra BOHB arguments (top_n_percent, num_samples, random_fraction, bandwidth_factor, min_bandwidth, ...)."""


def base_run(space_name: str, config: dict | None = None, task: str | None = None, seed: int | None = 0,
             preset: str = DEFAULT_PRESET, solved: float | None = None, config_source: str = "--config"):
    """The RunConfig a sweep's hyperparameters are applied onto, in train-se's layers: RunConfig's defaults, the
    preset, the config file's fields (`config_source` names them in errors), then task (default: the space's
    task), solved and seed."""
    from benchmark.config_layers import layered, nested
    from benchmark.nes.presets import preset_fields
    from benchmark.nes.trainer import RunConfig
    from search_spaces.tools import space_task

    fields = layered(RunConfig().to_dict(), (f"--preset {preset}", preset_fields(preset)),
                     (config_source, config or {}), schema=RunConfig)
    space_task_name = space_task(space_name)
    wanted = task or (config or {}).get("task") or space_task_name or fields["task"]
    if space_task_name and wanted != space_task_name:
        raise ConfigError(f"task={wanted!r} does not match space {space_name!r}, which is for {space_task_name!r}")
    return RunConfig.from_dict(layered(fields, ("flags", nested({"task": wanted, "solved": solved, "seed": seed})),
                                       schema=RunConfig))


def _sweep_record(space_name, space, base, s: MasterSettings) -> dict:
    return compat.plain({"space_name": space_name, "space": space.to_serialized_dict(), "base": base.to_dict(),
                         "min_budget": float(s.min_budget), "max_budget": float(s.max_budget), "eta": float(s.eta),
                         "budgets": compat.budgets(s.min_budget, s.max_budget, s.eta)})


def check_settings(settings: MasterSettings, base):
    """Refuse a bad space or bad budgets before anything starts; returns (name, space, sweep record)."""
    from search_spaces.tools import apply_config, load_space

    name, space = load_space(settings.space, seed=base.seed)
    compat.check_space(space)
    if settings.iterations < 1:
        raise ConfigError(f"iterations={settings.iterations} is out of range; allowed: [1, inf)")
    if settings.min_budget < 1:
        raise ConfigError(f"min_budget={settings.min_budget} is out of range: a budget is a number of NES "
                          "iterations; allowed: [1, max_budget]")
    budgets = compat.budgets(settings.min_budget, settings.max_budget, settings.eta)
    if len({round(b) for b in budgets}) < len(budgets):
        raise ConfigError(f"budgets {budgets} round to repeated NES iteration counts; widen the budget range or "
                          "raise eta")
    apply_config(base, dict(space.get_default_configuration()))  # every name must map onto a RunConfig field
    return name, space, _sweep_record(name, space, base, settings)


def prepare_sweep(directory: Path, settings: MasterSettings, base, resume: bool):
    """check_settings, then write (or, with resume, compare) D/sweep.json; returns (name, space)."""
    from benchmark import io

    name, space, record = check_settings(settings, base)
    directory = io.prepare_out_dir(directory, resume, SWEEP_FILE)
    path = directory / SWEEP_FILE
    if resume and path.exists():
        stored = io.read_json(path)
        keys = ("space", "base", "min_budget", "max_budget", "eta")
        old, new = {k: stored.get(k) for k in keys}, {k: record[k] for k in keys}
        if old != new:
            raise ConfigError(f"--resume: the sweep in {directory} was started with other settings: "
                              f"{describe_differences(old, new)}")
    else:
        io.write_json(path, record)
    return name, space


def run_master(run_id: str, directory: Path, settings: MasterSettings, base, *, resume: bool = False,
               nameserver_address: tuple[str, int] | None = None, host: str | None = None,
               wait_s: float = 60.0, on_start=None) -> dict:
    """Run BOHB until settings.iterations SH iterations are done; returns summarize(directory).

    Workers are shut down at the end, also on error or Ctrl-C; every finished job is in D/results.json.
    """
    directory = Path(directory)
    _, space = prepare_sweep(directory, settings, base, resume)
    result_logger = compat.ResultLogger(directory, resume=resume)
    previous, first = compat.previous_result(directory) if resume else (None, 0)
    remaining = settings.iterations - first
    if remaining <= 0:
        log.warning("the sweep in %s has run %d of %d iterations already: nothing to do", directory, first,
                    settings.iterations)
        return summarize(directory)
    ns_host, ns_port = nameserver_address or read_nameserver(directory, run_id, wait_s)
    host = host or local_address_towards(ns_host)
    from benchmark.hpo.bohb import SweepBOHB

    master = SweepBOHB(space, min_budget=settings.min_budget, max_budget=settings.max_budget, eta=settings.eta,
                       first_iteration=first, worker_wait=settings.worker_wait,
                       start_grace=settings.start_grace, time_limit=settings.time_limit, run_id=run_id,
                       nameserver=ns_host, nameserver_port=ns_port, host=host, ping_interval=settings.ping_interval,
                       working_directory=str(directory), result_logger=result_logger, previous_result=previous,
                       **settings.bohb)
    try:
        if on_start is not None:
            on_start(master)
        master.run(n_iterations=remaining, min_n_workers=settings.min_workers)
    finally:
        master.shutdown(shutdown_workers=True)
    return summarize(directory)


def summarize(directory: Path) -> dict:
    """Counts per budget, failures and the incumbent (lowest loss on the largest budget) of a logged sweep."""
    from hpbandster.core.result import logged_results_to_HBS_result

    directory = Path(directory)
    if not has_results(directory):
        return {"runs": 0, "failed": 0, "per_budget": {}, "incumbent": None}
    result = logged_results_to_HBS_result(str(directory))
    runs = result.get_all_runs()
    per_budget: dict = {}
    for r in runs:
        per_budget.setdefault(r.budget, 0)
        per_budget[r.budget] += 1
    inc = result.get_incumbent_id()
    incumbent = None
    if inc is not None:
        top = result.get_runs_by_id(inc)[-1]
        incumbent = {"config_id": list(inc), "config": result.get_id2config_mapping()[inc]["config"],
                     "budget": top.budget, "loss": top.loss, "info": top.info}
    return {"runs": len(runs), "failed": sum(r.loss is None for r in runs),
            "per_budget": dict(sorted(per_budget.items())), "incumbent": incumbent}


# -- everything on one machine --------------------------------------------------------------------------------
def spawn_worker(run_id: str, directory: Path, index: int, host: str = DEFAULT_HOST) -> subprocess.Popen:
    logs = Path(directory) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"worker_{index}.log", "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "benchmark.cli", "hpo", "worker", "--run-id", run_id,
                                 "--dir", str(directory), "--host", host, "--parent-pid", str(os.getpid())],
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_processes(procs: list[subprocess.Popen], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after grace_s; waits for every process (no zombies, nothing left running)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_embedded(directory: Path, settings: MasterSettings, base, workers: int, *, resume: bool = False,
                 run_id: str | None = None, on_workers=None) -> dict:
    """`sebench hpo run`: nameserver + `workers` worker processes + master on 127.0.0.1; all stopped on exit,
    error or Ctrl-C. on_workers(list of Popen) is called once the workers are started (tests)."""
    from benchmark import io

    if workers < 1:
        raise ConfigError(f"workers={workers} is out of range; allowed: [1, inf)")
    run_id = run_id or new_run_id()
    directory = Path(directory)
    check_settings(settings, base)  # refuse bad settings before any process starts
    io.prepare_out_dir(directory, resume, SWEEP_FILE)
    procs: list[subprocess.Popen] = []
    stop = threading.Event()

    def monitor(master):
        def watch():
            while not stop.wait(1.0):
                codes = [p.poll() for p in procs]
                if all(c is not None for c in codes):
                    master.abort(f"all {len(procs)} worker processes exited (exit codes {codes}); "
                                 f"see {directory / 'logs'}")
                    return
        threading.Thread(target=watch, name="sebench-hpo-procs", daemon=True).start()

    with nameserver(run_id, directory, DEFAULT_HOST) as address:
        try:
            procs.extend(spawn_worker(run_id, directory, i) for i in range(workers))
            if on_workers is not None:
                on_workers(procs)
            settings = dataclasses.replace(settings, min_workers=workers)  # all local: wait for all of them
            return run_master(run_id, directory, settings, base, resume=resume, nameserver_address=address,
                              host=DEFAULT_HOST, on_start=monitor)
        finally:
            stop.set()
            stop_processes(procs)


def lingering_threads() -> list[threading.Thread]:
    """Non-daemon threads other than the main one that are still alive (they would keep the process up)."""
    return [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.daemon and t.is_alive()]


def exit_if_threads_linger(rc: int, wait_s: float = 5.0) -> None:
    """Last line of defence of the CLI: if hpbandster left non-daemon threads running, say so and exit anyway."""
    deadline = time.monotonic() + wait_s
    for t in lingering_threads():
        t.join(max(0.0, deadline - time.monotonic()))
    left = lingering_threads()
    if left:
        print(f"sebench: warning: exiting although threads still run: {[t.name for t in left]}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def configure_logging(verbose: bool = False) -> None:
    """sebench's own handler on the 'sebench.hpo' and 'hpbandster' loggers; the root logger is left alone."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
    handler._sebench = True
    levels = {compat.LOGGER_NAME: logging.INFO, "hpbandster": logging.WARNING, "Pyro4": logging.CRITICAL}
    for name, level in levels.items():
        lg = logging.getLogger(name)
        if not any(getattr(h, "_sebench", False) for h in lg.handlers):
            lg.addHandler(handler)
        lg.setLevel(logging.DEBUG if verbose else level)
        lg.propagate = False
