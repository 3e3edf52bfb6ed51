"""Bad input gets one clear message (the field, the value, what is allowed) on stderr and exit status 2, with
nothing written: --config files of every command that takes one (wrong types, sections that are not objects,
files that are not JSON objects, not JSON, not UTF-8, unknown fields, booleans as strings), --workers below 1, a
bad se.json, a --resume with another configuration, a file that cannot be written. And the config layers of
train-se, train-rn, hpo and proxy-hpo: dataclass default < --preset < --config < flags typed. No training runs."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json

import numpy as np
import pytest

from benchmark import io, schema
from benchmark.cli import build_parser, main, proxy_hpo_config_from_args, run_config_from_args
from benchmark.cli_common import positive_int
from benchmark.config_layers import check_fields, describe_differences, differences, read_config_file
from benchmark.errors import ConfigError, OutputError
from benchmark.nes.checkpoint import RunState
from benchmark.nes.trainer import RunConfig

RUN_COMMANDS = {  # commands whose --config holds RunConfig fields (train-rn: RNRunConfig's, which share these)
    "train-se": ["train-se"],
    "train-ses": ["train-ses", "--count", "1"],
    "train-rn": ["train-rn"],
    "hpo run": ["hpo", "run", "--workers", "1"],
}
ALL_COMMANDS = {**RUN_COMMANDS, "proxy-hpo": ["proxy-hpo", "--wall-budget", "5"]}


def _refused(capsys, argv: list[str], out) -> str:
    """Run the CLI, which must exit 2 with one error line and no traceback, writing nothing to `out`."""
    try:
        rc = main(argv)
    except SystemExit as stop:  # argparse's usage errors
        rc = stop.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and err.count("error:") == 1, err
    assert not out.exists(), f"{out} was written"
    return err


def _config(tmp_path, content, name="bad.json"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# -- --config files -------------------------------------------------------------------------------------------
RUN_CASES = {  # name: (config, what the message must say)
    "wrong type": ({"nes": {"step_size": "big"}}, "nes.step_size='big' is a string; expected a number (float)"),
    "section not an object": ({"nes": 5}, "nes=5 must be a JSON object of ['mirrored_estimate'"),
    "bool as a string no": ({"vary_hp": "no"}, "vary_hp='no' is not a boolean; use JSON true or false"),
    "bool as a string yes": ({"vary_hp": "yes"}, "vary_hp='yes' is not a boolean; use JSON true or false"),
    "bool as a string false": ({"vary_hp": "false"}, "vary_hp='false' is not a boolean; use JSON true or false"),
    "bool as a number": ({"vary_hp": 0}, "vary_hp=0 is not a boolean"),
    "non-integral int": ({"iterations": 2.5}, "iterations=2.5 is a non-integral number; expected an integer"),
    "bool as an int": ({"iterations": True}, "iterations=True is a boolean; expected an integer"),
    "int as a string": ({"seed": "3"}, "seed='3' is a string; expected an integer"),
    "str as a number": ({"task": 5}, "task=5 is a number; expected a string"),
    "null where not optional": ({"seed": None}, "seed=None is null; expected an integer"),
    "unknown field": ({"nes": {"noise": 0.1}}, "unknown field 'nes.noise'; known: ['mirrored_estimate'"),
    "unknown top-level field": ({"popsize": 3}, "unknown field 'popsize'; known: ["),
}
PROXY_CASES = {
    "wrong type": ({"eta": "big"}, "eta='big' is a string; expected a number (float)"),
    "optional wrong type": ({"solved": "high"}, "solved='high' is a string; expected a number (float) (or null)"),
    "non-integral int": ({"agents": 1.5}, "agents=1.5 is a non-integral number; expected an integer"),
    "bool as an int": ({"agents": True}, "agents=True is a boolean; expected an integer"),
    "section where a value goes": ({"task": {"id": "CartPole-v0"}}, "task={'id': 'CartPole-v0'} is an object"),
    "unknown field": ({"nes": {"step_size": 1}}, "unknown field 'nes'; known: ['agent', 'agents'"),
}
FILE_CASES = {  # any command: the file itself is bad
    "top level a list": ("[1, 2]", "expected a JSON object of config fields ({...}), got an array (list)"),
    "top level a number": ("5", "expected a JSON object of config fields ({...}), got a number"),
    "invalid JSON": ('{"seed": 1,\n "nes": {"population": 3,}}', "invalid JSON at line 2, column 26"),
    "empty file": ("", "invalid JSON at line 1, column 1"),
    "not UTF-8": (b'{"task": "Cart\xe9"}', "not UTF-8 text (byte 0xe9 at offset 14)"),
    "a field twice": ('{"seed": 1, "seed": 2}', "field 'seed' is given twice"),
    "NaN": ('{"seed": NaN}', "NaN is not a JSON number"),
}


def _assert_config_refused(tmp_path, capsys, command: list, content: str, message: str) -> None:
    """`command --config FILE` with FILE holding `content` exits 2 with `message`, writing nothing."""
    cfg = _config(tmp_path, content)
    err = _refused(capsys, [*command, "--config", str(cfg), "--out", str(tmp_path / "out")], tmp_path / "out")
    assert f"sebench: error: --config {cfg}: {message}" in err


@pytest.mark.parametrize("case", RUN_CASES)
@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_a_bad_run_config_is_refused_by_every_command(tmp_path, capsys, command, case):
    _assert_config_refused(tmp_path, capsys, RUN_COMMANDS[command], *RUN_CASES[case])


@pytest.mark.parametrize("case", PROXY_CASES)
def test_a_bad_proxy_hpo_config_is_refused(tmp_path, capsys, case):
    _assert_config_refused(tmp_path, capsys, ALL_COMMANDS["proxy-hpo"], *PROXY_CASES[case])


@pytest.mark.parametrize("case", FILE_CASES)
@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_a_config_file_that_is_not_a_json_object_is_refused(tmp_path, capsys, command, case):
    _assert_config_refused(tmp_path, capsys, ALL_COMMANDS[command], *FILE_CASES[case])


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_a_missing_config_file_is_refused(tmp_path, capsys, command):
    err = _refused(capsys, [*ALL_COMMANDS[command], "--config", str(tmp_path / "none.json"), "--out",
                            str(tmp_path / "out")], tmp_path / "out")
    assert f"--config {tmp_path / 'none.json'}: cannot read it: No such file or directory" in err


def test_train_rn_checks_agent_config_against_the_agent_kinds_fields(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = _config(tmp_path, {"agent_config": {"alpha": "big"}})
    err = _refused(capsys, ["train-rn", "--config", str(cfg), "--out", str(out)], out)
    assert "agent_config.alpha='big' is a string; expected a number (float)" in err
    cfg = _config(tmp_path, {"agent": "ddqn", "task": "CartPole-v0", "agent_config": {"dueling": "no"}})
    assert "agent_config.dueling='no' is not a boolean" in _refused(capsys, ["train-rn", "--config", str(cfg),
                                                                             "--out", str(out)], out)
    cfg = _config(tmp_path, {"agent_config": 3})
    assert "agent_config=3 must be a JSON object" in _refused(capsys, ["train-rn", "--config", str(cfg), "--out",
                                                                       str(out)], out)
    cfg = _config(tmp_path, {"rn": {"hidden_size": "32"}})
    assert "rn.hidden_size='32' is a string; expected an integer" in _refused(
        capsys, ["train-rn", "--config", str(cfg), "--out", str(out)], out)


def test_a_range_error_after_the_type_check_is_still_one_clear_message(tmp_path, capsys):
    cfg = _config(tmp_path, {"nes": {"step_size": 1000}})
    err = _refused(capsys, ["train-se", "--config", str(cfg), "--out", str(tmp_path / "out")], tmp_path / "out")
    assert "step_size=1000.0 is out of range; allowed: [0.0, 100.0]" in err


@pytest.mark.parametrize("kind", ["ddqn", "td3", "td3_discrete", "ppo"])
@pytest.mark.parametrize("field, value", [("lr", 0.0), ("batch_size", 0), ("gamma", 1.5), ("tau", -0.1),
                                          ("hidden_size", 0), ("hidden_layers", 9), ("activation", "gelu"),
                                          ("eps_init", 2.0), ("eps_min", -1.0), ("eps_decay", 1.5),
                                          ("rb_size", 0)])
def test_every_agent_config_checks_the_shared_hyperparameters(kind, field, value):
    from benchmark.agents.registry import get_agent_kind

    kind = get_agent_kind(kind)
    if field not in {f.name for f in dataclasses.fields(kind.config_type())}:
        pytest.skip(f"{kind.name} has no {field}")
    with pytest.raises(ConfigError, match=field):
        kind.defaults(**{field: value})


def test_ppo_bounds_its_minibatch_by_its_rollout_not_by_the_shared_range():
    from benchmark.agents.ppo import PPOConfig

    assert PPOConfig(n_steps=8192, batch_size=8192).batch_size == 8192
    with pytest.raises(ConfigError, match="batch_size"):
        PPOConfig(n_steps=64, batch_size=128)


def test_check_fields_normalises_numbers_and_takes_null_where_optional():
    got = check_fields(RunConfig, {"iterations": 7.0, "solved": None, "nes": {"step_size": 1, "population": 4}},
                       "test")
    assert got == {"iterations": 7, "solved": None, "nes": {"step_size": 1.0, "population": 4}}
    assert type(got["iterations"]) is int and type(got["nes"]["step_size"]) is float
    assert check_fields(RunConfig, {"solved": 195}, "test") == {"solved": 195.0}
    with pytest.raises(ConfigError, match=r"test: solved='x' is a string; expected a number \(float\) \(or null\)"):
        check_fields(RunConfig, {"solved": "x"}, "test")
    with pytest.raises(ConfigError, match=r"test: the config must be a JSON object of \["):
        check_fields(RunConfig, [1], "test")


def test_read_config_file_takes_a_utf8_bom(tmp_path):
    assert read_config_file(_config(tmp_path, '\ufeff{"seed": 3}'.encode("utf-8"))) == {"seed": 3}
    assert read_config_file(None) == {}


# -- --workers ------------------------------------------------------------------------------------------------
WORKER_COMMANDS = {
    "train-se": ["train-se", "--out", "{out}"],
    "train-ses": ["train-ses", "--count", "1", "--out", "{out}"],
    "transfer": ["transfer", "--out", "{out}"],
    "fit-models": ["fit-models", "--count", "1", "--out", "{out}"],
    "proxy-study": ["proxy-study", "--ses", "{out}", "--out", "{out}"],
    "headline": ["headline", "--out", "{out}"],
    "train-rn": ["train-rn", "--out", "{out}"],
    "rn-eval": ["rn-eval", "--out", "{out}"],
    "hpo run": ["hpo", "run", "--out", "{out}"],
}


@pytest.mark.parametrize("value", ["0", "-2", "two"])
@pytest.mark.parametrize("command", WORKER_COMMANDS)
def test_workers_below_one_is_a_usage_error(tmp_path, capsys, command, value):
    out = tmp_path / "out"
    argv = [a.format(out=out) for a in WORKER_COMMANDS[command]]
    err = _refused(capsys, [*argv, "--workers", value], out)
    assert "argument --workers:" in err
    assert ("out of range; allowed: [1, inf)" if value != "two" else "'two' is not an integer") in err


def test_every_workers_flag_is_a_positive_int():
    found = []

    def walk(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}".strip())
            elif action.dest == "workers":
                found.append((path, action.type))

    walk(build_parser(), "")
    assert {path for path, _ in found} >= {"train-se", "train-ses", "transfer", "train-rn", "hpo run"}
    assert all(kind is positive_int for _, kind in found), found


def test_positive_int():
    assert positive_int("3") == 3
    for text, message in [("0", "out of range"), ("-1", "out of range"), ("1.5", "not an integer"), ("", "not an")]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            positive_int(text)


# -- se.json ----------------------------------------------------------------------------------------------------
@pytest.fixture
def se_folder(tmp_path):
    """A stored CartPole-v0 SE (untrained) with the default architecture."""
    from benchmark.envs.synthetic import SEConfig, se_network
    from benchmark.envs.tasks import get_task

    net = se_network(get_task("CartPole-v0"), SEConfig())
    folder = tmp_path / "se"
    folder.mkdir()
    schema.save_se(folder, net.state_dict(), {"kind": "synthetic_env", "task": "CartPole-v0",
                                           "architecture": dataclasses.asdict(SEConfig())})
    return folder


def test_a_good_se_loads(se_folder):
    from benchmark import load_se

    assert load_se(se_folder).task.name == "CartPole-v0"


@pytest.mark.parametrize("change, message", [
    ({"architecture": {"hidden_size": "big"}}, "architecture.hidden_size='big' is a string; expected an integer"),
    ({"architecture": {"hidden_size": 12.5}}, "architecture.hidden_size=12.5 is a non-integral number"),
    ({"architecture": {"heads": 3}}, "architecture.heads=3 is a number; expected a string"),
    ({"architecture": {"heads": "both"}}, "architecture: se.heads='both' is not allowed; choose one of"),
    ({"architecture": {"width": 3}}, "unknown field 'architecture.width'; known: ["),
    ({"architecture": [128, 1]}, "architecture must be a JSON object of ["),
    ({"task": 5}, "expected a JSON object with a string 'task'"),
])
def test_a_bad_se_json_names_the_file_and_the_field(se_folder, change, message):
    from benchmark import load_se

    meta = json.loads((se_folder / schema.SE_META).read_text())
    for key, value in change.items():
        meta[key] = {**meta[key], **value} if isinstance(value, dict) else value
    (se_folder / schema.SE_META).write_text(json.dumps(meta))
    with pytest.raises(ConfigError) as err:
        load_se(se_folder)
    assert str(err.value).startswith(f"SE metadata {se_folder / schema.SE_META}: ") and message in str(err.value)


# -- --resume with another configuration --------------------------------------------------------------------------
def _stored_run(tmp_path, *argv) -> tuple:
    """A train-se folder holding an iteration-1 checkpoint of the run of `argv` (no training)."""
    from benchmark.nes.checkpoint import save_checkpoint

    out = tmp_path / "run"
    out.mkdir()
    run = run_config_from_args(build_parser().parse_args(["train-se", "--out", str(out), *argv]))
    state = RunState(1, np.zeros(3), np.zeros(3), 10.0, 1, [{"iteration": 1}], 1.0, 100)
    save_checkpoint(out, run, state)
    return out, run


def test_resume_with_another_configuration_names_the_fields_that_differ(tmp_path, capsys):
    out, _ = _stored_run(tmp_path, "--seed", "1", "--population", "4")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["train-se", "--out", str(out), "--resume", "--seed", "2", "--population", "4", "--fixed-hp",
                 "--iterations", "90", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert f"--resume: the run in {out} was started with a different configuration: seed: stored 1, requested 2; " \
           "vary_hp: stored true, requested false; resume with the stored values or start a new --out" in err
    assert "iterations" not in err and "nes.population" not in err  # raising the limit is allowed; same P
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_hpo_resume_with_other_settings_names_them(tmp_path):
    from benchmark.hpo.launch import MasterSettings, base_run, prepare_sweep

    tiny = {"nes": {"population": 1}, "test_episodes": 1, "centre_agents": 1, "vary_hp": False}
    settings = MasterSettings(space="se_cartpole", min_budget=1, max_budget=2, eta=2, iterations=1)
    prepare_sweep(tmp_path, settings, base_run("se_cartpole", tiny), resume=False)
    with pytest.raises(ConfigError) as err:
        prepare_sweep(tmp_path, settings, base_run("se_cartpole", {**tiny, "test_episodes": 2}, seed=5), resume=True)
    assert str(err.value) == (f"--resume: the sweep in {tmp_path} was started with other settings: base.seed: "
                              "stored 0, requested 5; base.test_episodes: stored 1, requested 2")


def test_differences_are_nested_and_json_like():
    assert differences({"a": 1, "b": {"c": (1, 2), "d": 0}}, {"a": 1, "b": {"c": [1, 2], "d": 1}, "e": 2}) == \
        ["b.d: stored 0, requested 1", "e: stored <absent>, requested 2"]
    many = describe_differences({f"k{i}": 0 for i in range(12)}, {f"k{i}": 1 for i in range(12)}, limit=2)
    assert many == "k0: stored 0, requested 1; k1: stored 0, requested 1; and 10 more"
    assert describe_differences({"x": "y" * 200}, {"x": 1}).startswith("x: stored \"yyy") and "..." in \
        describe_differences({"x": "y" * 200}, {"x": 1})


# -- a file that cannot be written --------------------------------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_names_the_file_and_keeps_its_last_version(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    io.write_json(path, {"v": 1})
    with pytest.raises(OutputError) as err:
        io.atomic_write(path, _no_space)
    assert (err.value.errno, err.value.strerror, err.value.filename) == (errno.ENOSPC, "No space left on device",
                                                                          str(path))
    assert json.loads(path.read_text()) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["result.json"]
    with pytest.raises(OutputError, match="No such file or directory"):  # a folder that is not there (or not ours)
        io.write_json(tmp_path / "gone" / "x.json", {})


def test_a_safetensors_write_error_becomes_an_output_error(tmp_path, monkeypatch):
    import torch
    from safetensors import SafetensorError

    def fail(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(io, "save_file", fail)
    with pytest.raises(OutputError) as err:
        io.save_tensors(tmp_path / "t.safetensors", {"a": torch.zeros(2)})
    assert (err.value.errno, err.value.strerror) == (28, "No space left on device")


def test_a_checkpoint_that_cannot_be_written_is_one_message_and_the_last_one_is_intact(tmp_path, capsys,
                                                                                       monkeypatch):
    import benchmark.nes.trainer as trainer

    out, _ = _stored_run(tmp_path, "--population", "1", "--centre-agents", "1")
    before = (out / schema.CHECKPOINT).read_bytes()

    def one_iteration(run, state, evaluate, columns, checkpoint, **kwargs):  # no training: just the checkpoint
        state.iteration += 1
        checkpoint(state)

    monkeypatch.setattr(trainer, "run_nes", one_iteration)
    monkeypatch.setattr(io, "save_file", _no_space)
    assert main(["train-se", "--out", str(out), "--resume", "--population", "1", "--centre-agents", "1",
                 "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (f"sebench: error: could not write {out / schema.CHECKPOINT}: No space left on device; the files "
                   "written before it (the last checkpoint too) are intact: free some space or fix the permissions, "
                   "then rerun the same command (with --resume where it has one)\n")
    assert (out / schema.CHECKPOINT).read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


# -- the config layers: dataclass default < --preset < --config < flags typed ----------------------------------------
def test_train_se_layers(tmp_path):
    cfg = _config(tmp_path, {"centre_agents": 4, "seed": 5, "nes": {"population": 3, "step_size": 1}},
                  "run.json")
    args = build_parser().parse_args(["train-se", "--out", "x", "--preset", "paper_opt", "--config", str(cfg),
                                      "--seed", "9"])
    run = run_config_from_args(args)
    assert run.se.state_bound == 1000.0  # dataclass default: no preset sets it
    assert (run.nes.noise_std, run.vary_hp, run.se.hidden_size) == (0.0124, False, 83)  # preset over default
    assert (run.centre_agents, run.nes.population, run.nes.step_size) == (4, 3, 1.0)  # --config over preset
    assert run.seed == 9  # flag over --config
    assert type(run.nes.step_size) is float


def test_train_rn_layers(tmp_path):
    from benchmark.rn.cli import rn_run_from_args
    from benchmark.rn.trainer import RNRunConfig

    cfg = _config(tmp_path, {"iterations": 7, "seed": 5, "nes": {"noise_std": 0.2, "step_size": 0.4}}, "rn.json")
    args = build_parser().parse_args(["train-rn", "--out", "x", "--config", str(cfg), "--seed", "9",
                                      "--step-size", "0.3"])
    run = rn_run_from_args(args)
    assert (run.task, run.nes.population, run.max_episodes) == ("CliffWalking-v1", 16, RNRunConfig.max_episodes)
    assert (run.iterations, run.nes.noise_std) == (7, 0.2)  # --config over default
    assert (run.seed, run.nes.step_size) == (9, 0.3)  # flags over --config


def test_hpo_layers(tmp_path):
    from benchmark.hpo.cli import _settings

    cfg = _config(tmp_path, {"test_episodes": 3, "seed": 5, "nes": {"population": 2}}, "hpo.json")

    def base(*argv):
        return _settings(build_parser().parse_args(["hpo", "run", "--out", "x", "--config", str(cfg), *argv]))[1]

    run = base("--preset", "paper_opt")
    assert run.se.state_bound == 1000.0 and run.engine == "batched"  # dataclass defaults
    assert (run.nes.noise_std, run.se.heads, run.preset) == (0.0124, "shared", "paper_opt")  # preset
    assert (run.test_episodes, run.nes.population, run.seed) == (3, 2, 5)  # --config over the preset
    assert base("--seed", "9").seed == 9  # flag over --config
    assert base().nes.noise_std == 0.05  # the default preset


def test_proxy_hpo_layers(tmp_path):
    from benchmark.proxy_hpo import ProxyHPOConfig

    cfg = _config(tmp_path, {"eta": 2, "seed": 5, "agents": 2}, "proxy.json")
    args = build_parser().parse_args(["proxy-hpo", "--out", "x", "--config", str(cfg), "--seed", "9"])
    config = proxy_hpo_config_from_args(args)
    assert (config.optimizer, config.max_budget) == (ProxyHPOConfig.optimizer, ProxyHPOConfig.max_budget)
    assert (config.eta, config.agents) == (2.0, 2) and type(config.eta) is float  # --config over default
    assert config.seed == 9  # flag over --config
