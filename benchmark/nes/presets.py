"""Named recipes for learning SEs (`--preset NAME`), recorded in every run's RunConfig and se.json.

- paper_transfer (the default): how the SEs behind the paper's transfer figures were made (the authors'
  default_config_cartpole.yaml of November 2020, ../shared/reference/reference-recipe.md): 16 centre agents,
  varied hyperparameters around a ReLU 2 x 128 DDQN with 10 initial episodes, NES noise 0.05 and step 1 with
  shaping against the centre agents' mean, an SE of three 128-unit leaky-ReLU MLPs whose raw done output is the
  agents' TD discount.
- quick: an SE in minutes (the headline's): paper_transfer's NES settings and SE, scored by 4 centre agents with
  fixed hyperparameters (paper_opt's tanh 1 x 57 DDQN, at most 100 episodes, 10 initial episodes), 8 noise
  directions. Chosen among three 4-centre-agent candidates by `bash scripts/benchmark_campaign.sh start hl_...`
  (docs/results/campaign.md, "The headline's SE").
- paper_opt: the later "opt" settings of the paper's NES learning curves (default_config_cartpole_opt.yaml):
  noise 0.0124, step 0.148, NES rank shaping, one shared 83-unit SE MLP with a boolean done, a tanh 1 x 57 DDQN
  with fixed hyperparameters; scored by 16 centre agents too.
"""
from __future__ import annotations

import dataclasses

from benchmark.agents.ddqn import DDQNConfig
from benchmark.agents.registry import get_agent_kind
from benchmark.errors import check_choice
from benchmark.nes.trainer import PAPER_TRANSFER_AGENT

_PAPER_TRANSFER = {
    "vary_hp": True, "centre_agents": 16, "iterations": 50, "test_episodes": 10,
    "nes": {"population": 16, "noise_std": 0.05, "step_size": 1.0, "nes_step_size": False,
            "mirrored_sampling": True, "mirrored_estimate": "best_of_pair", "shaping": "above_centre_sum",
            "weight_decay": 0.0},
    "agent": dataclasses.asdict(PAPER_TRANSFER_AGENT),
    "se": {"hidden_size": 128, "hidden_layers": 1, "activation": "leaky_relu", "heads": "separate",
           "done_target": "raw"},
}
"""The RunConfig fields of preset paper_transfer (quick builds on them)."""

PRESETS: dict[str, tuple[str, dict]] = {
    "paper_transfer": ("the paper's transfer SEs: 16 centre agents with varied HPs, noise 0.05, step 1, "
                       "shaping vs the centre mean, separate SE heads, raw done", _PAPER_TRANSFER),
    "quick": ("an SE in minutes: paper_transfer's NES and SE, 4 centre agents and 8 noise directions, fixed-HP "
              "tanh 1 x 57 DDQN (at most 100 episodes)", {
        **_PAPER_TRANSFER, "vary_hp": False, "centre_agents": 4, "iterations": 10,
        "nes": {**_PAPER_TRANSFER["nes"], "population": 8},
        "agent": dataclasses.asdict(DDQNConfig(init_episodes=10, max_episodes=100)),
    }),
    "paper_opt": ("the paper's later 'opt' NES settings: noise 0.0124, step 0.148, NES ranks, one shared "
                  "83-unit SE, boolean done, fixed-HP tanh DDQN; 16 centre agents", {
        "vary_hp": False, "centre_agents": 16, "iterations": 50, "test_episodes": 10,
        "nes": {"population": 16, "noise_std": 0.0124, "step_size": 0.148, "nes_step_size": False,
                "mirrored_sampling": True, "mirrored_estimate": "best_of_pair", "shaping": "nes",
                "weight_decay": 0.0},
        "agent": dataclasses.asdict(DDQNConfig(max_episodes=100)),
        "se": {"hidden_size": 83, "hidden_layers": 1, "activation": "leaky_relu", "heads": "shared",
               "done_target": "boolean"},
    }),
}
"""Preset name -> (one-line description, the RunConfig fields it sets)."""
DEFAULT_PRESET = "paper_transfer"


def preset_fields(name: str) -> dict:
    """The RunConfig fields preset `name` sets, with its name (ConfigError for an unknown name)."""
    check_choice("preset", name, PRESETS)
    return {**PRESETS[name][1], "preset": name}


def describe() -> str:
    """The presets, one per line, for --help."""
    return "; ".join(f"{name}: {text}" for name, (text, _) in PRESETS.items())


def agent_base(agent: str, preset: str, **changes):
    """The base config of agent kind `agent` under `preset`: for DDQN and Dueling DDQN the preset's inner-loop DDQN
    (what its SEs were learned with), for other kinds their defaults; `changes` applied on top."""
    kind = get_agent_kind(agent)
    if kind.config_class != "DDQNConfig":
        return kind.defaults(**changes)
    own = dict(kind.overrides)  # what sets the kind apart (dueling=True) stays
    fields = {k: v for k, v in preset_fields(preset)["agent"].items() if k not in own}
    return kind.defaults(**{**fields, **changes})
