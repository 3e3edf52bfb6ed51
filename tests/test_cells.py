"""run_cells: results written as they arrive (also serially), failures recorded, interrupts raised."""
import json

import pytest

from benchmark.cells import run_cells
from benchmark.parallel import SerialExecutor, make_executor


def _square(x):
    if x == 3:
        raise ValueError("boom on 3")
    return x * x


def _run(executor, cells, tmp_path, written, workers=1):
    return run_cells(executor, cells, submit=lambda c: executor.submit(_square, c),
                     write=lambda c, r: written.append((c, r)), name=lambda c: f"cell_{c}",
                     failures_path=tmp_path / "failures.json", workers=workers)


def test_serial_cells_are_written_one_by_one_and_failures_recorded(tmp_path):
    executor, written, started = SerialExecutor(), [], []

    def submit(c):
        started.append((c, len(written)))  # how many results were written when this cell started
        return executor.submit(_square, c)

    failures = run_cells(executor, range(5), submit=submit, write=lambda c, r: written.append((c, r)),
                         name=lambda c: f"cell_{c}", failures_path=tmp_path / "failures.json", workers=1)
    assert started == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 3)]  # each result lands before the next cell runs
    assert written == [(0, 0), (1, 1), (2, 4), (4, 16)]
    assert failures == {"cell_3": "ValueError: boom on 3"}
    assert json.loads((tmp_path / "failures.json").read_text()) == failures
    # a rerun that succeeds clears the failures file
    assert run_cells(executor, [4], submit=lambda c: executor.submit(_square, c), write=lambda c, r: None,
                     name=lambda c: f"cell_{c}", failures_path=tmp_path / "failures.json", workers=1) == {"cell_3": "ValueError: boom on 3"}
    (tmp_path / "failures.json").write_text(json.dumps({"cell_4": "old"}))
    assert _run(executor, [4], tmp_path, []) == {}
    assert not (tmp_path / "failures.json").exists()


def test_pool_cells_all_arrive(tmp_path):
    executor, written = make_executor(2), []
    try:
        _run(executor, [0, 1, 2, 4, 5, 6], tmp_path, written, workers=2)
    finally:
        executor.shutdown()
    assert sorted(written) == [(0, 0), (1, 1), (2, 4), (4, 16), (5, 25), (6, 36)]


def test_an_interrupt_is_raised_not_recorded(tmp_path):
    executor = SerialExecutor()

    def interrupted(c):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cells(executor, [1], submit=lambda c: executor.submit(interrupted, c), write=lambda c, r: None,
                  name=str, failures_path=tmp_path / "f.json", workers=1)
    assert not (tmp_path / "f.json").exists()


def test_executor_scope_owns_only_what_it_makes(processes_gone):
    from benchmark.parallel import executor_scope

    given = SerialExecutor()
    with executor_scope(given, workers=2) as pool:
        assert pool is given
    with pytest.raises(RuntimeError), executor_scope(None, workers=2) as pool:
        processes = None
        pool.submit(pow, 2, 2).result()
        processes = pool.processes
        raise RuntimeError("stop")
    assert processes_gone(processes, timeout=10)


def _die_once(marker, x):
    """Kills its own worker process the first time (marker file absent), then returns x * x."""
    import os
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
    return x * x


def _die_always(x):
    import os
    import time

    if x == 2:
        time.sleep(1)  # the other cells finish first, so only this job is in flight when its worker dies
        os._exit(1)
    return x * x


def test_a_dead_worker_is_replaced_and_its_jobs_resubmitted(tmp_path, capsys):
    executor = make_executor(2)
    try:
        results = [executor.submit(_die_once, str(tmp_path / "died"), x) for x in range(4)]
        assert [f.result(timeout=120) for f in results] == [0, 1, 4, 9]
        assert executor.restarts == 1
    finally:
        executor.shutdown()
    assert "worker process died" in capsys.readouterr().err


def test_a_job_that_always_kills_its_worker_is_recorded_as_a_failure(tmp_path):
    executor, written = make_executor(2), []
    try:
        failures = run_cells(executor, [0, 1, 4, 2], submit=lambda c: executor.submit(_die_always, c),
                             write=lambda c, r: written.append((c, r)), name=lambda c: f"cell_{c}",
                             failures_path=tmp_path / "failures.json", workers=2)
    finally:
        executor.shutdown()
    assert sorted(written) == [(0, 0), (1, 1), (4, 16)]  # the other cells still arrive
    assert list(failures) == ["cell_2"] and failures["cell_2"].startswith("WorkerDied: _die_always")
    assert json.loads((tmp_path / "failures.json").read_text()) == failures
