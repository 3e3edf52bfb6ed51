"""`sebench train-rn ...` and `sebench rn-eval ...` subcommands."""
from __future__ import annotations

import json
from pathlib import Path

from benchmark.errors import ConfigError


def add_parsers(sub) -> None:
    """Add the reward-network subcommands to the `sebench` subparsers `sub`."""
    _add_train_rn(sub)
    _add_rn_eval(sub)


def _add_train_rn(sub) -> None:
    from benchmark.envs.reward import RewardMode

    p = sub.add_parser("train-rn", help="learn one reward network with NES (fitness: real steps to solve)")
    p.add_argument("--task", default="CliffWalking-v1")
    p.add_argument("--mode", default="potential_additive",
                   choices=[m.value for m in RewardMode if m is not RewardMode.REAL])
    p.add_argument("--agent", default="q_learning",
                   help="inner-loop agent kind (q_learning, sarsa, ddqn, td3, ppo, ...; it must fit the task's actions)")
    p.add_argument("--iterations", type=int, default=50, help="NES iterations (a fixed number)")
    p.add_argument("--population", type=int, default=16, help="NES noise directions P (2P+1 RNs scored/iteration)")
    p.add_argument("--noise-std", type=float, default=None, help="NES noise (default: the config's, 0.1)")
    p.add_argument("--step-size", type=float, default=None, help="NES step size (default: the config's, 0.5)")
    p.add_argument("--max-episodes", type=int, default=None, help="training episode budget of every agent")
    p.add_argument("--agents-per-member", type=int, default=None, help="agents per RN; fitness is their mean")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vary-hp", action="store_true", help="agents sample their hyperparameters (varied space)")
    p.add_argument("--config", type=Path, help="JSON file with RNRunConfig fields (nes/rn/agent_config sections)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (1: serial, in this process)")
    p.add_argument("--engine", choices=["batched", "scalar"], default=None,
                   help="batched (default): DDQN agents on CartPole/Acrobot and TD3 agents on "
                        "MountainCarContinuous train in lockstep; scalar: one at a time")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_train_rn)


def rn_run_from_args(args):
    """The RNRunConfig of the train-rn arguments: --config's fields, then the flags given on the command line."""
    from benchmark.rn.trainer import RNRunConfig

    base = {}
    if args.config:
        try:
            base = json.loads(args.config.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"--config {args.config}: {err}") from None
        known = set(RNRunConfig.__dataclass_fields__)
        if not isinstance(base, dict) or set(base) - known:
            raise ConfigError(f"--config: unknown field(s) {sorted(set(base) - known)}; known: {sorted(known)}")
    base.update(task=args.task, mode=args.mode, agent=args.agent, iterations=args.iterations, seed=args.seed)
    base["vary_hp"] = base.get("vary_hp", False) or args.vary_hp
    for flag, field in (("max_episodes", "max_episodes"), ("agents_per_member", "agents_per_member"),
                        ("engine", "engine")):
        if getattr(args, flag) is not None:
            base[field] = getattr(args, flag)
    nes = {**RNRunConfig().to_dict()["nes"], **base.get("nes", {}), "population": args.population}
    for flag in ("noise_std", "step_size"):
        if getattr(args, flag) is not None:
            nes[flag] = getattr(args, flag)
    base["nes"] = nes
    if isinstance(base.get("rn"), dict):
        base["rn"] = {"mode": args.mode, **base["rn"]}
    agent_config = base.get("agent_config")
    if isinstance(agent_config, dict):  # the budget is given once: --max-episodes, else the agent_config's
        if "max_episodes" in base:
            base["agent_config"] = {**agent_config, "max_episodes": base["max_episodes"]}
        elif "max_episodes" in agent_config:
            base["max_episodes"] = agent_config["max_episodes"]
    try:
        return RNRunConfig.from_dict(base)
    except TypeError as err:
        raise ConfigError(f"--config: {err}") from None


def _cmd_train_rn(args) -> int:
    from benchmark.rn.trainer import train_rn

    run = rn_run_from_args(args)
    state = train_rn(run, args.out, workers=args.workers, resume=args.resume, progress=not args.quiet)
    last = state.history[-1] if state.history else {}
    print(f"{run.task} {run.mode} ({run.agent}): {state.iteration} NES iterations; last centre score "
          f"{last.get('centre_score', float('nan')):.0f}, best {state.best_score:.0f} (iteration "
          f"{state.best_iteration}); {state.elapsed_s:.0f} s; {state.real_steps} real-environment steps; "
          f"files in {args.out}")
    return 0


def _add_rn_eval(sub) -> None:
    p = sub.add_parser("rn-eval", help="agents trained with learned RNs vs the real reward vs ICM: steps to solve")
    p.add_argument("--task", default="CliffWalking-v1")
    p.add_argument("--rns", nargs="*", default=[], metavar="[LABEL=]DIR", help="train-rn output folders")
    p.add_argument("--agents", default="q_learning,sarsa", help="comma-separated agent kinds")
    p.add_argument("--agents-count", type=int, default=10, help="agents per (setting, agent kind)")
    p.add_argument("--max-episodes", type=int, default=100, help="training episode budget per agent")
    p.add_argument("--test-episodes", type=int, default=1)
    p.add_argument("--vary-hp", action="store_true", help="agents sample their hyperparameters (varied space)")
    p.add_argument("--no-icm", action="store_true", help="leave out the ICM baseline")
    p.add_argument("--stop-at-solved", action="store_true",
                   help="end training at the threshold (cheaper; curves end there) instead of the full budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--engine", choices=["batched", "scalar"], default="batched",
                   help="batched: DDQN agents on CartPole/Acrobot and TD3 agents on MountainCarContinuous train in "
                        "lockstep; scalar: one at a time")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue the run in --out; finished cells are kept")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_rn_eval)


def _cmd_rn_eval(args) -> int:
    from analysis.rn import analyze_rn_eval
    from benchmark.rn.evaluate import RNEvalConfig, run_rn_eval

    config = RNEvalConfig(task=args.task, agents=tuple(a for a in args.agents.split(",") if a),
                          agents_count=args.agents_count, max_episodes=args.max_episodes,
                          test_episodes=args.test_episodes, vary_hp=args.vary_hp, icm=not args.no_icm,
                          full_curves=not args.stop_at_solved, seed=args.seed, engine=args.engine)
    run_rn_eval(config, args.rns, args.out, workers=args.workers, resume=args.resume, progress=not args.quiet)
    paths = analyze_rn_eval(args.out)
    print((args.out / "rn_summary.md").read_text())
    print(f"tables and figures: {', '.join(p.name for p in paths if p.suffix != '.pdf')} in {args.out}")
    return 0
