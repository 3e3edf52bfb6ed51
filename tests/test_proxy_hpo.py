"""HPO on the proxy: random search and BOHB (in-process, loopback) under a wall budget; incumbents scored on the
real task; the comparison analysis. Tiny: 1 agent, 2 test episodes, 10..30 training episodes, ~10 s budgets."""
from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.headline import zoo_set
from benchmark.hpo.launch import lingering_threads
from benchmark.proxy_hpo import ProxyHPOConfig, fidelity_of, incumbent_trajectory, read_evaluations, run_proxy_hpo
from benchmark.schema import INCUMBENTS, PROXY_HPO_EVALUATIONS, PROXY_HPO_SUMMARY

TINY = dict(agents=1, test_episodes=2, min_budget=10, max_budget=30, eta=3, score_agents=1, score_max_episodes=10)
SLACK_S = 60  # the evaluation running when the budget ends finishes; the machine may be loaded
DISPATCH_S = 3.0  # decided before the deadline, a job reaches the worker a KDE sample and a Pyro round trip later
MULTI_BUDGET_S = 90  # BOHB multi-fidelity: room for the SE rungs and one real evaluation on a loaded machine
# (30 s was too short with a load of 6-7 on 2 cores, 60 s with a load of 8: the first bracket never reached its real
# rung; the budget counts from the run's start, nameserver and worker start-up included)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxy_hpo")
    ses = zoo_set("CartPole-v0", "varied_hp")
    before = set(threading.enumerate())
    out = {}
    # random search on the SE, through the CLI (10 training episodes: the cheapest evaluation)
    assert main(["proxy-hpo", "--ses", str(ses), "--optimizer", "random", "--environment", "se",
                 "--wall-budget", "6", "--out", str(root / "random_se"), "--agents", "1", "--test-episodes", "2",
                 "--max-budget", "10", "--score-agents", "1", "--score-max-episodes", "10"]) == 0
    out["random_se"] = root / "random_se"
    start = time.monotonic()
    run_proxy_hpo(ProxyHPOConfig(optimizer="bohb", environment="multi", wall_budget_s=MULTI_BUDGET_S, **TINY), ses,
                  root / "bohb_multi")
    out["bohb_multi_s"] = time.monotonic() - start
    out["bohb_multi"] = root / "bohb_multi"
    out["new_threads"] = [t.name for t in lingering_threads() if t not in before]
    return out


@pytest.mark.timeout(240)
def test_random_search_on_se_logs_evaluations_and_scores_incumbents(runs, capsys):
    run = runs["random_se"]
    ev = read_evaluations(run)
    assert len(ev) >= 1 and set(ev.environment) == {"se"} and (ev.real_env_steps == 0).all()
    assert (ev.max_episodes == 10).all() and ev.function_value.notna().all()
    assert ev.t_start.iloc[-1] < 6  # no evaluation started after the wall budget
    inc = pd.read_csv(run / INCUMBENTS)
    assert len(inc) >= 1 and inc.real_score.notna().all() and inc.wall_time_s.is_monotonic_increasing
    assert inc.proxy_value.is_monotonic_decreasing
    summary = json.loads((run / PROXY_HPO_SUMMARY).read_text())
    assert summary["evaluations"] == len(ev) and summary["real_env_steps"] == 0
    assert summary["final_incumbent"]["real_score"] == pytest.approx(inc.real_score.iloc[-1])


@pytest.mark.timeout(240)
def test_bohb_multi_fidelity_uses_both_environments_within_budget_and_cleans_up(runs):
    run = runs["bohb_multi"]
    assert runs["bohb_multi_s"] < MULTI_BUDGET_S + SLACK_S + 30  # + post-hoc scoring of the incumbents
    assert runs["new_threads"] == []
    ev = read_evaluations(run)
    assert set(ev.environment) == {"se", "real"}
    assert (ev[ev.environment == "se"].budget < 30).all() and (ev[ev.environment == "real"].budget == 30).all()
    assert (ev[ev.environment == "se"].real_env_steps == 0).all()
    assert (ev[ev.environment == "real"].real_env_steps > 0).all()
    # the master decides on no job after the budget (same clock as the run); the worker logs its start later
    assert ev.t_start.max() < MULTI_BUDGET_S + DISPATCH_S
    results = [json.loads(line) for line in (run / "bohb" / "results.json").read_text().splitlines()]
    assert len(results) == len(ev)  # hpbandster's log and ours agree
    inc = pd.read_csv(run / INCUMBENTS)
    assert inc.environment.iloc[-1] == "real"  # the top budget (the real task) decides the final incumbent
    assert inc.real_score.notna().all()


@pytest.mark.timeout(240)
def test_analysis_compares_the_runs(runs, tmp_path, capsys):
    assert main(["proxy-hpo", "--compare", str(runs["random_se"]), str(runs["bohb_multi"]),
                 "--out", str(tmp_path)]) == 0
    for name in ("proxy_hpo_incumbents.png", "proxy_hpo_incumbents.pdf", "proxy_hpo_summary.md",
                 "proxy_hpo_summary.csv"):
        assert (tmp_path / name).stat().st_size > 0
    table = (tmp_path / "proxy_hpo_summary.md").read_text()
    assert "random_se" in table and "bohb_multi" in table and "multi" in table


def test_incumbent_follows_the_highest_budget_and_fidelity_mapping():
    ev = pd.DataFrame([
        {"index": 0, "t_end": 1.0, "config": {"a": 1}, "budget": 10.0, "environment": "se", "max_episodes": 10,
         "function_value": -5.0, "real_env_steps": 0},
        {"index": 1, "t_end": 2.0, "config": {"a": 2}, "budget": 10.0, "environment": "se", "max_episodes": 10,
         "function_value": -9.0, "real_env_steps": 0},
        {"index": 2, "t_end": 3.0, "config": {"a": 1}, "budget": 30.0, "environment": "real", "max_episodes": 30,
         "function_value": -1.0, "real_env_steps": 50},  # worse value, but the first at the top budget
        {"index": 3, "t_end": 4.0, "config": {"a": 3}, "budget": 10.0, "environment": "se", "max_episodes": 10,
         "function_value": -99.0, "real_env_steps": 0},  # a lower budget never displaces it
    ])
    changes = incumbent_trajectory(ev)
    assert [c["config"] for c in changes] == [{"a": 1}, {"a": 2}, {"a": 1}]
    assert changes[-1]["environment"] == "real" and changes[-1]["wall_time_s"] == 3.0
    multi = ProxyHPOConfig(optimizer="bohb", environment="multi", **TINY)
    assert fidelity_of(multi, 10.0) == {"environment": "se", "agents": 1, "max_episodes": 10}
    assert fidelity_of(multi, 30.0)["environment"] == "real"
    assert fidelity_of(ProxyHPOConfig(environment="se", **TINY), 30.0)["environment"] == "se"
    with pytest.raises(ConfigError, match="multi"):
        ProxyHPOConfig(optimizer="random", environment="multi")
    with pytest.raises(ConfigError, match="optimizer"):
        ProxyHPOConfig(optimizer="tpe")


def test_se_environment_without_ses_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--ses"):
        run_proxy_hpo(ProxyHPOConfig(optimizer="random", environment="se", wall_budget_s=1, **TINY), None, tmp_path)
    assert not (tmp_path / PROXY_HPO_EVALUATIONS).exists()
