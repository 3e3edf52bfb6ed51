"""A real `sebench train-se` process with worker processes, interrupted and resumed."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from benchmark import io, schema

CONFIG = {"agent": {"max_episodes": 20, "batch_size": 32, "hidden_size": 32, "hidden_layers": 1, "init_episodes": 1},
          "test_episodes": 2, "centre_agents": 2, "vary_hp": False}


def _cmd(tmp_path, *extra):
    return [sys.executable, "-m", "benchmark.cli", "train-se", "--population", "2", "--iterations", "4",
            "--workers", "2", "--quiet", "--config", str(tmp_path / "run.json"), "--out", str(tmp_path / "run"),
            *extra]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_promptly_and_resume_finishes(tmp_path, sig):
    (tmp_path / "run.json").write_text(json.dumps(CONFIG))
    # as in a terminal: Ctrl-C delivered (a background job, e.g. under CI, inherits SIGINT ignored)
    proc = subprocess.Popen(_cmd(tmp_path), stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (tmp_path / "run" / schema.CHECKPOINT).exists():
        assert proc.poll() is None and time.time() < deadline, "no checkpoint was written"
        time.sleep(0.05)
    proc.send_signal(sig)
    start = time.time()
    assert proc.wait(timeout=30) == 128 + sig, proc.stderr.read()
    assert time.time() - start < 15
    assert "--resume" in proc.stderr.read()
    _, meta = io.load_tensors(tmp_path / "run" / schema.CHECKPOINT)
    assert 1 <= meta["state"]["iteration"] < 4
    done = subprocess.run(_cmd(tmp_path, "--resume"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / schema.SE_META).read_text())["iterations"] == 4


def test_shutdown_now_ends_a_worker_that_is_mid_job(processes_gone):
    from benchmark.parallel import make_executor, shutdown_now

    executor = make_executor(2)
    executor.submit(time.sleep, 60)
    time.sleep(0.5)  # the job is running
    processes = executor.processes
    shutdown_now(executor)
    assert processes_gone(processes, timeout=5)


def test_a_killed_worker_is_replaced_and_the_run_learns_the_same_se(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(CONFIG))
    cmd = [*_cmd(tmp_path)[:-1]]
    cmd[cmd.index("4")] = "2"  # two NES iterations
    reference = subprocess.run([*cmd, str(tmp_path / "reference")], capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr
    proc = subprocess.Popen([*cmd, str(tmp_path / "run")], stderr=subprocess.PIPE, text=True)
    deadline, workers = time.time() + 120, []
    while not workers:  # the spawned workers of this run (not its resource tracker)
        assert proc.poll() is None and time.time() < deadline, "no worker process started"
        workers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "multiprocessing-fork"], capture_output=True,
                                 text=True).stdout.split()
        time.sleep(0.2)
    time.sleep(2)  # mid-job
    subprocess.run(["kill", "-9", workers[0]])
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    assert "restarted the worker pool" in err
    weights = schema.SE_WEIGHTS
    assert (tmp_path / "run" / weights).read_bytes() == (tmp_path / "reference" / weights).read_bytes()


@pytest.mark.parametrize("stop", ["Terminated", "KeyboardInterrupt"])
def test_an_interrupt_raised_where_python_cannot_propagate_it_is_delivered_again(stop):
    """As when SIGTERM lands in logging's at-fork lock release (CI saw an `hpo run` go on after its SIGTERM)."""
    from benchmark import cli
    exc = cli.Terminated if stop == "Terminated" else KeyboardInterrupt

    class RaisesOnDelete:
        def __del__(self):
            raise exc

    # as in a terminal: SIGINT raises KeyboardInterrupt (a background job, e.g. under CI, inherits it ignored)
    previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _drop_and_wait(exc, RaisesOnDelete, cli)
    finally:
        signal.signal(signal.SIGINT, previous_sigint)


def _drop_and_wait(exc, raises_on_delete, cli):
    with pytest.raises(exc), cli.stop_signals():
        raises_on_delete()  # dropped at once: its exception goes to sys.unraisablehook, not here
        for _ in range(100):
            time.sleep(0.01)
        pytest.fail("the interrupt was lost")


def test_output_into_a_closed_pipe_ends_quietly():
    """`sebench ... | head -1`: the reader is gone before sebench writes; no traceback, exit 128 + SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "spaces", "list"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 128 + signal.SIGPIPE, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_serial_jobs_stop_at_an_interrupt_and_keep_errors_in_their_futures():
    """--workers 1: Ctrl-C / SIGTERM inside a job ends the call at once (before, the interrupt waited in the job's
    future while every later job of the NES iteration ran, minutes); an ordinary error stays in the future."""
    from benchmark.interrupts import Terminated
    from benchmark.parallel import SerialExecutor

    ran = []

    def job(i):
        ran.append(i)
        if i == 1:
            raise ValueError("bad job")
        if i == 2:
            raise Terminated
        return i

    executor = SerialExecutor()
    assert executor.submit(job, 0).result() == 0
    with pytest.raises(ValueError, match="bad job"):
        executor.submit(job, 1).result()
    with pytest.raises(Terminated):
        for i in (2, 3):
            executor.submit(job, i)
    assert ran == [0, 1, 2]
