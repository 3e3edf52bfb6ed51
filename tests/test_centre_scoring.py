"""The paper's solved rule: the centre is scored by K agents (own seeds, own hyperparameters), their mean is the
stopping criterion and the shapings' baseline; every centre agent's score is recorded."""
import json

import numpy as np
import pandas as pd
import pytest

from benchmark import schema
from benchmark.agents.ddqn import DDQNConfig
from benchmark.nes.checkpoint import RunState
from benchmark.nes.loop import Scores, run_nes
from benchmark.nes.strategy import NESConfig
from benchmark.nes.trainer import RunConfig, centre_specs, member_specs, train_se
from benchmark.parallel import SerialExecutor

NES = NESConfig(population=2, shaping="above_centre_sum", noise_std=0.1, step_size=1.0)


def _fixed_scores(centre_scores, member_scores):
    """An evaluate that returns the same scores every iteration (the scorer is not under test here)."""
    def evaluate(it, centre, members, pool):
        return Scores(np.array(centre_scores, float), np.array(member_scores, float), 0, None)
    return evaluate


def _run(evaluate, iterations=3):
    run = RunConfig(iterations=iterations, nes=NES)
    state = RunState(0, np.zeros(4), np.zeros(4), -np.inf, -1, [], 0.0, 0)
    return run_nes(run, state, evaluate, lambda s, m: {}, lambda s: None, workers=1, executor=SerialExecutor(),
                   progress=False, desc="test", solved_at=195.0)


def test_one_lucky_centre_agent_does_not_solve():
    state = _run(_fixed_scores([200.0, 9.0, 9.0, 9.0], [50.0, 40.0, 30.0, 20.0]))
    assert not state.solved and state.iteration == 3
    assert state.history[0]["centre_score"] == pytest.approx(56.75)
    assert json.loads(state.history[0]["centre_scores"]) == [200.0, 9.0, 9.0, 9.0]


def test_the_mean_of_the_centre_agents_is_the_stop_criterion():
    state = _run(_fixed_scores([200.0, 195.0, 190.0, 195.0], [10.0, 10.0, 10.0, 10.0]))
    assert state.solved and state.iteration == 1 and state.best_score == 195.0
    np.testing.assert_array_equal(state.centre, np.zeros(4))  # NES does not learn from the solving iteration


def test_the_centre_mean_is_the_baseline_of_shaping_against_the_centre():
    # members 60 and 40 beat one centre agent (50) but not the centre agents' mean (70): no step at all
    state = _run(_fixed_scores([50.0, 90.0], [60.0, 40.0, 30.0, 20.0]), iterations=1)
    assert json.loads(state.history[0]["utilities"]) == [0.0, 0.0]
    np.testing.assert_array_equal(state.centre, np.zeros(4))
    # with the mean at 45, pair 0's better member (60) is the only one above it: it takes the whole step
    state = _run(_fixed_scores([50.0, 40.0], [60.0, 40.0, 30.0, 20.0]), iterations=1)
    assert json.loads(state.history[0]["utilities"]) == [1.0, 0.0]


def test_centre_agents_have_distinct_seeds_and_sampled_hyperparameters():
    run = RunConfig(centre_agents=6, nes=NESConfig(population=3))
    centre, members = centre_specs(run, 0), member_specs(run, 0, 6)
    seeds = [s.seed for s in centre + members]
    assert len(set(seeds)) == len(seeds)
    assert len({(c.config.lr, c.config.batch_size, c.config.hidden_size) for c in centre}) == 6
    assert centre == centre_specs(run, 0) and centre != centre_specs(run, 1)
    fixed = RunConfig(centre_agents=3, vary_hp=False)
    assert {s.config for s in centre_specs(fixed, 0)} == {fixed.agent}


def test_every_centre_agent_is_trained_on_the_centre_and_recorded(tmp_path):
    run = RunConfig(iterations=1, seed=2, centre_agents=3, vary_hp=False, test_episodes=2,
                    nes=NESConfig(population=2), agent=DDQNConfig(max_episodes=3, batch_size=16))
    train_se(run, tmp_path / "a", workers=1, progress=False)
    history = pd.read_csv(tmp_path / "a" / schema.HISTORY)
    centre_scores = json.loads(history.centre_scores[0])
    assert len(centre_scores) == 3 and len(json.loads(history.member_scores[0])) == 4
    assert history.centre_score[0] == pytest.approx(np.mean(centre_scores), abs=1e-3)
    meta = json.loads((tmp_path / "a" / schema.SE_META).read_text())
    assert meta["centre_agents"] == 3 and meta["centre_scores"] == centre_scores
    assert meta["preset"] == "paper_transfer" and meta["centre_score"] == pytest.approx(np.mean(centre_scores))
