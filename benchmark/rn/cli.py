"""`sebench train-rn ...` and `sebench rn-eval ...` subcommands."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli_common import add_run_files, add_workers, workers_or_all
from benchmark.config_layers import check_fields, layered, nested, read_config_file
from benchmark.errors import ConfigError


def add_parsers(sub) -> None:
    """Add the reward-network subcommands to the `sebench` subparsers `sub`."""
    _add_train_rn(sub)
    _add_rn_eval(sub)


def _add_common(p, task_help: str) -> None:
    """The arguments train-rn and rn-eval share (flags left at None are taken from the config)."""
    p.add_argument("--task", default=None, help=task_help)
    p.add_argument("--max-episodes", type=int, default=None, help="training episode budget of every agent")
    p.add_argument("--seed", type=int, default=None, help="root seed (default 0)")
    p.add_argument("--vary-hp", action="store_const", const=True, default=None,
                   help="agents sample their hyperparameters (the kind's varied space)")
    p.add_argument("--engine", choices=["batched", "scalar"], default=None,
                   help="batched (default): DDQN agents on CartPole/Acrobot and TD3 agents on "
                        "MountainCarContinuous train in lockstep; scalar: one at a time")
    add_workers(p)


def _add_train_rn(sub) -> None:
    from benchmark.envs.reward import RewardMode

    p = sub.add_parser("train-rn", help="learn one reward network with NES (fitness: real steps to solve)")
    _add_common(p, "real task (default CliffWalking-v1)")
    p.add_argument("--mode", default=None, choices=[m.value for m in RewardMode if m is not RewardMode.REAL],
                   help="reward-network mode (default potential_additive)")
    p.add_argument("--agent", default=None, help="inner-loop agent kind (default q_learning; sarsa, ddqn, td3, ppo, "
                                                 "...; it must fit the task's actions)")
    p.add_argument("--iterations", type=int, default=None, help="NES iterations, a fixed number (default 50)")
    p.add_argument("--population", type=int, default=None, help="NES noise directions P (2P+1 RNs scored/iteration; "
                                                                "default 16)")
    p.add_argument("--noise-std", type=float, default=None, help="NES noise (default: the config's, 0.1)")
    p.add_argument("--step-size", type=float, default=None, help="NES step size (default: the config's, 0.5)")
    p.add_argument("--agents-per-member", type=int, default=None, help="agents per RN; fitness is their mean")
    p.add_argument("--config", type=Path, help="JSON file with RNRunConfig fields (nes/rn/agent_config sections); "
                                               "the flags typed set over it")
    add_run_files(p)
    p.set_defaults(func=_cmd_train_rn)


def rn_run_from_args(args):
    """The RNRunConfig of the train-rn arguments: RNRunConfig's defaults, then --config's fields, then the flags
    typed (those left at None are not). The mode and the episode budget are given once: rn.mode follows the
    mode, agent_config.max_episodes the budget."""
    from benchmark.agents.registry import get_agent_kind
    from benchmark.rn.trainer import RNRunConfig

    source = f"--config {args.config}"
    base = check_fields(RNRunConfig, read_config_file(args.config), source)  # names, types (not agent_config's)
    flags = nested({"task": args.task, "mode": args.mode, "agent": args.agent, "iterations": args.iterations,
                    "seed": args.seed, "vary_hp": args.vary_hp, "max_episodes": args.max_episodes,
                    "agents_per_member": args.agents_per_member, "engine": args.engine,
                    "nes.population": args.population, "nes.noise_std": args.noise_std,
                    "nes.step_size": args.step_size})
    base = {**base, **{k: v for k, v in flags.items() if k != "nes"}}
    base["nes"] = layered(RNRunConfig().to_dict()["nes"], (source, base.get("nes", {})),
                          ("flags", flags.get("nes", {})))
    agent_config = base.get("agent_config")
    if agent_config is not None:  # its fields are those of the agent kind's config class
        if not isinstance(agent_config, dict):
            raise ConfigError(f"{source}: agent_config={agent_config!r} must be a JSON object of the agent's "
                              "config fields, or null")
        kind = get_agent_kind(base.get("agent", RNRunConfig.agent))
        base["agent_config"] = check_fields(kind.config_type(), agent_config, source, "agent_config.")
    if isinstance(base.get("rn"), dict) and "mode" in base:
        base["rn"] = {**base["rn"], "mode": base["mode"]}
    agent_config = base.get("agent_config")
    if isinstance(agent_config, dict):  # the budget is given once: --max-episodes, else the agent_config's
        if "max_episodes" in base:
            base["agent_config"] = {**agent_config, "max_episodes": base["max_episodes"]}
        elif "max_episodes" in agent_config:
            base["max_episodes"] = agent_config["max_episodes"]
    try:
        return RNRunConfig.from_dict({**RNRunConfig().to_dict(), "rn": None, "agent_config": None, **base})
    except TypeError as err:
        raise ConfigError(f"{source}: {err}") from None


def _cmd_train_rn(args) -> int:
    from benchmark.rn.trainer import train_rn

    run = rn_run_from_args(args)
    state = train_rn(run, args.out, workers=workers_or_all(args.workers), resume=args.resume,
                     progress=not args.quiet)
    last = state.history[-1] if state.history else {}
    print(f"{run.task} {run.mode} ({run.agent}): {state.iteration} NES iterations; last centre score "
          f"{last.get('centre_score', float('nan')):.0f}, best {state.best_score:.0f} (iteration "
          f"{state.best_iteration}); {state.elapsed_s:.0f} s; {state.real_steps} real-environment steps; "
          f"files in {args.out}")
    return 0


def _add_rn_eval(sub) -> None:
    p = sub.add_parser("rn-eval", help="agents trained with learned RNs vs the real reward vs ICM: steps to solve")
    _add_common(p, "real task (default CliffWalking-v1)")
    p.add_argument("--rns", nargs="*", default=[], metavar="[LABEL=]DIR", help="train-rn output folders")
    p.add_argument("--agents", default="q_learning,sarsa", help="comma-separated agent kinds")
    p.add_argument("--agents-count", type=int, default=10, help="agents per (setting, agent kind)")
    p.add_argument("--test-episodes", type=int, default=1)
    p.add_argument("--no-icm", action="store_true", help="leave out the ICM baseline")
    p.add_argument("--stop-at-solved", action="store_true",
                   help="end training at the threshold (cheaper; curves end there) instead of the full budget")
    add_run_files(p, resume_help="continue the run in --out; finished cells are kept")
    p.set_defaults(func=_cmd_rn_eval)


def _cmd_rn_eval(args) -> int:
    from analysis.rn import analyze_rn_eval
    from benchmark.rn.evaluate import RNEvalConfig, run_rn_eval

    typed = nested({"task": args.task, "max_episodes": args.max_episodes, "seed": args.seed,
                    "vary_hp": bool(args.vary_hp), "engine": args.engine})  # rn-eval: fixed HPs unless --vary-hp
    config = RNEvalConfig(agents=tuple(a for a in args.agents.split(",") if a), agents_count=args.agents_count,
                          test_episodes=args.test_episodes, icm=not args.no_icm, full_curves=not args.stop_at_solved,
                          **typed)
    run_rn_eval(config, args.rns, args.out, workers=workers_or_all(args.workers), resume=args.resume,
                progress=not args.quiet)
    paths = analyze_rn_eval(args.out)
    print((args.out / "rn_summary.md").read_text())
    print(f"tables and figures: {', '.join(p.name for p in paths if p.suffix != '.pdf')} in {args.out}")
    return 0
