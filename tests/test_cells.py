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
        processes = list(pool._processes.values())
        raise RuntimeError("stop")
    assert processes_gone(processes, timeout=10)
