import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from benchmark.agents.registry import get_agent_kind, make_agent
from benchmark.agents.sampling import sample_configs
from benchmark.agents.td3 import TD3, TD3Config
from benchmark.envs.reward import RNConfig, initial_rn_parameters, make_env
from benchmark.errors import ConfigError
from benchmark.rn.inner import RewardSetting, run_agent
from search_spaces import get_space

MOUNTAIN_CAR = "MountainCarContinuous-v0"
BOX = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
TINY = TD3Config(hidden_size=8, batch_size=16, start_steps=50, max_episodes=3)


@pytest.mark.slow
def test_td3_solves_mountain_car_continuous_under_a_fixed_seed():
    agent = TD3(2, make_env(MOUNTAIN_CAR).action_space, TD3Config(max_episodes=60), seed=3)
    result = agent.train(make_env(MOUNTAIN_CAR), solved=90.0, max_steps=999)
    assert not result.diverged and result.steps < 30_000  # measured: 16,177 steps, 25 episodes
    assert np.mean(result.returns[-10:]) >= 90.0
    assert agent.evaluate(make_env(MOUNTAIN_CAR), 10).mean() >= 90.0  # measured: 94.1


def test_bad_hyperparameter_names_field_and_range():
    with pytest.raises(ConfigError, match=r"noise_type='pink' is not allowed; choose one of \['gaussian', 'ou'\]"):
        TD3Config(noise_type="pink")
    with pytest.raises(ConfigError, match=r"expl_noise=-0.1 is out of range; allowed: \[0.0, 10.0\]"):
        TD3Config(expl_noise=-0.1)
    with pytest.raises(ConfigError, match=r"ou_theta=1.5 is out of range; allowed: \[0.0, 1.0\]"):
        TD3Config(ou_theta=1.5)
    with pytest.raises(ConfigError, match=r"start_steps=1.5 must be an integer"):
        TD3Config(start_steps=1.5)
    with pytest.raises(ConfigError, match=r"policy_delay=0 is out of range"):
        TD3Config(policy_delay=0)
    with pytest.raises(ConfigError, match="TD3 acts in a Box action space; for a Discrete one use td3_discrete"):
        TD3(4, 2, TINY)
    with pytest.raises(ConfigError, match=r"agent='td3' acts in box action spaces; this task's is Discrete\(2\)"):
        make_agent(4, 2, TD3Config(), 0)


class _Recorder(gym.Wrapper):
    def __init__(self, env):
        super().__init__(env)
        self.actions = []

    def step(self, action):
        self.actions.append(np.array(action))
        return self.env.step(action)


@pytest.mark.parametrize("noise_type", ["ou", "gaussian"])
def test_same_seed_same_training_and_test_returns(noise_type):
    cfg = dataclasses.replace(TINY, noise_type=noise_type)

    def run(seed):
        env = _Recorder(make_env(MOUNTAIN_CAR))
        agent = TD3(2, env.action_space, cfg, seed)
        result = agent.train(env, solved=90.0, max_steps=60)
        params = torch.cat([p.detach().flatten() for p in agent._online])
        return result, np.array(env.actions), agent.evaluate_episodes(make_env(MOUNTAIN_CAR), 1), params

    (r1, a1, (t1, l1), p1), (r2, a2, (t2, _), p2) = run(0), run(0)
    assert r1 == r2 and r1.lengths == [60] * 3 and not r1.diverged  # episodes cut at max_steps
    np.testing.assert_array_equal(a1, a2)
    assert a1.shape == (180, 1) and a1.dtype == np.float32 and np.all(np.abs(a1) <= 1.0)
    np.testing.assert_allclose(r1.returns, [-0.1 * np.sum(a1[i:i + 60].astype(np.float64) ** 2)
                                            for i in range(0, 180, 60)], rtol=1e-5)  # real returns
    assert t1 == t2 and l1[0] == 999 and torch.equal(p1, p2)
    fresh = TD3(2, BOX, cfg, 0)
    assert not torch.equal(p1, torch.cat([p.detach().flatten() for p in fresh._online]))  # 130 updates
    assert run(1)[0].returns != r1.returns


def test_actions_are_scaled_to_the_bounds():
    box = gym.spaces.Box(np.array([0.0, -4.0], np.float32), np.array([2.0, 4.0], np.float32))
    agent = TD3(3, box, TINY, 0)
    with torch.no_grad():
        agent.actor[-1].bias.copy_(torch.tensor([100.0, -100.0]))  # tanh saturates: (+1, -1)
    np.testing.assert_allclose(agent.act(np.zeros(3, np.float32)), [2.0, -4.0])
    with torch.no_grad():
        agent.actor[-1].weight.zero_()
        agent.actor[-1].bias.zero_()
    np.testing.assert_allclose(agent.act(np.zeros(3, np.float32)), [1.0, 0.0])  # the centre


def test_non_finite_observations_and_rewards_set_diverged_without_crashing(nan_env):
    agent = TD3(4, BOX, dataclasses.replace(TINY, start_steps=0, batch_size=2), 2)
    result = agent.train(nan_env(BOX), solved=None, max_steps=50)
    assert result.diverged and result.episodes == 1 and result.steps == 4  # the first NaN in a minibatch
    assert all(torch.isfinite(p).all() for p in agent._online)  # the bad update was not applied
    assert np.all(np.abs(agent.act(np.zeros(4, np.float32))) <= 1.0)


def test_a_nan_in_the_network_sets_diverged():
    agent = TD3(2, BOX, dataclasses.replace(TINY, start_steps=10), 0)
    with torch.no_grad():
        agent.critic.weights[0][0, 0, 0] = float("nan")
    result = agent.train(make_env(MOUNTAIN_CAR), solved=90.0, max_steps=60)
    assert result.diverged and result.steps == 11 and result.lengths == [11]  # at the first update
    agent = TD3(2, BOX, dataclasses.replace(TINY, start_steps=10), 0)
    with torch.no_grad():
        agent.actor[0].weight[0, 0] = float("nan")
    result = agent.train(make_env(MOUNTAIN_CAR), solved=90.0, max_steps=60)
    assert result.diverged and result.steps == 10  # the first actor action after the random phase


def test_varied_hyperparameters_stay_in_their_ranges_and_are_seeded():
    base = TD3Config()
    assert get_agent_kind("td3").varied_space == "td3_varied"
    assert set(get_space("td3_varied")) <= {f.name for f in dataclasses.fields(TD3Config)}
    a = sample_configs(base, 50, seed=1, space="td3_varied")
    assert a == sample_configs(base, 50, seed=1, space="td3_varied")
    assert a != sample_configs(base, 50, seed=2, space="td3_varied")
    for c in a:
        assert isinstance(c, TD3Config)
        assert base.lr / 3 <= c.lr <= base.lr * 3
        assert base.batch_size // 3 <= c.batch_size <= base.batch_size * 3
        assert base.hidden_size // 3 <= c.hidden_size <= base.hidden_size * 3
        assert max(1, base.hidden_layers - 1) <= c.hidden_layers <= base.hidden_layers + 1
        assert (c.gamma, c.tau, c.expl_noise) == (base.gamma, base.tau, base.expl_noise)


@pytest.mark.parametrize("mode", ["potential_additive_info", "plain_exclusive"])
def test_run_agent_with_td3_on_a_reward_env(real_envs, mode):
    """run_agent builds TD3 for MountainCarContinuous's Box actions and records real returns, not the RN's."""
    rn = RNConfig(mode=mode, hidden_size=4)
    info_dim = 3 if rn.reward_mode.uses_info else 0
    params = 50.0 * initial_rn_parameters(2, rn, seed=0, info_dim=info_dim).numpy()  # a loud RN term
    config = TD3Config(max_episodes=1, start_steps=950, batch_size=16, hidden_size=16)
    run = run_agent(MOUNTAIN_CAR, RewardSetting("rn", rn, params), config, seed=0, test_episodes=1)
    train_log, test_log = real_envs[0].log, real_envs[1].log
    assert run.lengths == [len(ep) for ep in train_log] and run.train_steps == sum(run.lengths)
    np.testing.assert_allclose(run.returns, [sum(ep) for ep in train_log], rtol=1e-9)
    np.testing.assert_allclose(run.test_returns, [sum(ep) for ep in test_log], rtol=1e-9)
    assert run.test_steps == len(test_log[0]) and not run.diverged and run.train_episodes == 1
    assert all(-99.9 <= r <= 100.0 for r in run.returns + run.test_returns)  # real returns of this task


def test_rng_normal_is_a_deterministic_standard_normal():
    from benchmark import rng

    z = rng.normal(7, rng.Stream.EXPLORE_ACTION, np.arange(50_000, dtype=np.uint64)[:, None], np.arange(2))
    assert z.shape == (50_000, 2) and np.all(np.isfinite(z))
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02 and abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.005
    np.testing.assert_array_equal(z, rng.normal(7, rng.Stream.EXPLORE_ACTION,
                                                 np.arange(50_000, dtype=np.uint64)[:, None], np.arange(2)))
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.02
