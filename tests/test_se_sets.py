"""SE sets: giving up seeds whose population learns nothing, and trying the next seed instead."""
import dataclasses
import json

import pytest
import torch

from benchmark import io, schema
from benchmark.agents.ddqn import DDQNConfig
from benchmark.envs.tasks import random_policy_return
from benchmark.errors import ConfigError
from benchmark.nes.strategy import NESConfig
from benchmark.nes.trainer import GiveUp, RunConfig
from benchmark.schema import GIVEN_UP, SET_META
from benchmark.se_sets import find_ses, given_up_runs, train_ses

KEEP_UNSOLVED = {"progress": False, "solved_only": False}
"""Tiny runs never solve: they test the set mechanics, so unsolved seeds give SEs too."""
RUN = RunConfig(iterations=3, nes=NESConfig(population=2), test_episodes=2, centre_agents=2, vary_hp=False,
                agent=DDQNConfig(max_episodes=2, batch_size=16, hidden_size=16))


def test_random_policy_return_is_the_known_level():
    assert 18 < random_policy_return("CartPole-v0") < 27
    assert random_policy_return("Acrobot-v1") < -450
    assert random_policy_return("CartPole-v0") == random_policy_return("CartPole-v0", episodes=100, seed=0)


def test_give_up_needs_after_consecutive_flat_iterations():
    rule = GiveUp(after=2, below=10.0)
    flat, learned = {"best_member_score": 9.5}, {"best_member_score": 40.0}
    assert not rule.applies("CartPole-v0", [flat])
    assert rule.applies("CartPole-v0", [learned, flat, flat])
    assert not rule.applies("CartPole-v0", [flat, learned, flat])
    assert GiveUp(after=1).floor("CartPole-v0") == random_policy_return("CartPole-v0")
    with pytest.raises(ConfigError, match="give_up_after"):
        GiveUp(after=0)


def test_given_up_seeds_are_recorded_and_the_set_moves_on(tmp_path):
    out = tmp_path / "set"
    folders = train_ses(RUN, out, count=1, workers=1, **KEEP_UNSOLVED, give_up=GiveUp(1, below=1e9), max_seeds=2)
    assert folders == []
    meta = json.loads((out / SET_META).read_text())
    assert meta["seeds"] == [] and meta["given_up_seeds"] == [0, 1]
    marker = json.loads((out / "se_000" / GIVEN_UP).read_text())
    assert marker["iterations"] == 1 and marker["below"] == 1e9
    assert (out / "se_000" / schema.HISTORY).exists() and not (out / "se_000" / schema.SE_META).exists()
    # without the rule, a given-up seed resumes from its checkpoint and becomes an SE of the set
    folders = train_ses(RUN, out, count=1, workers=1, **KEEP_UNSOLVED)
    assert [f.name for f in folders] == ["se_000"] and [f.name for f in find_ses(out)] == ["se_000"]
    assert not (out / "se_000" / GIVEN_UP).exists()
    assert json.loads((out / "se_000" / schema.SE_META).read_text())["iterations"] == 3


def test_a_transfer_run_keeps_the_runs_given_up_on_the_way_to_its_ses(tmp_path):
    from analysis.transfer import se_histories
    from benchmark.protocol import ProtocolConfig, copy_ses, make_settings
    out = tmp_path / "set"
    train_ses(RUN, out, count=1, workers=1, **KEEP_UNSOLVED, give_up=GiveUp(1, below=1e9), max_seeds=1)
    train_ses(RUN, out, count=2, seed_start=1, workers=1, **KEEP_UNSOLVED)  # seeds 1, 2 finish; 0 stays given up
    ses = find_ses(out)
    assert [p.name for p in ses] == ["se_001", "se_002"]
    assert given_up_runs(ses) == [out / "se_000"] and given_up_runs(ses[:1]) == [out / "se_000"]
    (out / "se_003").mkdir()
    io.write_json(out / "se_003" / GIVEN_UP, {"seed": 3})  # given up after the last SE used: not on the way
    assert given_up_runs(ses) == [out / "se_000"]
    config = ProtocolConfig(agents=("ddqn",), num_envs=2, agents_per_env=1, episodes=1)
    copy_ses(tmp_path / "transfer", make_settings(config, [out], include_real=False))
    histories = se_histories(tmp_path / "transfer")
    assert set(histories[histories.given_up].se_id) == {"se_000"}
    assert set(histories[~histories.given_up].se_id) == {"se_001", "se_002"}


def test_a_rule_that_never_applies_changes_nothing(tmp_path):
    plain = train_ses(RUN, tmp_path / "a", count=1, workers=1, **KEEP_UNSOLVED)
    ruled = train_ses(RUN, tmp_path / "b", count=1, workers=1, **KEEP_UNSOLVED, give_up=GiveUp(1, below=-1e9))
    a, b = (io.read_json(f[0] / schema.SE_META) for f in (plain, ruled))
    assert a["centre_score"] == b["centre_score"] and a["iterations"] == b["iterations"]


def test_max_seeds_below_count_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="max_seeds"):
        train_ses(dataclasses.replace(RUN), tmp_path, count=3, max_seeds=2, **KEEP_UNSOLVED)


def test_concurrent_seeds_learn_the_same_set(tmp_path):
    serial = train_ses(RUN, tmp_path / "a", count=2, workers=1, **KEEP_UNSOLVED, give_up=GiveUp(1, below=-1e9))
    both = train_ses(RUN, tmp_path / "b", count=2, workers=2, **KEEP_UNSOLVED, give_up=GiveUp(1, below=-1e9),
                     concurrent=2)
    assert [f.name for f in both] == [f.name for f in serial] == ["se_000", "se_001"]
    for a, b in zip(serial, both):
        ta, _ = io.load_tensors(a / "se.safetensors")
        tb, _ = io.load_tensors(b / "se.safetensors")
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert json.loads((tmp_path / "b" / SET_META).read_text())["seeds"] == [0, 1]
    with pytest.raises(ConfigError, match="concurrent"):
        train_ses(RUN, tmp_path / "c", count=1, **KEEP_UNSOLVED, concurrent=0)


def test_concurrent_seeds_replace_a_given_up_seed_in_seed_order(tmp_path):
    folders = train_ses(RUN, tmp_path, count=1, workers=1, **KEEP_UNSOLVED, give_up=GiveUp(1, below=1e9),
                        max_seeds=3, concurrent=2)
    assert folders == []
    assert json.loads((tmp_path / SET_META).read_text())["given_up_seeds"] == [0, 1, 2]


def test_progress_names_the_last_iteration_of_a_running_seed(tmp_path):
    from benchmark.se_sets import latest_iteration
    folder = tmp_path / "se_004"
    assert latest_iteration(folder) == "se_004 starting"
    train_ses(RUN, tmp_path, count=1, seed_start=4, workers=1, **KEEP_UNSOLVED)
    assert latest_iteration(folder).startswith("se_004 it 3 centre ")


def test_analyze_a_set_folder_plots_every_seed(tmp_path, capsys):
    from benchmark.cli import main
    train_ses(RUN, tmp_path, count=2, workers=1, **KEEP_UNSOLVED)
    assert main(["analyze", str(tmp_path)]) == 0
    assert (tmp_path / "nes_curves.png").stat().st_size > 0 and (tmp_path / "nes_curves.pdf").exists()
    assert "nes_curves.png" in capsys.readouterr().out


def test_a_seed_unsolved_at_the_iteration_limit_is_given_up_and_counts_in_the_yield(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.nes.trainer import UNSOLVED

    out = tmp_path / "set"
    assert train_ses(RUN, out, count=1, workers=1, progress=False, max_seeds=2) == []  # tiny agents never solve
    meta = json.loads((out / SET_META).read_text())
    assert meta["given_up_seeds"] == [0, 1] and meta["tried"] == 2 and meta["yield"] == 0.0
    assert meta["given_up_reasons"] == {"0": UNSOLVED, "1": UNSOLVED}
    marker = json.loads((out / "se_000" / GIVEN_UP).read_text())
    assert marker["reason"] == UNSOLVED and marker["iterations"] == 3
    assert not (out / "se_000" / schema.SE_META).exists()
    # rerun: the given-up seeds stay given up (nothing is learned again) ...
    assert train_ses(RUN, out, count=1, workers=1, progress=False, max_seeds=2) == []
    # ... unless the iteration limit is raised: then they resume from their checkpoints
    longer = dataclasses.replace(RUN, iterations=4)
    assert train_ses(longer, out, count=1, workers=1, progress=False, max_seeds=1) == []
    assert json.loads((out / "se_000" / GIVEN_UP).read_text())["iterations"] == 4
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"iterations": 1, "test_episodes": 1, "centre_agents": 1, "vary_hp": False,
                               "agent": {"max_episodes": 2, "batch_size": 8, "hidden_size": 8, "hidden_layers": 1}}))
    assert main(["train-ses", "--out", str(tmp_path / "cli"), "--count", "1", "--max-seeds", "1", "--population",
                 "1", "--config", str(cfg), "--workers", "1", "--quiet"]) == 0
    assert "0 solved SEs of 1 seeds tried (yield 0%" in capsys.readouterr().out
