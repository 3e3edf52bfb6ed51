import gymnasium as gym
import numpy as np
import pytest
import torch

from benchmark import schema
from benchmark.envs.reward import (BASELINE_MODES, RN_MODES, RewardEnv, RewardMode, RNConfig, initial_rn_parameters,
                                   load_rn, make_env, rn_dims, rn_network, save_rn)
from benchmark.envs.tasks import CLIFF_WALKING
from benchmark.errors import ConfigError
from benchmark.nets import flat_parameters

GAMMA = 0.9


def _tiny_params(mode: RewardMode) -> torch.Tensor:
    """One relu hidden unit: h = relu(s / 100 + info . [1, 2, 3] + 0.5), out = 2 h - 1.

    weighted_info: w = [1, 2, 3]."""
    config = RNConfig(mode=mode, hidden_size=1, hidden_layers=1, activation="relu")
    net = rn_network(48, config, 3 if mode.uses_info else 0)
    with torch.no_grad():
        if mode is RewardMode.REAL:
            return torch.zeros(0)
        if not mode.learned_network:
            net.weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
            return flat_parameters(net)
        w = torch.zeros_like(net[0].weight)
        w[0, :48] = torch.arange(48) / 100.0
        if mode.uses_info:
            w[0, 48:] = torch.tensor([1.0, 2.0, 3.0])
        net[0].weight.copy_(w)
        net[0].bias.fill_(0.5)
        net[2].weight.fill_(2.0)
        net[2].bias.fill_(-1.0)
    return flat_parameters(net)


def _env(mode: RewardMode, params=None) -> RewardEnv:
    config = RNConfig(mode=mode, hidden_size=1, hidden_layers=1, activation="relu")
    return RewardEnv(make_env(CLIFF_WALKING), _tiny_params(mode) if params is None else params, config, GAMMA)


# The transition: start cell 36 (row 3, col 0), action UP -> cell 24 (row 2, col 0), real reward -1.
# Info vectors [row/3, col/11, Manhattan distance to (3, 11) / 14]: info(36) = [1, 0, 11/14],
# info(24) = [2/3, 0, 12/14]; info . [1, 2, 3] = 47/14 (36) and 68/21 (24).
# Without info: Phi(36) = 2 (0.36 + 0.5) - 1 = 0.72, Phi(24) = 2 (0.24 + 0.5) - 1 = 0.48.
# With info: Phi(36) = 2 (0.86 + 47/14) - 1 = 7.4342857, Phi(24) = 2 (0.74 + 68/21) - 1 = 6.9561905.
EXPECTED = {
    RewardMode.POTENTIAL_EXCLUSIVE: 0.9 * 0.48 - 0.72,  # -0.288
    RewardMode.POTENTIAL_ADDITIVE: -1 + 0.9 * 0.48 - 0.72,  # -1.288
    RewardMode.POTENTIAL_EXCLUSIVE_INFO: 0.9 * 6.9561905 - 7.4342857,  # -1.1737143
    RewardMode.POTENTIAL_ADDITIVE_INFO: -1 + 0.9 * 6.9561905 - 7.4342857,  # -2.1737143
    RewardMode.PLAIN_EXCLUSIVE: 0.48,
    RewardMode.PLAIN_ADDITIVE: -1 + 0.48,
    RewardMode.PLAIN_EXCLUSIVE_INFO: 6.9561905,
    RewardMode.PLAIN_ADDITIVE_INFO: -1 + 6.9561905,
    RewardMode.REAL: -1.0,
    RewardMode.WEIGHTED_INFO_EXCLUSIVE: 68 / 21,
    RewardMode.WEIGHTED_INFO_ADDITIVE: -1 + 68 / 21,
}


def test_eight_modes_and_three_baselines():
    assert len(RN_MODES) == 8 and len(set(RN_MODES)) == 8 and set(RN_MODES) | set(BASELINE_MODES) == set(RewardMode)
    assert {(m.potential, m.additive, m.uses_info) for m in RN_MODES} == {
        (p, a, i) for p in (True, False) for a in (True, False) for i in (True, False)}


@pytest.mark.parametrize("mode", list(RewardMode), ids=lambda m: m.value)
def test_each_mode_reward_on_a_fixed_transition(mode):
    env = _env(mode)
    obs, _ = env.reset(seed=0)
    assert obs == 36
    obs, reward, terminated, truncated, info = env.step(0)
    assert (obs, terminated, truncated) == (24, False, False)
    assert reward == pytest.approx(EXPECTED[mode], abs=1e-5)
    assert info["real_reward"] == -1.0 and info["rn_diverged"] is False


@pytest.mark.parametrize("mode", [RewardMode.POTENTIAL_EXCLUSIVE, RewardMode.POTENTIAL_ADDITIVE_INFO])
def test_terminal_states_have_potential_zero(mode):
    env = _env(mode)
    phi_35 = env.value(35)
    assert env.shaping(35, 47, terminated=True) == pytest.approx(-phi_35)
    assert env.shaping(35, 47, terminated=False) == pytest.approx(GAMMA * env.value(47) - phi_35)
    # the last step of the optimal path: 36 -> 24 -> 25 ... 35 -> 47
    env.reset(seed=0)
    for action in [0] + [1] * 11:
        env.step(action)
    _, reward, terminated, _, info = env.step(2)
    assert terminated and reward == pytest.approx((-1.0 if mode.additive else 0.0) - phi_35, abs=1e-6)


def test_continuous_observations_go_in_as_they_are():
    config = RNConfig(mode="plain_exclusive", hidden_size=4)
    real = make_env("CartPole-v0")
    params = initial_rn_parameters(4, config, seed=3)
    env = RewardEnv(real, params, config, GAMMA)
    obs, _ = env.reset(seed=1)
    nxt, reward, *_ = env.step(1)
    net = rn_network(4, config)
    torch.nn.utils.vector_to_parameters(params, net.parameters())
    with torch.no_grad():
        assert reward == pytest.approx(float(net(torch.as_tensor(nxt)[None])[0, 0]), abs=1e-6)
    assert rn_dims(real, RNConfig(mode="plain_exclusive_info")) == (4, 2)


def _transition_model(env: gym.Env):
    p = env.unwrapped.P
    n_s, n_a = env.observation_space.n, env.action_space.n
    nxt, rew, term = np.zeros((n_s, n_a), int), np.zeros((n_s, n_a)), np.zeros((n_s, n_a), bool)
    for s in range(n_s):
        for a in range(n_a):
            (prob, nxt[s, a], rew[s, a], term[s, a]), = p[s][a]
    return nxt, rew, term


def _value_iteration(nxt, rew, term, gamma, iters=500):
    q = np.zeros(rew.shape)
    for _ in range(iters):
        q = rew + gamma * np.where(term, 0.0, q.max(1)[nxt])
    return q


@pytest.mark.parametrize("mode", [RewardMode.POTENTIAL_ADDITIVE, RewardMode.POTENTIAL_ADDITIVE_INFO])
def test_potential_shaping_leaves_the_optimal_policy_unchanged(mode):
    config = RNConfig(mode=mode, hidden_size=16)
    real = make_env(CLIFF_WALKING)
    obs_dim, info_dim = rn_dims(real, config)
    env = RewardEnv(real, 5.0 * initial_rn_parameters(obs_dim, config, 7, info_dim), config, GAMMA)
    nxt, rew, term = _transition_model(env)
    shaped = np.array([[rew[s, a] + env.shaping(s, nxt[s, a], bool(term[s, a])) for a in range(4)]
                       for s in range(48)])
    phi = np.array([env.value(s) for s in range(48)])
    assert np.ptp(phi) > 1.0  # a potential that matters
    states = list(range(37))  # the cells an agent can occupy (cliff cells and the goal are never states)
    q = _value_iteration(nxt, rew, term, GAMMA)[states]
    q_shaped = _value_iteration(nxt, shaped, term, GAMMA)[states]
    np.testing.assert_allclose(q_shaped, q - phi[states, None], atol=1e-6)  # Q' = Q - Phi(s) (Ng et al. 1999)
    greedy = q_shaped.argmax(1)
    assert np.all(q[np.arange(len(states)), greedy] >= q.max(1) - 1e-6)  # every shaped-greedy action is optimal
    # a plain (non-potential) bonus of the same size does change the greedy policy somewhere
    plain = RewardEnv(make_env(CLIFF_WALKING), env.parameters, RNConfig(mode=mode.value.replace("potential", "plain"),
                                                                        hidden_size=16), GAMMA)
    bonus = np.array([[rew[s, a] + plain.shaping(s, nxt[s, a], bool(term[s, a])) for a in range(4)]
                      for s in range(48)])
    q_plain = _value_iteration(nxt, bonus, term, GAMMA)[states]
    assert np.any(q[np.arange(len(states)), q_plain.argmax(1)] < q.max(1) - 1e-6)


def test_non_finite_output_counts_as_zero_and_is_flagged():
    for mode in (RewardMode.PLAIN_ADDITIVE, RewardMode.POTENTIAL_EXCLUSIVE):
        params = _tiny_params(mode).clone()
        params[-1] = float("nan")  # the output bias
        env = _env(mode, params)
        env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(0)
        assert reward == (-1.0 if mode.additive else 0.0)
        assert info["rn_diverged"] and env.diverged and info["real_reward"] == -1.0
        env.reset(seed=0)
        assert not env.diverged
    config = RNConfig(mode="plain_exclusive", hidden_size=4)
    env = RewardEnv(make_env("CartPole-v0"), torch.full((4 * 4 + 4 + 4 + 1,), float("inf")), config, GAMMA)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert reward == 0.0 and info["rn_diverged"]


def test_bad_config_and_parameters_name_the_field():
    with pytest.raises(ConfigError, match="rn.mode='bogus'"):
        RNConfig(mode="bogus")
    with pytest.raises(ConfigError, match="rn.hidden_size"):
        RNConfig(hidden_size=0)
    assert RNConfig(mode=RewardMode.PLAIN_ADDITIVE).mode == "plain_additive"
    with pytest.raises(ConfigError, match="needs 1601"):
        RewardEnv(make_env(CLIFF_WALKING), torch.zeros(3), RNConfig(), GAMMA)
    with pytest.raises(ConfigError, match="no info vector"):
        RewardEnv(make_env("Pendulum-v1"), torch.zeros(3), RNConfig(mode="weighted_info_additive"), GAMMA)


@pytest.mark.parametrize("mode", [RewardMode.POTENTIAL_ADDITIVE_INFO, RewardMode.WEIGHTED_INFO_EXCLUSIVE,
                                  RewardMode.REAL])
def test_rn_files_round_trip(tmp_path, mode):
    env = _env(mode)
    save_rn(tmp_path / "rn", env, {"seed": 3})
    meta, weights = schema.read_se(tmp_path / "rn")
    assert meta["kind"] == "reward_network" and meta["task"] == CLIFF_WALKING and meta["seed"] == 3
    assert meta["architecture"]["mode"] == mode.value
    loaded = load_rn(tmp_path / "rn")
    assert torch.equal(loaded.parameters, env.parameters) and loaded.gamma == GAMMA
    assert loaded.spec.max_episode_steps == 100
    loaded.reset(seed=0)
    assert loaded.step(0)[1] == pytest.approx(EXPECTED[mode], abs=1e-5)
    assert load_rn(tmp_path / "rn", gamma=0.5).gamma == 0.5


def test_load_rn_refuses_other_files(tmp_path):
    (tmp_path / "se").mkdir()
    schema.save_se(tmp_path / "se", {"w": torch.zeros(1)}, {"kind": "synthetic_env", "task": "CartPole-v0"})
    with pytest.raises(ConfigError, match="not a reward network"):
        load_rn(tmp_path / "se")
    env = _env(RewardMode.PLAIN_ADDITIVE)
    save_rn(tmp_path / "rn", env)
    with pytest.raises(ConfigError, match="CliffWalking-v1"):
        load_rn(tmp_path / "rn", env=make_env("CartPole-v0"))


def test_icm_adds_a_shrinking_curiosity_bonus_to_the_real_reward():
    from benchmark.agents.icm import ICMConfig, ICMEnv

    def run(seed):
        env = ICMEnv(make_env(CLIFF_WALKING), ICMConfig(eta=1.0), seed=seed)
        out = []
        for _ in range(30):  # the same transition again and again: the forward model learns it
            env.reset(seed=0)
            _, reward, _, _, info = env.step(0)
            assert info["real_reward"] == -1.0 and reward == pytest.approx(-1.0 + info["intrinsic_reward"])
            out.append(info["intrinsic_reward"])
        return out

    bonus = run(0)
    assert all(b >= 0 for b in bonus) and bonus[-1] < 0.5 * bonus[0]
    assert run(0) == bonus and run(1) != bonus  # seeded
    # continuous actions (squared-error inverse model) and observations
    env = ICMEnv(make_env("MountainCarContinuous-v0"), ICMConfig(), seed=0)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([0.5], np.float32))
    assert info["intrinsic_reward"] > 0 and reward == pytest.approx(info["real_reward"] + info["intrinsic_reward"])
    with pytest.raises(ConfigError, match="icm.beta"):
        ICMConfig(beta=2.0)


def test_tabular_agent_on_icm_records_real_returns():
    from benchmark.agents.icm import ICMConfig, ICMEnv
    from benchmark.agents.tabular import QLearning, QLearningConfig

    result = QLearning(48, 4, QLearningConfig(max_episodes=2), seed=0).train(
        ICMEnv(make_env(CLIFF_WALKING), ICMConfig(), seed=0))
    assert all(r == round(r) and r <= -n for r, n in zip(result.returns, result.lengths))
