"""The supervised baseline: real transitions collected by agents, the SE architecture fitted by regression."""
import json

import numpy as np
import torch

import benchmark
from benchmark import schema
from benchmark.envs.synthetic import se_network
from benchmark.envs.tasks import get_task
from benchmark.nets import init_uniform_
from benchmark.supervised import ModelFitConfig, collect_transitions, fit_model, fit_models

TINY = ModelFitConfig(collectors=2, max_transitions=600, epochs=30)


def test_collected_transitions_are_real_and_seeded():
    data = collect_transitions(TINY)
    assert data.shape == (600, 4 + 1 + 4 + 2)
    assert set(np.unique(data[:, 4])) <= {0.0, 1.0} and set(np.unique(data[:, -1])) <= {0.0, 1.0}
    assert np.all(data[:, -2] == 1.0)  # CartPole pays 1 per step
    np.testing.assert_array_equal(data, collect_transitions(TINY))


def test_fit_beats_the_initial_network_and_is_stored_as_an_se(tmp_path):
    data = collect_transitions(TINY)
    net, losses = fit_model(TINY, data)
    task = get_task("CartPole-v0")
    fresh = init_uniform_(se_network(task, TINY.se), torch.Generator().manual_seed(0))
    x = torch.cat([torch.from_numpy(data[:, :4]), torch.eye(2)[torch.from_numpy(data[:, 4]).long()]], 1)
    with torch.no_grad():
        initial = float(((fresh(x) - torch.from_numpy(data[:, 5:])) ** 2).mean())
    assert losses["train_mse"] < 0.2 * initial

    folders = fit_models(TINY, tmp_path / "models", count=1, progress=False)
    meta = json.loads((folders[0] / schema.SE_META).read_text())
    assert meta["kind"] == "supervised_model" and meta["transitions"] == 600
    env = benchmark.load_se(folders[0])
    obs, _ = env.reset(seed=0)
    assert env.step(0)[0].shape == obs.shape


def test_models_fit_in_parallel_as_they_do_serially_and_finished_ones_are_skipped(tmp_path):
    serial = fit_models(TINY, tmp_path / "serial", count=2, progress=False)
    parallel = fit_models(TINY, tmp_path / "parallel", count=2, progress=False, workers=2)
    assert [p.name for p in parallel] == ["se_000", "se_001"]
    for a, b in zip(serial, parallel):
        assert (a / schema.SE_WEIGHTS).read_bytes() == (b / schema.SE_WEIGHTS).read_bytes()
    stamp = (parallel[0] / schema.SE_META).stat().st_mtime_ns
    fit_models(TINY, tmp_path / "parallel", count=2, progress=False, workers=2)
    assert (parallel[0] / schema.SE_META).stat().st_mtime_ns == stamp


def test_a_preset_gives_its_se_architecture_and_collectors_and_is_recorded(tmp_path):
    opt = ModelFitConfig.for_preset("paper_opt")  # not the SEConfig defaults: shared, 83 units, fixed-HP collectors
    assert (opt.se.heads, opt.se.hidden_size, opt.se.done_target) == ("shared", 83, "boolean")
    assert opt.collector.activation == "tanh" and not opt.vary_collectors and opt.collector.max_episodes >= 1000
    config = ModelFitConfig.for_preset("paper_transfer", collectors=1, max_transitions=300, epochs=2)
    assert config.se.heads == "separate" and config.se.hidden_size == 128 and config.vary_collectors
    assert config.collector.activation == "relu" and config.collector.hidden_layers == 2
    (folder,) = fit_models(config, tmp_path / "models", count=1, progress=False)
    fit = json.loads((folder / schema.SE_META).read_text())["fit"]
    assert fit["preset"] == "paper_transfer" and fit["collector"]["hidden_size"] == 128
    assert benchmark.load_se(folder).config.heads == "separate"


def test_a_set_refuses_models_fitted_another_way(tmp_path):
    import pytest

    from benchmark.errors import ConfigError

    opt = ModelFitConfig.for_preset("paper_opt", collectors=1, max_transitions=300, epochs=2)
    fit_models(opt, tmp_path / "models", count=1, progress=False)
    fit_models(opt, tmp_path / "models", count=1, progress=False)  # the same fit again: accepted, nothing redone
    with pytest.raises(ConfigError, match="fitted another way"):
        fit_models(ModelFitConfig.for_preset("paper_transfer", collectors=1, max_transitions=300, epochs=2),
                   tmp_path / "models", count=2, progress=False)
