import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from benchmark.agents.ddqn import DDQN, DDQNConfig
from benchmark.agents.ppo import PPO, PPOConfig
from benchmark.agents.registry import get_agent_kind, make_agent
from benchmark.agents.sampling import sample_configs
from benchmark.envs.reward import RewardEnv, RNConfig, initial_rn_parameters, make_env
from benchmark.envs.tasks import get_task
from benchmark.errors import ConfigError
from benchmark.rn.inner import RewardSetting, run_agent
from search_spaces import get_space

TASK = get_task("CartPole-v0")
TINY = PPOConfig(n_steps=32, batch_size=16, n_epochs=2, hidden_size=8, max_episodes=5)
MOUNTAIN_CAR = "MountainCarContinuous-v0"


@pytest.mark.slow
def test_ppo_learns_cartpole_v0_under_a_fixed_seed():
    agent = PPO(TASK.obs_dim, TASK.n_actions, PPOConfig(), seed=1)
    result = agent.train(TASK.make(), solved=TASK.solved)
    assert not result.diverged and result.steps < 20_000  # measured: 6,978 steps, 94 episodes
    assert np.mean(result.returns[-10:]) >= 195.0
    assert agent.evaluate(TASK.make(), 10).mean() >= 195.0


def test_bad_hyperparameter_names_field_and_range():
    with pytest.raises(ConfigError, match=r"batch_size=300 is out of range; allowed: \[1, 256\]"):
        PPOConfig(batch_size=300)  # at most n_steps
    with pytest.raises(ConfigError, match=r"gae_lambda=1.5 is out of range; allowed: \[0.0, 1.0\]"):
        PPOConfig(gae_lambda=1.5)
    with pytest.raises(ConfigError, match=r"clip_range=0.0 is out of range"):
        PPOConfig(clip_range=0.0)
    with pytest.raises(ConfigError, match=r"n_epochs=2.5 must be an integer"):
        PPOConfig(n_epochs=2.5)
    with pytest.raises(ConfigError, match="normalize_advantage='yes' is not allowed"):
        PPOConfig(normalize_advantage="yes")
    with pytest.raises(ConfigError, match="activation='swish'"):
        PPOConfig(activation="swish")
    with pytest.raises(ConfigError, match="action count >= 1 or a gymnasium Box"):
        PPO(4, 0, TINY)
    with pytest.raises(ConfigError, match="finite bounds"):
        PPO(4, gym.spaces.Box(-np.inf, np.inf, (1,)), TINY)


def _params(agent: PPO) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in agent.params])


def test_same_seed_same_training_and_test_returns_discrete():
    def run(seed):
        agent = PPO(TASK.obs_dim, TASK.n_actions, TINY, seed)
        result = agent.train(TASK.make(), solved=TASK.solved)
        return result, agent.evaluate_episodes(TASK.make(), 2), _params(agent)

    (r1, (t1, l1), p1), (r2, (t2, l2), p2) = run(3), run(3)
    assert r1 == r2 and r1.episodes == 5 and not r1.diverged
    assert r1.steps > TINY.n_steps  # at least one update happened
    assert r1.returns == [float(n) for n in r1.lengths]  # CartPole pays 1 per step
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(l1, t1.astype(np.int64))
    assert torch.equal(p1, p2)
    assert not torch.equal(p1, _params(PPO(TASK.obs_dim, TASK.n_actions, TINY, 3)))  # training changed it
    assert run(4)[0].returns != r1.returns


def test_same_seed_same_training_continuous_and_actions_in_bounds():
    box = make_env(MOUNTAIN_CAR).action_space

    class Recorder(gym.Wrapper):
        def step(self, action):
            self.actions.append(np.array(action))
            return self.env.step(action)

    def run(seed):
        env = Recorder(make_env(MOUNTAIN_CAR))
        env.actions = []
        agent = PPO(2, box, TINY, seed)
        result = agent.train(env, solved=90.0, max_steps=40)
        return result, np.array(env.actions), agent.evaluate_episodes(make_env(MOUNTAIN_CAR), 1), _params(agent)

    (r1, a1, (t1, l1), p1), (r2, a2, (t2, _), p2) = run(0), run(0)
    assert r1 == r2 and r1.lengths == [40] * 5 and not r1.diverged  # episodes cut at max_steps
    np.testing.assert_array_equal(a1, a2)
    assert a1.shape == (200, 1) and np.all(np.abs(a1) <= 1.0) and np.any(np.abs(a1) == 1.0)  # clipped (std 1)
    np.testing.assert_allclose(r1.returns, [-0.1 * np.sum(a1[i:i + 40] ** 2) for i in range(0, 200, 40)],
                               rtol=1e-5)
    assert t1 == t2 and l1[0] == 999 and torch.equal(p1, p2)
    assert run(1)[0].returns != r1.returns


@pytest.mark.parametrize("actions", [2, gym.spaces.Box(-1.0, 1.0, (2,), np.float32)])
def test_non_finite_observations_and_rewards_set_diverged_without_crashing(nan_env, actions):
    agent = PPO(4, actions, TINY, 2)
    before = _params(agent)
    result = agent.train(nan_env(gym.spaces.Discrete(2) if actions == 2 else actions), solved=None, max_steps=50)
    assert result.diverged and result.episodes == 1 and result.steps == 4  # stopped at the first NaN output
    assert torch.equal(before, _params(agent))  # no update was applied


@pytest.mark.parametrize("net", ["actor", "critic"])
def test_a_nan_in_the_network_sets_diverged(net):
    agent = PPO(TASK.obs_dim, TASK.n_actions, TINY, 0)
    with torch.no_grad():
        getattr(agent, net)[0].weight[0, 0] = float("nan")
    before = _params(agent)
    result = agent.train(TASK.make(), solved=TASK.solved)
    assert result.diverged and len(result.returns) == len(result.lengths)
    # a NaN actor stops before the first step; a NaN critic at the first update (after one rollout)
    assert result.steps == (0 if net == "actor" else TINY.n_steps)
    assert torch.equal(before.nan_to_num(7.0), _params(agent).nan_to_num(7.0))  # nothing was applied


def test_gae_by_hand():
    agent = PPO(4, 2, PPOConfig(gamma=0.5, gae_lambda=0.5), 0)
    rewards, values = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0])
    ends = np.array([0.0, 1.0, 0.0])  # an episode ends after step 1
    adv = agent._advantages(rewards, ends, values, last_value=4.0)
    d2 = 3.0 + 0.5 * 4.0 - 2.0
    d1 = 2.0 - 1.0
    d0 = 1.0 + 0.5 * 1.0 - 0.5
    np.testing.assert_allclose(adv, [d0 + 0.25 * d1, d1, d2], rtol=1e-6)


def test_make_agent_checks_the_action_space():
    box = make_env(MOUNTAIN_CAR).action_space
    ppo = make_agent(2, box, get_agent_kind("ppo").defaults(), 0)
    assert isinstance(ppo, PPO) and ppo.continuous and ppo.action_dim == 1
    assert not make_agent(4, gym.spaces.Discrete(2), PPOConfig(), 0).continuous
    assert isinstance(make_agent(4, 2, DDQNConfig(), 0), DDQN)  # an action count still works
    assert isinstance(make_agent(4, gym.spaces.Discrete(2), DDQNConfig(), 0), DDQN)
    with pytest.raises(ConfigError, match=r"agent='ddqn' acts in discrete action spaces; this task's is Box"):
        make_agent(2, box, DDQNConfig(), 0)


def test_varied_hyperparameters_stay_in_their_ranges_and_are_seeded():
    base = PPOConfig()
    assert get_agent_kind("ppo").varied_space == "ppo_varied"
    assert set(get_space("ppo_varied")) <= {f.name for f in dataclasses.fields(PPOConfig)}
    a = sample_configs(base, 50, seed=1, space="ppo_varied")
    assert a == sample_configs(base, 50, seed=1, space="ppo_varied")
    assert a != sample_configs(base, 50, seed=2, space="ppo_varied")
    for c in a:  # each one validated by PPOConfig (batch_size <= n_steps included)
        assert isinstance(c, PPOConfig)
        assert base.lr / 3 <= c.lr <= base.lr * 3
        assert base.batch_size // 3 <= c.batch_size <= base.batch_size * 3
        assert base.hidden_size // 3 <= c.hidden_size <= base.hidden_size * 3
        assert max(1, base.hidden_layers - 1) <= c.hidden_layers <= base.hidden_layers + 1
        assert (c.gamma, c.n_steps, c.clip_range) == (base.gamma, base.n_steps, base.clip_range)


def test_ppo_records_real_returns_on_a_reward_env():
    config = RNConfig(mode="plain_exclusive", hidden_size=4)
    env = RewardEnv(make_env("CartPole-v0"), 5.0 * initial_rn_parameters(4, config, seed=1), config, gamma=0.99)
    agent = PPO(4, 2, TINY, seed=0)
    result = agent.train(env, solved=None)
    assert result.returns == [float(n) for n in result.lengths]  # CartPole pays 1 per step; the RN pays otherwise
    returns, lengths = agent.evaluate_episodes(env, 2)
    assert returns.tolist() == lengths.astype(float).tolist()


def test_run_agent_with_ppo_on_a_continuous_reward_env(real_envs):
    """run_agent builds PPO for MountainCarContinuous's Box actions; its records are real returns."""
    rn = RNConfig(mode="potential_additive_info", hidden_size=4)
    params = 50.0 * initial_rn_parameters(2, rn, seed=0, info_dim=3).numpy()  # a loud RN term
    run = run_agent(MOUNTAIN_CAR, RewardSetting("rn", rn, params), PPOConfig(max_episodes=2), seed=0,
                    test_episodes=1)
    train_log, test_log = real_envs[0].log, real_envs[1].log
    assert isinstance(real_envs[0].env, gym.wrappers.TimeLimit)  # the real env, under the RewardEnv
    assert run.lengths == [len(ep) for ep in train_log] == [999, 999] and run.train_steps == 1998
    np.testing.assert_allclose(run.returns, [sum(ep) for ep in train_log], rtol=1e-9)
    np.testing.assert_allclose(run.test_returns, [sum(ep) for ep in test_log], rtol=1e-9)
    assert run.test_steps == len(test_log[0]) == 999 and not run.diverged and not run.solved
    assert all(-99.9 <= r <= 0.0 for r in run.returns)  # -0.1 a^2 per step, |a| <= 1, goal not reached


def test_run_agent_with_ppo_on_cartpole_rn():
    rn = RNConfig(mode="plain_exclusive", hidden_size=4)
    setting = RewardSetting("rn", rn, 5.0 * initial_rn_parameters(4, rn, seed=1).numpy())
    run = run_agent("CartPole-v0", setting, dataclasses.replace(TINY, max_episodes=4), seed=3, test_episodes=2)
    assert run.returns == [float(n) for n in run.lengths] and run.train_steps == sum(run.lengths)
    assert run.test_returns == [float(r) for r in run.test_returns] and run.test_steps == sum(run.test_returns)
    assert not run.diverged and run.train_episodes == 4


class _Target(gym.Env):
    """One-step continuous task: observation s in {-1, 1} (random), reward -(a - s / 2)^2; the bounds are wide
    enough that clipping does not bias the learned mean."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-5.0, 5.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = float(self.np_random.choice([-1.0, 1.0]))
        return np.array([self.s], np.float32), {}

    def step(self, action):
        return np.array([self.s], np.float32), -float((action[0] - 0.5 * self.s) ** 2), True, False, {}


def test_gaussian_policy_learns_a_state_dependent_mean():
    agent = PPO(1, _Target.action_space, PPOConfig(n_steps=64, batch_size=32, max_episodes=1024), seed=0)
    result = agent.train(_Target(), solved=float("inf"))  # the whole budget
    assert not result.diverged and result.episodes == 1024
    assert np.mean(result.returns[-64:]) > 0.5 * np.mean(result.returns[:64])  # measured: -1.43 -> -0.49
    up, down = agent.act(np.array([1.0], np.float32))[0], agent.act(np.array([-1.0], np.float32))[0]
    assert 0.3 < up < 0.7 and -0.7 < down < -0.3  # measured: 0.40, -0.51 (targets +-0.5)
    assert agent.log_std.item() < -0.1  # the policy narrowed (from log_std_init 0; measured -0.33)


def test_integer_observations_are_one_hot_cliff_walking():
    env = make_env("CliffWalking-v1")  # Discrete(48) observations, 100-step limit
    agent = PPO(48, 4, dataclasses.replace(TINY, max_episodes=3), seed=0)
    np.testing.assert_array_equal(agent._actor_out(36), agent.actor(torch.eye(48)[36][None])[0].detach().numpy())
    result = agent.train(env, solved=-20.0)
    assert not result.diverged and result.episodes == 3 and result.steps == sum(result.lengths)
    assert all(length <= 100 for length in result.lengths) and all(r <= -length for r, length in
                                                                      zip(result.returns, result.lengths))
