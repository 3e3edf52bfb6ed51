"""One way to make a run config, shared by every command: the dataclass defaults, then a named preset, then a
`--config` JSON file, then the flags the user typed. Each layer sets only the fields it names; a field no layer
knows is refused with the layer's name and the known fields."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from benchmark.errors import ConfigError


def read_config_file(path: Path | None) -> dict:
    """The JSON object in `path` ({} when path is None)."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"--config {path}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a JSON object of config fields, got {type(data).__name__}")
    return data


def nested(flat: dict) -> dict:
    """{"nes.population": 8, "seed": 1} -> {"nes": {"population": 8}, "seed": 1}; None values are left out (a
    flag the user did not type)."""
    out: dict = {}
    for key, value in flat.items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def merge(base: dict, layer: dict, source: str, path: str = "") -> dict:
    """`base` with the fields of `layer` set (sections merged field by field); ConfigError for a field `base` lacks."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        name = f"{path}{key}"
        if key not in out:
            raise ConfigError(f"{source}: unknown field {name!r}; known: {sorted(out)}")
        if isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name!r} must be an object of {sorted(out[key])}")
            out[key] = merge(out[key], value, source, f"{name}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def layered(defaults: dict, *layers: tuple[str, dict]) -> dict:
    """`defaults` with each (source name, fields) layer merged on in turn: later layers win."""
    out = defaults
    for source, layer in layers:
        out = merge(out, layer, source)
    return out
