"""The transfer protocol end to end on a tiny budget: SE sets, cells, resume, tables and figures."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.transfer import per_env, per_env_markdown, summarize
from benchmark import io, protocol, schema
from benchmark.agents.ddqn import DDQNConfig
from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.parallel import SerialExecutor
from benchmark.headline import zoo_set
from benchmark.nes.strategy import NESConfig
from benchmark.nes.trainer import RunConfig
from benchmark.protocol import ProtocolConfig, cell_specs, make_settings, reuse_cells, run_protocol
from benchmark.schema import AGENTS_TABLE, CELLS, PROTOCOL_META, REAL, UNFINISHED_ITERATION
from benchmark.se_sets import find_ses, train_ses

KEEP_UNSOLVED = {"progress": False, "solved_only": False}
"""Tiny runs never solve: they test the set mechanics, so unsolved seeds give SEs too."""
TINY_RUN = RunConfig(iterations=1, nes=NESConfig(population=2), test_episodes=2, centre_agents=2, vary_hp=False,
                     agent=DDQNConfig(max_episodes=2, batch_size=16, hidden_size=16))
TINY = ProtocolConfig(agents=("ddqn", "dueling_ddqn"), num_envs=2, agents_per_env=2, episodes=2, max_episodes=3)


@pytest.fixture(scope="module")
def se_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("ses") / "fixed"
    train_ses(TINY_RUN, out, count=2, workers=1, **KEEP_UNSOLVED)
    return out


def _run(out, se_set, config=TINY, **kw):
    settings = make_settings(config, [se_set])
    return run_protocol(config, settings, out, workers=1, progress=False, **kw)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, se_set):
    out = tmp_path_factory.mktemp("protocol") / "p"
    return out, _run(out, se_set)


def _without_some_cells(tmp_path, tiny_run, name):
    """A copy of the tiny run as if it had been killed before every other cell finished."""
    partial = tmp_path / name
    shutil.copytree(tiny_run[0], partial)
    for path in sorted((partial / CELLS).glob("*.json"))[::2]:
        path.unlink()
    (partial / AGENTS_TABLE).unlink()
    return partial


class CountingExecutor(SerialExecutor):
    """Runs jobs in this process and counts them (the protocol submits one job per cell)."""

    def __init__(self):
        self.jobs = 0

    def submit(self, fn, /, *args, **kwargs):
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


def _same_table(a, b):
    columns = [c for c in a.columns if c != "wall_s"]
    pd.testing.assert_frame_equal(a[columns].reset_index(drop=True), b[columns].reset_index(drop=True))


def test_train_ses_learns_distinct_seeds_and_skips_finished(se_set):
    ses = find_ses(se_set)
    assert [p.name for p in ses] == ["se_000", "se_001"]
    metas = [json.loads((p / schema.SE_META).read_text()) for p in ses]
    assert [m["seed"] for m in metas] == [0, 1] and not any(m["vary_hp"] for m in metas)
    before = [(p / schema.SE_WEIGHTS).stat().st_mtime_ns for p in ses]
    train_ses(TINY_RUN, se_set, count=2, workers=1, **KEEP_UNSOLVED)  # nothing to do
    assert [(p / schema.SE_WEIGHTS).stat().st_mtime_ns for p in ses] == before


def test_tiny_protocol_writes_every_column(tiny_run):
    frame = tiny_run[1]
    assert len(frame) == 2 * 2 * 2 * 2  # settings x envs x agent kinds x agents per env
    for column in ("setting", "se_id", "agent", "hyperparameters", "train_steps", "train_episodes", "wall_s",
                   "test_returns", "test_mean", "solved"):
        assert column in frame.columns
    assert set(frame.setting) == {REAL, "se_fixed_hp"}
    assert all(len(json.loads(r)) == 2 for r in frame.test_returns)
    assert (frame.train_steps > 0).all() and (frame.train_episodes <= TINY.max_episodes).all()
    se_rows = frame[frame.setting == "se_fixed_hp"]
    assert set(se_rows.se_id) == {"se_000", "se_001"}
    # paired design: the same hyperparameters and seeds on the real task and on the SEs
    key = ["env_index", "agent", "agent_index"]
    merged = frame[frame.setting == REAL].merge(se_rows, on=key)
    assert (merged.hyperparameters_x == merged.hyperparameters_y).all() and (merged.seed_x == merged.seed_y).all()
    assert len(set(frame[frame.setting == REAL].hyperparameters)) > 1  # sampled, not the defaults


def test_analysis_writes_every_table_and_figure_from_the_output_folder_alone(tmp_path, tiny_run, se_set):
    run = tmp_path / "p"
    shutil.copytree(tiny_run[0], run)
    shutil.rmtree(run / CELLS)  # the tidy table is enough
    hidden = se_set.with_name("moved_away")
    se_set.rename(hidden)  # the SE set is gone; the run folder holds what analysis needs
    try:
        assert main(["analyze", str(run), "--out", str(tmp_path / "figs")]) == 0
    finally:
        hidden.rename(se_set)
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    for stem in ("test_return_density", "train_steps_episodes", "nes_curves", "success_rate",
                 "transitions_se_fixed_hp", "per_env_returns"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert {"summary.md", "summary.tex", "summary.csv", "per_env.md", "per_env.csv"} <= names
    agents = pd.read_csv(run / AGENTS_TABLE)
    envs = pd.read_csv(tmp_path / "figs" / "per_env.csv")
    expected = agents.groupby(["setting", "env_index", "agent"]).test_mean.mean()
    assert len(envs) == len(expected)
    for r in envs.itertuples():
        assert r.test_return_mean == pytest.approx(expected[(r.setting, r.env_index, r.agent)])
    summary = pd.read_csv(tmp_path / "figs" / "summary.csv")
    assert len(summary) == 4
    assert summary[summary.setting == REAL].steps_change_vs_real_pct.abs().max() == 0
    assert "se_fixed_hp" in (tmp_path / "figs" / "summary.md").read_text()


def test_interrupted_run_resumes_to_the_same_table(tmp_path, tiny_run, se_set):
    partial = _without_some_cells(tmp_path, tiny_run, "partial")
    other_host = {"cpu": "another CPU", "torch_cpu_capability": "DEFAULT"}
    io.write_json(partial / PROTOCOL_META, {**io.read_json(partial / PROTOCOL_META), "hosts": [other_host]})
    _same_table(tiny_run[1], _run(partial, se_set, resume=True))
    assert io.read_json(partial / PROTOCOL_META)["hosts"] == [other_host, io.host_description()]
    with pytest.raises(ConfigError, match="another configuration"):
        _run(partial, se_set, config=ProtocolConfig(**{**TINY.to_dict(), "episodes": 3, "agents": TINY.agents}),
             resume=True)
    with pytest.raises(ConfigError, match="already holds a run"):
        _run(partial, se_set)
    meta = io.read_json(partial / PROTOCOL_META)
    io.write_json(partial / PROTOCOL_META, {k: v for k, v in meta.items() if k != "cell_numerics"})
    with pytest.raises(ConfigError, match="another revision of the cell code"):
        _run(partial, se_set, resume=True)


def test_resume_grows_num_envs_to_the_table_of_one_run(tmp_path, tiny_run, se_set):
    grown = tmp_path / "grown"
    one_env = ProtocolConfig(**{**TINY.to_dict(), "num_envs": 1, "agents": TINY.agents})
    before_real = [f"aa={se_set}"]  # settings [real, aa]: protocol.json stores them sorted, and they resume
    run_protocol(one_env, make_settings(one_env, before_real), tmp_path / "aa", workers=1, progress=False)
    run_protocol(TINY, make_settings(TINY, before_real), tmp_path / "aa", workers=1, progress=False, resume=True)
    _run(grown, se_set, config=one_env)
    _same_table(tiny_run[1], _run(grown, se_set, resume=True))
    assert io.read_json(grown / PROTOCOL_META)["config"]["num_envs"] == 2
    with pytest.raises(ConfigError, match="may only grow --num-envs"):
        _run(grown, se_set, config=one_env, resume=True)
    other = tmp_path / "other_set"
    shutil.copytree(se_set, other)
    shutil.copy(other / "se_001" / schema.SE_WEIGHTS, other / "se_000" / schema.SE_WEIGHTS)
    with pytest.raises(ConfigError, match="SE 0 of setting 'se_fixed_hp'"):
        _run(grown, other, resume=True)


def test_a_set_that_grows_out_of_seed_order_keeps_the_env_indices_of_its_finished_cells(tmp_path, se_set):
    growing = tmp_path / "growing"
    shutil.copytree(se_set, growing)
    (growing / "se_000" / schema.SE_META).rename(tmp_path / "se_000.json")  # seed 1 finished first
    one_env = ProtocolConfig(**{**TINY.to_dict(), "num_envs": 1, "agents": ("ddqn",)})
    two_envs = ProtocolConfig(**{**one_env.to_dict(), "num_envs": 2, "agents": ("ddqn",)})
    _run(tmp_path / "t", growing, config=one_env)
    cell = tmp_path / "t" / CELLS / "se_fixed_hp__ddqn__000.json"
    first = cell.read_bytes()
    (tmp_path / "se_000.json").rename(growing / "se_000" / schema.SE_META)
    assert [p.name for p in make_settings(two_envs, [growing])[1].ses] == ["se_000", "se_001"]
    settings = make_settings(two_envs, [growing], order_from=[tmp_path / "t"])
    assert [p.name for p in settings[1].ses] == ["se_001", "se_000"]
    run_protocol(two_envs, settings, tmp_path / "t", workers=1, progress=False, resume=True)
    assert cell.read_bytes() == first and (cell.parent / "se_fixed_hp__ddqn__001.json").exists()
    with pytest.raises(ConfigError, match="SE 0 of setting 'se_fixed_hp' is .*se_000"):
        _run(tmp_path / "t", growing, config=two_envs, resume=True)  # without the recorded order


def test_resuming_on_a_dask_cluster_gives_the_serial_table(tmp_path, tiny_run, se_set):
    distributed = pytest.importorskip("distributed")
    partial = _without_some_cells(tmp_path, tiny_run, "dask")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        on_dask = run_protocol(TINY, make_settings(TINY, [se_set]), partial, workers=2, progress=False,
                               resume=True, scheduler=cluster.scheduler_address)
    _same_table(tiny_run[1], on_dask)


def _cells(out):
    return {p.name: p.read_bytes() for p in sorted((out / CELLS).glob("*.json"))}


def test_extended_run_reuses_earlier_cells_and_computes_only_the_rest(tmp_path, tiny_run, se_set, capsys):
    small = ProtocolConfig(**{**TINY.to_dict(), "agents": ("ddqn",), "num_envs": 1})
    _run(tmp_path / "a", se_set, config=small)
    counting = CountingExecutor()
    extended = run_protocol(TINY, make_settings(TINY, [se_set]), tmp_path / "b", workers=1, executor=counting,
                            reuse_from=[tmp_path / "a"])
    assert capsys.readouterr().out.splitlines()[0] == f"reused 2 cells from {tmp_path / 'a'}"
    reused = _cells(tmp_path / "a")
    assert len(reused) == 2 and all(_cells(tmp_path / "b")[name] == data for name, data in reused.items())
    assert counting.jobs == 2 * 2 * 2 - 2  # one job per cell not reused
    _same_table(tiny_run[1], extended)  # reused cells are what a fresh run computes


def test_se_settings_and_real_baseline_run_apart_then_combine_without_computing(tmp_path, tiny_run, se_set):
    se_only = tmp_path / "se_only"
    assert main(["transfer", "--ses", str(se_set), "--no-real", "--agents", "ddqn,dueling_ddqn", "--num-envs", "2",
                 "--agents-per-env", "2", "--episodes", "2", "--max-episodes", "3", "--workers", "1", "--quiet",
                 "--out", str(se_only)]) == 0
    assert len(_cells(se_only)) == 4 and not any(name.startswith(REAL) for name in _cells(se_only))
    assert "| ddqn | se_fixed_hp |" in (se_only / "summary.md").read_text()  # summarised without a real row
    run_protocol(TINY, make_settings(TINY, []), tmp_path / "real_only", workers=1, progress=False)
    counting = CountingExecutor()
    combined = run_protocol(TINY, make_settings(TINY, [se_set]), tmp_path / "all", workers=1, progress=False,
                            executor=counting, reuse_from=[tmp_path / "real_only", se_only])
    assert counting.jobs == 0
    _same_table(tiny_run[1], combined)
    assert main(["transfer", "--no-real", "--out", str(tmp_path / "nothing")]) == 2


def test_cells_are_not_reused_from_another_seed_version_or_se(tmp_path, tiny_run, se_set):
    def reuse(config=TINY, ses=se_set, source=tiny_run[0]):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        (out / CELLS).mkdir(parents=True)
        return dict(reuse_cells(out, config, make_settings(config, [ses]), [source])[source])

    assert reuse() == {"reused": 8}
    assert reuse(ProtocolConfig(**{**TINY.to_dict(), "agents": TINY.agents, "seed": 1})) == {"other configuration": 8}
    old = tmp_path / "old"
    shutil.copytree(tiny_run[0], old, ignore=shutil.ignore_patterns("ses"))  # SEs found at their recorded paths
    assert reuse(source=old) == {"reused": 8}
    meta = io.read_json(old / PROTOCOL_META)
    io.write_json(old / PROTOCOL_META, {**meta, "versions": {**meta["versions"], "sebench": "0.0.1"}})
    assert reuse(source=old) == {"other sebench version": 8}
    io.write_json(old / PROTOCOL_META, {**meta, "cell_numerics": protocol.CELL_NUMERICS - 1})
    assert reuse(source=old) == {"other cell numerics": 8}
    other = tmp_path / "other_ses"
    shutil.copytree(se_set, other)
    shutil.copyfile(other / "se_000" / schema.SE_WEIGHTS, other / "se_001" / schema.SE_WEIGHTS)
    assert reuse(ses=other) == {"reused": 6, "other SE": 2}  # real cells and SE 0; not SE 1
    with pytest.raises(ConfigError, match="not a transfer folder"):
        reuse(source=se_set)


def test_bad_requests_get_clear_errors(tmp_path, se_set):
    with pytest.raises(ConfigError, match="num_envs=5 needs 5 SEs"):
        make_settings(ProtocolConfig(num_envs=5, agents=("ddqn",)), [se_set])
    with pytest.raises(ConfigError, match="agent='ppo2'"):
        ProtocolConfig(agents=("ppo2",))
    with pytest.raises(ConfigError, match="agents_per_env"):
        ProtocolConfig(agents_per_env=0)
    with pytest.raises(ConfigError, match="learned for task"):
        make_settings(ProtocolConfig(task="Acrobot-v1", num_envs=1, agents=("ddqn",)), [se_set])
    assert main(["transfer", "--agents", "ddqn", "--num-envs", "9", "--ses", str(se_set),
                 "--out", str(tmp_path / "x")]) == 2
    assert main(["transfer", "--agents", "ddqn", "--num-envs", "1", "--reuse-cells", str(se_set),
                 "--out", str(tmp_path / "y")]) == 2
    assert not (tmp_path / "y").exists()


def test_summary_change_in_steps_against_real():
    rows = [{"agent": "ddqn", "setting": s, "train_steps": steps, "train_episodes": 10, "test_mean": ret,
             "test_returns": json.dumps([ret, ret])}
            for s, steps, ret in ((REAL, 1000, 200.0), (REAL, 3000, 100.0), ("se", 500, 200.0), ("se", 500, 190.0))]
    table = summarize(pd.DataFrame(rows), solved=195).set_index("setting")
    assert table.loc["se", "steps_change_vs_real_pct"] == pytest.approx(-75.0)
    assert table.loc[REAL, "solved_share"] == 0.5 and table.loc["se", "solved_share"] == 0.5
    assert table.loc[REAL, "test_return_mean"] == pytest.approx(150.0)


def test_per_env_table_keeps_each_environment_apart():
    rows = [{"agent": a, "setting": "se", "env_index": env, "se_id": f"se_00{env}", "train_steps": steps,
             "train_episodes": 10, "test_mean": ret}
            for a, env, steps, ret in (("ddqn", 0, 100, 200.0), ("ddqn", 0, 300, 100.0), ("ddqn", 1, 500, 10.0),
                                       ("td3_discrete", 1, 700, 196.0))]
    table = per_env(pd.DataFrame(rows), solved=195)
    first = table.set_index(["env_index", "agent"]).loc[(0, "ddqn")]
    assert (first.agents, first.test_return_mean, first.train_steps_mean, first.solved_share) == (2, 150.0, 200.0, 0.5)
    assert len(table) == 3
    text = per_env_markdown(table).splitlines()
    assert text[0] == "| setting | env | SE | ddqn: test return (steps) | td3_discrete: test return (steps) |"
    assert text[2] == "| se | 0 | se_000 | 150.0 (200) |  |"
    assert text[3] == "| se | 1 | se_001 | 10.0 (500) | 196.0 (700) |"


def test_cell_specs_are_seeded_and_sampled():
    a, b = cell_specs(TINY, "ddqn", 0), cell_specs(TINY, "ddqn", 0)
    assert a == b
    assert cell_specs(TINY, "ddqn", 1) != a
    assert all(s.config.dueling for s in cell_specs(TINY, "dueling_ddqn", 0))


def test_headline_takes_the_real_baseline_cells_unless_asked_to_recompute(tmp_path):
    from benchmark.headline import run_headline

    config = ProtocolConfig(agents=("ddqn",), num_envs=1, agents_per_env=2, episodes=2, max_episodes=3)
    baseline = tmp_path / "baselines" / "cp_real"
    run_protocol(config, make_settings(config, []), baseline, workers=1, progress=False)
    cell = baseline / CELLS / "real__ddqn__000.json"
    rows = io.read_json(cell)["rows"]
    io.write_json(cell, {"rows": [{**r, "wall_s": -1.0} for r in rows]})  # marks the baseline's cell
    for recompute in (False, True):
        transfer = run_headline(tmp_path / f"h{recompute}", config, {"se_varied_hp": zoo_set(config.task, "varied_hp_v2")},
                                workers=1, progress=False, recompute_real=recompute, baselines=tmp_path / "baselines")
        real = io.read_json(transfer / CELLS / "real__ddqn__000.json")["rows"]
        assert [r["wall_s"] == -1.0 for r in real] == [not recompute] * 2
        assert [r["test_returns"] for r in real] == [r["test_returns"] for r in rows]


def test_headline_learns_the_ses_it_is_given_as_runs_and_takes_the_others_from_their_folders(tmp_path):
    from benchmark.headline import describe_ses, run_headline

    config = ProtocolConfig(agents=("ddqn",), num_envs=1, agents_per_env=2, episodes=2, max_episodes=3)
    zoo = zoo_set(config.task, "varied_hp_v2")
    transfer = run_headline(tmp_path / "h", config, {"se_fixed_hp": TINY_RUN, "se_varied_hp": zoo},
                            workers=1, progress=False)
    assert [p.name for p in find_ses(tmp_path / "h" / "ses" / "se_fixed_hp")] == ["se_000"]
    assert set(pd.read_csv(transfer / AGENTS_TABLE).setting) == {REAL, "se_fixed_hp", "se_varied_hp"}
    lines = describe_ses(transfer)
    assert lines[0].startswith(f"se_fixed_hp: {tmp_path / 'h' / 'ses' / 'se_fixed_hp' / 'se_000'} (preset "
                               "paper_transfer, 2 centre agent(s) with fixed HPs, population 2; seed 0, ")
    assert lines[1] == (f"se_varied_hp: {zoo / 'se_000'} (preset none (sebench < 0.3.0), 1 centre agent(s) with varied "
                        "HPs, population 16; seed 0, solved after 55 NES iterations, 3.8 h of learning)")
    assert lines[2].startswith("se_fixed_hp vs se_varied_hp: agent.batch_size 16 vs 199; ")
    assert "; centre_agents 2 vs 1; " in lines[2] and '; se.heads "separate" vs "shared"; ' in lines[2]
    assert lines[2].endswith("; vary_hp false vs true")


def test_the_headline_learns_the_fixed_hp_se_and_takes_the_varied_hp_one_from_the_zoo_by_default():
    from benchmark.headline import ZOO_SETS, headline_ses

    default = headline_ses("CartPole-v0")
    fixed = default["se_fixed_hp"]
    assert (fixed.preset, fixed.centre_agents, fixed.nes.population, fixed.vary_hp, fixed.iterations) == \
        ("quick", 4, 8, False, 10)
    assert fixed.nes.noise_std == 0.05 and fixed.se.heads == "separate"  # paper_transfer's NES and SE
    assert default["se_varied_hp"] == zoo_set("CartPole-v0", ZOO_SETS["se_varied_hp"])
    assert headline_ses("CartPole-v0", ()) == {label: zoo_set("CartPole-v0", names) for label, names in ZOO_SETS.items()}
    varied = headline_ses("Acrobot-v1", ("se_fixed_hp", "se_varied_hp"), 7)["se_varied_hp"]
    assert (varied.task, varied.preset, varied.vary_hp, varied.centre_agents, varied.iterations) == \
        ("Acrobot-v1", "paper_transfer", True, 16, 7)


def test_zoo_set_takes_the_first_set_that_exists_and_lists_the_sets_when_none_does():
    assert zoo_set("CartPole-v0", ("no_such_set", "varied_hp_v2")).name == "varied_hp_v2"
    with pytest.raises(ConfigError, match="the SE sets of CartPole-v0 there: .*varied_hp_v2"):
        zoo_set("CartPole-v0", ("no_such_set",))


def test_headline_refuses_to_both_learn_nothing_and_learn_the_varied_hp_se(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["headline", "--zoo", "--learn-varied", "--out", str(tmp_path / "h")])
    assert exit_info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_headline_on_the_zoo_prints_the_summary(tmp_path, capsys):
    assert main(["headline", "--zoo", "--agents", "ddqn", "--agents-per-env", "2", "--episodes", "2",
                 "--max-episodes", "3", "--workers", "1", "--quiet", "--out", str(tmp_path / "h")]) == 0
    printed = capsys.readouterr().out
    assert "| ddqn | real |" in printed and "| ddqn | se_varied_hp |" in printed and "| ddqn | se_fixed_hp |" in printed
    assert "se_fixed_hp: " in printed and "sebench headline took " in printed
    assert not (tmp_path / "h" / "ses").exists()  # nothing learned
    assert (tmp_path / "h" / "transfer" / "test_return_density.png").exists()



def test_status_reports_sets_and_transfer_folders_from_their_files(tmp_path, tiny_run, se_set, capsys):
    partial = _without_some_cells(tmp_path, tiny_run, "status")
    io.write_json(partial / schema.FAILURES, {"real__ddqn__000": "ValueError: boom"})
    learning = tmp_path / "set"
    shutil.copytree(se_set, learning)
    (learning / "se_001" / schema.SE_META).unlink()  # as if seed 1 were still learning, one job into its next iteration
    (learning / "se_001" / UNFINISHED_ITERATION).mkdir()
    (learning / "se_001" / UNFINISHED_ITERATION / "0123.json").write_text("{}")
    (learning / "se_002" / UNFINISHED_ITERATION).mkdir(parents=True)  # a seed two jobs into its first iteration
    for name in ("4567.json", "89ab.json"):
        (learning / "se_002" / UNFINISHED_ITERATION / name).write_text("{}")
    assert main(["status", str(se_set), str(partial), str(learning)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"{se_set}: 2 finished, 0 given up, 0 learning" in out
    assert any(line.startswith("  se_000 finished (") for line in out)
    assert f"{partial}: 4 of 8 cells done (2 settings x 2 agents x 2 envs)" in out
    assert "  1 failed cell(s), rerun with --resume: real__ddqn__000" in out
    assert "  real: the first 0 env(s) complete for every agent" in out  # every env lacks a cell
    assert schema.complete_envs(tiny_run[0], REAL, TINY.agents) == 2
    assert f"{learning}: 1 finished, 0 given up, 2 learning" in out
    assert "  se_002 learning: no iteration finished yet; 2 job(s) of the next iteration done" in out
    assert any(line.startswith("  se_001 learning: 1 iteration(s), last centre")
               and line.endswith("; 1 job(s) of the next iteration done") for line in out)
    assert main(["status", str(tmp_path / "missing")]) == 2
    started = tmp_path / "started"  # train-ses has written set.json, no seed has files yet
    started.mkdir()
    shutil.copy(se_set / schema.SET_META, started / schema.SET_META)
    capsys.readouterr()
    assert main(["status", str(started)]) == 0
    assert "no seed's files yet" in capsys.readouterr().out
    (started / "se_000").mkdir()  # train-ses made the seed's folder; its first jobs are running
    assert main(["status", str(started)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{started}: 0 finished, 0 given up, 1 learning",
                                                    "  se_000 learning: no iteration finished yet"]


def test_recipes_table_counts_each_arms_seeds_and_summarises_its_transfer(tmp_path, tiny_run, se_set, capsys):
    arm = tmp_path / "arm"
    shutil.copytree(se_set, arm)
    meta = io.read_json(arm / "se_000" / schema.SE_META)
    io.write_json(arm / "se_000" / schema.SE_META, {**meta, "solved": True})  # seed 0 solved, seed 1 did not
    assert meta["cpu_time_s"] > 0
    given_up = arm / "se_002"
    shutil.copytree(arm / "se_001", given_up)
    (given_up / schema.SE_META).unlink()
    io.write_json(given_up / schema.GIVEN_UP, {"reason": "unsolved", "iterations": 1, "wall_time_s": 7200.0})
    assert main(["recipes", f"a={arm},{tiny_run[0]}", f"b={se_set}", "--out", str(tmp_path / "t")]) == 0
    cost = pd.read_csv(tmp_path / "t" / "recipes_cost.csv").set_index("arm")
    assert cost.loc["a", ["tried", "solved", "unsolved", "given_up", "learning"]].tolist() == [3, 1, 1, 1, 0]
    hours = meta["wall_time_s"] / 3600
    assert cost.loc["a", "yield"] == pytest.approx(1 / 3) and cost.loc["a", "hours_median"] == pytest.approx(hours)
    ended = sum(io.read_json(arm / s / schema.SE_META)["wall_time_s"] for s in ("se_000", "se_001")) + 7200.0
    assert cost.loc["a", "hours_per_solved"] == pytest.approx(ended / 3600)  # every ended seed's time per solved SE
    assert cost.loc["a", "cpu_hours_median"] == pytest.approx(meta["cpu_time_s"] / 3600)
    per_iteration = [float(r["cpu_s"]) for s in ("se_000", "se_001", "se_002") for r in schema.read_history(arm / s)]
    assert cost.loc["a", "iterations_measured"] == len(per_iteration) > 0
    assert cost.loc["a", "iteration_cpu_s_median"] == pytest.approx(np.median(per_iteration))
    assert cost.loc["b", "solved"] == 0 and cost.loc["b", "yield"] == 0
    transfer = pd.read_csv(tmp_path / "t" / "recipes_transfer.csv")
    assert transfer.setting.tolist() == [REAL, "a", REAL, "a"]  # the arm's SE rows under its name, then by agent
    assert (transfer.envs == 2).all() and (transfer.agents == 4).all()
    expected = summarize(tiny_run[1], 195.0).set_index(["agent", "setting"])
    for r in transfer.itertuples():
        row = expected.loc[(r.agent, REAL if r.setting == REAL else "se_fixed_hp")]
        assert r.test_return_mean == pytest.approx(row.test_return_mean)
        assert r.steps_change_vs_real_pct == pytest.approx(row.steps_change_vs_real_pct, nan_ok=True)
    out = capsys.readouterr().out
    assert "| a | 3 | 1 | 1 | 1 | 0 | 33% |" in out and f"real rows from {tiny_run[0]}" in out
    assert (tmp_path / "t" / "recipes.md").read_text() == out
    assert (tmp_path / "t" / "recipe_curves.png").stat().st_size > 0


def test_recipe_curves_are_each_seeds_centre_scores(tmp_path, se_set):
    from analysis.recipes import Arm, centre_curves

    curves = centre_curves([Arm("b", se_set), Arm("empty", tmp_path)])
    for seed, run in curves.groupby("seed"):
        history = schema.read_history(se_set / seed)
        assert run.iteration.tolist() == list(range(len(history)))
        assert run.centre_score.tolist() == [float(r["centre_score"]) for r in history]
    assert set(curves.arm) == {"b"} and set(curves.state) <= {"solved", "unsolved"}


def test_recipes_refuses_folders_it_cannot_compare(tmp_path, tiny_run, se_set, capsys):
    other_task = tmp_path / "other"
    shutil.copytree(tiny_run[0], other_task)
    meta = io.read_json(other_task / PROTOCOL_META)
    io.write_json(other_task / PROTOCOL_META, {**meta, "task_solved": -100.0})
    two = tmp_path / "two"  # one transfer folder with two SE settings
    shutil.copytree(tiny_run[0], two)
    for path in (two / CELLS).glob("se_fixed_hp__*.json"):
        shutil.copy(path, path.with_name(path.name.replace("se_fixed_hp", "se_other")))
        data = io.read_json(path)
        io.write_json(path.with_name(path.name.replace("se_fixed_hp", "se_other")),
                      {"rows": [{**r, "setting": "se_other"} for r in data["rows"]]})
    no_real = tmp_path / "no_real"
    shutil.copytree(tiny_run[0], no_real)
    for path in (no_real / CELLS).glob("real__*.json"):
        path.unlink()
    for argv, message in [
        (["noequals"], "expected NAME=SET_DIR"),
        ([f"a={tmp_path}"], "is not an SE set"),
        ([f"a={se_set},{tmp_path}"], "is not a transfer folder"),
        ([f"real={se_set}"], "must be distinct and not 'real'"),
        ([f"a={se_set},{tiny_run[0]}", f"b={se_set},{other_task}"], "of different tasks or thresholds"),
        ([f"a={se_set},{two}"], "holds several SE settings (se_fixed_hp, se_other)"),
        ([f"a={se_set},{tiny_run[0]}", "--real", str(no_real)], "has no real-task cells yet"),
    ]:
        assert main(["recipes", *argv]) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert main(["recipes", f"a={se_set},{no_real}"]) == 0  # no real rows anywhere: said, not an error
    assert "no real baseline (give --real)" in capsys.readouterr().out
