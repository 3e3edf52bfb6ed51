import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import benchmark
from benchmark.envs.synthetic import BatchedSE, SEConfig, SyntheticEnv, initial_se_parameters
from benchmark.envs.tasks import BOX_TASKS, TASKS, BatchedTask, get_task, vectorised_task
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
        env.net.state[-1].bias[0] = float("nan")
    o, r, term, trunc, info = env.step(0)
    assert term and r == 0.0 and info["diverged"] and np.all(np.isfinite(o))
    env = _se()
    env.reset(seed=0)
    with torch.no_grad():
        env.net.state[-1].bias[1] = 1e9
    o, r, term, _, info = env.step(1)
    assert term and r == 0.0 and info["diverged"]


def test_se_truncates_at_the_real_episode_limit():
    env = _se()
    env.reset(seed=0)
    with torch.no_grad():  # never done, never diverges
        for head in (env.net.state, env.net.reward, env.net.done):
            head[-1].weight.zero_()
            head[-1].bias.zero_()
        env.net.done[-1].bias[0] = -5.0
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(0)
        steps, done = steps + 1, term or trunc
    assert steps == 200 and trunc and not term


@pytest.mark.parametrize("config", [SEConfig(), SEConfig(heads="shared", done_target="boolean", hidden_size=83),
                                    SEConfig(hidden_layers=2, hidden_size=16)])
def test_batched_se_matches_scalar_se(config):
    task = get_task("CartPole-v0")
    params = torch.stack([initial_se_parameters(task, config, s) for s in range(3)])
    params[:, -1] += 0.45  # done biases near the 0.5 threshold: some steps end episodes, raw dones are varied
    batched = BatchedSE(task, config, params)
    batched.reset(np.arange(3), [5, 6, 7])
    envs = [SyntheticEnv(task, params[i], config) for i in range(3)]
    for i, env in enumerate(envs):
        np.testing.assert_array_equal(env.reset(seed=5 + i)[0], batched.observation()[i])
    for t in range(20):
        actions = np.array([t % 2, 1, 0])
        b_obs, b_rew, b_term, _, b_real, b_done = batched.step(actions)
        np.testing.assert_array_equal(b_real, b_rew)
        for i, env in enumerate(envs):
            o, r, term, _, info = env.step(int(actions[i]))
            np.testing.assert_allclose(b_obs[i], o, atol=1e-5)
            assert abs(b_rew[i] - r) < 1e-5 and abs(b_done[i] - info["td_done"]) < 1e-5
            if term:
                env.reset(seed=t)
                batched.state[i] = env._state


def test_separate_heads_are_three_mlps_and_the_raw_done_is_the_td_done():
    task = get_task("CartPole-v0")
    env = _se(seed=1)
    names = [n for n, _ in env.net.named_parameters()]
    assert names[:4] == ["state.0.weight", "state.0.bias", "state.2.weight", "state.2.bias"]
    assert env.net.state[2].out_features == 4 and env.net.reward[2].out_features == 1
    assert env.net.done[2].out_features == 1 and env.net.state[0].out_features == 128
    obs, _ = env.reset(seed=0)
    x = torch.cat([torch.from_numpy(obs), torch.tensor([1.0, 0.0])])[None]
    with torch.no_grad():
        raw_done, raw_reward = float(env.net.done(x)[0, 0]), float(env.net.reward(x)[0, 0])
    _, reward, terminated, _, info = env.step(0)
    assert reward == pytest.approx(raw_reward)
    assert info["td_done"] == pytest.approx(raw_done) and terminated == (raw_done > 0.5)
    boolean = _se(seed=1, done_target="boolean")
    boolean.reset(seed=0)
    assert boolean.step(0)[4]["td_done"] == float(terminated)


def test_se_config_names_bad_heads_and_done_targets():
    with pytest.raises(ConfigError, match="se.heads='two'"):
        SEConfig(heads="two")
    with pytest.raises(ConfigError, match="se.done_target='soft'"):
        SEConfig(done_target="soft")
    assert SEConfig.from_dict({"hidden_size": 83}) == SEConfig(hidden_size=83, heads="shared", done_target="boolean")


def test_se_loads_through_gymnasium_make(tmp_path):
    from benchmark import schema
    env = _se()
    schema.save_se(tmp_path, env.net.state_dict(), {"task": "CartPole-v0", "architecture": vars(SEConfig())})
    made = gym.make(benchmark.SE_ENV_ID, path=tmp_path)
    np.testing.assert_array_equal(made.reset(seed=1)[0], env.reset(seed=1)[0])
    np.testing.assert_array_equal(benchmark.load_se(tmp_path).parameters, env.parameters)


MCC = "MountainCarContinuous-v0"


def test_mountain_car_continuous_is_a_vectorised_box_task_only():
    task = BOX_TASKS[MCC]
    assert vectorised_task(MCC) is task and MCC not in TASKS  # no SEs for a Box task
    assert vectorised_task("CartPole-v0") is TASKS["CartPole-v0"] and vectorised_task("CliffWalking-v1") is None
    env = gym.make(MCC)
    assert task.action_space == env.action_space and task.max_steps == env.spec.max_episode_steps == 999
    assert TASKS["CartPole-v0"].action_space == gym.spaces.Discrete(2)


def test_mountain_car_continuous_equals_gymnasium_step_for_step():
    """8 copies, 6,000 steps: half push along the velocity (so episodes reach the goal: termination, reward 100),
    half act at random in [-1.5, 1.5] (clipped force, unclipped action cost, truncation at 999 steps, the left
    wall); every episode reset with its own seed. Observations, rewards and ends are equal, bit for bit."""
    task, n = BOX_TASKS[MCC], 8
    envs = [gym.make(MCC) for _ in range(n)]
    batched = BatchedTask(task, n)

    def seed(i, episode):
        return int(1000 * i + episode)

    episode = np.zeros(n, int)
    batched.reset(np.arange(n), [seed(i, 0) for i in range(n)])
    np.testing.assert_array_equal(batched.observation(), np.stack([e.reset(seed=seed(i, 0))[0]
                                                                   for i, e in enumerate(envs)]))
    rng = np.random.default_rng(0)
    ends = {"term": 0, "trunc": 0, "wall": 0}
    for _ in range(6000):
        push = np.where(batched.observation()[:, 1:] >= 0, 1.0, -1.0) * rng.uniform(0.5, 1.5, (n, 1))
        actions = np.where(np.arange(n)[:, None] % 2 == 0, push, rng.uniform(-1.5, 1.5, (n, 1))).astype(np.float32)
        b_obs, b_rew, b_term, b_trunc = batched.step(actions)
        for i, env in enumerate(envs):
            o, r, term, trunc, _ = env.step(actions[i])
            np.testing.assert_array_equal(b_obs[i], o)
            # BatchedTask truncates only episodes that did not terminate; gymnasium's TimeLimit may set both
            assert (b_rew[i], b_term[i]) == (r, term) and (b_trunc[i] or b_term[i]) == (trunc or term)
            ends["term"] += term
            ends["trunc"] += trunc and not term
            ends["wall"] += o[0] == np.float32(-1.2)
            if term or trunc:
                episode[i] += 1
                batched.reset(np.array([i]), [seed(i, episode[i])])
                np.testing.assert_array_equal(batched.observation()[i], env.reset(seed=seed(i, episode[i]))[0])
    assert ends["term"] >= 20 and ends["trunc"] >= 10 and ends["wall"] >= 10


def test_mountain_car_continuous_step_from_any_state_equals_gymnasium():
    """One step from 5,000 float32 states across the whole box (the speed limit and both walls included)."""
    task = BOX_TASKS[MCC]
    rng = np.random.default_rng(1)
    states = np.stack([rng.uniform(-1.25, 0.65, 5000), rng.uniform(-0.075, 0.075, 5000)], 1).astype(np.float32)
    states[:50, 1] = 0.07  # at the speed limit, pushed on
    actions = rng.uniform(-2.0, 2.0, (5000, 1)).astype(np.float32)
    actions[:50] = 1.0
    nxt, reward, term = task.dynamics(states.astype(np.float64), actions)
    env = gym.make(MCC).unwrapped
    env.reset(seed=0)
    for i in range(len(states)):
        env.state = states[i].copy()
        o, r, t, _, _ = env.step(actions[i])
        np.testing.assert_array_equal(task.observe(nxt[i:i + 1])[0], o)
        assert (reward[i], term[i]) == (r, t)
    assert term.sum() > 50 and (np.abs(nxt[:, 1]) == np.float32(0.07)).sum() >= 50
