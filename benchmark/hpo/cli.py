"""`sebench hpo ...` and `sebench spaces ...` subcommands (BOHB sweeps over ConfigSpace search spaces)."""
from __future__ import annotations


def add_parsers(sub) -> None:
    """Add the hpo and spaces subcommands to the `sebench` subparsers `sub`."""
