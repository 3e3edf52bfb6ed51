"""Named recipes (--preset) and the layers of a run's config: defaults, preset, --config, flags typed."""
import dataclasses
import json
from pathlib import Path

import pytest

from benchmark import schema
from benchmark.cli import build_parser, main, run_config_from_args
from benchmark.config_layers import layered
from benchmark.errors import ConfigError
from benchmark.nes.presets import PRESETS, agent_base, preset_fields
from benchmark.nes.trainer import RunConfig

REPO = Path(__file__).resolve().parents[1]
TINY = {"test_episodes": 1, "agent": {"max_episodes": 2, "batch_size": 8, "hidden_size": 8, "hidden_layers": 1}}


def _args(*argv):
    return build_parser().parse_args(["train-se", "--out", "x", *argv])


def test_the_defaults_are_the_paper_transfer_preset():
    assert RunConfig() == RunConfig.from_dict(layered(RunConfig().to_dict(), ("p", preset_fields("paper_transfer"))))
    run = RunConfig()
    assert (run.centre_agents, run.vary_hp, run.nes.noise_std, run.nes.step_size, run.nes.shaping) == \
        (16, True, 0.05, 1.0, "above_centre_sum")
    assert (run.se.hidden_size, run.se.heads, run.se.done_target) == (128, "separate", "raw")
    assert (run.agent.activation, run.agent.hidden_size, run.agent.hidden_layers, run.agent.init_episodes) == \
        ("relu", 128, 2, 10)


def test_paper_opt_is_the_later_opt_settings():
    run = run_config_from_args(_args("--preset", "paper_opt"))
    assert run.preset == "paper_opt" and not run.vary_hp and run.centre_agents == 16
    assert (run.nes.noise_std, run.nes.step_size, run.nes.shaping) == (0.0124, 0.148, "nes")
    assert (run.se.hidden_size, run.se.heads, run.se.done_target) == (83, "shared", "boolean")
    assert (run.agent.lr, run.agent.batch_size, run.agent.hidden_size, run.agent.activation) == \
        (3.04e-4, 199, 57, "tanh")


def test_quick_is_the_headline_candidate_the_campaign_measured():
    """`quick` is what the campaign's hl_transfer_small run learned with (paper_transfer, a small fixed-HP agent
    from scripts/campaign/headline_small_agent.json, 4 centre agents, 8 noise directions), under its own name."""
    measured = run_config_from_args(_args(
        "--preset", "paper_transfer", "--config", str(REPO / "scripts/campaign/headline_small_agent.json"),
        "--fixed-hp", "--centre-agents", "4", "--population", "8", "--iterations", "10"))
    quick = run_config_from_args(_args("--preset", "quick"))
    assert dataclasses.replace(measured, preset="quick") == quick
    assert (quick.agent.hidden_size, quick.agent.init_episodes, quick.agent.max_episodes) == (57, 10, 100)


def test_config_file_sets_over_the_preset_and_typed_flags_over_the_file(tmp_path):
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"iterations": 7, "seed": 5, "centre_agents": 4, "nes": {"population": 3},
                               "se": {"heads": "shared"}}))
    run = run_config_from_args(_args("--preset", "paper_opt", "--config", str(cfg)))
    assert (run.iterations, run.seed, run.centre_agents, run.nes.population) == (7, 5, 4, 3)
    assert run.se.heads == "shared" and run.nes.noise_std == 0.0124  # the rest of nes is the preset's
    run = run_config_from_args(_args("--config", str(cfg), "--seed", "9", "--population", "2", "--fixed-hp"))
    assert (run.iterations, run.seed, run.nes.population, run.vary_hp) == (7, 9, 2, False)


def test_train_ses_takes_the_same_layers(tmp_path):
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"iterations": 7, "vary_hp": False}))
    args = build_parser().parse_args(["train-ses", "--out", "x", "--count", "1", "--config", str(cfg),
                                      "--seed-start", "4"])
    args.seed = args.seed_start
    run = run_config_from_args(args)
    assert (run.iterations, run.vary_hp, run.seed, run.preset) == (7, False, 4, "paper_transfer")


def test_an_unknown_field_in_the_config_file_names_it(tmp_path):
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"nes": {"noise": 0.1}}))
    with pytest.raises(ConfigError, match="unknown field 'nes.noise'"):
        run_config_from_args(_args("--config", str(cfg)))


def test_each_preset_round_trips_through_se_json_and_resume_refuses_another(tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    common = ["--config", str(cfg), "--population", "1", "--centre-agents", "1", "--workers", "1", "--quiet"]
    for name in PRESETS:
        out = tmp_path / name
        assert main(["train-se", "--out", str(out), "--preset", name, "--iterations", "1", *common]) == 0
        meta = json.loads((out / schema.SE_META).read_text())
        assert meta["preset"] == name
        stored = RunConfig.from_dict(meta["run"])
        assert stored == run_config_from_args(_args("--preset", name, "--iterations", "1", *common))
    assert main(["train-se", "--out", str(tmp_path / "paper_opt"), "--preset", "paper_transfer", "--iterations", "2",
                 "--resume", *common]) == 2


def test_the_transfer_protocol_starts_ddqn_agents_from_the_preset_agent():
    assert agent_base("ddqn", "paper_transfer") == RunConfig().agent
    dueling = agent_base("dueling_ddqn", "paper_transfer", max_episodes=7)
    assert dueling.dueling and dueling.hidden_size == 128 and dueling.max_episodes == 7
    assert agent_base("ddqn", "paper_opt").hidden_size == 57
    assert agent_base("td3_discrete", "paper_opt") == agent_base("td3_discrete", "paper_transfer")
