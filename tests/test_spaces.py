"""Search spaces: names map 1:1 onto config fields, defaults are the paper's values, user configs are validated
with a message naming the hyperparameter, the value and the legal range; `sebench spaces ...`."""
from __future__ import annotations

import dataclasses
import json

import pytest

from benchmark.agents.ddqn import DDQNConfig
from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.hpo.compat import check_space
from benchmark.nes.shaping import ShapingName
from benchmark.nes.trainer import RunConfig
from search_spaces import get_space, names
from search_spaces.tools import apply_config, from_json, space_task, to_json, validate_config

SE_SPACES = {"se_cartpole": "CartPole-v0", "se_acrobot": "Acrobot-v1"}
AGENT_SPACES = {"ddqn": DDQNConfig(), "dueling_ddqn": DDQNConfig(dueling=True)}


def _get(base, dotted: str):
    for part in dotted.split("."):
        base = getattr(base, part)
    return base


@pytest.mark.parametrize("name", sorted(SE_SPACES))
def test_se_space_names_are_runconfig_paths_with_paper_defaults(name):
    space = get_space(name, seed=0)
    assert space_task(name) == SE_SPACES[name]
    default = dict(space.get_default_configuration())
    run = apply_config(RunConfig(task=SE_SPACES[name]), default)
    assert run == RunConfig(task=SE_SPACES[name])  # the defaults are RunConfig's (paper) values
    assert {n.split(".")[0] for n in space} == {"nes", "agent", "se"}
    expected = {"nes.shaping", "nes.step_size", "nes.nes_step_size", "nes.mirrored_sampling", "nes.noise_std",
                "agent.init_episodes", "agent.batch_size", "agent.gamma", "agent.lr", "agent.tau", "agent.eps_init",
                "agent.eps_min", "agent.eps_decay", "agent.activation", "agent.hidden_size", "agent.hidden_layers",
                "se.activation", "se.hidden_size", "se.hidden_layers", "se.heads", "se.done_target"}
    assert set(space) == expected
    assert set(space["se.heads"].choices) == {"separate", "shared"}
    assert set(space["se.done_target"].choices) == {"raw", "boolean"}
    assert set(space["nes.shaping"].choices) == {s.value for s in ShapingName}
    assert (space["nes.step_size"].lower, space["nes.step_size"].upper, space["nes.step_size"].log) == (0.1, 1.0, True)
    assert (space["nes.noise_std"].lower, space["nes.noise_std"].upper, space["nes.noise_std"].log) == (0.01, 1.0, True)
    check_space(space)  # nothing BOHB cannot handle


@pytest.mark.parametrize("name", sorted(AGENT_SPACES))
def test_agent_space_names_are_ddqn_fields(name):
    space = get_space(name)
    fields = {f.name for f in dataclasses.fields(DDQNConfig)}
    assert set(space) <= fields and {"lr", "batch_size", "gamma", "tau", "eps_init", "eps_min", "eps_decay",
                                     "init_episodes", "activation", "hidden_size", "hidden_layers"} == set(space)
    base = AGENT_SPACES[name]
    assert apply_config(base, dict(space.get_default_configuration())) == base
    check_space(space)


@pytest.mark.parametrize("name", sorted(SE_SPACES) + sorted(AGENT_SPACES))
def test_sampled_configs_are_valid_and_build_valid_configs(name):
    space = get_space(name, seed=1)
    base = RunConfig(task=SE_SPACES[name]) if name in SE_SPACES else AGENT_SPACES[name]
    for sample in space.sample_configuration(25):
        config = validate_config(space, dict(sample), complete=True)
        built = apply_config(base, config)
        assert all(_get(built, k) == v for k, v in config.items())


def test_sampling_is_seeded():
    a = [dict(c) for c in get_space("se_cartpole", seed=5).sample_configuration(3)]
    b = [dict(c) for c in get_space("se_cartpole", seed=5).sample_configuration(3)]
    assert a == b


@pytest.mark.parametrize("config, message", [
    ({"nes.step_size": 5}, r"nes\.step_size=5 is out of range; legal: \[0\.1, 1\.0\] \(float, log scale\)"),
    ({"agent.batch_size": 100.5}, r"agent\.batch_size=100\.5 must be an integer; legal: \[64, 256\]"),
    ({"agent.batch_size": 512}, r"agent\.batch_size=512 is out of range; legal: \[64, 256\] \(integer, log scale\)"),
    ({"nes.mirrored_sampling": 1}, r"nes\.mirrored_sampling=1 is not allowed; legal: one of \[True, False\]"),
    ({"agent.lr": "0.001"}, r"agent\.lr='0\.001' is not allowed; legal: \[0\.0001, 0\.005\]"),
    ({"agent.gamma": float("nan")}, r"agent\.gamma=nan is out of range; legal: \[0\.9, 0\.999\]"),
    ({"se": {"activation": "prelu"}}, r"se\.activation='prelu' is not allowed; legal: one of \['tanh', 'relu', 'leaky_relu'\]"),
    ({"nes.population": 4}, r"'nes\.population' is not a hyperparameter of space 'se_cartpole'; known: \["),
])
def test_invalid_user_config_names_hyperparameter_value_and_range(config, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(get_space("se_cartpole"), config)


def test_nested_and_flat_configs_validate_alike_and_complete_requires_all():
    space = get_space("se_cartpole")
    assert validate_config(space, {"nes": {"step_size": 0.5}, "agent": {"batch_size": 128}}) == \
        {"nes.step_size": 0.5, "agent.batch_size": 128}
    with pytest.raises(ConfigError, match=r"missing hyperparameter\(s\) \["):
        validate_config(space, {"nes.step_size": 0.5}, complete=True)
    with pytest.raises(ConfigError, match="must be a JSON object"):
        validate_config(space, [1, 2])


def test_apply_config_refuses_names_that_are_not_fields():
    with pytest.raises(ConfigError, match="'learning_rate' does not name a field of DDQNConfig"):
        apply_config(DDQNConfig(), {"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="'nes.foo' does not name a field of NESConfig"):
        apply_config(RunConfig(), {"nes.foo": 1})


@pytest.mark.parametrize("name", sorted(SE_SPACES) + sorted(AGENT_SPACES))
def test_json_export_round_trips(name):
    space = get_space(name)
    assert from_json(to_json(space)) == space


def test_cli_spaces_list_show_export_check(tmp_path, capsys):
    assert main(["spaces", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(n in listed for n in ["se_cartpole", "se_acrobot", "ddqn", "dueling_ddqn"])
    assert set(names()) >= {"se_cartpole", "se_acrobot", "ddqn", "dueling_ddqn"}

    assert main(["spaces", "show", "se_acrobot"]) == 0
    shown = capsys.readouterr().out
    assert "nes.step_size" in shown and "[0.1, 1.0] (float, log scale)" in shown and "default 1.0" in shown

    out = tmp_path / "space.json"
    assert main(["spaces", "export", "ddqn", "--out", str(out)]) == 0
    assert from_json(out.read_text()) == get_space("ddqn")
    assert main(["spaces", "export", "ddqn"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["name"] == "ddqn"  # after the --out path line

    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"lr": 0.001, "gamma": 0.99}))
    bad.write_text(json.dumps({"lr": 0.5}))
    assert main(["spaces", "check", "ddqn", str(good)]) == 0
    assert main(["spaces", "check", "ddqn", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "lr=0.5 is out of range; legal: [0.0001, 0.005]" in err and "Traceback" not in err
    assert main(["spaces", "check", str(out), str(good)]) == 0  # a space given as an exported JSON file
    assert main(["spaces", "show", "nope"]) == 2
    assert "space='nope' is not a known search space" in capsys.readouterr().err
