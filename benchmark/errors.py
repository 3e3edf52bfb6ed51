"""One error type for bad user input, and small checks that name the field and its allowed range."""
from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """Bad user input: the message names the field, the value and what is allowed."""


class OutputError(OSError):
    """A result or checkpoint file could not be written (disk full, no permission): an OSError naming the file
    (not the temporary file the atomic write used). The file's earlier version, if any, is intact."""

    @classmethod
    def of(cls, path, err: OSError) -> "OutputError":
        """The OutputError of `err` (an OSError writing `path` or its temporary file)."""
        return cls(err.errno, err.strerror or str(err), str(path))


def check_range(name: str, value, low=None, high=None, *, integer: bool = False) -> None:
    """Raise ConfigError unless low <= value <= high (either bound may be None)."""
    if integer and (isinstance(value, bool) or int(value) != value):
        raise ConfigError(f"{name}={value!r} must be an integer")
    bad = (low is not None and value < low) or (high is not None and value > high)
    if bad or value != value:  # value != value catches NaN
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ConfigError(f"{name}={value!r} is out of range; allowed: [{lo}, {hi}]")


def check_choice(name: str, value, choices: Iterable) -> None:
    """Raise ConfigError unless value is one of choices."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {choices}")
