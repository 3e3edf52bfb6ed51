"""SE training runs end to end: files, resume, errors."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

import benchmark
from benchmark import io, schema
from benchmark.agents.ddqn import DDQNConfig
from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.nes.strategy import NESConfig
from benchmark.nes.trainer import RunConfig, train_se
from benchmark.parallel import SerialExecutor
from benchmark.schema import UNFINISHED_ITERATION

TINY = RunConfig(iterations=2, seed=3, nes=NESConfig(population=2), test_episodes=2, centre_agents=2, vary_hp=False,
                 agent=DDQNConfig(max_episodes=3, batch_size=16))


def _run(tmp_path, name, run=TINY, **kw):
    return train_se(run, tmp_path / name, workers=1, progress=False, **kw)


def test_population_2_two_iterations_writes_every_file(tmp_path):
    state = _run(tmp_path, "a")
    out = tmp_path / "a"
    assert {p.name for p in out.iterdir()} == {schema.SE_WEIGHTS, schema.SE_META, schema.HISTORY, schema.CHECKPOINT}
    meta = json.loads((out / schema.SE_META).read_text())
    for key in ("task", "architecture", "seed", "versions", "nes", "agent", "iterations", "solved",
                "wall_time_s", "cpu_time_s", "real_env_steps"):
        assert key in meta
    assert meta["iterations"] == state.iteration == 2 and meta["real_env_steps"] > 0
    history = pd.read_csv(out / schema.HISTORY)
    assert (history.cpu_s > 0).all() and meta["cpu_time_s"] == pytest.approx(history.cpu_s.sum(), abs=0.01)
    assert list(history.iteration) == [0, 1]
    assert len(json.loads(history.member_scores[0])) == 4  # 2P members, centre scored apart
    env = benchmark.load_se(out)
    assert env.reset(seed=0)[0].shape == (4,)


def test_killed_run_resumes_to_the_same_se(tmp_path):
    full = _run(tmp_path, "full")
    _run(tmp_path, "split", stop_after=1)
    assert not (tmp_path / "split" / schema.SE_WEIGHTS).exists()
    resumed = _run(tmp_path, "split", resume=True)
    np.testing.assert_array_equal(full.centre, resumed.centre)
    a, b = (io.load_tensors(tmp_path / run / schema.SE_WEIGHTS)[0] for run in ("full", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    timing = ["time_s", "elapsed_s", "cpu_s"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "full" / schema.HISTORY).drop(columns=timing),
                                  pd.read_csv(tmp_path / "split" / schema.HISTORY).drop(columns=timing))


class _Killed(Exception):
    pass


class _CountingExecutor(SerialExecutor):
    """Runs jobs at once and counts them; `kill_at`: the submit that raises _Killed (the run dies there)."""

    def __init__(self, kill_at: int | None = None):
        self.submits, self.kill_at = 0, kill_at

    def submit(self, fn, /, *args, **kwargs):
        self.submits += 1
        if self.submits == self.kill_at:
            raise _Killed
        return super().submit(fn, *args, **kwargs)


def test_a_run_killed_mid_iteration_redoes_only_its_unfinished_jobs(tmp_path):
    full = train_se(TINY, tmp_path / "full", workers=2, executor=_CountingExecutor(), progress=False)
    split = tmp_path / "split"
    with pytest.raises(_Killed):  # 2 jobs per iteration: killed after iteration 1's first job
        train_se(TINY, split, workers=2, executor=_CountingExecutor(kill_at=4), progress=False)
    assert len(list((split / UNFINISHED_ITERATION).iterdir())) == 1
    rest = _CountingExecutor()
    resumed = train_se(TINY, split, workers=2, executor=rest, progress=False, resume=True)
    assert rest.submits == 1
    assert not (split / UNFINISHED_ITERATION).exists()
    np.testing.assert_array_equal(full.centre, resumed.centre)
    timing = ["time_s", "elapsed_s", "cpu_s"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "full" / schema.HISTORY).drop(columns=timing),
                                  pd.read_csv(split / schema.HISTORY).drop(columns=timing))


def test_scalar_and_batched_engines_score_the_same_population(tmp_path):
    _run(tmp_path, "b", run=RunConfig(**{**vars(TINY), "iterations": 1}))
    _run(tmp_path, "s", run=RunConfig(**{**vars(TINY), "iterations": 1, "engine": "scalar"}))
    hb, hs = pd.read_csv(tmp_path / "b" / schema.HISTORY), pd.read_csv(tmp_path / "s" / schema.HISTORY)
    assert hb.centre_score[0] == hs.centre_score[0]
    assert hb.member_scores[0] == hs.member_scores[0]


def test_existing_run_is_not_overwritten_and_resume_checks_the_config(tmp_path):
    _run(tmp_path, "a", run=RunConfig(**{**vars(TINY), "iterations": 1}))
    with pytest.raises(ConfigError, match="already holds a run"):
        _run(tmp_path, "a")
    with pytest.raises(ConfigError, match="different configuration"):
        _run(tmp_path, "a", run=RunConfig(**{**vars(TINY), "seed": 4}), resume=True)


@pytest.mark.parametrize("argv, message", [
    (["--task", "Pong-v0"], "task='Pong-v0' is not a known task"),
    (["--population", "0"], "population=0 is out of range"),
])
def test_cli_bad_input_gets_one_clear_error(tmp_path, capsys, argv, message):
    assert main(["train-se", "--out", str(tmp_path / "x"), "--workers", "1", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_missing_or_corrupted_se_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no SE at"):
        benchmark.load_se(tmp_path / "nothing")
    _run(tmp_path, "a", run=RunConfig(**{**vars(TINY), "iterations": 1}))
    (tmp_path / "a" / schema.SE_WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="corrupted safetensors"):
        benchmark.load_se(tmp_path / "a")
    (tmp_path / "a" / schema.SE_META).write_text("{not json")
    with pytest.raises(ConfigError, match="corrupted JSON"):
        benchmark.load_se(tmp_path / "a")


def test_unwritable_output_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        _run(tmp_path, "file")
    with pytest.raises(ConfigError, match="not writable"):
        _run(blocker, "sub")


def test_analyze_draws_the_learning_curves_from_the_files(tmp_path, capsys):
    _run(tmp_path, "a", run=RunConfig(**{**vars(TINY), "iterations": 1}))
    assert main(["analyze", str(tmp_path / "a"), "--out", str(tmp_path / "fig")]) == 0
    for name in ("nes_curves.png", "nes_curves.pdf"):
        assert (tmp_path / "fig" / name).stat().st_size > 1000
    assert main(["analyze", str(tmp_path)]) == 2


def test_resume_may_raise_the_iteration_limit(tmp_path):
    _run(tmp_path, "a", run=RunConfig(**{**vars(TINY), "iterations": 1}))
    state = _run(tmp_path, "a", run=TINY, resume=True)
    assert state.iteration == 2
    assert len(pd.read_csv(tmp_path / "a" / schema.HISTORY)) == 2
    with pytest.raises(ConfigError, match="below the 2 iterations"):
        _run(tmp_path, "a", run=RunConfig(**{**vars(TINY), "iterations": 1}), resume=True)


class _LateExecutor(SerialExecutor):
    """Completes each job's future from another thread, after a delay (as a process pool does)."""

    def submit(self, fn, /, *args, **kwargs):
        import threading
        from concurrent.futures import Future

        future = Future()
        result = fn(*args, **kwargs)
        threading.Timer(0.05, future.set_result, [result]).start()
        return future


def test_every_finished_job_is_saved_before_the_iteration_is_checkpointed(tmp_path, monkeypatch):
    """The race of issue 26: a job saved from a future's callback could land after the checkpoint had cleared the
    iteration's jobs (a stale file, or a FileNotFoundError). A slow save makes it deterministic."""
    import time

    from benchmark.job_store import JobStore

    saves = []
    original = JobStore.save

    def slow_save(self, digest, outcomes):
        time.sleep(0.2)
        original(self, digest, outcomes)
        saves.append(digest)

    monkeypatch.setattr(JobStore, "save", slow_save)
    run = RunConfig(**{**vars(TINY), "iterations": 1})
    train_se(run, tmp_path / "a", workers=2, executor=_LateExecutor(), progress=False)
    assert len(saves) >= 2  # every job was saved (then cleared with the checkpoint) ...
    assert not (tmp_path / "a" / UNFINISHED_ITERATION).exists()  # ... and nothing was left behind


def test_the_agents_cpu_time_is_kept_with_a_finished_job_and_missing_in_older_ones(tmp_path):
    """A resumed iteration's kept jobs count the CPU time they cost when they ran; outcomes stored by a sebench
    before the CPU accounting load with NaN, so the iteration's cpu_s and the run's cpu_time_s stay unknown."""
    from benchmark.job_store import JobStore

    split = tmp_path / "split"
    with pytest.raises(_Killed):
        train_se(TINY, split, workers=2, executor=_CountingExecutor(kill_at=4), progress=False)
    (kept,) = (split / UNFINISHED_ITERATION).iterdir()
    data = io.read_json(kept)
    assert all(o["cpu_s"] > 0 for o in data["outcomes"])
    store = JobStore(split / UNFINISHED_ITERATION)
    assert [o.cpu_s for o in store.load(data["digest"])] == [o["cpu_s"] for o in data["outcomes"]]
    for o in data["outcomes"]:
        del o["cpu_s"]
    io.write_json(kept, data)
    assert all(np.isnan(o.cpu_s) for o in store.load(data["digest"]))
    train_se(TINY, split, workers=2, executor=_CountingExecutor(), progress=False, resume=True)
    history = pd.read_csv(split / schema.HISTORY)
    assert history.cpu_s[0] > 0 and np.isnan(history.cpu_s[1])
    assert io.read_json(split / schema.SE_META)["cpu_time_s"] is None
