"""BOHB sweeps over loopback: real sweeps with worker processes, a killed worker, two sweeps at once, failures,
resume, the hpbandster 0.7.4 compatibility fixes, the dask executor and the sweep analysis.

Budgets are tiny (1-2 NES iterations, population 1, 2 agent episodes); the subprocess sweeps start together in
one module fixture so their process start-up overlaps.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import serpent

from benchmark.errors import ConfigError
from benchmark.hpo import compat
from benchmark.hpo.launch import (MasterSettings, base_run, lingering_threads, nameserver, prepare_sweep,
                                  run_master)
from benchmark.hpo.worker import evaluate, loss_of, make_worker
from benchmark.schema import JOB_FILE

TINY = {"nes": {"population": 1}, "test_episodes": 1, "centre_agents": 1, "vary_hp": False,
        "agent": {"max_episodes": 2, "hidden_size": 16, "hidden_layers": 1}}
SWEEP_ARGS = ["--min-budget", "1", "--max-budget", "2", "--eta", "2", "--ping-interval", "1", "--worker-wait", "60"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}


def _sebench(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchmark.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV, **kw)


def _lines(path: Path) -> list:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


def _procs_mentioning(path: Path, at_least: int = 1) -> list[int]:
    """Live processes whose command line names `path` (the `hpo run` process and its workers)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(path).encode() in cmdline.read_bytes() and _pid_alive(int(cmdline.parent.name)):
                pids.append(int(cmdline.parent.name))
    return pids if len(pids) >= at_least else []


def _worker_pids(sweep: Path) -> set[int]:
    return {int(json.loads(p.read_text())["worker"].rsplit(":", 1)[1]) for p in sweep.glob(f"jobs/*/*/{JOB_FILE}")}


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"sweep did not finish within {timeout} s:\n{out[-3000:]}")
    return out


# -- subprocess sweeps --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """Sweeps at once on this machine (each with its own nameserver, workers and directory): A (2 workers,
    2 SH iterations), K (2 workers, one of which is killed with SIGKILL in the middle of its first job) and T
    (SIGTERM to `hpo run` once its nameserver and worker process are up)."""
    root = tmp_path_factory.mktemp("sweeps")
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    common = ["--space", "se_cartpole", "--config", str(config), *SWEEP_ARGS]
    procs = {
        "A": _sebench("hpo", "run", "--workers", "2", "--out", str(root / "A"), "--iterations", "2", *common),
        "K": _sebench("hpo", "run", "--workers", "2", "--out", str(root / "K"), "--iterations", "1", *common),
        "T": _sebench("hpo", "run", "--workers", "1", "--out", str(root / "T"), "--iterations", "1", *common),
    }
    killed = terminated = None
    try:
        deadline = time.monotonic() + 120
        while (killed is None or terminated is None) and time.monotonic() < deadline:
            for job in (root / "K").glob(f"jobs/*/*/{JOB_FILE}") if killed is None else []:
                with contextlib.suppress(ValueError, OSError, json.JSONDecodeError):
                    meta = json.loads(job.read_text())
                    pid = int(meta["worker"].rsplit(":", 1)[1])
                    os.kill(pid, signal.SIGKILL)
                    killed = {"pid": pid, "config_id": meta["config_id"], "budget": meta["budget"]}
                    break
            if terminated is None and (root / "T" / "nameserver.json").exists() and _procs_mentioning(root / "T", 2):
                procs["T"].send_signal(signal.SIGTERM)  # nameserver up, master waiting for its worker
                terminated = time.monotonic()
            time.sleep(0.05)
        outputs = {name: _finish(proc, 150) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {"root": root, "outputs": outputs, "codes": {n: p.returncode for n, p in procs.items()}, "killed": killed,
            "terminated": terminated}


@pytest.mark.timeout(300)
def test_sweep_with_two_worker_processes_finishes_logs_and_reloads(sweeps):
    from hpbandster.core.result import logged_results_to_HBS_result

    sweep, out = sweeps["root"] / "A", sweeps["outputs"]["A"]
    assert sweeps["codes"]["A"] == 0, out
    result = logged_results_to_HBS_result(str(sweep))
    runs = result.get_all_runs()
    # iteration 0: 2 configs on budget 1, the best one on budget 2; iteration 1: 2 configs on budget 2
    assert sorted(r.budget for r in runs) == [1.0, 1.0, 2.0, 2.0, 2.0]
    assert all(r.loss is not None and r.error_logs is None for r in runs)
    incumbent = result.get_incumbent_id()
    assert incumbent is not None and "incumbent" in out
    for r in runs:
        info = r.info
        se = sweep / info["se_path"]
        assert (se / "se.json").is_file() and (se / "se.safetensors").is_file()
        assert info["iterations"] == int(r.budget) or info["solved"]
        assert info["real_env_steps"] > 0 and info["wall_time_s"] > 0
        assert len(info["history"]["centre_score"]) == info["iterations"]
        expected = loss_of(info["solved"], info["iterations"], info["best_score"], int(r.budget),
                           __import__("benchmark.envs.tasks", fromlist=["get_task"]).get_task("CartPole-v0"))
        assert r.loss == pytest.approx(expected)
    # the budget-2 job of the config promoted from budget 1 continued its checkpoint
    continued = [r.info for r in runs if r.info["continued_from"]]
    assert len(continued) == 1 and continued[0]["continued_from"].endswith("budget_1")
    assert len({r.info["worker"] for r in runs}) == 2  # both worker processes took jobs
    assert not (sweep / "nameserver.json").exists()
    assert not any(_pid_alive(pid) for pid in _worker_pids(sweep))  # no worker process left running
    assert not _procs_mentioning(sweep)


@pytest.mark.timeout(300)
def test_two_sweeps_at_once_do_not_collide(sweeps):
    from hpbandster.core.result import logged_results_to_HBS_result

    assert sweeps["codes"]["A"] == sweeps["codes"]["K"] == 0, sweeps["outputs"]
    a, k = sweeps["root"] / "A", sweeps["root"] / "K"
    assert len(logged_results_to_HBS_result(str(a)).get_all_runs()) == 5
    assert len(logged_results_to_HBS_result(str(k)).get_all_runs()) == 3
    # each sweep's jobs ran on its own two workers only, and wrote only into its own directory
    assert len(_worker_pids(a)) == 2 and not _worker_pids(a) & _worker_pids(k)
    for sweep in (a, k):
        paths = [r[3]["info"]["se_path"] for r in _lines(sweep / "results.json") if r[3]]
        assert all((sweep / p / "se.json").is_file() for p in paths)
        assert {json.loads(line)["space_name"] for line in [(sweep / "sweep.json").read_text()]} == {"se_cartpole"}


@pytest.mark.timeout(300)
def test_killed_worker_job_is_recorded_and_sweep_finishes_on_the_other(sweeps):
    from hpbandster.core.result import logged_results_to_HBS_result

    killed, sweep, out = sweeps["killed"], sweeps["root"] / "K", sweeps["outputs"]["K"]
    assert killed is not None, out
    assert sweeps["codes"]["K"] == 0, out
    results = _lines(sweep / "results.json")
    lost = [r for r in results if r[0] == killed["config_id"] and r[1] == killed["budget"]]
    assert len(lost) == 1 and lost[0][3] is None and "Worker died unexpectedly" in lost[0][4]
    done = [r for r in results if r[3] is not None]
    assert done and {r[3]["info"]["worker"].rsplit(":", 1)[1] for r in done} != {str(killed["pid"])}
    result = logged_results_to_HBS_result(str(sweep))
    assert result.get_incumbent_id() is not None and tuple(killed["config_id"]) != result.get_incumbent_id()
    assert "1 failed" in out


@pytest.mark.timeout(300)
def test_sigterm_stops_the_whole_sweep_and_leaves_nothing_running(sweeps):
    sweep, out = sweeps["root"] / "T", sweeps["outputs"]["T"]
    assert sweeps["terminated"] is not None, out
    # 143 as every sebench command on SIGTERM, or death by the signal: SIGTERM, or SIGINT (seen once in CI under
    # heavy load, after the orderly shutdown below had printed its message and cleaned up; not pinned down yet)
    assert sweeps["codes"]["T"] in (143, -signal.SIGTERM, -signal.SIGINT), out
    assert "stopped (SIGTERM); every finished job is in results.json" in out
    assert not (sweep / "nameserver.json").exists()
    assert not _procs_mentioning(sweep)  # the worker process was stopped too
    assert (sweep / "logs" / "worker_0.log").exists()


@pytest.mark.timeout(120)
def test_analysis_of_a_real_sweep(sweeps, tmp_path):
    from analysis.sweep import analyze_sweep, is_sweep, load_runs

    sweep = sweeps["root"] / "K"
    assert is_sweep(sweep) and not is_sweep(tmp_path)
    paths = analyze_sweep(sweep, tmp_path / "analysis")
    names = {p.name for p in paths}
    for stem in ("sweep_incumbent_trajectory", "sweep_losses_per_budget"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert all(p.stat().st_size > 0 for p in paths)
    summary = json.loads((tmp_path / "analysis" / "sweep_incumbent.json").read_text())
    runs = load_runs(sweep)
    assert summary["jobs"] == len(runs) == 3 and summary["failed"] == 1
    inc = summary["incumbent"]
    assert inc["budget"] == 2.0 and inc["loss"] == runs[runs.budget == 2.0].loss.min()
    assert set(inc["config"]) == {c.removeprefix("hp:") for c in runs.columns if c.startswith("hp:")}
    table = (tmp_path / "analysis" / "sweep_top_configs.md").read_text()
    assert table.count("\n| (") == 1 and "nes.step_size" in table  # the lost config is left out
    with pytest.raises(ConfigError, match="not a sweep directory"):
        analyze_sweep(tmp_path, tmp_path / "x")


# -- in-process sweeps (threads): failures, resume, no worker -----------------------------------------------
@contextlib.contextmanager
def _threaded_workers(run_id: str, directory: Path, n: int = 1):
    with nameserver(run_id, directory) as address:
        workers = [make_worker(run_id, nameserver=address[0], nameserver_port=address[1], host="127.0.0.1", id=i)
                   for i in range(n)]
        for worker in workers:
            worker.run(background=True)
        yield address
        for worker in workers:  # a worker unregisters from the nameserver on its way out: let it, then stop the NS
            worker.thread.join(timeout=30)


def _settings(**kw) -> MasterSettings:
    return MasterSettings(**{"space": "se_cartpole", "min_budget": 1, "max_budget": 2, "eta": 2, "iterations": 1,
                             "ping_interval": 1, "worker_wait": 30, **kw})


@pytest.mark.timeout(180)
def test_failing_job_is_logged_as_failed_and_resume_continues(tmp_path, monkeypatch):
    from hpbandster.core.result import logged_results_to_HBS_result

    import benchmark.nes.trainer as trainer

    real = trainer.train_se

    def flaky(run, out, **kw):
        if Path(out).parent.name == "0_0_0":
            raise RuntimeError("boom in NES")
        return real(run, out, **kw)

    monkeypatch.setattr(trainer, "train_se", flaky)
    base, sweep = base_run("se_cartpole", TINY), tmp_path / "sweep"
    before = set(threading.enumerate())
    with _threaded_workers("t1", sweep) as address:
        summary = run_master("t1", sweep, _settings(), base, nameserver_address=address, host="127.0.0.1")
    results = _lines(sweep / "results.json")
    failed = [r for r in results if r[0] == [0, 0, 0]]
    assert len(failed) == 1 and failed[0][3] is None
    assert "Traceback" in failed[0][4] and "RuntimeError: boom in NES" in failed[0][4]
    assert summary["failed"] == 1 and summary["incumbent"]["config_id"] != [0, 0, 0]
    assert summary["incumbent"]["loss"] > 0

    # resume: one more SH iteration (the crashed job in the logs must not break the warm start)
    with _threaded_workers("t2", sweep) as address:
        summary = run_master("t2", sweep, _settings(iterations=2), base, resume=True, nameserver_address=address,
                             host="127.0.0.1")
    ids = [tuple(c[0]) for c in _lines(sweep / "configs.json")]
    assert len(ids) == len(set(ids)), "config ids collide after resume"
    results = _lines(sweep / "results.json")
    assert sorted({r[0][0] for r in results}) == [0, 1]  # iteration 1 is new; iteration 0 is kept
    assert len(results) == 5 and summary["runs"] == 5
    result = logged_results_to_HBS_result(str(sweep))
    assert len(result.get_all_runs()) == 5
    # nothing to do once the sweep has all its iterations
    with _threaded_workers("t3", sweep) as address:
        assert run_master("t3", sweep, _settings(iterations=2), base, resume=True, nameserver_address=address,
                          host="127.0.0.1")["runs"] == 5
    assert not [t for t in lingering_threads() if t not in before]
    # resuming with another space or budgets is refused
    with pytest.raises(ConfigError, match=r"other settings: max_budget: stored 2\.0, requested 4\.0"):
        run_master("t4", sweep, _settings(iterations=3, max_budget=4), base, resume=True,
                   nameserver_address=("127.0.0.1", 1))


@pytest.mark.timeout(60)
def test_no_worker_aborts_the_sweep_instead_of_hanging(tmp_path):
    before = set(threading.enumerate())
    start = time.monotonic()
    with nameserver("lonely", tmp_path) as address:
        with pytest.raises(compat.SweepAborted, match="no hpbandster worker alive"):
            run_master("lonely", tmp_path, _settings(worker_wait=2), base_run("se_cartpole", TINY),
                       nameserver_address=address, host="127.0.0.1")
    assert time.monotonic() - start < 20
    assert not [t for t in lingering_threads() if t not in before]


@pytest.mark.timeout(60)
def test_time_limit_stops_new_jobs_and_logs_the_running_ones(tmp_path):
    start = time.monotonic()
    with _threaded_workers("timed", tmp_path) as address:
        summary = run_master("timed", tmp_path, _settings(iterations=20, time_limit=1.0), base_run("se_cartpole", TINY),
                             nameserver_address=address, host="127.0.0.1")
    assert time.monotonic() - start < 30
    assert 1 <= summary["runs"] < 10  # 20 iterations would be 50 jobs
    logged = {tuple(c[0]) for c in _lines(tmp_path / "configs.json")}
    assert logged == {tuple(r[0]) for r in _lines(tmp_path / "results.json")}  # every started job was logged


def test_worker_refuses_an_invalid_config_with_a_clear_message(tmp_path):
    prepare_sweep(tmp_path, _settings(), base_run("se_cartpole", TINY), resume=False)
    from search_spaces import get_space

    config = dict(get_space("se_cartpole").get_default_configuration())
    with pytest.raises(ConfigError, match=r"nes\.step_size=5.0 is out of range; legal: \[0\.1, 1\.0\]"):
        evaluate(tmp_path, (0, 0, 0), {**config, "nes.step_size": 5.0}, 1.0)
    with pytest.raises(ConfigError, match=r"missing hyperparameter\(s\) \['se.hidden_size'\]"):
        evaluate(tmp_path, (0, 0, 0), {k: v for k, v in config.items() if k != "se.hidden_size"}, 1.0)
    assert not (tmp_path / "jobs").exists()  # nothing started


def test_loss_orders_solved_before_unsolved_and_unsolved_by_score():
    from benchmark.envs.tasks import get_task

    cartpole, acrobot = get_task("CartPole-v0"), get_task("Acrobot-v1")
    assert loss_of(True, 7, 195.0, 10, cartpole) == 7.0
    assert loss_of(False, 10, 97.5, 10, cartpole) == pytest.approx(10.5)
    assert loss_of(False, 10, 0.0, 10, cartpole) == 11.0
    assert loss_of(True, 10, 200.0, 10, cartpole) < loss_of(False, 10, 194.0, 10, cartpole)
    assert loss_of(False, 10, -300.0, 10, acrobot) == pytest.approx(11 - 200 / 400)
    assert loss_of(False, 10, -np.inf, 10, acrobot) == 11.0


# -- compatibility fixes ------------------------------------------------------------------------------------
class _Numpy2Float(float):
    """A float subclass whose repr is not a float literal, like np.float64 under numpy >= 2."""

    def __repr__(self):
        return f"np.float64({float(self)!r})"


def test_plain_values_survive_pyro_serpent_and_json():
    raw = {"budget": np.float64(3.0), "n": np.int64(5), "s": np.str_("nes"), "b": np.bool_(True),
           "a": np.arange(3), "t": (np.int32(1), 2.5), "x": _Numpy2Float(3.0)}
    with pytest.raises(TypeError):
        serpent.dumps({"n": np.int64(5)})  # Pyro4's serialiser refuses numpy ints outright
    with pytest.raises(ValueError, match="malformed node"):  # a numpy-2 float cannot be decoded by the worker
        serpent.loads(serpent.dumps({"x": _Numpy2Float(3.0)}))
    clean = compat.plain(raw)
    assert clean == {"budget": 3.0, "n": 5, "s": "nes", "b": True, "a": [0, 1, 2], "t": (1, 2.5), "x": 3.0}
    for key, kind in {"budget": float, "n": int, "s": str, "b": bool, "x": float}.items():
        assert type(clean[key]) is kind
    assert serpent.loads(serpent.dumps(clean))["x"] == 3.0
    json.dumps(clean)
    with pytest.raises(TypeError, match="not a plain value"):
        compat.plain({"x": object()})


def test_submitted_budgets_and_configs_are_plain(tmp_path):
    """SweepBOHB hands the dispatcher plain values even when the sampler returns numpy scalars."""
    import ConfigSpace as CS

    from benchmark.hpo.bohb import SweepBOHB

    cs = CS.ConfigurationSpace(seed=0)
    cs.add([CS.Float("nes.step_size", (0.1, 1.0), log=True), CS.Integer("se.hidden_size", (48, 192))])
    with nameserver("plain", None) as (host, port):
        master = SweepBOHB(cs, min_budget=1, max_budget=27, eta=3, run_id="plain", nameserver=host,
                           nameserver_port=port, host="127.0.0.1", working_directory=str(tmp_path))
        try:
            master.config_generator.get_config = lambda budget: (
                {"nes.step_size": np.float64(0.5), "se.hidden_size": np.int64(64)}, {"model_based_pick": np.bool_(0)})
            submitted = []
            master.dispatcher.submit_job = lambda id, **kw: submitted.append((id, kw))
            iteration = master.get_next_iteration(0, {})
            config_id, config, budget = iteration.get_next_run()
            master._submit_job(config_id, config, budget)
        finally:
            master.shutdown()
    assert master.budgets == [1.0, 3.0, 9.0, 27.0] and all(type(b) is float for b in master.budgets)
    (job_id, kwargs), = submitted
    assert type(kwargs["budget"]) is float and kwargs["budget"] == 1.0
    assert {k: type(v) for k, v in kwargs["config"].items()} == {"nes.step_size": float, "se.hidden_size": int}
    assert all(type(i) is int for i in job_id)


def test_handing_a_job_to_a_dead_worker_does_not_kill_the_dispatcher():
    import socket

    import hpbandster.core.dispatcher as dispatcher
    import Pyro4
    import Pyro4.errors

    compat.guard_dispatcher()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        uri = f"PYRO:w@127.0.0.1:{s.getsockname()[1]}"  # nobody listens there once the socket is closed
    job = dict(config={}, budget=1.0, working_directory=".")
    with pytest.raises(Pyro4.errors.CommunicationError):  # what would end hpbandster's job-runner thread
        Pyro4.Proxy(uri).start_computation(None, (0, 0, 0), **job)
    worker = dispatcher.Worker("w", uri)
    assert worker.proxy.start_computation(None, (0, 0, 0), **job) is None  # logged, not raised
    assert not worker.is_alive()  # so the next ping records the job as lost


def test_budgets_are_robust_to_float_error():
    assert compat.budgets(1, 27, 3) == [1.0, 3.0, 9.0, 27.0]
    assert compat.budgets(5, 45, 3) == [5.0, 15.0, 45.0]
    assert compat.budgets(1, 2, 2) == [1.0, 2.0]
    assert compat.budgets(3, 3, 3) == [3.0]
    # hpbandster counts -int(log(0.01/466.56)/log(6))+1, which is 6 or 7 depending on the platform's libm
    assert len(compat.budgets(0.01, 466.56, 6)) == 7 and compat.budgets(0.01, 466.56, 6)[0] == 0.01
    with pytest.raises(ConfigError, match="eta=1"):
        compat.budgets(1, 9, 1)
    with pytest.raises(ConfigError, match="min_budget"):
        compat.budgets(0, 9, 3)


def test_ordinal_hyperparameters_are_refused_up_front(tmp_path, capsys):
    import ConfigSpace as CS

    from benchmark.cli import main

    cs = CS.ConfigurationSpace(name="ord")
    cs.add([CS.OrdinalHyperparameter("se.hidden_size", [32, 64, 128])])
    with pytest.raises(ConfigError, match="'se.hidden_size' is Ordinal"):
        compat.check_space(cs)
    space = tmp_path / "ord.json"
    space.write_text(json.dumps(cs.to_serialized_dict()))
    assert main(["hpo", "run", "--space", str(space), "--out", str(tmp_path / "s"), "--workers", "1"]) == 2
    assert "is Ordinal" in capsys.readouterr().err
    assert not (tmp_path / "s" / "logs").exists()  # refused before any process started


def test_worker_leaves_the_root_logger_alone():
    from hpbandster.core.worker import Worker

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.handlers.clear()  # as in a fresh process (basicConfig does nothing once the root has a handler)
    root.setLevel(logging.WARNING)
    try:
        make_worker("quiet", nameserver="127.0.0.1", nameserver_port=1)
        assert root.level == logging.WARNING and not root.handlers
        Worker("loud")  # what hpbandster does without a logger
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_two_nameservers_get_distinct_free_ports_and_clean_up(tmp_path):
    before = set(threading.enumerate())
    with nameserver("a", tmp_path / "a") as (_, port_a), nameserver("b", tmp_path / "b") as (_, port_b):
        assert port_a != port_b and 9090 not in (port_a, port_b)
        assert json.loads((tmp_path / "a" / "nameserver.json").read_text())["port"] == port_a
    assert not (tmp_path / "a" / "nameserver.json").exists() and not (tmp_path / "b" / "nameserver.json").exists()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before


@pytest.mark.timeout(60)
def test_error_inside_a_nameserver_block_does_not_hang_the_process(tmp_path):
    code = ("from benchmark.hpo.launch import nameserver\n"
            f"with nameserver('r', {str(tmp_path)!r}):\n    raise RuntimeError('boom')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=45, env=ENV)
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr
    assert not (tmp_path / "nameserver.json").exists()


def test_partial_last_log_line_is_dropped(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('[[0, 0, 0], 1.0, {}, null, "x"]\n[[0, 0, 1], 1.0, {"subm')
    compat.drop_partial_line(path)
    assert path.read_text() == '[[0, 0, 0], 1.0, {}, null, "x"]\n'


def test_cli_refuses_a_missing_nameserver_and_an_existing_sweep(tmp_path, capsys):
    from benchmark.cli import main

    assert main(["hpo", "worker", "--run-id", "r", "--dir", str(tmp_path), "--wait", "0"]) == 2
    assert "no nameserver in" in capsys.readouterr().err
    prepare_sweep(tmp_path, _settings(), base_run("se_cartpole", TINY), resume=False)
    assert main(["hpo", "run", "--out", str(tmp_path), "--workers", "1"]) == 2
    assert "already holds a run" in capsys.readouterr().err


# -- dask -----------------------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_dask_executor_on_a_local_cluster_trains_the_same_se(tmp_path):
    distributed = pytest.importorskip("distributed")
    from benchmark.agents.ddqn import DDQNConfig
    from benchmark.nes.strategy import NESConfig
    from benchmark.nes.trainer import RunConfig, train_se
    from benchmark.parallel import DaskExecutor, make_executor, shutdown_now

    run = RunConfig(iterations=1, seed=3, nes=NESConfig(population=1), test_episodes=1, centre_agents=1, vary_hp=False,
                    agent=DDQNConfig(max_episodes=2, batch_size=16))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        executor = make_executor(2, scheduler=cluster.scheduler_address)
        assert isinstance(executor, DaskExecutor)
        try:
            assert executor.submit(pow, 2, 10).result(timeout=30) == 1024
            on_dask = train_se(run, tmp_path / "dask", workers=2, progress=False, executor=executor)
        finally:
            executor.shutdown()
        stopped = make_executor(2, scheduler=cluster.scheduler_address)
        stopped.submit(time.sleep, 5.0)  # an in-process cluster's thread cannot be cut short: the teardown waits
        start = time.monotonic()
        shutdown_now(stopped)  # the Ctrl-C path of the trainers: cancel, do not wait for the job
        assert time.monotonic() - start < 4.0 and stopped.client.status == "closed"  # the job would take 5 s
    serial = train_se(run, tmp_path / "serial", workers=1, progress=False)
    np.testing.assert_array_equal(on_dask.centre, serial.centre)
    assert on_dask.history[0]["member_scores"] == serial.history[0]["member_scores"]


def test_a_deadline_passing_while_a_config_is_sampled_still_runs_that_config():
    """The stop check happens once per master call: a configuration sampled (and logged) is handed out even when
    the deadline passes during sampling, so configs.json never holds a job that did not run."""
    from benchmark.hpo.bohb import StoppableSH

    asked = []

    def stop():
        asked.append(True)
        return len(asked) > 1  # time is up from the second question on

    logged = []

    class Logger:
        def new_config(self, config_id, config, info):
            logged.append(config_id)

    sh = StoppableSH(stop, HPB_iter=0, num_configs=[2], budgets=[1.0], config_sampler=lambda budget: ({"x": 1}, {}),
                     result_logger=Logger())
    config_id, config, budget = sh.get_next_run()
    assert logged == [config_id] and config == {"x": 1} and budget == 1.0
    assert sh.get_next_run() is None  # the deadline has passed: no further configuration
    assert logged == [config_id]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_a_worker_ends_when_the_process_that_started_it_is_killed(tmp_path):
    """`hpo run` starts its workers with --parent-pid: a SIGKILLed run leaves no worker behind."""
    starter = ("import os, subprocess, sys, time\n"
               "w = subprocess.Popen([sys.executable, '-m', 'benchmark.cli', 'hpo', 'worker', '--run-id', 'x',\n"
               f"                      '--dir', {str(tmp_path)!r}, '--wait', '300', '--parent-pid', str(os.getpid())])\n"
               "print(w.pid, flush=True)\n"
               "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    time.sleep(5)  # the worker waits for a nameserver that never comes
    assert _pid_alive(worker), "the worker did not start"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while _pid_alive(worker):
        assert time.monotonic() < deadline, "the worker outlived the process that started it"
        time.sleep(0.1)
