"""The batched RN route against the scalar reference: BatchedRewardEnv vs RewardEnv for every mode, lockstep DDQN
on an RN vs the scalar DDQN on a RewardEnv, divergence, and train-rn / rn-eval with engine batched."""
import json

import numpy as np
import pandas as pd
import pytest

from benchmark import io, schema
from benchmark.agents.common import AgentSpec
from benchmark.agents.lockstep.core import evaluate_batched
from benchmark.agents.lockstep.ddqn import train_batched
from benchmark.agents.ddqn import DDQN, DDQNConfig
from benchmark.agents.td3_discrete import TD3DiscreteConfig
from benchmark.envs.reward import (INFO_FEATURES, BatchedRewardEnv, RewardEnv, RewardMode, RNConfig,
                                   initial_rn_parameters, make_env, rn_dims, save_rn)
from benchmark.envs.tasks import get_task, vectorised_task
from benchmark.errors import ConfigError
from benchmark.nes.strategy import NESConfig
from benchmark.rn.engine import run_agents
from benchmark.rn.inner import RewardSetting
from benchmark.rn.trainer import RNRunConfig, agent_fitness, train_rn

CARTPOLE = get_task("CartPole-v0")
MCC = "MountainCarContinuous-v0"
REWARD_ATOL = 1e-5
"""Rewards: the stacked network (bmm) sums in another order than the scalar one (addmm); float32 outputs differ by
at most a few ulps, everything else (float64 potential terms, real rewards, states) is computed identically."""
Q_ATOL = 1e-4  # Q-network weights after training, as in tests/test_batched.py


def _params(task_name: str, config: RNConfig, seed: int, scale: float = 3.0) -> np.ndarray:
    obs_dim, info_dim = rn_dims(make_env(task_name), config)
    if config.reward_mode is RewardMode.REAL:
        return np.zeros(0)
    if not config.reward_mode.learned_network:  # weighted_info starts at zeros: give it weights
        return np.random.default_rng(seed).normal(size=info_dim)
    return scale * initial_rn_parameters(obs_dim, config, seed, info_dim).double().numpy()


def _scalar_trajectories(task_name, config, params, gammas, actions, seeds):
    """Per copy: the (obs, reward, real reward, terminated, truncated) of every step of RewardEnv, episodes reset
    with seeds[i][0], seeds[i][1], ... as each ends."""
    out = []
    for i, gamma in enumerate(gammas):
        env = RewardEnv(make_env(task_name), params[i], config, gamma)
        env.reset(seed=seeds[i][0])
        episode, rows = 0, []
        for a in actions[:, i]:
            obs, reward, term, trunc, info = env.step(int(a))
            rows.append((obs, reward, info["real_reward"], term, trunc))
            if term or trunc:
                episode += 1
                env.reset(seed=seeds[i][episode])
        out.append(rows)
    return out


def _batched_trajectories(env, actions, seeds):
    n = env.n
    env.reset(np.arange(n), [seeds[i][0] for i in range(n)])
    episode = np.zeros(n, int)
    out = [[] for _ in range(n)]
    for a in actions:
        obs, reward, term, trunc, real = env.step(a)
        for i in range(n):
            out[i].append((obs[i], reward[i], real[i], term[i], trunc[i]))
        ended = np.flatnonzero(term | trunc)
        episode[ended] += 1
        if len(ended):
            env.reset(ended, [seeds[i][episode[i]] for i in ended])
    return out


@pytest.mark.parametrize("task_name, steps", [("CartPole-v0", 400), ("Acrobot-v1", 520)])
@pytest.mark.parametrize("mode", list(RewardMode), ids=lambda m: m.value)
def test_batched_reward_env_equals_reward_env_step_for_step(mode, task_name, steps):
    """Three copies with their own RN parameters and gammas, random actions, several episodes each (CartPole:
    many terminations; Acrobot: truncation at 500 steps, where the potential of s' is kept)."""
    task = get_task(task_name)
    config = RNConfig(mode=mode, hidden_size=8, hidden_layers=2, activation="tanh")
    gammas = [0.99, 0.9, 1.0]
    params = [_params(task_name, config, seed) for seed in range(3)]
    rng = np.random.default_rng(0)
    actions = rng.integers(0, task.n_actions, (steps, 3))
    seeds = rng.integers(0, 2**31, (3, steps)).tolist()
    scalar = _scalar_trajectories(task_name, config, params, gammas, actions, seeds)
    env = BatchedRewardEnv(task, config, np.stack(params) if len(params[0]) else np.zeros((3, 0)), gammas)
    batched = _batched_trajectories(env, actions, seeds)
    ends = {"term": 0, "trunc": 0}
    for s_rows, b_rows in zip(scalar, batched):
        for (s_obs, s_rew, s_real, s_term, s_trunc), (b_obs, b_rew, b_real, b_term, b_trunc) in zip(s_rows, b_rows):
            np.testing.assert_array_equal(s_obs, b_obs)
            assert (s_term, s_trunc, s_real) == (b_term, b_trunc, b_real)
            assert s_rew == pytest.approx(b_rew, abs=REWARD_ATOL, rel=REWARD_ATOL)
            ends["term"] += s_term
            ends["trunc"] += s_trunc
    assert ends["term" if task_name == "CartPole-v0" else "trunc"] >= 3  # the episode ends were exercised
    assert not env.diverged.any()
    if mode is not RewardMode.REAL:
        shaped = np.array([r[1] for r in batched[0]])
        real = np.array([r[2] for r in batched[0]])
        assert np.abs(shaped - real).max() > 0.05  # the network term matters


@pytest.mark.parametrize("mode", ["potential_additive", "potential_exclusive_info", "plain_exclusive",
                                  "weighted_info_additive"])
def test_batched_reward_env_equals_reward_env_on_mountain_car_continuous(mode):
    """Box actions [N, 1]: three copies with their own RN parameters and gammas, pushed along their velocity
    (episodes reach the goal: the terminal-potential rule) or at random (truncation at 999 steps), 2,200 steps.
    Four modes: with and without potential, info features and the network (the rest is task-independent and
    covered on CartPole and Acrobot above)."""
    config = RNConfig(mode=mode, hidden_size=8, hidden_layers=2, activation="tanh")
    gammas = [0.99, 0.9, 1.0]
    params = [_params(MCC, config, seed) for seed in range(3)]
    scalar = [RewardEnv(make_env(MCC), params[i], config, gamma) for i, gamma in enumerate(gammas)]
    env = BatchedRewardEnv(vectorised_task(MCC), config, np.stack(params) if len(params[0]) else np.zeros((3, 0)),
                           gammas)
    env.reset(np.arange(3), [10, 20, 30])
    obs = np.stack([e.reset(seed=10 * (i + 1))[0] for i, e in enumerate(scalar)])
    rng, episode, ends = np.random.default_rng(0), np.zeros(3, int), {"term": 0, "trunc": 0}
    for _ in range(2200):
        push = np.where(obs[:, 1:] >= 0, 1.0, -1.0) * rng.uniform(0.3, 1.0, (3, 1))
        actions = np.where(np.array([[True], [True], [False]]), push, rng.uniform(-1, 1, (3, 1))).astype(np.float32)
        b_obs, b_rew, b_term, b_trunc, b_real = env.step(actions)
        for i, e in enumerate(scalar):
            o, r, term, trunc, info = e.step(actions[i])
            np.testing.assert_array_equal(o, b_obs[i])
            assert (term, trunc or term, info["real_reward"]) == (b_term[i], b_trunc[i] or b_term[i], b_real[i])
            assert r == pytest.approx(b_rew[i], abs=REWARD_ATOL, rel=REWARD_ATOL)
            ends["term"] += term
            ends["trunc"] += trunc and not term
            if term or trunc:
                episode[i] += 1
                b_obs[i] = e.reset(seed=10 * (i + 1) + int(episode[i]))[0]
                env.reset(np.array([i]), [10 * (i + 1) + int(episode[i])])
                np.testing.assert_array_equal(env.observation()[i], b_obs[i])
        obs = b_obs
    assert ends["term"] >= 3 and ends["trunc"] >= 2 and not env.diverged.any()


def test_info_rows_equal_the_scalar_info_function():
    rng = np.random.default_rng(1)
    for name, dim in (("CartPole", 4), ("Acrobot", 6), ("MountainCarContinuous", 2)):
        obs = (rng.standard_normal((2000, dim)) * 2).astype(np.float32)
        features = INFO_FEATURES[name]
        np.testing.assert_array_equal(features.of_rows(obs), np.stack([features.fn(o) for o in obs]))


def test_bad_parameters_name_the_problem():
    config = RNConfig(mode="potential_additive", hidden_size=4)
    with pytest.raises(ConfigError, match="needs 25"):
        BatchedRewardEnv(CARTPOLE, config, np.zeros((2, 24)), 0.9)
    with pytest.raises(ConfigError, match="gamma"):
        BatchedRewardEnv(CARTPOLE, config, np.zeros((2, 25)), [0.9, 1.5])


def test_non_finite_terms_count_as_zero_and_latch_only_within_episodes():
    config = RNConfig(mode="plain_additive", hidden_size=4)
    params = np.stack([_params("CartPole-v0", config, s) for s in range(3)])
    params[1, -1] = np.nan  # member 1's output bias: every term is NaN
    env = BatchedRewardEnv(CARTPOLE, config, params, 0.99)
    env.reset(np.arange(3), [0, 1, 2])
    _, shaped, _, _, real = env.step(np.zeros(3, int))
    assert shaped[1] == real[1] == 1.0 and shaped[0] != 1.0
    assert env.diverged.tolist() == [False, True, False]
    env.select(np.array([2, 0]))  # compaction keeps the flags by original copy
    assert env.diverged.tolist() == [False, True, False]
    # a copy whose episode ended keeps stepping masked (as finished members do until compaction): not counted
    big = np.stack([_params("CartPole-v0", config, 0)])
    big[0, -1] = 3e38  # finite output bias, overflowing once the state is far out
    env = BatchedRewardEnv(CARTPOLE, config, big, 0.99)
    env.reset(np.arange(1), [0])
    ended = False
    for _ in range(300):
        ended = ended or bool(np.any(env.step(np.ones(1, int))[2]))
    assert ended and not env.diverged[0]


def _scalar_ddqn_on_rn(config, rn_config, params, seed):
    agent = DDQN(4, 2, config, seed)
    env = RewardEnv(make_env("CartPole-v0"), params, rn_config, config.gamma)
    return agent, agent.train(env, solved=195.0, max_steps=200)


@pytest.mark.parametrize("mode", ["potential_additive", "potential_exclusive_info", "plain_exclusive"])
def test_one_member_trained_batched_reproduces_scalar_ddqn_on_reward_env(mode):
    rn_config = RNConfig(mode=mode, hidden_size=8)
    params = _params("CartPole-v0", rn_config, 4, scale=1.0)
    config = DDQNConfig(max_episodes=12, batch_size=32, hidden_size=24)
    agent, scalar = _scalar_ddqn_on_rn(config, rn_config, params, 5)
    env = BatchedRewardEnv(CARTPOLE, rn_config, params[None], config.gamma)
    results, q = train_batched(CARTPOLE, env, [AgentSpec(config, 5)], solved=195.0)
    assert results[0].returns == scalar.returns and results[0].lengths == scalar.lengths  # real returns
    assert results[0].returns == [float(n) for n in results[0].lengths]  # CartPole: 1 per step, not the RN's
    diff = max((a - b).abs().max().item() for a, b in zip(agent.q.parameters(), q.member_module(0, config).parameters()))
    assert diff < Q_ATOL
    returns, _ = evaluate_batched(CARTPOLE, q, [5], 3)
    np.testing.assert_array_equal(returns[0], agent.evaluate(make_env("CartPole-v0"), 3))


def _fields(run):
    return (run.returns, run.lengths, run.episodes_to_solve, run.steps_to_solve, run.diverged, run.test_returns,
            run.test_steps)


def test_run_agents_batched_gives_the_scalar_records():
    """Members with their own RN parameters, gammas, seeds and architectures (one dueling), a real-reward
    setting and a discrete TD3 agent (its own lockstep trainer) in one job: the AgentRun records equal the scalar
    path's."""
    rn_config = RNConfig(mode="potential_additive", hidden_size=8)
    configs = [DDQNConfig(max_episodes=8, batch_size=32, hidden_size=16, gamma=0.95),
               DDQNConfig(max_episodes=8, batch_size=48, hidden_size=24, hidden_layers=2, gamma=0.99),
               DDQNConfig(max_episodes=8, batch_size=32, hidden_size=16, dueling=True, activation="relu")]
    jobs = [(RewardSetting("rn", rn_config, _params("CartPole-v0", rn_config, i, scale=1.0)), c, 10 + i)
            for i, c in enumerate(configs)]
    jobs.append((RewardSetting("real"), configs[0], 20))
    jobs.append((jobs[0][0], TD3DiscreteConfig(max_episodes=2), 21))
    batched = run_agents("CartPole-v0", jobs, 2, engine="batched")
    scalar = run_agents("CartPole-v0", jobs, 2, engine="scalar")
    for b, s in zip(batched, scalar):
        assert _fields(b) == _fields(s)
        assert b.wall_s > 0
    with pytest.raises(ConfigError, match="engine='fast'"):
        run_agents("CartPole-v0", jobs, 2, engine="fast")


def test_run_agents_batched_without_stopping_runs_the_whole_budget():
    rn_config = RNConfig(mode="plain_additive", hidden_size=4)
    job = (RewardSetting("rn", rn_config, _params("CartPole-v0", rn_config, 0, scale=0.1)),
           DDQNConfig(max_episodes=6, batch_size=16, hidden_size=8), 3)
    batched, = run_agents("CartPole-v0", [job], 1, stop_at_solved=False, engine="batched")
    scalar, = run_agents("CartPole-v0", [job], 1, stop_at_solved=False, engine="scalar")
    assert batched.train_episodes == 6 and _fields(batched) == _fields(scalar)


def test_a_non_finite_rn_marks_its_member_diverged():
    rn_config = RNConfig(mode="potential_additive", hidden_size=4)
    bad = _params("CartPole-v0", rn_config, 0)
    bad[-1] = np.nan
    config = DDQNConfig(max_episodes=3, batch_size=16, hidden_size=8)
    jobs = [(RewardSetting("rn", rn_config, bad), config, 1),
            (RewardSetting("rn", rn_config, _params("CartPole-v0", rn_config, 1)), config, 2)]
    batched = run_agents("CartPole-v0", jobs, 1, engine="batched")
    scalar = run_agents("CartPole-v0", jobs, 1, engine="scalar")
    assert [r.diverged for r in batched] == [r.diverged for r in scalar] == [True, False]
    assert agent_fitness(batched[0], 600, 195.0) == -np.inf
    assert _fields(batched[0]) == _fields(scalar[0])  # trains on (term counted as 0) like the scalar path


TINY = RNRunConfig(task="CartPole-v0", agent="ddqn", mode="potential_additive", iterations=2, seed=1,
                   max_episodes=4, agent_config=DDQNConfig(max_episodes=4, batch_size=16, hidden_size=16),
                   rn=RNConfig(mode="potential_additive", hidden_size=8),
                   nes=NESConfig(population=2, noise_std=0.1, step_size=0.5))


def test_tiny_batched_train_rn_writes_its_files_and_resumes(tmp_path):
    assert TINY.engine == "batched"
    full = train_rn(TINY, tmp_path / "full", progress=False)
    assert {p.name for p in (tmp_path / "full").iterdir()} == {schema.SE_WEIGHTS, schema.SE_META, schema.HISTORY,
                                                                 schema.CHECKPOINT}
    meta = json.loads((tmp_path / "full" / schema.SE_META).read_text())
    assert meta["run"]["engine"] == "batched" and meta["task"] == "CartPole-v0" and meta["iterations"] == 2
    train_rn(TINY, tmp_path / "split", progress=False, stop_after=1)
    resumed = train_rn(TINY, tmp_path / "split", progress=False, resume=True)
    np.testing.assert_array_equal(full.centre, resumed.centre)
    drop = ["time_s", "elapsed_s"]
    history = pd.read_csv(tmp_path / "full" / schema.HISTORY)
    pd.testing.assert_frame_equal(history.drop(columns=drop),
                                  pd.read_csv(tmp_path / "split" / schema.HISTORY).drop(columns=drop))
    # one iteration scored by the scalar engine: the same fitness of every member
    scalar = RNRunConfig(**{**vars(TINY), "iterations": 1, "engine": "scalar"})
    train_rn(scalar, tmp_path / "scalar", progress=False)
    first = pd.read_csv(tmp_path / "scalar" / schema.HISTORY).iloc[0]
    assert first.member_scores == history.member_scores[0] and first.centre_score == history.centre_score[0]


def test_a_checkpoint_without_an_engine_resumes_as_scalar(tmp_path):
    one = RNRunConfig(**{**vars(TINY), "iterations": 1, "engine": "scalar"})
    train_rn(one, tmp_path / "old", progress=False)
    tensors, meta = io.load_tensors(tmp_path / "old" / schema.CHECKPOINT)
    del meta["run"]["engine"]  # as written before the field existed
    io.save_tensors(tmp_path / "old" / schema.CHECKPOINT, tensors, meta)
    with pytest.raises(ConfigError, match="different configuration"):
        train_rn(RNRunConfig(**{**vars(TINY), "iterations": 2}), tmp_path / "old", progress=False, resume=True)
    state = train_rn(RNRunConfig(**{**vars(one), "iterations": 2}), tmp_path / "old", progress=False, resume=True)
    assert state.iteration == 2


def test_cli_engine_flag(tmp_path):
    from benchmark.cli import main

    out = tmp_path / "rn"
    assert main(["train-rn", "--task", "CartPole-v0", "--agent", "ddqn", "--iterations", "1", "--population", "1",
                 "--max-episodes", "2", "--engine", "scalar", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / schema.SE_META).read_text())["run"]["engine"] == "scalar"


def test_batched_rn_eval_equals_scalar_rn_eval(tmp_path):
    from benchmark.rn.evaluate import RNEvalConfig, run_rn_eval
    from benchmark.schema import CELLS, RN_AGENTS_TABLE

    rn_config = RNConfig(mode="potential_additive", hidden_size=8)
    env = RewardEnv(make_env("CartPole-v0"), _params("CartPole-v0", rn_config, 2, scale=1.0), rn_config, 0.99)
    save_rn(tmp_path / "rn", env, {"agent": "ddqn"})
    tables = {}
    for engine in ("batched", "scalar"):
        config = RNEvalConfig(task="CartPole-v0", agents=("ddqn", "dueling_ddqn"), agents_count=2, max_episodes=3,
                              icm=False, engine=engine)
        out = tmp_path / engine
        run_rn_eval(config, [str(tmp_path / "rn")], out, progress=False)
        tables[engine] = pd.read_csv(out / RN_AGENTS_TABLE).drop(columns="wall_s")
    pd.testing.assert_frame_equal(tables["batched"], tables["scalar"])
    assert len(tables["batched"]) == 2 * 2 * 2 and (tables["batched"].train_episodes == 3).all()
    # resume after a lost cell: only it is redone, with the same numbers
    sorted((tmp_path / "batched" / CELLS).glob("*.json"))[0].unlink()
    config = RNEvalConfig(task="CartPole-v0", agents=("ddqn", "dueling_ddqn"), agents_count=2, max_episodes=3,
                          icm=False, engine="batched")
    run_rn_eval(config, [str(tmp_path / "rn")], tmp_path / "batched", progress=False, resume=True)
    pd.testing.assert_frame_equal(tables["batched"],
                                  pd.read_csv(tmp_path / "batched" / RN_AGENTS_TABLE).drop(columns="wall_s"))
