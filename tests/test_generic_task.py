"""Any gymnasium task by its id: the generic path (gymnasium's own vector env) next to the fast path, every
command on a task the suite does not name, and clear errors for tasks an SE cannot stand in for."""
import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import benchmark
from benchmark import schema
from benchmark.cli import main
from benchmark.envs.tasks import BatchedTask, GymVectorTask, get_task, gym_task
from benchmark.errors import ConfigError
from benchmark.nes.trainer import RunConfig

OTHER = "MountainCar-v0"  # a classic-control task without a fast path
NO_THRESHOLD = "sebench-test/CartPoleNoThreshold-v0"
if NO_THRESHOLD not in gym.registry:
    gym.register(NO_THRESHOLD, entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
                 max_episode_steps=60)
TINY = {"test_episodes": 1, "centre_agents": 1, "vary_hp": False,
        "agent": {"max_episodes": 2, "batch_size": 8, "hidden_size": 8, "hidden_layers": 1, "init_episodes": 1}}


def test_a_generic_task_takes_its_sizes_limit_and_threshold_from_gymnasium():
    task = get_task(OTHER)
    assert not task.fast and (task.obs_dim, task.n_actions, task.max_steps, task.solved) == (2, 3, 200, -110.0)
    assert get_task(OTHER, solved=-150).solved == -150.0
    assert get_task("CartPole-v0").fast and get_task("CartPole-v0", solved=190).solved == 190.0
    start = task.sample_state(np.random.default_rng(0))
    assert -0.6 <= start[0] <= -0.4 and start[1] == 0.0  # MountainCar's own reset


@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_generic_and_the_fast_path_agree_step_for_step_on_cartpole(asynchronous):
    fast, generic = BatchedTask(get_task("CartPole-v0"), 4), GymVectorTask(gym_task("CartPole-v0"), 4, asynchronous)
    for env in (fast, generic):
        env.reset(np.arange(4), [3, 5, 7, 11])
    np.testing.assert_array_equal(fast.observation(), generic.observation())
    rng = np.random.default_rng(0)
    episodes = 0
    for t in range(400):
        actions = rng.integers(0, 2, fast.n)
        a, b = fast.step(actions), generic.step(actions)
        np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-6)  # observations (float32 vs float64 dynamics)
        for x, y in zip(a[1:], b[1:]):  # rewards, terminations, truncations
            np.testing.assert_array_equal(x, y)
        ended = np.flatnonzero(a[2] | a[3])
        episodes += len(ended)
        if len(ended) and t < 300:  # restart with seeds, as the engine does
            for env in (fast, generic):
                env.reset(ended, [1000 + t + i for i in range(len(ended))])
        elif len(ended):  # later: drop finished copies, as the engine's compaction does
            keep = np.setdiff1d(np.arange(fast.n), ended)
            if len(keep) == 0:
                break
            for env in (fast, generic):
                env.select(keep)
        np.testing.assert_allclose(fast.observation(), generic.observation(), rtol=0, atol=1e-6)
    assert episodes > 10
    if asynchronous:
        generic.close()


def test_tasks_an_se_cannot_stand_in_for_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ConfigError, match="Box action space.*reward network"):
        get_task("Pendulum-v1")
    with pytest.raises(ConfigError, match="flat Box observations.*Discrete"):
        get_task("FrozenLake-v1")
    with pytest.raises(ConfigError, match="not a registered gymnasium id"):
        get_task("NoSuchTask-v9")
    with pytest.raises(ConfigError, match="no reward_threshold.*--solved"):
        RunConfig(task=NO_THRESHOLD)
    assert RunConfig(task=NO_THRESHOLD, solved=50.0).real_task.solved == 50.0
    assert main(["train-se", "--task", NO_THRESHOLD, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert not (tmp_path / "x").exists()


def test_a_task_the_suite_does_not_name_learns_a_tiny_se_end_to_end(tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "se"
    assert main(["train-se", "--task", OTHER, "--population", "2", "--iterations", "1", "--config", str(cfg),
                 "--workers", "1", "--quiet", "--out", str(out)]) == 0
    meta = json.loads((out / schema.SE_META).read_text())
    assert meta["task"] == OTHER and meta["task_solved"] == -110.0
    env = benchmark.load_se(out)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (2,) and env.action_space.n == 3
    made = gym.make(benchmark.SE_ENV_ID, path=str(out))
    assert made.reset(seed=1)[0].shape == (2,)


def test_every_command_runs_on_a_task_without_a_threshold(tmp_path, capsys):
    """train-ses, fit-models, transfer, proxy-study and proxy-hpo, with --solved."""
    from benchmark.supervised import ModelFitConfig, fit_models

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    ses = tmp_path / "ses"
    assert main(["train-ses", "--task", NO_THRESHOLD, "--solved", "50", "--count", "1", "--population", "1",
                 "--iterations", "1", "--config", str(cfg), "--keep-unsolved", "--workers", "1", "--quiet",
                 "--out", str(ses)]) == 0
    models = tmp_path / "models"
    fit_models(ModelFitConfig(task=NO_THRESHOLD, collectors=1, max_transitions=300, epochs=2), models, 1,
               progress=False, workers=1)  # what fit-models runs, at a tiny budget
    tiny_protocol = ["--agents-per-env", "1", "--episodes", "1", "--max-episodes", "2", "--workers", "1", "--quiet"]
    assert main(["transfer", "--task", NO_THRESHOLD, "--ses", str(ses), str(models), "--agents", "ddqn",
                 "--num-envs", "1", "--out", str(tmp_path / "t"), *tiny_protocol]) == 2  # no --solved: refused
    assert main(["transfer", "--task", NO_THRESHOLD, "--solved", "50", "--ses", str(ses), str(models), "--agents",
                 "ddqn", "--num-envs", "1", "--out", str(tmp_path / "t"), *tiny_protocol]) == 0
    assert "| ddqn | real |" in capsys.readouterr().out
    assert main(["proxy-study", "--task", NO_THRESHOLD, "--solved", "50", "--configs", "3", "--ses", str(ses),
                 "--agents", "1", "--max-episodes", "10", "--test-episodes", "1", "--bootstrap", "20", "--workers",
                 "1", "--quiet", "--out", str(tmp_path / "proxy")]) == 0
    assert main(["proxy-hpo", "--task", NO_THRESHOLD, "--solved", "50", "--ses", str(ses), "--optimizer", "random",
                 "--environment", "se", "--wall-budget", "2", "--agents", "1", "--test-episodes", "1",
                 "--max-budget", "10", "--score-agents", "1", "--score-max-episodes", "10",
                 "--out", str(tmp_path / "proxy_hpo")]) == 0


def test_the_hpo_worker_learns_an_se_of_a_generic_task_in_the_generic_space(tmp_path):
    from benchmark.hpo.launch import MasterSettings, base_run, prepare_sweep
    from benchmark.hpo.worker import evaluate
    from search_spaces import get_space

    base = base_run("se", {**TINY, "nes": {"population": 1}}, task=OTHER)
    assert base.task == OTHER
    prepare_sweep(tmp_path, MasterSettings(space="se", min_budget=1, max_budget=2, eta=2, iterations=1), base,
                  resume=False)
    result = evaluate(tmp_path, (0, 0, 0), dict(get_space("se").get_default_configuration()), 1.0)
    assert result["loss"] > 0 and result["info"]["iterations"] == 1
    assert json.loads((tmp_path / result["info"]["se_path"] / schema.SE_META).read_text())["task"] == OTHER
