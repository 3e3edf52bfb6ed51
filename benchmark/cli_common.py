"""Arguments that mean the same, with the same default, in every `sebench` command."""
from __future__ import annotations

import argparse
from pathlib import Path

SOLVED_HELP = ("the task's solved threshold (a mean test return) where its gymnasium spec has none, or to override "
               "the spec's")


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (else the usual usage error, exit 2, naming the flag)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is out of range; allowed: [1, inf)")
    return value


def add_workers(p, what: str = "worker processes") -> None:
    """--workers: local processes that run the jobs (default: all cores; 1: serial, in this process)."""
    p.add_argument("--workers", type=positive_int, default=None, help=f"{what} (default: all cores; 1: serial)")


def add_preset(p, what: str) -> None:
    """--preset: a named SE recipe (benchmark.nes.presets)."""
    from benchmark.nes.presets import DEFAULT_PRESET, PRESETS, describe

    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help=f"{what} (default {DEFAULT_PRESET}): {describe()}")


def add_run_files(p, resume_help: str = "continue the run in --out from its last checkpoint") -> None:
    """--out, --resume and --quiet of a resumable run."""
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help=resume_help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def workers_or_all(workers: int | None) -> int:
    """The --workers value, or every core where it was not given."""
    from benchmark.parallel import default_workers

    return default_workers() if workers is None else workers
