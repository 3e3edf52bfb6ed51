import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import benchmark
from benchmark.envs.synthetic import BatchedSE, SEConfig, SyntheticEnv, initial_se_parameters
from benchmark.envs.tasks import TASKS, BatchedTask, get_task
from benchmark.errors import ConfigError


def test_registry_has_the_paper_tasks():
    assert (TASKS["CartPole-v0"].max_steps, TASKS["CartPole-v0"].solved) == (200, 195.0)
    assert (TASKS["Acrobot-v1"].max_steps, TASKS["Acrobot-v1"].solved) == (500, -100.0)
    with pytest.raises(ConfigError, match="task='Pong'.*CartPole-v0"):
        get_task("Pong")


@pytest.mark.parametrize("name", ["CartPole-v0", "Acrobot-v1"])
def test_batched_dynamics_equal_gymnasium_step_for_step(name):
    task = get_task(name)
    seeds = [3, 11, 42]
    envs = [gym.make(name) for _ in seeds]
    batched = BatchedTask(task, len(seeds))
    batched.reset(np.arange(len(seeds)), seeds)
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)])
    np.testing.assert_array_equal(batched.observation(), obs)
    rng = np.random.default_rng(0)
    alive = np.ones(len(seeds), bool)
    for _ in range(task.max_steps):
        actions = rng.integers(0, task.n_actions, len(seeds))
        b_obs, b_rew, b_term, b_trunc = batched.step(actions)
        for i, env in enumerate(envs):
            if not alive[i]:
                continue
            o, r, term, trunc, _ = env.step(int(actions[i]))
            np.testing.assert_allclose(b_obs[i], o, rtol=0, atol=1e-6)
            assert (b_rew[i], b_term[i], b_trunc[i]) == (r, term, trunc)
            alive[i] = not (term or trunc)
        if not alive.any():
            break


def _se(task="CartPole-v0", seed=0, **kw):
    task = get_task(task)
    return SyntheticEnv(task, initial_se_parameters(task, SEConfig(**kw), seed), SEConfig(**kw))


@pytest.mark.parametrize("task", ["CartPole-v0", "Acrobot-v1"])
def test_se_passes_check_env(task):
    check_env(_se(task), skip_render_check=True)


def test_se_seeded_resets_repeat_and_draw_from_the_real_reset():
    env = _se()
    a, b = env.reset(seed=7)[0], env.reset(seed=7)[0]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, gym.make("CartPole-v0").reset(seed=7)[0])
    assert env.action_space == gym.make("CartPole-v0").action_space


def test_non_finite_or_exploding_output_ends_the_episode_with_no_reward():
    env = _se()
    obs, _ = env.reset(seed=0)
    with torch.no_grad():
        env.net[-1].bias[0] = float("nan")
    o, r, term, trunc, info = env.step(0)
    assert term and r == 0.0 and info["diverged"] and np.all(np.isfinite(o))
    env = _se()
    env.reset(seed=0)
    with torch.no_grad():
        env.net[-1].bias[1] = 1e9
    o, r, term, _, info = env.step(1)
    assert term and r == 0.0 and info["diverged"]


def test_se_truncates_at_the_real_episode_limit():
    env = _se()
    env.reset(seed=0)
    with torch.no_grad():  # never done, never diverges
        env.net[-1].weight.zero_()
        env.net[-1].bias.zero_()
        env.net[-1].bias[-1] = -5.0
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(0)
        steps, done = steps + 1, term or trunc
    assert steps == 200 and trunc and not term


def test_batched_se_matches_scalar_se():
    task = get_task("CartPole-v0")
    params = torch.stack([initial_se_parameters(task, SEConfig(), s) for s in range(3)])
    batched = BatchedSE(task, SEConfig(), params)
    batched.reset(np.arange(3), [5, 6, 7])
    envs = [SyntheticEnv(task, params[i]) for i in range(3)]
    for i, env in enumerate(envs):
        np.testing.assert_array_equal(env.reset(seed=5 + i)[0], batched.observation()[i])
    for t in range(20):
        actions = np.array([t % 2, 1, 0])
        b_obs, b_rew, b_term, _ = batched.step(actions)
        for i, env in enumerate(envs):
            o, r, term, _, _ = env.step(int(actions[i]))
            np.testing.assert_allclose(b_obs[i], o, atol=1e-5)
            assert abs(b_rew[i] - r) < 1e-5


def test_se_loads_through_gymnasium_make(tmp_path):
    from benchmark import io
    env = _se()
    io.save_se(tmp_path, env.net.state_dict(), {"task": "CartPole-v0", "architecture": vars(SEConfig())})
    made = gym.make(benchmark.SE_ENV_ID, path=tmp_path)
    np.testing.assert_array_equal(made.reset(seed=1)[0], env.reset(seed=1)[0])
    np.testing.assert_array_equal(benchmark.load_se(tmp_path).parameters, env.parameters)
