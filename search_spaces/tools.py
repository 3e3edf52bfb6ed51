"""Working with search spaces: validate a user's configuration, apply one onto a config dataclass, describe a
space, and read/write ConfigSpace JSON.

Naming scheme (1:1, nothing renamed or transformed): a hyperparameter's name is the path of the field it sets in
the target dataclass. Agent-only spaces (`ddqn`, `dueling_ddqn`, `ddqn_varied`) target DDQNConfig and use plain
field names (``lr``); the SE spaces (`se_cartpole`, `se_acrobot`) target RunConfig and use dotted paths
(``nes.step_size``, ``agent.lr``, ``se.hidden_size``).
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import ConfigSpace as CS
from ConfigSpace.hyperparameters import (CategoricalHyperparameter, Constant, FloatHyperparameter,
                                         IntegerHyperparameter, OrdinalHyperparameter)

from benchmark.errors import ConfigError


def plain(value):
    """numpy scalars (and other int/float/str/bool subclasses) -> the exact Python builtin."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        value = value.item()
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def flatten(config: dict, prefix: str = "") -> dict:
    """{"nes": {"step_size": 0.2}} -> {"nes.step_size": 0.2}; already flat dicts come back unchanged."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def legal_range(hp) -> str:
    """The legal values of a hyperparameter, in words."""
    if isinstance(hp, (FloatHyperparameter, IntegerHyperparameter)):
        kind = "integer" if isinstance(hp, IntegerHyperparameter) else "float"
        return f"[{plain(hp.lower)}, {plain(hp.upper)}] ({kind}{', log scale' if hp.log else ''})"
    if isinstance(hp, CategoricalHyperparameter):
        return f"one of {[plain(c) for c in hp.choices]}"
    if isinstance(hp, OrdinalHyperparameter):
        return f"one of {[plain(c) for c in hp.sequence]}"
    if isinstance(hp, Constant):
        return f"exactly {plain(hp.value)!r}"
    return type(hp).__name__


def _same_choice(value, choice) -> bool:
    # strict: True is not 1, "1" is not 1
    return type(value) is type(plain(choice)) and value == plain(choice)


def _check_value(name: str, hp, value) -> None:
    bad = ConfigError(f"{name}={value!r} is not allowed; legal: {legal_range(hp)}")
    if isinstance(hp, (FloatHyperparameter, IntegerHyperparameter)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if isinstance(hp, IntegerHyperparameter) and (not math.isfinite(value) or int(value) != value):
            raise ConfigError(f"{name}={value!r} must be an integer; legal: {legal_range(hp)}")
        if not (plain(hp.lower) <= value <= plain(hp.upper)):  # also refuses NaN
            raise ConfigError(f"{name}={value!r} is out of range; legal: {legal_range(hp)}")
    elif isinstance(hp, CategoricalHyperparameter):
        if not any(_same_choice(value, c) for c in hp.choices):
            raise bad
    elif isinstance(hp, OrdinalHyperparameter):
        if not any(_same_choice(value, c) for c in hp.sequence):
            raise bad
    elif isinstance(hp, Constant):
        if not _same_choice(value, hp.value):
            raise bad


def validate_config(space: CS.ConfigurationSpace, config: dict, *, complete: bool = False) -> dict:
    """Check a user's configuration (flat names or nested sections) against `space`.

    Returns the flat configuration with plain Python values. Raises ConfigError naming the hyperparameter, the
    value and the legal range; an unknown name lists the known ones. With `complete`, every active
    hyperparameter must be given (conditions and forbidden clauses are checked too).
    """
    if not isinstance(config, dict):
        raise ConfigError(f"a configuration must be a JSON object of hyperparameter values, not {type(config).__name__}")
    flat = {k: plain(v) for k, v in flatten(config).items()}
    known = list(space.keys())
    label = f" of space {space.name!r}" if space.name else ""
    for name, value in flat.items():
        if name not in space:
            raise ConfigError(f"{name!r} is not a hyperparameter{label}; known: {known}")
        _check_value(name, space[name], value)
    if complete:
        missing = [n for n in known if n not in flat and not space.parent_conditions_of[n]]
        if missing:
            raise ConfigError(f"missing hyperparameter(s) {missing}{label}")
        try:
            CS.Configuration(space, values=flat)
        except (ValueError, TypeError) as err:  # inactive/forbidden combinations
            raise ConfigError(f"configuration not allowed in space{label}: {err}") from None
    return flat


def apply_config(base, config: dict, _prefix: str = ""):
    """`base` (a frozen config dataclass) with each hyperparameter set on the field its name is the path of.

    ``apply_config(RunConfig(), {"nes.step_size": 0.2, "agent.lr": 1e-3})``; values are used as given.
    """
    groups: dict[str, dict] = {}
    direct = {}
    names = {f.name for f in dataclasses.fields(base)}
    for name, value in flatten(config).items():
        head, _, rest = name.partition(".")
        if head not in names:
            raise ConfigError(f"hyperparameter {_prefix + name!r} does not name a field of {type(base).__name__}; "
                              f"fields: {sorted(names)}")
        if rest:
            groups.setdefault(head, {})[rest] = value
        else:
            direct[head] = plain(value)
    for head, sub in groups.items():
        child = getattr(base, head)
        if not dataclasses.is_dataclass(child):
            raise ConfigError(f"{_prefix + head!r} of {type(base).__name__} is not a section; "
                              f"use the name {_prefix + head!r}")
        direct[head] = apply_config(child, sub, f"{_prefix}{head}.")
    return dataclasses.replace(base, **direct)


def describe(space: CS.ConfigurationSpace) -> list[dict]:
    """One row per hyperparameter: name, type, legal range, default."""
    return [{"name": hp.name, "type": type(hp).__name__.replace("Hyperparameter", ""),
             "legal": legal_range(hp), "default": plain(hp.default_value)} for hp in space.values()]


def to_json(space: CS.ConfigurationSpace) -> str:
    """ConfigSpace's JSON form of the space."""
    return json.dumps(space.to_serialized_dict(), indent=2)


def from_json(text: str) -> CS.ConfigurationSpace:
    try:
        return CS.ConfigurationSpace.from_serialized_dict(json.loads(text))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"not a ConfigSpace JSON space: {err}") from None


def load_space(name_or_path: str, seed: int | None = None) -> tuple[str, CS.ConfigurationSpace]:
    """A registered space by name, or a ConfigSpace JSON file (e.g. an edited `sebench spaces export`)."""
    from search_spaces import get_space, names

    path = Path(name_or_path)
    if name_or_path not in names() and (path.suffix == ".json" or path.exists()):
        try:
            text = path.read_text()
        except OSError as err:
            raise ConfigError(f"space file {path}: {err.strerror}") from None
        space = from_json(text)
        if seed is not None:
            space.seed(seed)
        return (space.name or path.stem), space
    return name_or_path, get_space(name_or_path, seed=seed)


def space_task(name: str) -> str | None:
    """The real task a registered SE space is for (its module's TASK), else None."""
    from search_spaces import names, space_module

    if name not in names():
        return None
    return getattr(space_module(name), "TASK", None)
