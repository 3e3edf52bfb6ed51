"""Reward networks on continuous-action tasks: train-rn and rn-eval with TD3 / PPO on MountainCarContinuous-v0,
the agent/action-space check, PPO as the transfer agent of a DDQN RN on CartPole, and HalfCheetah-v5 (optional:
skipped without mujoco)."""
import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from benchmark import schema
from benchmark.agents.td3 import TD3Config
from benchmark.envs import reward
from benchmark.envs.reward import RewardEnv, RNConfig, initial_rn_parameters, load_rn, make_env, save_rn
from benchmark.envs.tasks import task_limits
from benchmark.errors import ConfigError
from benchmark.nes.strategy import NESConfig
from benchmark.rn.evaluate import RNEvalConfig, run_rn_eval
from benchmark.rn.inner import AgentRun, RewardSetting, run_agent
from benchmark.rn.trainer import RNRunConfig, agent_fitness, train_rn

MCC = "MountainCarContinuous-v0"
# one 999-step episode per agent; 49 TD3 updates after 950 noise steps (learning runs, but briefly)
TINY_TD3 = TD3Config(max_episodes=1, start_steps=950, batch_size=16, hidden_size=16)
TINY = RNRunConfig(task=MCC, agent="td3", agent_config=TINY_TD3, max_episodes=1, iterations=2, seed=5,
                   rn=RNConfig(mode="potential_additive", hidden_size=8),
                   nes=NESConfig(population=1, noise_std=0.1, step_size=0.5))


def _train(tmp_path, name, run=TINY, **kw):
    return train_rn(run, tmp_path / name, workers=1, progress=False, **kw)


def test_td3_rn_run_on_mountain_car_continuous_writes_its_files_and_resumes(tmp_path):
    full = _train(tmp_path, "full")
    out = tmp_path / "full"
    assert {p.name for p in out.iterdir()} == {schema.SE_WEIGHTS, schema.SE_META, schema.HISTORY, schema.CHECKPOINT}
    meta = json.loads((out / schema.SE_META).read_text())
    assert meta["task"] == MCC and meta["agent"] == "td3" and meta["kind"] == "reward_network"
    assert meta["agent_config"]["start_steps"] == 950 and meta["gamma"] == TINY_TD3.gamma
    history = pd.read_csv(out / schema.HISTORY)
    assert list(history.iteration) == [0, 1] and len(json.loads(history.member_scores[0])) == 2
    # one 999-step episode cannot solve (the rule averages 10 episodes): every member is unsolved, scored
    # -2B + min(0, best return - 90) with B = 1 x 999
    scores = np.array([history.centre_score[0], *json.loads(history.member_scores[0])])
    assert np.all((scores <= -2 * 999) & (scores >= -2 * 999 - 200)) and history.solved_share.max() == 0
    assert (history.mean_train_steps <= 999).all() and history.diverged_members.sum() == 0
    np.testing.assert_array_equal(load_rn(out).parameters.numpy(), np.asarray(full.centre, np.float32))

    _train(tmp_path, "split", stop_after=1)
    assert not (tmp_path / "split" / schema.SE_WEIGHTS).exists()
    resumed = _train(tmp_path, "split", resume=True)
    np.testing.assert_array_equal(full.centre, resumed.centre)  # bit for bit, TD3 included
    drop = ["time_s", "elapsed_s"]
    pd.testing.assert_frame_equal(pd.read_csv(out / schema.HISTORY).drop(columns=drop),
                                  pd.read_csv(tmp_path / "split" / schema.HISTORY).drop(columns=drop))


@pytest.mark.parametrize("task, agent, space", [(MCC, "ddqn", "discrete"), (MCC, "q_learning", "discrete"),
                                                ("CartPole-v0", "td3", "box")])
def test_an_agent_that_cannot_act_in_the_task_is_refused_by_name(task, agent, space):
    other = "box" if space == "discrete" else "discrete"
    message = f"agent='{agent}' acts in {space} action spaces, but task='{task}' has a {other} one"
    with pytest.raises(ConfigError, match=message):
        RNRunConfig(task=task, agent=agent)
    with pytest.raises(ConfigError, match=message):
        RNEvalConfig(task=task, agents=("ppo", agent))
    RNRunConfig(task=task, agent="ppo")  # PPO acts in both


def test_fitness_on_mountain_car_continuous_by_hand():
    limit, threshold = task_limits(MCC)
    budget = RNRunConfig(task=MCC, agent="td3").budget_steps
    assert (limit, threshold, budget) == (999, 90.0, 100 * 999)
    # 10 episodes reaching the goal at returns >= 90: solved after the 10th, at its cumulative steps
    solved = AgentRun([-30.0] * 3 + [93.0] * 10, [999] * 3 + [300] * 10, 13, 3 * 999 + 3000, False, [93.0], 300, 0)
    assert agent_fitness(solved, budget, threshold) == -5997.0
    # never solved; best episode reached the goal at 85 (5 short) vs one that never reached it (-20)
    near = AgentRun([85.0, -30.0], [400, 999], None, None, False, [0.0], 999, 0)
    far = AgentRun([-20.0, -30.0], [999, 999], None, None, False, [0.0], 999, 0)
    assert agent_fitness(near, budget, threshold) == -2 * budget - 5.0
    assert agent_fitness(far, budget, threshold) == -2 * budget - 110.0
    assert agent_fitness(far, budget, threshold) < agent_fitness(near, budget, threshold) < -budget


def _saved_rn(tmp_path, task, agent, gamma=0.99) -> str:
    config = RNConfig(mode="potential_additive", hidden_size=4)
    env = make_env(task)
    params = initial_rn_parameters(env.observation_space.shape[0], config, seed=0)
    save_rn(tmp_path / f"rn_{agent}", RewardEnv(env, params, config, gamma=gamma), {"agent": agent})
    return str(tmp_path / f"rn_{agent}")


def test_rn_eval_with_td3_and_ppo_on_mountain_car_continuous(tmp_path):
    config = RNEvalConfig(task=MCC, agents=("td3", "ppo"), agents_count=1, max_episodes=1, icm=False,
                          vary_hp=False)
    frame = run_rn_eval(config, [_saved_rn(tmp_path, MCC, "td3")], tmp_path / "eval", progress=False)
    assert len(frame) == 2 * 2  # (real, the RN) x (td3, ppo) x 1 agent
    rows = frame.set_index(["setting", "agent"])
    assert not rows.loc[("potential_additive", "td3"), "transfer"]
    assert rows.loc[("potential_additive", "ppo"), "transfer"] and not rows.loc[("real", "ppo"), "transfer"]
    assert (frame.train_episodes == 1).all() and (frame.train_steps <= 999).all() and not frame.diverged.any()
    assert frame.test_mean.between(-100, 100).all() and not frame.solved.any()


def test_ppo_is_a_transfer_agent_of_a_ddqn_rn_on_cartpole(tmp_path):
    config = RNEvalConfig(task="CartPole-v0", agents=("ddqn", "ppo"), agents_count=2, max_episodes=3, icm=False,
                          vary_hp=True)
    frame = run_rn_eval(config, [_saved_rn(tmp_path, "CartPole-v0", "ddqn")], tmp_path / "eval", progress=False)
    assert len(frame) == 2 * 2 * 2
    rn = frame[frame.setting == "potential_additive"]
    assert rn.set_index(["agent", "agent_index"]).transfer.to_dict() == {
        ("ddqn", 0): False, ("ddqn", 1): False, ("ppo", 0): True, ("ppo", 1): True}
    # real returns: CartPole pays 1 per step, whatever the RN adds
    assert all(json.loads(r) == [float(n) for n in json.loads(n)]
               for r, n in zip(frame.curve_returns, frame.curve_lengths))
    # paired design: agent k of PPO has the same seed and sampled hyperparameters in both settings
    ppo = frame[frame.agent == "ppo"].sort_values(["agent_index", "setting"])
    assert ppo.groupby("agent_index").hyperparameters.nunique().eq(1).all()
    assert ppo.groupby("agent_index").seed.nunique().eq(1).all()


def test_a_missing_mujoco_is_a_config_error_naming_the_extra(monkeypatch):
    def make(*args, **kwargs):
        raise gym.error.DependencyNotInstalled("MuJoCo is not installed")

    monkeypatch.setattr(reward.gym, "make", make)
    with pytest.raises(ConfigError, match=r"task='HalfCheetah-v5' needs an optional dependency.*\.\[mujoco\]"):
        make_env("HalfCheetah-v5")


def test_half_cheetah_is_an_rn_task_for_td3(real_envs):
    pytest.importorskip("mujoco")
    assert task_limits("HalfCheetah-v5") == (1000, 3000.0)
    assert make_env("HalfCheetah-v5").spec.max_episode_steps == 1000
    RNRunConfig(task="HalfCheetah-v5", agent="td3", mode="potential_additive_info")  # info vector: 1 entry
    with pytest.raises(ConfigError, match="agent='ddqn' acts in discrete action spaces"):
        RNRunConfig(task="HalfCheetah-v5", agent="ddqn")

    rn = RNConfig(mode="potential_additive_info", hidden_size=4)
    params = 50.0 * initial_rn_parameters(17, rn, seed=0, info_dim=1).numpy()  # a loud RN term
    env = RewardEnv(make_env("HalfCheetah-v5"), params, rn, gamma=0.99)
    env.reset(seed=0)
    _, shaped, _, _, info = env.step(np.zeros(6, np.float32))
    assert abs(shaped - info["real_reward"]) > 1e-3  # the agent learns from another reward than the real one
    config = TD3Config(max_episodes=1, start_steps=950, batch_size=16, hidden_size=16)
    run = run_agent("HalfCheetah-v5", RewardSetting("rn", rn, params), config, seed=0, test_episodes=1)
    assert run.lengths == [1000] and run.test_steps == 1000 and not run.diverged and not run.solved
    train_log, test_log = real_envs[0].log, real_envs[1].log
    np.testing.assert_allclose(run.returns, [sum(ep) for ep in train_log], rtol=1e-9)  # real returns
    np.testing.assert_allclose(run.test_returns, [sum(ep) for ep in test_log], rtol=1e-9)
