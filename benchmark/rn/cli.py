"""`sebench train-rn ...` and `sebench rn-eval ...` subcommands."""
from __future__ import annotations


def add_parsers(sub) -> None:
    """Add the reward-network subcommands to the `sebench` subparsers `sub`."""
