"""`sebench ...` subcommands."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from benchmark.errors import ConfigError


def _add_train_se(sub) -> None:
    p = sub.add_parser("train-se", help="learn one synthetic environment with NES")
    p.add_argument("--task", default="CartPole-v0")
    p.add_argument("--population", type=int, default=16, help="NES noise directions P (2P+1 agents/iteration)")
    p.add_argument("--iterations", type=int, default=50, help="NES iteration limit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores; 1: serial)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--vary-hp", action="store_true", help="each member's agent samples its hyperparameters")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--engine", choices=["batched", "scalar"], default="batched")
    p.add_argument("--config", type=Path, help="JSON file with RunConfig fields (nes/agent/se sections)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train_se)


def run_config_from_args(args) -> "RunConfig":
    from benchmark.nes.trainer import RunConfig

    base = RunConfig().to_dict()
    if args.config:
        try:
            user = json.loads(args.config.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"--config {args.config}: {err}") from None
        for key, value in user.items():
            if key not in base:
                raise ConfigError(f"--config: unknown field {key!r}; known: {sorted(base)}")
            if isinstance(base[key], dict):
                unknown = set(value) - set(base[key])
                if unknown:
                    raise ConfigError(f"--config: unknown field(s) {sorted(unknown)} in {key!r}; "
                                      f"known: {sorted(base[key])}")
                base[key].update(value)
            else:
                base[key] = value
    base.update(task=args.task, iterations=args.iterations, seed=args.seed, engine=args.engine)
    base["vary_hp"] = base["vary_hp"] or args.vary_hp
    base["nes"]["population"] = args.population
    return RunConfig.from_dict(base)


def _cmd_train_se(args) -> int:
    from benchmark.nes.trainer import train_se

    run = run_config_from_args(args)
    state = train_se(run, args.out, workers=args.workers, resume=args.resume, progress=not args.quiet)
    verdict = "solved" if state.solved else "not solved"
    print(f"{run.task}: {verdict} after {state.iteration} NES iterations; best centre score "
          f"{state.best_score:.1f} (iteration {state.best_iteration}); {state.elapsed_s:.0f} s; "
          f"{state.real_steps} real-environment steps; files in {args.out}")
    return 0


def _add_analyze(sub) -> None:
    p = sub.add_parser("analyze", help="figures of SE training runs (history.csv of each folder)")
    p.add_argument("runs", type=Path, nargs="+", help="train-se output folders")
    p.add_argument("--out", type=Path, help="where figures go (default: the first run folder)")
    p.set_defaults(func=_cmd_analyze)


def _cmd_analyze(args) -> int:
    from analysis.nes_curves import plot_runs
    from benchmark import io

    for run in args.runs:
        if not (run / io.HISTORY).exists():
            raise ConfigError(f"{run} holds no {io.HISTORY}: not a train-se run folder")
    for path in plot_runs(args.runs, args.out or args.runs[0]):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sebench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_se(sub)
    _add_analyze(sub)
    from benchmark.hpo.cli import add_parsers as add_hpo_parsers
    add_hpo_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"sebench: error: {err}", file=sys.stderr)
        return 2
    except BrokenProcessPool as err:
        print(f"sebench: error: a worker process died ({err}); the last finished iteration is checkpointed: "
              "rerun the same command with --resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sebench: interrupted; the last finished iteration is checkpointed (use --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
