"""Reward-network training (NES) and evaluation end to end: files, resume, fitness, errors; DDQN's real returns."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark import io, schema
from benchmark.agents.ddqn import DDQN, DDQNConfig
from benchmark.agents.registry import kind_of, make_agent
from benchmark.agents.tabular import QLearning, QLearningConfig, SARSAConfig
from benchmark.cli import main
from benchmark.envs.reward import RewardEnv, RNConfig, initial_rn_parameters, load_rn, make_env, save_rn
from benchmark.envs.tasks import CLIFF_WALKING
from benchmark.errors import ConfigError
from benchmark.nes.strategy import NESConfig
from benchmark.rn.inner import AgentRun, RewardSetting, run_agent, solve_point
from benchmark.rn.trainer import RNRunConfig, agent_fitness, train_rn

TINY = RNRunConfig(iterations=2, seed=3, max_episodes=15, nes=NESConfig(population=2, noise_std=0.1, step_size=0.5))


def _train(tmp_path, name, run=TINY, **kw):
    return train_rn(run, tmp_path / name, workers=1, progress=False, **kw)


def test_tiny_run_writes_its_files(tmp_path):
    state = _train(tmp_path, "a")
    out = tmp_path / "a"
    assert {p.name for p in out.iterdir()} == {schema.SE_WEIGHTS, schema.SE_META, schema.HISTORY, schema.CHECKPOINT}
    meta = json.loads((out / schema.SE_META).read_text())
    assert meta["kind"] == "reward_network" and meta["task"] == CLIFF_WALKING and meta["mode"] == "potential_additive"
    assert meta["iterations"] == state.iteration == 2 and meta["agent"] == "q_learning" and meta["real_env_steps"] > 0
    history = pd.read_csv(out / schema.HISTORY)
    assert list(history.iteration) == [0, 1]
    assert len(json.loads(history.member_scores[0])) == 4  # 2P mirrored members, the centre scored apart
    assert (history.real_env_steps > 0).all() and history.diverged_members.sum() == 0
    env = load_rn(out)  # the last centre, readable by the RN loader
    np.testing.assert_array_equal(env.parameters.numpy(), np.asarray(state.centre, np.float32))
    assert env.reset(seed=0)[0] == 36


def test_interrupted_run_resumes_to_the_same_rn(tmp_path):
    full = _train(tmp_path, "full")
    _train(tmp_path, "split", stop_after=1)
    assert not (tmp_path / "split" / schema.SE_WEIGHTS).exists()
    resumed = _train(tmp_path, "split", resume=True)
    np.testing.assert_array_equal(full.centre, resumed.centre)
    a = io.load_tensors(tmp_path / "full" / schema.SE_WEIGHTS)[0]
    b = io.load_tensors(tmp_path / "split" / schema.SE_WEIGHTS)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    drop = ["time_s", "elapsed_s"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "full" / schema.HISTORY).drop(columns=drop),
                                  pd.read_csv(tmp_path / "split" / schema.HISTORY).drop(columns=drop))


def test_existing_run_is_kept_and_resume_checks_the_config(tmp_path):
    one = RNRunConfig(**{**vars(TINY), "iterations": 1})
    _train(tmp_path, "a", run=one)
    with pytest.raises(ConfigError, match="already holds a run"):
        _train(tmp_path, "a", run=one)
    with pytest.raises(ConfigError, match="different configuration"):
        _train(tmp_path, "a", run=RNRunConfig(**{**vars(one), "seed": 4}), resume=True)


@pytest.mark.parametrize("changes, message", [
    ({"mode": "real"}, "mode='real' has no parameters"),
    ({"mode": "bogus"}, "rn.mode='bogus' is not allowed"),
    ({"rn": RNConfig(mode="plain_additive")}, "differs from mode"),
    ({"agent_config": SARSAConfig(max_episodes=100)}, "not a config of agent='q_learning'"),
    ({"agent_config": QLearningConfig(max_episodes=7)}, "agent_config.max_episodes=7 differs"),
    ({"agent": "a2c"}, "agent='a2c' is not a known agent"),
    ({"task": "MountainCarContinuous-v0", "agent": "ddqn"},
     "agent='ddqn' acts in discrete action spaces, but task='MountainCarContinuous-v0' has a box one"),
    ({"iterations": 0}, "iterations=0 is out of range"),
])
def test_bad_config_names_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        RNRunConfig(**changes)


def test_config_round_trips_through_its_dict():
    run = RNRunConfig(mode="potential_exclusive_info", agent="sarsa", vary_hp=True, rn=None)
    assert RNRunConfig.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    assert run.rn == RNConfig(mode="potential_exclusive_info") and run.budget_steps == 100 * 100


def _agent_run(returns, lengths, diverged=False):
    point = solve_point(returns, lengths, -20.0, 2)
    return AgentRun(returns, lengths, point and point[0], point and point[1], diverged, [-13.0], 13, 0.0)


def test_solve_point_and_fitness_by_hand():
    # windows of 2: means -65, -20 (the threshold, reached at episode 3, after 100 + 50 + 20 steps), -11.5
    assert solve_point([-100, -30, -10, -13], [100, 50, 20, 13], -20.0, 2) == (3, 170)
    assert solve_point([-100, -20], [100, 50], -20.0, 2) is None and solve_point([-13], [13], -20.0, 2) is None
    solved = _agent_run([-100, -30, -10, -13], [100, 50, 20, 13])
    assert agent_fitness(solved, 1000, -20.0) == -170.0
    unsolved = _agent_run([-100, -60], [100, 100])  # best return -60: 40 short of the threshold
    assert agent_fitness(unsolved, 1000, -20.0) == -2000.0 - 40.0
    better = _agent_run([-300, -30], [100, 100])
    assert agent_fitness(unsolved, 1000, -20.0) < agent_fitness(better, 1000, -20.0) < -1000
    assert agent_fitness(_agent_run([-13, -13], [13, 13], diverged=True), 1000, -20.0) == -np.inf


def test_a_diverging_rn_is_flagged():
    config = RNConfig(mode="potential_additive", hidden_size=4)
    params = initial_rn_parameters(48, config, seed=0).double().numpy()
    params[-1] = np.nan  # output bias: every potential is NaN
    run = run_agent(CLIFF_WALKING, RewardSetting("rn", config, params), QLearningConfig(max_episodes=2), 0, 1)
    assert run.diverged and agent_fitness(run, 200, -20.0) == -np.inf
    fine = run_agent(CLIFF_WALKING, RewardSetting("real"), QLearningConfig(max_episodes=2), 0, 1)
    assert not fine.diverged and fine.train_episodes == 2


def test_tabular_agents_are_registered():
    assert kind_of(QLearningConfig()).name == "q_learning" and kind_of(SARSAConfig()).name == "sarsa"
    assert isinstance(make_agent(48, 4, QLearningConfig(), 0), QLearning)


def test_ddqn_records_real_returns_on_a_reward_env():
    config = RNConfig(mode="plain_exclusive", hidden_size=4)
    params = 5.0 * initial_rn_parameters(4, config, seed=1)
    env = RewardEnv(make_env("CartPole-v0"), params, config, gamma=0.99)
    env.reset(seed=0)
    _, shaped, _, _, info = env.step(0)
    assert shaped != info["real_reward"] == 1.0  # the agent learns from a reward that is not the real one
    agent = DDQN(4, 2, DDQNConfig(max_episodes=3, batch_size=8, hidden_size=8, init_episodes=1), seed=0)
    result = agent.train(env, solved=None)
    assert result.returns == [float(n) for n in result.lengths]  # CartPole pays 1 per step
    returns, lengths = agent.evaluate_episodes(env, 2)
    assert returns.tolist() == lengths.astype(float).tolist()


def _saved_rn(tmp_path, mode="potential_additive") -> str:
    config = RNConfig(mode=mode, hidden_size=4)
    env = RewardEnv(make_env(CLIFF_WALKING), initial_rn_parameters(48, config, seed=0), config, gamma=0.9)
    save_rn(tmp_path / mode, env, {"agent": "q_learning"})
    return str(tmp_path / mode)


def test_tiny_rn_eval_writes_its_table_and_figures_and_resumes(tmp_path):
    from analysis.rn import analyze_rn_eval
    from benchmark.rn.evaluate import RNEvalConfig, run_rn_eval
    from benchmark.schema import CELLS, RN_AGENTS_TABLE, RN_CURVES_TABLE

    config = RNEvalConfig(agents=("q_learning", "sarsa"), agents_count=2, max_episodes=12, icm=False)  # ICM: slow
    out = tmp_path / "eval"
    frame = run_rn_eval(config, [_saved_rn(tmp_path)], out, progress=False)
    assert len(frame) == 2 * 2 * 2  # (real, the RN) x 2 agent kinds x 2 agents
    assert set(frame.setting) == {"real", "potential_additive"}
    assert frame[frame.setting == "potential_additive"].groupby("agent").transfer.all().to_dict() == {
        "q_learning": False, "sarsa": True}
    paired = frame.groupby(["agent", "agent_index"]).hyperparameters.nunique()
    assert (paired == 1).all()  # the same agent in every setting
    assert (frame.train_episodes == 12).all()  # full curves: the whole budget
    curves = pd.read_csv(out / RN_CURVES_TABLE)
    assert len(curves) == 12 * len(frame)
    paths = analyze_rn_eval(out)
    names = {p.name for p in paths}
    assert {"rn_summary.md", "rn_training_curves.png", "rn_training_curves.pdf", "rn_steps_to_solve.png",
            "rn_steps_to_solve.pdf"} <= names
    summary = (out / "rn_summary.md").read_text()
    assert "potential_additive (transfer)" in summary and "| q_learning | real | 2 |" in summary
    # a killed run: one cell lost; --resume recomputes only it, with the same numbers
    before = pd.read_csv(out / RN_AGENTS_TABLE).drop(columns="wall_s")
    sorted((out / CELLS).glob("*.json"))[0].unlink()
    run_rn_eval(config, [_saved_rn(tmp_path)], out, progress=False, resume=True)
    pd.testing.assert_frame_equal(before, pd.read_csv(out / RN_AGENTS_TABLE).drop(columns="wall_s"))
    with pytest.raises(ConfigError, match="another configuration"):
        run_rn_eval(RNEvalConfig(agents=("q_learning",), agents_count=2, max_episodes=12, icm=False),
                    [_saved_rn(tmp_path)], out, progress=False, resume=True)


def test_rn_eval_writes_each_cell_before_the_next_runs(tmp_path, monkeypatch):
    from benchmark.rn import evaluate

    out, seen, run_agents = tmp_path / "e", [], evaluate.run_agents

    def spy(*args, **kwargs):
        seen.append(len(list((out / evaluate.CELLS).glob("*.json"))))
        return run_agents(*args, **kwargs)

    monkeypatch.setattr(evaluate, "run_agents", spy)
    config = evaluate.RNEvalConfig(agents=("q_learning",), agents_count=3, max_episodes=2, icm=False)
    evaluate.run_rn_eval(config, [], out, progress=False)
    assert seen == [0, 1, 2]  # serial: a killed run loses at most the agent in progress


def test_cli_train_rn_and_rn_eval(tmp_path, capsys):
    rn = tmp_path / "rn"
    assert main(["train-rn", "--iterations", "1", "--population", "1", "--max-episodes", "12", "--mode",
                 "potential_exclusive", "--out", str(rn), "--quiet"]) == 0
    assert "potential_exclusive" in capsys.readouterr().out and (rn / schema.SE_META).exists()
    assert main(["rn-eval", "--rns", f"excl={rn}", "--agents", "q_learning", "--agents-count", "1",
                 "--max-episodes", "2", "--stop-at-solved", "--out", str(tmp_path / "e"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| q_learning | excl | 1 |" in printed and "| q_learning | icm | 1 |" in printed


@pytest.mark.parametrize("argv, message", [
    (["--population", "0"], "population=0 is out of range"),
    (["--task", "Pong-v0"], "task='Pong-v0'"),
])
def test_cli_bad_input_gets_one_clear_error(tmp_path, capsys, argv, message):
    assert main(["train-rn", "--out", str(tmp_path / "x"), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
