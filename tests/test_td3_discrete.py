import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from benchmark.agents.common import TwinCritic, should_stop
from benchmark.agents.sampling import sample_configs
from benchmark.agents.td3_discrete import TD3Discrete, TD3DiscreteConfig, gumbel_softmax
from benchmark.envs.synthetic import SEConfig, SyntheticEnv, initial_se_parameters
from benchmark.envs.tasks import get_task
from benchmark.errors import ConfigError
from benchmark.nets import mlp
from search_spaces import get_space
from search_spaces.tools import apply_config

TASK = get_task("CartPole-v0")
TINY = TD3DiscreteConfig(hidden_size=16, batch_size=16, init_episodes=1, max_episodes=3)


@pytest.mark.slow
def test_td3_discrete_learns_cartpole_v0_under_a_fixed_seed():
    agent = TD3Discrete(TASK.obs_dim, TASK.n_actions, TD3DiscreteConfig(), seed=5)
    result = agent.train(TASK.make(), solved=TASK.solved)
    assert not result.diverged and result.episodes < 1000 and result.steps < 60_000
    assert np.mean(result.returns[-10:]) >= 195.0
    assert agent.evaluate(TASK.make(), 10).mean() >= 195.0


def test_bad_hyperparameter_names_field_and_range():
    with pytest.raises(ConfigError, match=r"gumbel_temperature=0.0 is out of range; allowed: \[0.001, 100.0\]"):
        TD3DiscreteConfig(gumbel_temperature=0.0)
    with pytest.raises(ConfigError, match=r"policy_delay=0 is out of range"):
        TD3DiscreteConfig(policy_delay=0)
    with pytest.raises(ConfigError, match=r"policy_delay=1.5 must be an integer"):
        TD3DiscreteConfig(policy_delay=1.5)
    with pytest.raises(ConfigError, match=r"target_smoothing=2.0 is out of range; allowed: \[0.0, 1.0\]"):
        TD3DiscreteConfig(target_smoothing=2.0)
    with pytest.raises(ConfigError, match="gumbel_hard='yes' is not allowed"):
        TD3DiscreteConfig(gumbel_hard="yes")
    with pytest.raises(ConfigError, match="activation='swish'"):
        TD3DiscreteConfig(activation="swish")


def test_same_seed_same_training_and_test_returns():
    def run(seed):
        agent = TD3Discrete(TASK.obs_dim, TASK.n_actions, TINY, seed)
        result = agent.train(TASK.make(), solved=TASK.solved)
        return result, agent.evaluate_episodes(TASK.make(), 2), torch.cat([p.flatten() for p in agent._online])

    (r1, (t1, l1), p1), (r2, (t2, l2), p2) = run(3), run(3)
    assert r1 == r2 and r1.episodes == 3 and not r1.diverged
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(l1, t1.astype(np.int64))  # CartPole: one reward per step
    assert torch.equal(p1, p2)
    assert run(4)[0].returns != r1.returns


def test_sampled_actions_and_hard_gumbel_train_deterministically():
    cfg = dataclasses.replace(TINY, sample_actions=True, gumbel_hard=True, target_smoothing=0.1, eps_init=0.0,
                              eps_min=0.0, policy_delay=1)
    runs = [TD3Discrete(4, 2, cfg, 5).train(TASK.make(), solved=TASK.solved) for _ in range(2)]
    assert runs[0] == runs[1] and not runs[0].diverged


def test_stopping_rules_take_the_td3_config():
    cfg = TD3DiscreteConfig(early_out_num=3, init_episodes=1, max_episodes=50)
    assert should_stop([195.0] * 3, 600, cfg, solved=195.0)
    assert should_stop([10.0] * 5 + [10.05], 60, cfg, solved=None)
    assert not should_stop([10.0] * 5 + [12.0], 62, cfg, solved=None)


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient():
    logits = torch.tensor([[0.3, -0.2, 1.0]], requires_grad=True)
    noise = torch.tensor([[0.5, 0.0, -1.0]])  # argmax of logits + noise: action 0
    hard = gumbel_softmax(logits, noise, 0.5, hard=True)
    assert torch.equal(hard.detach(), torch.tensor([[1.0, 0.0, 0.0]]))
    (hard * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    soft = torch.softmax((logits.detach() + noise) / 0.5, -1)
    assert torch.allclose(gumbel_softmax(logits, noise, 0.5, hard=False), soft)
    assert logits.grad is not None and torch.all(logits.grad != 0)


def test_twin_critic_equals_the_two_separate_critics():
    gen = torch.Generator().manual_seed(0)
    q1, q2 = (mlp(4, 8, 2, 3, "tanh") for _ in range(2))
    for q in (q1, q2):
        for p in q.parameters():
            p.data.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    obs = torch.rand(5, 4, generator=gen)
    out = TwinCritic(q1, q2, "tanh")(obs)
    assert out.shape == (2, 5, 3)
    torch.testing.assert_close(out[0], q1(obs))
    torch.testing.assert_close(out[1], q2(obs))


def test_a_non_finite_loss_stops_training_without_crashing():
    params = initial_se_parameters(TASK, SEConfig(), 0)
    params[-2] = 1e38  # reward bias: finite rewards whose squared TD error overflows
    agent = TD3Discrete(4, 2, dataclasses.replace(TINY, init_episodes=0), 1)
    before = [p.detach().clone() for p in agent._online]
    result = agent.train(SyntheticEnv(TASK, params), solved=None)
    assert result.diverged and result.episodes == 1 and result.steps == 1
    assert all(torch.equal(a, b) for a, b in zip(before, agent._online))  # the bad update was not applied


def test_non_finite_observations_and_rewards_do_not_crash(nan_env):
    agent = TD3Discrete(4, 2, dataclasses.replace(TINY, init_episodes=0), 2)
    result = agent.train(nan_env(gym.spaces.Discrete(2)), solved=None, max_steps=50)
    assert result.diverged and result.episodes == 1
    assert all(torch.isfinite(p).all() for p in agent._online)
    assert agent.act(np.full(4, np.nan, np.float32)) in (0, 1)


def test_varied_hyperparameters_stay_in_their_ranges_and_are_seeded():
    base = TD3DiscreteConfig()
    a = sample_configs(base, 50, seed=1, space="td3_discrete_varied")
    assert a == sample_configs(base, 50, seed=1, space="td3_discrete_varied")
    assert a != sample_configs(base, 50, seed=2, space="td3_discrete_varied")
    for c in a:
        assert isinstance(c, TD3DiscreteConfig)
        assert base.lr / 3 <= c.lr <= base.lr * 3
        assert base.batch_size // 3 <= c.batch_size <= base.batch_size * 3
        assert base.hidden_size // 3 <= c.hidden_size <= base.hidden_size * 3
        assert max(1, base.hidden_layers - 1) <= c.hidden_layers <= base.hidden_layers + 1
        assert (c.gamma, c.tau, c.policy_delay) == (base.gamma, base.tau, base.policy_delay)


def test_tuning_space_samples_are_valid_configs():
    space = get_space("td3_discrete", seed=0)
    fields = {f.name for f in dataclasses.fields(TD3DiscreteConfig)}
    assert set(space.keys()) <= fields
    assert apply_config(TD3DiscreteConfig(), dict(space.get_default_configuration())) == TD3DiscreteConfig()
    configs = [apply_config(TD3DiscreteConfig(), dict(s)) for s in space.sample_configuration(50)]
    assert all(isinstance(c, TD3DiscreteConfig) for c in configs)  # __post_init__ validated each
    assert {c.gumbel_hard for c in configs} == {True, False} and len({c.activation for c in configs}) == 3


def test_td3_records_real_returns_on_a_reward_env():
    from benchmark.envs.reward import RewardEnv, RNConfig, initial_rn_parameters, make_env

    config = RNConfig(mode="plain_exclusive", hidden_size=4)
    env = RewardEnv(make_env("CartPole-v0"), 5.0 * initial_rn_parameters(4, config, seed=1), config, gamma=0.99)
    agent = TD3Discrete(4, 2, TD3DiscreteConfig(max_episodes=3, batch_size=8, hidden_size=8, init_episodes=1), seed=0)
    result = agent.train(env, solved=None)
    assert result.returns == [float(n) for n in result.lengths]  # CartPole pays 1 per step; the RN pays otherwise
    returns, lengths = agent.evaluate_episodes(env, 2)
    assert returns.tolist() == lengths.astype(float).tolist()
