"""The lockstep continuous TD3 against the scalar TD3, member by member, on MountainCarContinuous-v0."""
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from benchmark.agents.common import AgentSpec
from benchmark.agents.lockstep import td3 as batched_td3
from benchmark.agents.lockstep.core import BatchedMLP, evaluate_batched
from benchmark.agents.lockstep.td3 import train_batched_td3
from benchmark.agents.registry import get_agent_kind
from benchmark.agents.td3 import TD3, TD3Config
from benchmark.envs.reward import RNConfig, initial_rn_parameters, make_env
from benchmark.envs.tasks import BOX_TASKS, BatchedTask, get_task
from benchmark.errors import ConfigError
from benchmark.rn.engine import lockstep_job, run_agents
from benchmark.rn.inner import RewardSetting
from lockstep_asserts import assert_padding_untouched

MCC = "MountainCarContinuous-v0"
TASK = BOX_TASKS[MCC]
SMALL = TD3Config(start_steps=600, max_episodes=2, batch_size=32, hidden_size=16)
ATOL = 1e-3
"""Training returns and weights, batched vs scalar. Before start_steps both take the same noise actions, bit for
bit; after it the stacked bmm sums in another order than the scalar mm (and padding changes the blocking), so
the actions drift apart by ~1e-7 at first, growing with the updates: measured 1e-7 to 7e-5 (returns) and 1e-7 to
3e-5 (weights) after 36 to 1,250 updates. The drift is chaotic over longer runs (Adam's early steps, about
lr * sign(gradient), amplify ulp-level differences of near-zero gradient entries): over 1,800 updates one member
drifted by 6e-3 (return) and 1e-2 (weights). The tests stay below ~1,300 updates per member."""


def _scalar(config, seed, env=None):
    agent = TD3(2, TASK.action_space, config, seed)
    return agent, agent.train(env or make_env(MCC), solved=90.0, max_steps=999)


def _max_diff(agent, policy, i):
    other = policy.load_into(i, TD3(2, TASK.action_space, agent.config, 0))
    return max((a - b).abs().max().item() for a, b in zip(agent._online, other._online))


def _assert_same_training(batched, scalar):
    assert batched.lengths == scalar.lengths and batched.diverged == scalar.diverged
    np.testing.assert_allclose(batched.returns, scalar.returns, rtol=0, atol=ATOL)


def test_one_member_reproduces_the_scalar_agent():
    config = dataclasses.replace(SMALL, start_steps=200, max_episodes=3)
    results, policy = train_batched_td3(TASK, BatchedTask(TASK, 1), [AgentSpec(config, 0)], solved=90.0)
    agent, scalar = _scalar(config, 0)
    _assert_same_training(results[0], scalar)
    assert results[0].steps > 1000 and max(scalar.returns) > 90  # ~970 updates; an episode reached the goal
    assert _max_diff(agent, policy, 0) < ATOL
    returns, lengths = evaluate_batched(TASK, policy, [0], 2)
    s_returns, s_lengths = agent.evaluate_episodes(make_env(MCC), 2)
    np.testing.assert_allclose(returns[0], s_returns, atol=1e-2)
    np.testing.assert_array_equal(lengths[0], s_lengths)


def test_many_varied_members_each_match_their_scalar_run():
    """Members differing in every batched hyperparameter (padded hidden sizes, 1 or 2 layers, padded batches,
    own lr, gamma, tau, noise process and scales, start_steps, policy delay, target smoothing) and seed."""
    configs = [SMALL,
               dataclasses.replace(SMALL, hidden_size=24, hidden_layers=1, batch_size=24, lr=3e-3, gamma=0.95),
               dataclasses.replace(SMALL, noise_type="gaussian", expl_noise=0.8, expl_noise_decay=0.5, tau=0.02,
                                   start_steps=750, policy_delay=3),
               dataclasses.replace(SMALL, hidden_size=8, batch_size=40, target_noise=0.5, target_noise_clip=0.3,
                                   ou_theta=0.3, expl_noise_min=0.1, start_steps=300, max_episodes=1)]
    specs = [AgentSpec(c, 10 + i) for i, c in enumerate(configs)]
    results, policy = train_batched_td3(TASK, BatchedTask(TASK, len(specs)), specs, solved=90.0)
    for i, (config, spec) in enumerate(zip(configs, specs)):
        agent, scalar = _scalar(config, spec.seed)
        _assert_same_training(results[i], scalar)
        assert _max_diff(agent, policy, i) < ATOL
    assert [r.episodes for r in results] == [2, 2, 2, 1]


def test_padded_units_and_gated_layers_receive_no_updates():
    small = dataclasses.replace(SMALL, hidden_size=5, hidden_layers=1, max_episodes=1, start_steps=100)
    big = dataclasses.replace(SMALL, hidden_size=12, max_episodes=1, start_steps=100)
    results, policy = train_batched_td3(TASK, BatchedTask(TASK, 2), [AgentSpec(small, 1), AgentSpec(big, 2)], 90.0)
    assert results[0].steps > 200
    assert_padding_untouched(policy, hidden=5)


def test_finished_members_are_masked():
    quick = dataclasses.replace(SMALL, max_episodes=1, start_steps=100)
    slow = dataclasses.replace(SMALL, max_episodes=3, start_steps=100)
    specs = [AgentSpec(quick, 1), AgentSpec(slow, 1)]  # the same seed: the same first episode
    results, policy = train_batched_td3(TASK, BatchedTask(TASK, 2), specs, 90.0)
    assert results[0].episodes == 1 and results[1].episodes == 3
    assert results[0].returns[0] == results[1].returns[0]
    agent, scalar = _scalar(quick, 1)
    _assert_same_training(results[0], scalar)
    assert _max_diff(agent, policy, 0) < 1e-5  # it stopped updating when it finished
    assert not torch.equal(policy.actor.theta[0], policy.actor.theta[1])


class _NanRewardAfter(gym.Wrapper):
    """Rewards turn NaN after `steps` steps of every episode."""

    def __init__(self, env, steps):
        super().__init__(env)
        self.steps, self.t = steps, 0

    def reset(self, **kwargs):
        self.t = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        self.t += 1
        obs, reward, *rest = self.env.step(action)
        return obs, float("nan") if self.t > self.steps else reward, *rest


class _BatchedNanRewardAfter(BatchedTask):
    """BatchedTask whose copies marked `bad` get NaN rewards after `steps` steps of every episode."""

    def __init__(self, task, bad, steps):
        super().__init__(task, len(bad))
        self.bad, self.steps = np.asarray(bad), steps

    def step(self, actions):
        obs, reward, terminated, truncated = super().step(actions)
        return obs, np.where(self.bad & (self.t > self.steps), np.nan, reward), terminated, truncated

    def select(self, idx):
        super().select(idx)
        self.bad = self.bad[idx]


def test_a_non_finite_loss_ends_only_that_member():
    config = dataclasses.replace(SMALL, start_steps=50, max_episodes=2)
    env = _BatchedNanRewardAfter(TASK, [True, False], 40)
    results, policy = train_batched_td3(TASK, env, [AgentSpec(config, 3), AgentSpec(config, 4)], 90.0)
    agent, scalar = _scalar(config, 3, _NanRewardAfter(make_env(MCC), 40))
    assert scalar.diverged and results[0].diverged and results[0].lengths == scalar.lengths == [51]
    assert all(torch.isfinite(p).all() for p in agent._online)
    assert torch.isfinite(policy.actor.theta).all() and torch.isfinite(policy.critic.theta).all()  # not applied
    assert _max_diff(agent, policy, 0) == 0.0  # no update was applied: the initial weights
    _assert_same_training(results[1], _scalar(config, 4)[1])


def test_a_non_finite_actor_ends_that_member_before_it_steps(monkeypatch):
    config = dataclasses.replace(SMALL, start_steps=10, max_episodes=1)
    scalar_td3 = batched_td3.TD3

    def broken(obs_dim, actions, cfg, seed):
        agent = scalar_td3(obs_dim, actions, cfg, seed)
        if seed == 5:
            with torch.no_grad():
                agent.actor[0].weight[0, 0] = float("nan")
        return agent

    monkeypatch.setattr(batched_td3, "TD3", broken)
    specs = [AgentSpec(config, 5), AgentSpec(config, 6)]
    results, _ = train_batched_td3(TASK, BatchedTask(TASK, 2), specs, 90.0)
    agent = broken(2, TASK.action_space, config, 5)
    scalar = agent.train(make_env(MCC), solved=90.0, max_steps=999)
    assert results[0].diverged and scalar.diverged and results[0].lengths == scalar.lengths == [10]
    assert not results[1].diverged and results[1].steps > 10
    _assert_same_training(results[1], _scalar(config, 6)[1])


def test_a_batch_needs_one_activation_and_a_box_task():
    with pytest.raises(ValueError, match="one activation"):
        BatchedMLP(3, 1, [SMALL, dataclasses.replace(SMALL, activation="tanh")])
    with pytest.raises(ConfigError, match="Box action spaces; task='CartPole-v0'"):
        train_batched_td3(get_task("CartPole-v0"), BatchedTask(get_task("CartPole-v0"), 1), [AgentSpec(SMALL, 0)],
                          195.0)


def test_lockstep_routes_td3_on_mountain_car_continuous():
    rn = RNConfig(mode="potential_additive", hidden_size=4)
    setting = RewardSetting("rn", rn, initial_rn_parameters(2, rn, 0).double().numpy())
    assert get_agent_kind("td3").lockstep_trainer() is train_batched_td3
    assert lockstep_job(MCC, setting, SMALL) and lockstep_job(MCC, RewardSetting("real"), SMALL)
    assert not lockstep_job(MCC, RewardSetting("icm"), SMALL)  # ICM trains online: scalar
    assert not lockstep_job("CartPole-v0", RewardSetting("real"), SMALL)  # td3 cannot act there
    assert not lockstep_job("HalfCheetah-v5", RewardSetting("real"), SMALL)  # no vectorised dynamics
    assert not get_agent_kind("td3").batched and get_agent_kind("ddqn").batched  # the SE engine: DDQN only


def test_run_agents_batched_gives_the_scalar_records_on_mountain_car_continuous():
    """Two RN members (own parameters, info features, gammas), one on the real reward and one with another
    activation (a group of its own): the batched records equal the scalar path's (returns within float drift)."""
    rn = RNConfig(mode="potential_additive_info", hidden_size=8)
    config = dataclasses.replace(SMALL, start_steps=900, max_episodes=1)
    params = [initial_rn_parameters(2, rn, s, 3).double().numpy() for s in range(2)]
    jobs = [(RewardSetting("rn", rn, params[0]), config, 7),
            (RewardSetting("rn", rn, params[1]), dataclasses.replace(config, gamma=0.95), 8),
            (RewardSetting("real"), config, 9),
            (RewardSetting("rn", rn, params[0]), dataclasses.replace(config, activation="tanh"), 10)]
    batched = run_agents(MCC, jobs, 2, engine="batched")
    scalar = run_agents(MCC, jobs, 2, engine="scalar")
    for b, s in zip(batched, scalar):
        assert (b.lengths, b.diverged, b.test_steps, b.solved) == (s.lengths, s.diverged, s.test_steps, s.solved)
        np.testing.assert_allclose(b.returns, s.returns, atol=ATOL)
        np.testing.assert_allclose(b.test_returns, s.test_returns, atol=1e-2)
        assert b.wall_s > 0
