import dataclasses

import numpy as np
import pytest

from benchmark.agents.common import should_stop
from benchmark.agents.tabular import QLearning, QLearningConfig, SARSA, SARSAConfig, TabularConfig
from benchmark.envs.reward import RewardEnv, RNConfig, initial_rn_parameters, make_env
from benchmark.envs.tasks import CLIFF_SOLVED, CLIFF_WALKING, task_limits
from benchmark.errors import ConfigError
from benchmark.hpo.compat import check_space
from search_spaces import get_space, q_learning_varied, sarsa_varied
from search_spaces.tools import from_json, to_json


def test_cliff_walking_task_limits():
    env = make_env(CLIFF_WALKING)
    assert env.spec.max_episode_steps == 100 and task_limits(CLIFF_WALKING) == (100, -20.0)
    assert (env.observation_space.n, env.action_space.n) == (48, 4)
    assert task_limits("MountainCarContinuous-v0") == (999, 90.0) and task_limits("CartPole-v0") == (200, 195.0)
    assert make_env("MountainCarContinuous-v0").spec.max_episode_steps == 999
    with pytest.raises(ConfigError, match="Pong"):
        task_limits("Pong")


def test_q_learning_solves_cliff_walking_and_its_greedy_path_is_optimal():
    agent = QLearning(48, 4, QLearningConfig(), seed=0)
    result = agent.train(make_env(CLIFF_WALKING), solved=CLIFF_SOLVED)
    assert result.episodes < 100 and np.mean(result.returns[-10:]) >= CLIFF_SOLVED and not result.diverged
    assert result.steps == sum(result.lengths)
    returns, lengths = agent.evaluate_episodes(make_env(CLIFF_WALKING), 3)
    assert returns.tolist() == [-13.0] * 3 and lengths.tolist() == [13] * 3


def test_sarsa_solves_cliff_walking():
    result = SARSA(48, 4, SARSAConfig(), seed=0).train(make_env(CLIFF_WALKING), solved=CLIFF_SOLVED)
    assert result.episodes < 100 and np.mean(result.returns[-10:]) >= CLIFF_SOLVED


@pytest.mark.parametrize("agent_class, config", [(QLearning, QLearningConfig()), (SARSA, SARSAConfig())])
def test_same_seed_same_returns(agent_class, config):
    runs = [agent_class(48, 4, config, seed=s).train(make_env(CLIFF_WALKING), solved=CLIFF_SOLVED)
            for s in (5, 5, 6)]
    assert runs[0].returns == runs[1].returns and runs[0].lengths == runs[1].lengths
    assert runs[0].returns != runs[2].returns


def test_sarsa_and_q_learning_differ():
    q = QLearning(48, 4, QLearningConfig(max_episodes=20), seed=1).train(make_env(CLIFF_WALKING))
    s = SARSA(48, 4, SARSAConfig(max_episodes=20), seed=1).train(make_env(CLIFF_WALKING))
    assert q.returns != s.returns


def test_on_a_reward_env_the_recorded_returns_are_real():
    config = RNConfig(mode="plain_exclusive", hidden_size=8)
    env = RewardEnv(make_env(CLIFF_WALKING), 3.0 * initial_rn_parameters(48, config, seed=2), config, gamma=0.9)
    agent = QLearning(48, 4, QLearningConfig(max_episodes=15), seed=0)
    result = agent.train(env)
    # real rewards are -1 and -100: returns are integers and at most minus the episode length
    assert all(r == round(r) and r <= -n for r, n in zip(result.returns, result.lengths))
    returns = agent.evaluate(env, 2)
    assert all(r == round(r) for r in returns)
    # the identity wrapper (mode real) trains exactly as the bare environment
    plain = QLearning(48, 4, QLearningConfig(max_episodes=15), seed=0).train(make_env(CLIFF_WALKING))
    wrapped = QLearning(48, 4, QLearningConfig(max_episodes=15), seed=0).train(
        RewardEnv(make_env(CLIFF_WALKING), None, RNConfig(mode="real"), gamma=0.9))
    assert plain.returns == wrapped.returns


def test_budgets_and_the_se_stopping_rule():
    result = SARSA(48, 4, SARSAConfig(max_train_steps=150), seed=0).train(make_env(CLIFF_WALKING))
    assert result.steps >= 150 and result.steps - result.lengths[-1] < 150
    assert QLearning(48, 4, QLearningConfig(max_episodes=3), seed=0).train(make_env(CLIFF_WALKING)).episodes == 3
    # a bare CliffWalking (no TimeLimit): max_steps ends the episodes
    import gymnasium as gym
    result = QLearning(48, 4, QLearningConfig(max_episodes=2, eps_init=1.0), seed=0).train(
        gym.make(CLIFF_WALKING), max_steps=7)
    assert max(result.lengths) <= 7
    assert should_stop([-13.0] * 20, 300, TabularConfig(), None)  # the relative-change rule works on this config


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="alpha=2"):
        QLearningConfig(alpha=2)
    with pytest.raises(ConfigError, match="eps_decay"):
        SARSAConfig(eps_decay=-0.1)


@pytest.mark.parametrize("module, config_class", [(q_learning_varied, QLearningConfig), (sarsa_varied, SARSAConfig)])
def test_varied_spaces_map_onto_the_config(module, config_class):
    space = module.build(seed=0)
    registered = get_space(module.__name__.split(".")[-1])
    assert registered == module.build() and from_json(to_json(registered)) == registered
    check_space(space)
    assert set(space.keys()) == {"alpha", "gamma", "eps_decay"}
    assert dict(space.get_default_configuration()) == pytest.approx(
        {k: getattr(config_class(), k) for k in space.keys()})
    for sample in space.sample_configuration(5):
        dataclasses.replace(config_class(), **{k: float(v) for k, v in dict(sample).items()})  # validates
