"""One way to make a run config, shared by every command: the dataclass defaults, then a named preset, then a
`--config` JSON file, then the flags the user typed. Each layer sets only the fields it names; a field no layer
knows is refused with the layer's name and the known fields, and a value of the wrong type (checked against the
config dataclass's field types: `check_fields`) with the layer's name, the field, the value and the type wanted.
`differences` names the fields in which two configs differ (the --resume refusals)."""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import types
import typing
from pathlib import Path

from benchmark.errors import ConfigError


def read_config_file(path: Path | None) -> dict:
    """The JSON object in `path` ({} when path is None); a ConfigError for a file that cannot be read, is not
    UTF-8, is not JSON (with line and column), repeats a field or is not an object."""
    if path is None:
        return {}
    source = f"--config {path}"
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{source}: cannot read it: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{source}: not UTF-8 text (byte {raw[err.start]:#04x} at offset {err.start}); save it "
                          "as UTF-8 JSON") from None
    try:
        data = json.loads(text, object_pairs_hook=functools.partial(_no_repeats, source),
                          parse_constant=functools.partial(_no_constant, source))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object of config fields ({{...}}), got {_json_kind(data)}")
    return data


def _no_repeats(source: str, pairs: list) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"{source}: field {key!r} is given twice")
        seen[key] = value
    return seen


def _no_constant(source: str, name: str):
    raise ConfigError(f"{source}: {name} is not a JSON number; give a finite number")


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
    if not isinstance(layer, dict):
        raise ConfigError(f"{source}: {path.rstrip('.') or 'the config'} must be a JSON object, got "
                          f"{_json_kind(layer)}")
    out = copy.deepcopy(base)
    for key, value in layer.items():
        name = f"{path}{key}"
        if key not in out:
            raise ConfigError(f"{source}: unknown field {name!r}; known: {sorted(out)}")
        if isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name}={value!r} must be an object of {sorted(out[key])}")
            out[key] = merge(out[key], value, source, f"{name}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def layered(defaults: dict, *layers: tuple[str, dict], schema: type | None = None) -> dict:
    """`defaults` with each (source name, fields) layer merged on in turn: later layers win. With `schema` (the
    config dataclass) every layer is type-checked against its fields first (`check_fields`)."""
    out = defaults
    for source, layer in layers:
        if schema is not None:
            layer = check_fields(schema, layer, source)
        out = merge(out, layer, source)
    return out


# -- types --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, object) for f in dataclasses.fields(cls)}


def check_fields(schema: type, layer, source: str, path: str = "") -> dict:
    """`layer` (some fields of dataclass `schema`, sections as objects) checked against the field types: a
    ConfigError naming `source`, the field, its value and the type wanted for an unknown field or a wrong type;
    returns a copy with ints where ints are wanted (16.0 -> 16) and floats where floats are (1 -> 1.0).

    bool fields take JSON true/false only (not "no", not 0); int fields an integer (or an integral number); float
    fields any number; str fields a string; X | None also null; a nested dataclass an object of its fields."""
    if not isinstance(layer, dict):
        what = path.rstrip(".") or "the config"
        raise ConfigError(f"{source}: {what} must be a JSON object of {sorted(_field_types(schema))}, got "
                          f"{_json_kind(layer)} {layer!r}")
    types_ = _field_types(schema)
    out = {}
    for key, value in layer.items():
        name = f"{path}{key}"
        if key not in types_:
            raise ConfigError(f"{source}: unknown field {name!r}; known: {sorted(types_)}")
        out[key] = _check_value(types_[key], value, name, source)
    return out


def _check_value(tp, value, name: str, source: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        options = [t for t in options if t is not type(None)]
        if len(options) == 1:
            try:
                return _check_value(options[0], value, name, source)
            except ConfigError as err:
                if type(None) in typing.get_args(tp):
                    raise ConfigError(f"{err} (or null)") from None
                raise
        for option in options:
            try:
                return _check_value(option, value, name, source)
            except ConfigError:
                pass
        raise _wrong(value, name, source, " or ".join(_type_name(t) for t in typing.get_args(tp)))
    if origin is typing.Literal:
        allowed = list(typing.get_args(tp))
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ConfigError(f"{source}: {name}={value!r} is not allowed; choose one of {allowed}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {name}={value!r} is not a boolean; use JSON true or false (no quotes)")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
            return int(value)
        raise _wrong(value, name, source, "an integer (int)")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _wrong(value, name, source, "a number (float)")
    if tp is str:
        if isinstance(value, str):
            return value
        raise _wrong(value, name, source, "a string (str)")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {name}={value!r} must be a JSON object of {sorted(_field_types(tp))}")
        return check_fields(tp, value, source, f"{name}.")
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise _wrong(value, name, source, "a JSON object")
    if tp is tuple or origin in (tuple, list) or tp is list:
        if isinstance(value, (list, tuple)):
            return value
        raise _wrong(value, name, source, "a JSON array")
    return value  # object, Any and types the config layer does not know: the dataclass checks them


def _wrong(value, name: str, source: str, wanted: str) -> ConfigError:
    return ConfigError(f"{source}: {name}={value!r} is {_json_kind(value)}; expected {wanted}")


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a non-integral number" if isinstance(value, float) and not value.is_integer() else "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array (list)"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _type_name(tp) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


# -- differences --------------------------------------------------------------------------------------------
_MISSING = "<absent>"


STORED_VS_REQUESTED = "{field}: stored {a}, requested {b}"


def differences(stored, requested, path: str = "", wording: str = STORED_VS_REQUESTED) -> list[str]:
    """One line per (nested) field in which two configs differ (as JSON: tuples and lists compare equal), worded
    by `wording` with {field} (dotted path), {a} and {b}: by default 'field: stored X, requested Y'."""
    stored, requested = _plain(stored), _plain(requested)
    if not (isinstance(stored, dict) and isinstance(requested, dict)):
        return [] if stored == requested else [wording.format(field=path.rstrip(".") or "config", a=_short(stored),
                                                              b=_short(requested))]
    out = []
    for key in sorted(set(stored) | set(requested), key=str):
        a, b = stored.get(key, _MISSING), requested.get(key, _MISSING)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{path}{key}.", wording)
        elif a != b:
            out.append(wording.format(field=f"{path}{key}", a=_short(a), b=_short(b)))
    return out


def describe_differences(stored, requested, limit: int = 8) -> str:
    """differences() joined by '; ' (the first `limit`, then how many more)."""
    found = differences(stored, requested)
    text = "; ".join(found[:limit])
    return text + (f"; and {len(found) - limit} more" if len(found) > limit else "") if found else "(none)"


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def _short(value, width: int = 80) -> str:
    text = value if value is _MISSING else json.dumps(value)
    return text if len(text) <= width else text[:width - 3] + "..."
