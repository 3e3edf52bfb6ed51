"""The lockstep discrete TD3 against the scalar TD3Discrete, member by member, on CartPole-v0 and its SEs."""
import dataclasses

import numpy as np
import pytest
import torch

from benchmark.agents.common import AgentSpec
from benchmark.agents.ddqn import DDQNConfig
from benchmark.agents.lockstep import td3_discrete as batched_td3_discrete
from benchmark.agents.lockstep.core import evaluate_batched
from benchmark.agents.lockstep.td3_discrete import train_batched_td3_discrete
from benchmark.agents.registry import get_agent_kind
from benchmark.agents.sampling import sample_configs
from benchmark.agents.td3_discrete import TD3Discrete, TD3DiscreteConfig
from benchmark.engine import lockstep, plan_chunks, train_and_test
from benchmark.envs.reward import RNConfig, initial_rn_parameters
from benchmark.envs.synthetic import BatchedSE, SEConfig, SyntheticEnv, initial_se_parameters
from benchmark.envs.tasks import BOX_TASKS, BatchedTask, get_task
from benchmark.errors import ConfigError
from benchmark.parallel import SerialExecutor
from benchmark.rn.engine import lockstep_job, run_agents
from benchmark.rn.inner import RewardSetting
from lockstep_asserts import assert_padding_untouched

TASK = get_task("CartPole-v0")
SMALL = TD3DiscreteConfig(hidden_size=16, batch_size=16, init_episodes=1, max_episodes=12)
ATOL = 1e-4
"""Weights, lockstep vs scalar. Training returns, episode lengths and test returns are compared exactly: both
take the same discrete actions, so float differences never reach the trajectory unless an argmax flips. The
weights differ in float rounding only: summation order (bmm instead of mm, padding) and the Adam kernel (the
scalar agent's fused Adam rounds differently from torch.optim.Adam's default step, which BatchedAdam computes).
Measured 0 to 4e-6 over 40 to 1,600 updates per member, configs sampled from the full td3_discrete space. Adam
amplifies rounding differences of near-zero gradient entries to steps of about lr (2.5e-4 after 1,800 updates on
an SE with lr 5e-4): the scalar agent with plain instead of fused Adam drifts from itself by exactly as much, and
the lockstep trainer stays within PLAIN_ATOL of that plain-Adam scalar agent
(test_lockstep_follows_the_scalar_arithmetic_up_to_summation_order). So the tests compare with the scalar agent
over at most ~1,200 updates per member, and avoid chaotic configs (high lr with a low hard Gumbel temperature,
where the critic target's one-hot sample flips: the scalar agent drifts as far with one weight moved by an ulp)."""
PLAIN_ATOL = 2e-5
"""Weights, lockstep vs the scalar agent with torch.optim.Adam's default (non-fused) step: summation order only
(measured 7e-7 to 8e-6 over 2,400 updates)."""


def _scalar(config, seed, env=None, solved=195.0):
    agent = TD3Discrete(TASK.obs_dim, TASK.n_actions, config, seed)
    return agent, agent.train(env or TASK.make(), solved=solved, max_steps=TASK.max_steps)


def _max_diff(agent, policy, i):
    other = policy.load_into(i, TD3Discrete(TASK.obs_dim, TASK.n_actions, agent.config, 0))
    return max((a - b).abs().max().item() for a, b in zip(agent._online, other._online))


def _assert_same_training(batched, scalar):
    assert (batched.returns, batched.lengths, batched.diverged) == (scalar.returns, scalar.lengths, scalar.diverged)


def test_one_member_reproduces_the_scalar_agent():
    config = dataclasses.replace(SMALL, max_episodes=40, tau=0.05)
    results, policy = train_batched_td3_discrete(TASK, BatchedTask(TASK, 1), [AgentSpec(config, 3)], solved=195.0)
    agent, scalar = _scalar(config, 3)
    _assert_same_training(results[0], scalar)
    assert scalar.steps > 500  # some 550 updates
    assert _max_diff(agent, policy, 0) < ATOL
    returns, lengths = evaluate_batched(TASK, policy, [3], 3)
    s_returns, s_lengths = agent.evaluate_episodes(TASK.make(), 3)
    np.testing.assert_array_equal(returns[0], s_returns)
    np.testing.assert_array_equal(lengths[0], s_lengths)


_VARIED = [
    dataclasses.replace(SMALL, max_episodes=3),
    dataclasses.replace(SMALL, hidden_size=24, hidden_layers=1, batch_size=24, lr=2e-3, gamma=0.95, tau=0.05,
                        max_episodes=3),
    dataclasses.replace(SMALL, hidden_size=8, hidden_layers=3, batch_size=40, policy_delay=3, gumbel_hard=True,
                        gumbel_temperature=2.0, target_smoothing=0.2, init_episodes=2, max_episodes=3),
    dataclasses.replace(SMALL, sample_actions=True, gumbel_temperature=0.5, logit_reg=0.05, policy_delay=1,
                        eps_init=0.5, eps_decay=0.7, eps_min=0.05, max_episodes=3),
    dataclasses.replace(SMALL, batch_size=8, gumbel_hard=True, sample_actions=True, target_smoothing=0.1,
                        init_episodes=0, max_episodes=2),
]
"""Members differing in every per-member hyperparameter: padded hidden sizes, 1 to 3 hidden layers, padded
batches, lr, gamma, tau, policy delay, Gumbel temperature, hard samples, target smoothing, logit penalty, sampled
actions, epsilon schedule, init episodes and budget. Budgets are for SEs (the initial ones run 200-step episodes:
up to 600 updates per member)."""


def test_many_varied_members_each_match_their_scalar_run_on_ses():
    params = torch.stack([initial_se_parameters(TASK, SEConfig(), s) for s in range(len(_VARIED))])
    specs = [AgentSpec(c, 10 + i) for i, c in enumerate(_VARIED)]
    results, policy = train_batched_td3_discrete(TASK, BatchedSE(TASK, SEConfig(), params), specs, solved=None)
    for i, (config, spec) in enumerate(zip(_VARIED, specs)):
        agent, scalar = _scalar(config, spec.seed, SyntheticEnv(TASK, params[i]), solved=None)
        assert results[i].lengths == scalar.lengths and results[i].diverged == scalar.diverged
        np.testing.assert_allclose(results[i].returns, scalar.returns, rtol=0, atol=1e-3)  # SE rewards: floats
        assert _max_diff(agent, policy, i) < ATOL


def test_members_sampled_from_the_protocols_varied_space_each_match_their_scalar_run():
    """The transfer protocol's td3_discrete_varied space (lr, batch size, hidden size, 1 to 3 layers) on the
    real task."""
    configs = sample_configs(TD3DiscreteConfig(max_episodes=5, init_episodes=2), 4, seed=3,
                             space="td3_discrete_varied")
    assert len({c.hidden_layers for c in configs}) > 1 and len({c.batch_size for c in configs}) == 4
    specs = [AgentSpec(c, 30 + i) for i, c in enumerate(configs)]
    results, policy = train_batched_td3_discrete(TASK, BatchedTask(TASK, len(specs)), specs, solved=195.0)
    for i, (config, spec) in enumerate(zip(configs, specs)):
        agent, scalar = _scalar(config, spec.seed)
        _assert_same_training(results[i], scalar)
        assert _max_diff(agent, policy, i) < ATOL
    returns, _ = evaluate_batched(TASK, policy, [s.seed for s in specs], 2)
    np.testing.assert_array_equal(returns[0], _scalar(configs[0], 30)[0].evaluate(TASK.make(), 2))


@pytest.mark.slow
def test_lockstep_follows_the_scalar_arithmetic_up_to_summation_order(monkeypatch):
    """Over 2,400 updates (SE episodes of 200 steps; ~10 s), against the scalar agent with torch.optim.Adam's
    default step instead of its fused one: what is left is summation order (see ATOL)."""

    class PlainAdam(torch.optim.Adam):
        def __init__(self, params, lr, fused=None):
            super().__init__(params, lr=lr, foreach=False)

    monkeypatch.setattr(torch.optim, "Adam", PlainAdam)
    params = initial_se_parameters(TASK, SEConfig(), 0)[None]
    results, policy = train_batched_td3_discrete(TASK, BatchedSE(TASK, SEConfig(), params), [AgentSpec(SMALL, 10)],
                                                 solved=None)
    agent, scalar = _scalar(SMALL, 10, SyntheticEnv(TASK, params[0]), solved=None)
    assert results[0].lengths == scalar.lengths and scalar.steps == 2400
    np.testing.assert_allclose(results[0].returns, scalar.returns, rtol=0, atol=1e-3)
    assert _max_diff(agent, policy, 0) < PLAIN_ATOL


def test_padded_units_and_gated_layers_receive_no_updates():
    small = dataclasses.replace(SMALL, hidden_size=5, hidden_layers=1, max_episodes=4, init_episodes=0)
    big = dataclasses.replace(SMALL, hidden_size=12, hidden_layers=2, max_episodes=4, init_episodes=0)
    results, policy = train_batched_td3_discrete(TASK, BatchedTask(TASK, 2), [AgentSpec(small, 1), AgentSpec(big, 2)],
                                                 195.0)
    assert results[0].steps > 20
    assert_padding_untouched(policy, hidden=5)


def test_finished_and_waiting_members_receive_no_updates(monkeypatch):
    """Every update leaves the rows that do not learn at this step untouched (finished members, members still in
    their init episodes), and the actors and targets of rows between delayed policy updates."""
    configs = [dataclasses.replace(SMALL, max_episodes=2, init_episodes=0),  # finishes first, stays masked
               dataclasses.replace(SMALL, max_episodes=6, init_episodes=4),
               dataclasses.replace(SMALL, max_episodes=6, policy_delay=3)] + [SMALL] * 2
    seen = {"masked": 0, "waiting": 0}
    update = batched_td3_discrete._TD3DiscreteLockstep.update

    def checked(self, active):
        before = [t.clone() for t in (self.theta_a, self.target_a, self.theta_c, self.target_c)]
        out = update(self, active)
        still = ~active
        seen["masked"] += int((~self.alive).sum())
        seen["waiting"] += int((self.alive & ~active).sum())
        for b, a in zip(before, (self.theta_a, self.target_a, self.theta_c, self.target_c)):
            rows = torch.from_numpy(still if len(b) == len(still) else np.tile(still, 2))
            assert torch.equal(b[rows], a[rows])
        no_actor = torch.from_numpy((self.updates + 1) % self.policy_delay != 0)
        assert torch.equal(before[0][no_actor], self.theta_a[no_actor])
        assert torch.equal(before[1][no_actor], self.target_a[no_actor])
        return out

    monkeypatch.setattr(batched_td3_discrete._TD3DiscreteLockstep, "update", checked)
    specs = [AgentSpec(c, 5 + i) for i, c in enumerate(configs)]
    results, policy = train_batched_td3_discrete(TASK, BatchedTask(TASK, len(specs)), specs, 195.0)
    assert seen["masked"] > 0 and seen["waiting"] > 0  # both cases were exercised
    assert results[0].episodes == 2 and results[1].episodes == 6
    for i in (0, 2):
        agent, scalar = _scalar(configs[i], 5 + i)
        _assert_same_training(results[i], scalar)
        assert _max_diff(agent, policy, i) < ATOL


def test_a_non_finite_loss_ends_only_that_member():
    config = dataclasses.replace(SMALL, max_episodes=3, init_episodes=0)
    params = torch.stack([initial_se_parameters(TASK, SEConfig(), s) for s in range(2)])
    params[0, -2] = 1e38  # reward bias of SE 0: finite rewards whose squared TD error overflows
    results, policy = train_batched_td3_discrete(TASK, BatchedSE(TASK, SEConfig(), params),
                                                 [AgentSpec(config, 1), AgentSpec(config, 2)], None)
    agent, scalar = _scalar(config, 1, SyntheticEnv(TASK, params[0]), solved=None)
    assert scalar.diverged and results[0].diverged and results[0].lengths == scalar.lengths == [1]
    assert _max_diff(agent, policy, 0) == 0.0  # the bad update was not applied: the initial weights
    assert torch.isfinite(policy.actor.theta).all() and torch.isfinite(policy.critic.theta).all()
    assert not results[1].diverged and results[1].episodes == 3


def test_a_batch_needs_a_discrete_task():
    mcc = BOX_TASKS["MountainCarContinuous-v0"]
    with pytest.raises(ConfigError, match="Discrete action spaces; task='MountainCarContinuous-v0'"):
        train_batched_td3_discrete(mcc, BatchedTask(mcc, 1), [AgentSpec(SMALL, 0)], 90.0)


def test_the_se_engine_trains_td3_discrete_in_lockstep_as_the_scalar_engine():
    """Transfer-protocol cells through benchmark.engine: a discrete TD3 chunk with a DDQN member (grouped apart by
    trainer), on an SE and on the real task; the batched engine's outcomes equal the scalar engine's."""
    specs = [AgentSpec(dataclasses.replace(c, max_episodes=2, init_episodes=1), 40 + i)
             for i, c in enumerate(_VARIED[:3])]
    specs.append(AgentSpec(DDQNConfig(max_episodes=2, batch_size=16), 50))
    assert get_agent_kind("td3_discrete").lockstep_trainer() is train_batched_td3_discrete
    assert all(lockstep(s, "batched") for s in specs) and not lockstep(specs[0], "scalar")
    assert sorted(map(sorted, plan_chunks(specs, "batched", 1))) == [[0, 1, 2], [3]]  # grouped by trainer
    se = initial_se_parameters(TASK, SEConfig(), 7).double().numpy()[None].repeat(len(specs), 0)
    for params in (se, None):
        runs = {engine: train_and_test("CartPole-v0", specs, SEConfig(), params, 2, engine, SerialExecutor(), 1)
                for engine in ("batched", "scalar")}
        for b, s in zip(runs["batched"], runs["scalar"]):
            assert b.train.lengths == s.train.lengths and b.train.diverged == s.train.diverged
            np.testing.assert_allclose(b.train.returns, s.train.returns, rtol=0, atol=1e-3)
            assert b.test_returns == s.test_returns and b.test_steps == s.test_steps


def test_rn_training_routes_td3_discrete_to_its_lockstep_trainer():
    """RN inner loop on CartPole (an RN setting and the real reward): the batched records equal the scalar path's."""
    rn = RNConfig(mode="potential_additive", hidden_size=4)
    setting = RewardSetting("rn", rn, initial_rn_parameters(TASK.obs_dim, rn, 0).double().numpy())
    assert lockstep_job("CartPole-v0", setting, SMALL) and lockstep_job("CartPole-v0", RewardSetting("real"), SMALL)
    assert not lockstep_job("MountainCarContinuous-v0", RewardSetting("real"), SMALL)  # cannot act there
    config = dataclasses.replace(SMALL, max_episodes=5, init_episodes=1)
    jobs = [(setting, config, 1), (setting, dataclasses.replace(config, gamma=0.9, hidden_size=24), 2),
            (RewardSetting("real"), config, 3)]
    batched = run_agents("CartPole-v0", jobs, 2, engine="batched")
    scalar = run_agents("CartPole-v0", jobs, 2, engine="scalar")
    for b, s in zip(batched, scalar):
        assert (b.returns, b.lengths, b.diverged, b.test_returns) == (s.returns, s.lengths, s.diverged, s.test_returns)


@pytest.mark.slow
def test_lockstep_agents_learn_cartpole():
    """The scalar agent's learning test (tests/test_td3_discrete.py), in lockstep."""
    results, policy = train_batched_td3_discrete(TASK, BatchedTask(TASK, 1), [AgentSpec(TD3DiscreteConfig(), 5)],
                                                 solved=TASK.solved)
    assert not results[0].diverged and np.mean(results[0].returns[-10:]) >= 195.0
    assert evaluate_batched(TASK, policy, [5], 10)[0].mean() >= 195.0
