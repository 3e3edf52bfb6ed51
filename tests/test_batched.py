"""The batched engine against the scalar reference, member by member."""
import numpy as np
import pytest
import torch

from benchmark.agents.common import AgentSpec
from benchmark.agents.lockstep.core import evaluate_batched
from benchmark.agents.lockstep.ddqn import BatchedQ, train_batched
from benchmark.agents.ddqn import DDQN, DDQNConfig
from benchmark.agents.sampling import sample_configs
from benchmark.envs.synthetic import BatchedSE, SEConfig, SyntheticEnv, initial_se_parameters
from benchmark.envs.tasks import BatchedTask, get_task

TASK = get_task("CartPole-v0")
ATOL = 1e-4  # float32 summation order differs between bmm and mm; trajectories stay identical


def _max_diff(a, b):
    return max((x - y).abs().max().item() for x, y in zip(a.parameters(), b.parameters()))


def _scalar_on_se(cfg, seed, params, se=SEConfig()):
    agent = DDQN(TASK.obs_dim, TASK.n_actions, cfg, seed)
    return agent, agent.train(SyntheticEnv(TASK, params, se), max_steps=TASK.max_steps)


def test_one_member_on_a_real_task_reproduces_the_scalar_path():
    cfg = DDQNConfig(max_episodes=15)
    agent = DDQN(4, 2, cfg, seed=5)
    scalar = agent.train(TASK.make(), solved=195.0)
    results, q = train_batched(TASK, BatchedTask(TASK, 1), [AgentSpec(cfg, 5)], solved=195.0)
    assert results[0].returns == scalar.returns and results[0].lengths == scalar.lengths
    assert _max_diff(agent.q, q.member_module(0, cfg)) < ATOL
    returns, _ = evaluate_batched(TASK, q, [5], 5)
    np.testing.assert_array_equal(returns[0], agent.evaluate(TASK.make(), 5))


@pytest.mark.parametrize("se", [SEConfig(), SEConfig(heads="shared", done_target="boolean", hidden_size=83)],
                         ids=["separate_raw", "shared_boolean"])
def test_many_varied_members_each_match_their_scalar_run(se):
    base = DDQNConfig(max_episodes=6, init_episodes=1)
    configs = sample_configs(base, 6, seed=3)
    configs[0] = configs[0].__class__(**{**vars(configs[0]), "hidden_layers": 2})
    configs[1] = configs[1].__class__(**{**vars(configs[1]), "hidden_layers": 1})
    params = torch.stack([initial_se_parameters(TASK, se, s) for s in range(len(configs))])
    params[:, -1] += 0.4  # done biases near the threshold: episodes of varied lengths, raw dones away from 0
    specs = [AgentSpec(c, 100 + i) for i, c in enumerate(configs)]
    results, q = train_batched(TASK, BatchedSE(TASK, se, params), specs, solved=None)
    assert len({c.hidden_size for c in configs}) > 1 and len({c.batch_size for c in configs}) > 1
    assert len({n for r in results for n in r.lengths}) > 1  # episodes of varied lengths
    for i, (cfg, spec) in enumerate(zip(configs, specs)):
        agent, scalar = _scalar_on_se(cfg, spec.seed, params[i], se)
        assert results[i].lengths == scalar.lengths
        np.testing.assert_allclose(results[i].returns, scalar.returns, atol=1e-3)
        assert _max_diff(agent.q, q.member_module(i, cfg)) < ATOL


def test_padded_units_and_gated_layers_receive_no_updates():
    small = DDQNConfig(hidden_size=5, hidden_layers=1, max_episodes=4, init_episodes=0)
    big = DDQNConfig(hidden_size=12, hidden_layers=2, max_episodes=4, init_episodes=0)
    results, q = train_batched(TASK, BatchedTask(TASK, 2), [AgentSpec(small, 1), AgentSpec(big, 2)], 195.0)
    views = q.views(q.theta)
    w0, b0, w1, b1, w_out = views[0][0], views[1][0], views[2][0], views[3][0], views[4][0]
    assert results[0].steps > 0
    assert torch.all(w0[5:] == 0) and torch.all(b0[5:] == 0) and torch.all(w_out[:, 5:] == 0)
    assert torch.all(w1 == 0) and torch.all(b1 == 0)  # member 0 has no second hidden layer


def test_finished_members_are_masked():
    quick = DDQNConfig(max_episodes=1, init_episodes=0)
    slow = DDQNConfig(max_episodes=8, init_episodes=0)
    specs = [AgentSpec(quick, 1), AgentSpec(slow, 2)]
    before = BatchedQ(4, 2, specs).theta[0].clone()
    results, q = train_batched(TASK, BatchedTask(TASK, 2), specs, 195.0)
    agent = DDQN(4, 2, quick, 1)
    agent.train(TASK.make(), solved=195.0)
    assert results[0].episodes == 1 and results[1].episodes == 8
    assert not torch.equal(before, q.theta[0])
    assert _max_diff(agent.q, q.member_module(0, quick)) < ATOL  # stopped updating when it finished


def test_a_non_finite_loss_stops_only_that_member():
    cfg = DDQNConfig(max_episodes=3, init_episodes=0)
    params = torch.stack([initial_se_parameters(TASK, SEConfig(), s) for s in range(2)])
    params[0, -2] = 1e38  # reward bias of SE 0: finite rewards whose squared TD error overflows
    env = BatchedSE(TASK, SEConfig(), params)
    results, q = train_batched(TASK, env, [AgentSpec(cfg, 1), AgentSpec(cfg, 2)], None)
    assert results[0].diverged and results[0].episodes == 1
    assert torch.isfinite(q.theta[0]).all()  # the bad update was not applied
    assert not results[1].diverged and torch.isfinite(q.theta[1]).all()


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_dueling_members_match_their_scalar_run(activation):
    configs = [DDQNConfig(dueling=True, activation=activation, max_episodes=5, hidden_size=h, hidden_layers=l,
                          batch_size=b) for h, l, b in [(16, 1, 32), (24, 2, 48)]]
    specs = [AgentSpec(c, 7 + i) for i, c in enumerate(configs)]
    results, q = train_batched(TASK, BatchedTask(TASK, 2), specs, solved=195.0)
    for i, (cfg, spec) in enumerate(zip(configs, specs)):
        agent = DDQN(4, 2, cfg, spec.seed)
        scalar = agent.train(TASK.make(), solved=195.0)
        assert results[i].returns == scalar.returns
        assert _max_diff(agent.q, q.member_module(i, cfg)) < ATOL


@pytest.mark.slow
def test_batched_agents_learn_cartpole():
    configs = sample_configs(DDQNConfig(), 4, seed=0)
    specs = [AgentSpec(c, i) for i, c in enumerate(configs)]
    results, q = train_batched(TASK, BatchedTask(TASK, 4), specs, solved=TASK.solved)
    returns, _ = evaluate_batched(TASK, q, [s.seed for s in specs], 10)
    solved = [np.mean(r.returns[-10:]) >= 195.0 for r in results]
    assert sum(solved) >= 3 and (returns.mean(1) >= 150.0).sum() >= 3


def test_testing_on_the_training_se_matches_the_scalar_path():
    """test_on_real=False: agents are tested on the SE they trained on, batched and scalar alike."""
    from benchmark.engine import train_and_test
    from benchmark.envs.synthetic import SEConfig, initial_se_parameters
    from benchmark.envs.tasks import get_task
    from benchmark.parallel import SerialExecutor

    task = get_task("CartPole-v0")
    params = initial_se_parameters(task, SEConfig(), 5).double().numpy()[None].repeat(2, 0)
    specs = [AgentSpec(DDQNConfig(max_episodes=3, batch_size=16), s) for s in (1, 2)]
    runs = {engine: train_and_test("CartPole-v0", specs, SEConfig(), params, 3, engine, SerialExecutor(), 1,
                                   test_on_real=False) for engine in ("batched", "scalar")}
    for b, s in zip(runs["batched"], runs["scalar"]):
        np.testing.assert_allclose(b.test_returns, s.test_returns, rtol=1e-4)
        assert b.test_steps == s.test_steps


def test_partition_keeps_alike_members_together_and_splits_costly_padding():
    from benchmark.engine import partition_by_cost, tick_cost
    small = DDQNConfig(hidden_size=20, batch_size=66, hidden_layers=1)
    big = DDQNConfig(hidden_size=170, batch_size=600, hidden_layers=2)
    specs = [AgentSpec(c, i) for i, c in enumerate([small, big, small, small, big])]
    groups = partition_by_cost(specs, [10, 11, 12, 13, 14])
    assert sorted(i for g in groups for i in g) == [10, 11, 12, 13, 14]
    assert sorted(map(sorted, groups)) == [[10, 12, 13], [11, 14]]
    # padding three small members to the big shape costs more than a second group's fixed overhead
    assert tick_cost([small] * 3 + [big] * 2) > tick_cost([small] * 3) + tick_cost([big] * 2)


def test_plan_gives_every_worker_a_job():
    from benchmark.engine import plan_chunks
    specs = [AgentSpec(DDQNConfig(), i) for i in range(9)]
    assert plan_chunks(specs, "batched", 1) == [list(range(9))]  # alike members: one lockstep group
    jobs = plan_chunks(specs, "batched", 2)
    assert sorted(map(len, jobs)) == [4, 5] and sorted(i for j in jobs for i in j) == list(range(9))
    assert plan_chunks(specs, "scalar", 2) == [[i] for i in range(9)]


def test_split_layout_holds_each_member_batch_once_and_pads_less():
    from benchmark.agents.lockstep.core import BatchLayout, padded_slots
    sizes = np.array([66, 200, 130, 597])
    layout = BatchLayout.split(sizes, 30, 1)
    width = layout.position.shape[1]
    assert width < sizes.max() and not layout.identity
    mask = layout.mask.numpy().astype(bool)
    for i, b in enumerate(sizes):
        held = layout.position[layout.member == i][mask[layout.member == i]]
        assert sorted(held.tolist()) == list(range(b))  # every slot of member i's minibatch, exactly once
    assert padded_slots(sizes, 30, 1) == mask.size < len(sizes) * sizes.max()
    assert BatchLayout.split(np.array([150, 188]), 170, 2).identity  # big networks: copying weights costs more
    alike = BatchLayout.split(np.array([199, 199, 199]), 30, 1)
    assert alike.identity and alike.position.shape == (3, 199) and alike.mask.all()


def test_members_spanning_several_rows_match_their_scalar_run():
    from benchmark.agents.lockstep.core import BatchLayout
    configs = [DDQNConfig(max_episodes=4, init_episodes=1, batch_size=b, hidden_size=h, hidden_layers=l)
               for b, h, l in [(66, 24, 2), (300, 40, 1), (140, 16, 1)]]
    assert not BatchLayout.split(np.array([c.batch_size for c in configs]), 40, 2).identity
    params = torch.stack([initial_se_parameters(TASK, SEConfig(), s) for s in range(len(configs))])
    specs = [AgentSpec(c, 40 + i) for i, c in enumerate(configs)]
    results, q = train_batched(TASK, BatchedSE(TASK, SEConfig(), params), specs, solved=None)
    for i, (cfg, spec) in enumerate(zip(configs, specs)):
        agent, scalar = _scalar_on_se(cfg, spec.seed, params[i])
        assert results[i].lengths == scalar.lengths
        assert _max_diff(agent.q, q.member_module(i, cfg)) < ATOL


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu"])
def test_activating_only_the_members_own_units_gives_the_same_bits(activation, monkeypatch):
    from benchmark.agents.lockstep import core as lockstep

    monkeypatch.setattr(lockstep, "ACTIVATION_CALL_NS", 0.0)  # take the ragged path wherever a unit is padded
    shapes = [(5, 1, 32), (12, 2, 70), (30, 1, 16), (30, 2, 150)]  # hidden size, layers, batch (rows: 2 for 150)
    specs = [AgentSpec(DDQNConfig(hidden_size=h, hidden_layers=n, batch_size=b, activation=activation,
                                  max_episodes=2, init_episodes=1), 10 + i) for i, (h, n, b) in enumerate(shapes)]
    params = torch.stack([initial_se_parameters(TASK, SEConfig(), s) for s in range(len(specs))])
    runs = []
    for ragged in (False, True):
        monkeypatch.setattr(lockstep.BatchedMLP, "ragged_activation", ragged)
        runs.append(train_batched(TASK, BatchedSE(TASK, SEConfig(), params.clone()), specs, solved=None))
    (plain, q_plain), (ragged, q_ragged) = runs
    assert [r.returns for r in plain] == [r.returns for r in ragged] and plain[0].steps > 0
    assert torch.equal(q_plain.theta, q_ragged.theta)


def test_the_td_target_takes_the_raw_done_of_a_raw_done_se(monkeypatch):
    """The replay buffer holds the SE's done output itself (raw), not whether the episode ended (boolean), and the
    agents learn differently from the two."""
    from benchmark.agents.common import ReplayBuffer

    stored = []
    original = ReplayBuffer.add
    monkeypatch.setattr(ReplayBuffer, "add",
                        lambda self, o, a, r, n, d: (stored.append(d), original(self, o, a, r, n, d)))
    cfg = DDQNConfig(max_episodes=3, init_episodes=1, batch_size=16)
    weights = {}
    for done_target in ("raw", "boolean"):
        se = SEConfig(done_target=done_target)
        params = initial_se_parameters(TASK, se, 3)
        params[-1] += 0.3
        stored.clear()
        agent, _ = _scalar_on_se(cfg, 1, params, se)
        weights[done_target] = torch.cat([p.flatten() for p in agent.q.parameters()])
        values = set(stored)
        if done_target == "raw":
            assert len(values) > 3 and not values <= {0.0, 1.0}
        else:
            assert values <= {0.0, 1.0}
    assert not torch.equal(weights["raw"], weights["boolean"])
