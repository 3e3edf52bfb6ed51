"""`sebench ...` subcommands."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.cli_common import SOLVED_HELP, add_preset, add_run_files, add_workers, positive_int, workers_or_all
from benchmark.errors import ConfigError, OutputError
from benchmark.interrupts import Terminated, signal_of, stop_signals
from benchmark.parallel import WorkerDied

if TYPE_CHECKING:
    from benchmark.nes.trainer import RunConfig


def _add_run_arguments(p) -> None:
    """Arguments of one NES run, shared by train-se and train-ses. The run's config is made in layers
    (`run_config_from_args`): RunConfig's defaults, --preset, --config, then the flags typed (default None: unset)."""
    add_preset(p, "named recipe")
    p.add_argument("--config", type=Path, help="JSON file with RunConfig fields (nes/agent/se sections); set over "
                                               "the preset's, under the flags typed")
    p.add_argument("--task", default=None, help="real task: any gymnasium id with flat Box observations and Discrete "
                                                "actions (default CartPole-v0)")
    p.add_argument("--solved", type=float, default=None, help=SOLVED_HELP)
    p.add_argument("--population", type=int, default=None, help="NES noise directions P (2P member agents per "
                                                                "iteration; preset: 16)")
    p.add_argument("--centre-agents", type=int, default=None, metavar="K",
                   help="agents that score the centre; their mean is the centre's score and the solved criterion "
                        "(preset: 16)")
    p.add_argument("--iterations", type=int, default=None, help="NES iteration limit (preset: 50)")
    hp = p.add_mutually_exclusive_group()
    hp.add_argument("--vary-hp", dest="vary_hp", action="store_const", const=True, default=None,
                    help="every agent samples its hyperparameters (paper_transfer's setting)")
    hp.add_argument("--fixed-hp", dest="vary_hp", action="store_const", const=False,
                    help="every agent uses the preset's hyperparameters (paper_opt's setting)")
    p.add_argument("--engine", choices=["batched", "scalar"], default=None, help="default batched (lockstep)")
    add_workers(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_train_se(sub) -> None:
    p = sub.add_parser("train-se", help="learn one synthetic environment with NES")
    _add_run_arguments(p)
    p.add_argument("--seed", type=int, default=None, help="root seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.set_defaults(func=_cmd_train_se)


def _add_train_ses(sub) -> None:
    p = sub.add_parser("train-ses", help="learn a set of SEs with distinct seeds into one folder (resumable); a seed "
                                         "that has not solved within --iterations is given up and counts against "
                                         "the set's yield")
    _add_run_arguments(p)
    p.add_argument("--count", type=int, required=True, help="number of SEs (seeds seed-start, seed-start+1, ...)")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--keep-unsolved", action="store_true",
                   help="a seed that has not solved within --iterations still gives the set its best centre's SE "
                        "(default: it is given up, as in the paper, and the next seed is tried)")
    p.add_argument("--give-up-after", type=int, default=0, metavar="K",
                   help="abandon a seed after K consecutive NES iterations in which no member beat --give-up-below, "
                        "and try the next seed instead (0: never give up)")
    p.add_argument("--give-up-below", type=float, default=None,
                   help="score floor of --give-up-after (default: the task's random-policy return, e.g. 22.5 on "
                        "CartPole-v0)")
    p.add_argument("--max-seeds", type=int, default=None, help="seeds to try at most with --give-up-after "
                                                                 "(default 3 x count)")
    p.add_argument("--concurrent-seeds", type=int, default=1, metavar="N",
                   help="seeds that train at once on the same workers, so that one run's jobs fill the workers "
                        "another leaves idle at the end of its NES iterations (the set is the same as with 1)")
    p.add_argument("--scheduler", help="dask.distributed scheduler address (tcp://HOST:PORT); default: local "
                                       "processes; set --workers to the cluster's worker threads")
    p.set_defaults(func=_cmd_train_ses)


def _cmd_train_ses(args) -> int:
    from benchmark.errors import check_range
    from benchmark.nes.trainer import GiveUp
    from benchmark import schema
    from benchmark.se_sets import train_ses

    check_range("count", args.count, 1, 100_000, integer=True)
    check_range("give_up_after", args.give_up_after, 0, 100_000, integer=True)
    args.seed = args.seed_start
    run = run_config_from_args(args)
    give_up = GiveUp(args.give_up_after, args.give_up_below) if args.give_up_after else None
    folders = train_ses(run, args.out, args.count, args.seed_start, workers=args.workers, progress=not args.quiet,
                        scheduler=args.scheduler, give_up=give_up, max_seeds=args.max_seeds,
                        concurrent=args.concurrent_seeds, solved_only=not args.keep_unsolved)
    meta = json.loads((args.out / schema.SET_META).read_text())
    print(f"{run.task}: {len(folders)} solved SEs of {meta['tried']} seeds tried (yield {meta['yield']:.0%}; given "
          f"up: {meta['given_up_seeds']}); files in {args.out}")
    return 0


def _add_fit_models(sub) -> None:
    p = sub.add_parser("fit-models", help="supervised baseline: fit the SE architecture to real transitions")
    p.add_argument("--task", default="CartPole-v0")
    p.add_argument("--solved", type=float, default=None,
                   help="the task's threshold where its spec has none (collectors stop there; else at their budget)")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed-start", type=int, default=0)
    add_preset(p, "the SE recipe whose SE architecture is fitted, to transitions of agents around its inner-loop DDQN")
    add_workers(p, "models fitted at once")
    p.add_argument("--out", type=Path, required=True, help="output folder (models se_<seed>/; finished ones are kept)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_fit_models)


def _cmd_fit_models(args) -> int:
    from benchmark.errors import check_range
    from benchmark.supervised import ModelFitConfig, fit_models

    check_range("count", args.count, 1, 100_000, integer=True)
    config = ModelFitConfig.for_preset(args.preset, task=args.task, solved=args.solved)
    folders = fit_models(config, args.out, args.count, args.seed_start,
                         progress=not args.quiet, workers=workers_or_all(args.workers))
    print(f"{len(folders)} supervised models of {args.task} in {args.out}")
    return 0


def _add_transfer(sub) -> None:
    p = sub.add_parser("transfer", help="the transfer protocol: agents trained on SEs vs on the real task")
    p.add_argument("--task", default="CartPole-v0")
    p.add_argument("--solved", type=float, default=None, help=SOLVED_HELP)
    add_preset(p, "the SE recipe whose inner-loop DDQN is the base of the DDQN and Dueling DDQN agents "
                            "(as in the paper: the SEs' own agent config)")
    p.add_argument("--ses", nargs="*", default=[], metavar="[LABEL=]DIR",
                   help="SE sets (train-ses / fit-models folders); the real baseline runs too unless --no-real")
    p.add_argument("--no-real", action="store_true",
                   help="skip the real-task setting: run the SE settings here and the real baseline in another "
                        "process or session, then combine both with --reuse-cells (it copies, computes nothing)")
    p.add_argument("--agents", default="ddqn,dueling_ddqn,td3_discrete", help="comma-separated agent kinds")
    p.add_argument("--num-envs", type=int, default=40)
    p.add_argument("--agents-per-env", type=int, default=10)
    p.add_argument("--episodes", type=int, default=10, help="real-task test episodes per agent")
    p.add_argument("--max-episodes", type=int, default=1000, help="training episode limit per agent")
    p.add_argument("--fixed-agent-hp", action="store_true", help="agents keep their default hyperparameters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=["batched", "scalar"], default="batched")
    add_workers(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out; finished cells are kept; a larger --num-envs grows the table as "
                        "SE sets grow (the recorded SEs keep their env indices; SEs new to a set follow in name order)")
    p.add_argument("--reuse-cells", type=Path, nargs="+", default=[], metavar="DIR",
                   help="earlier transfer --out folders: copy each cell --out lacks from the first DIR whose run had "
                        "the same task, seed, agents-per-env, episodes, max-episodes, agent HP mode, engine and "
                        "sebench version and, for an SE setting, the same SE (weights sha256) at that env index "
                        "(extend a table to more envs or agent kinds without recomputing); a set's SEs take the env "
                        "indices the first DIR that ran the setting gave them")
    p.add_argument("--scheduler", help="dask.distributed scheduler address (tcp://HOST:PORT); default: local processes")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_transfer)


def _cmd_transfer(args) -> int:
    from analysis.transfer import analyze_protocol
    from benchmark.protocol import ProtocolConfig, make_settings, run_protocol

    config = ProtocolConfig(task=args.task, agents=tuple(a for a in args.agents.split(",") if a),
                            num_envs=args.num_envs, agents_per_env=args.agents_per_env, episodes=args.episodes,
                            vary_hp=not args.fixed_agent_hp, max_episodes=args.max_episodes, seed=args.seed,
                            engine=args.engine, solved=args.solved, preset=args.preset)
    earlier_runs = ([args.out] if args.resume else []) + list(args.reuse_cells or [])
    settings = make_settings(config, args.ses, include_real=not args.no_real, order_from=earlier_runs)
    run_protocol(config, settings, args.out, workers=args.workers, resume=args.resume, progress=not args.quiet,
                 scheduler=args.scheduler, reuse_from=args.reuse_cells)
    paths = analyze_protocol(args.out)
    print((args.out / "summary.md").read_text())
    print(f"tables and figures: {', '.join(p.name for p in paths if p.suffix != '.pdf')} in {args.out}")
    return 0


def run_config_from_args(args) -> RunConfig:
    """The RunConfig of train-se / train-ses: RunConfig's defaults, then --preset, then --config, then the flags
    typed (those left at None are not)."""
    from benchmark.config_layers import layered, nested, read_config_file
    from benchmark.nes.presets import preset_fields
    from benchmark.nes.trainer import RunConfig

    flags = nested({"task": args.task, "solved": args.solved, "iterations": args.iterations, "seed": args.seed,
                    "engine": args.engine, "vary_hp": args.vary_hp, "centre_agents": args.centre_agents,
                    "nes.population": args.population})
    fields = layered(RunConfig().to_dict(), (f"--preset {args.preset}", preset_fields(args.preset)),
                     (f"--config {args.config}", read_config_file(args.config)), ("flags", flags), schema=RunConfig)
    return RunConfig.from_dict(fields)


def _cmd_train_se(args) -> int:
    from benchmark.nes.trainer import train_se

    run = run_config_from_args(args)
    state = train_se(run, args.out, workers=args.workers, resume=args.resume, progress=not args.quiet)
    verdict = "solved" if state.solved else "not solved"
    print(f"{run.task}: {verdict} after {state.iteration} NES iterations; best centre score "
          f"{state.best_score:.1f} (iteration {state.best_iteration}); {state.elapsed_s:.0f} s; "
          f"{state.real_steps} real-environment steps; files in {args.out}")
    return 0


def _add_headline(sub) -> None:
    p = sub.add_parser("headline", help="the main job: learn a small fixed-HP SE under the centre-agents rule (or "
                                        "take the zoo's SEs), run a reduced transfer protocol against the real "
                                        "baseline and a zoo SE, print the table, write figures")
    p.add_argument("--task", default="CartPole-v0")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--zoo", action="store_true",
                        help="learn nothing: take the fixed-HP SEs from the zoo too (results/zoo/TASK/fixed_hp_v3)")
    source.add_argument("--learn-varied", action="store_true",
                        help="learn the varied-HP SEs here too (the paper_transfer preset) instead of taking the "
                             "zoo's (results/zoo/TASK/paper_transfer_v3): hours on 2 cores")
    p.add_argument("--num-envs", type=int, default=1, help="SEs per setting (and real-task instances)")
    p.add_argument("--agents", default="ddqn,dueling_ddqn")
    p.add_argument("--agents-per-env", type=int, default=10)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--max-episodes", type=int, default=1000, help="training episode limit per agent")
    p.add_argument("--iterations", type=positive_int, default=10,
                   help="NES iteration limit of each learned SE (default 10: about 10 minutes on 2 idle cores for the "
                        "fixed-HP SE; an SE that has not solved by then is used at its best centre, and says so)")
    p.add_argument("--seed", type=int, default=0)
    add_workers(p)
    p.add_argument("--out", type=Path, default=Path("results/headline"))
    p.add_argument("--recompute-real", action="store_true",
                   help="train the real-task baseline's agents here (about an hour on 2 cores) instead of taking "
                        "the matching cells of the repository's real-baseline runs in results/transfer/")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_headline)


def _cmd_headline(args) -> int:
    from analysis.transfer import analyze_protocol
    from benchmark.headline import describe_ses, headline_ses, run_headline
    from benchmark.protocol import ProtocolConfig

    started = time.monotonic()
    protocol = ProtocolConfig(task=args.task, agents=tuple(a for a in args.agents.split(",") if a),
                              num_envs=args.num_envs, agents_per_env=args.agents_per_env, episodes=args.episodes,
                              max_episodes=args.max_episodes, seed=args.seed)
    learn = () if args.zoo else ("se_fixed_hp", "se_varied_hp") if args.learn_varied else ("se_fixed_hp",)
    ses = headline_ses(args.task, learn, args.iterations)
    if not args.quiet:
        kinds = {"se_fixed_hp": "fixed-HP", "se_varied_hp": "varied-HP"}
        learning = " and ".join(f"{args.num_envs} {kinds[label]} SE(s)" for label in learn)
        print(f"sebench headline: learning {learning} first (checkpointed; rerun the same command to continue; "
              "each fixed-HP NES iteration takes about a minute on 2 idle cores, a varied-HP one 7-8 minutes)" if learn else
              "sebench headline: taking every SE from the zoo", file=sys.stderr)
    transfer = run_headline(args.out, protocol, ses, workers=args.workers, progress=not args.quiet,
                            recompute_real=args.recompute_real)
    paths = analyze_protocol(transfer)
    print((transfer / "summary.md").read_text())
    print("\n".join(describe_ses(transfer)))
    print(f"tables and figures: {', '.join(p.name for p in paths if p.suffix != '.pdf')} in {transfer}")
    print(f"sebench headline took {(time.monotonic() - started) / 60:.1f} min")
    return 0


def _add_proxy_study(sub) -> None:
    p = sub.add_parser("proxy-study", help="rank agreement of agent configurations scored on SEs vs on the real task")
    p.add_argument("--task", default="CartPole-v0")
    p.add_argument("--solved", type=float, default=None, help=SOLVED_HELP)
    p.add_argument("--agent", default="ddqn")
    p.add_argument("--configs", type=int, default=30, help="sampled agent configurations K")
    p.add_argument("--ses", type=Path, required=True, help="SE set folder (train-ses output or a zoo set)")
    p.add_argument("--agents", type=int, default=3, help="agents per configuration and environment")
    p.add_argument("--max-episodes", type=int, default=1000)
    p.add_argument("--test-episodes", type=int, default=10)
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples for the correlation intervals")
    p.add_argument("--seed", type=int, default=0)
    add_workers(p)
    add_run_files(p, resume_help="continue the study in --out; finished configurations are kept")
    p.set_defaults(func=_cmd_proxy_study)


def _cmd_proxy_study(args) -> int:
    from analysis.proxy import analyze_proxy_study
    from benchmark.proxy_study import ProxyStudyConfig, run_proxy_study

    config = ProxyStudyConfig(task=args.task, solved=args.solved, agent=args.agent, configs=args.configs,
                              agents=args.agents,
                              max_episodes=args.max_episodes, test_episodes=args.test_episodes,
                              bootstrap=args.bootstrap, seed=args.seed)
    run_proxy_study(config, args.ses, args.out, workers=args.workers, resume=args.resume, progress=not args.quiet)
    paths = analyze_proxy_study(args.out)
    print((args.out / "proxy_summary.md").read_text())
    print(f"table and figure: {', '.join(p.name for p in paths if p.suffix != '.pdf')} in {args.out}")
    return 0


def _add_proxy_hpo(sub) -> None:
    p = sub.add_parser("proxy-hpo", help="BOHB or random search training on the SE, the real task or both "
                                         "(multi-fidelity) under a wall budget; incumbents scored on the real task")
    p.add_argument("--config", type=Path, help="JSON file with ProxyHPOConfig fields; the flags typed set over it")
    p.add_argument("--task", default=None, help="real task (default CartPole-v0)")
    p.add_argument("--solved", type=float, default=None, help=SOLVED_HELP)
    p.add_argument("--agent", default=None, help="agent kind to tune (default ddqn)")
    p.add_argument("--ses", type=Path, help="SE set folder (needed for --environment se or multi)")
    p.add_argument("--optimizer", choices=["bohb", "random"], default=None, help="default bohb")
    p.add_argument("--environment", choices=["se", "real", "multi"], default=None,
                   help="where evaluations train (default se); multi: SEs below the top budget, the real task at it "
                        "(bohb only)")
    p.add_argument("--wall-budget", type=float, help="seconds; no evaluation starts after them (required to run)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument("--agents", type=int, default=None, help="agents per evaluation (default 1)")
    p.add_argument("--test-episodes", type=int, default=None, help="default 10")
    p.add_argument("--min-budget", type=float, default=None, help="smallest max_episodes (bohb; default 10)")
    p.add_argument("--max-budget", type=float, default=None,
                   help="largest max_episodes (random: the only one; default 200)")
    p.add_argument("--eta", type=float, default=None, help="default 3")
    p.add_argument("--score-agents", type=int, default=None, help="real-task agents scoring each incumbent (default 3)")
    p.add_argument("--score-max-episodes", type=int, default=None, help="their episodes (default: --max-budget)")
    p.add_argument("--compare", type=Path, nargs="*", default=None, metavar="RUN",
                   help="only compare finished runs (figure + table into --out); runs nothing")
    p.set_defaults(func=_cmd_proxy_hpo)


def proxy_hpo_config_from_args(args):
    """The ProxyHPOConfig of the proxy-hpo arguments: its defaults, then --config, then the flags typed."""
    from benchmark.config_layers import layered, nested, read_config_file
    from benchmark.proxy_hpo import ProxyHPOConfig

    flags = nested({"task": args.task, "solved": args.solved, "agent": args.agent, "optimizer": args.optimizer,
                    "environment": args.environment, "wall_budget_s": args.wall_budget, "seed": args.seed,
                    "agents": args.agents, "test_episodes": args.test_episodes, "min_budget": args.min_budget,
                    "max_budget": args.max_budget, "eta": args.eta, "score_agents": args.score_agents,
                    "score_max_episodes": args.score_max_episodes})
    fields = layered(dataclasses.asdict(ProxyHPOConfig()), (f"--config {args.config}", read_config_file(args.config)),
                     ("flags", flags), schema=ProxyHPOConfig)
    return ProxyHPOConfig(**fields)


def _cmd_proxy_hpo(args) -> int:
    from analysis.proxy_hpo import analyze_proxy_hpo
    from benchmark.config_layers import read_config_file
    from benchmark.hpo.launch import configure_logging
    from benchmark.proxy_hpo import run_proxy_hpo

    if args.compare is not None:
        paths = analyze_proxy_hpo(args.compare, args.out)
        print((args.out / "proxy_hpo_summary.md").read_text())
        print(f"table and figure: {', '.join(p.name for p in paths if p.suffix != '.pdf')} in {args.out}")
        return 0
    if args.wall_budget is None and "wall_budget_s" not in read_config_file(args.config):
        raise ConfigError("proxy-hpo: --wall-budget is required (unless --compare, or given in --config)")
    configure_logging()
    config = proxy_hpo_config_from_args(args)
    summary = run_proxy_hpo(config, args.ses, args.out)
    final = summary["final_incumbent"]
    print(f"{summary['label']}: {summary['evaluations']} evaluations in {summary['wall_used_s']:.0f} s, "
          f"{summary['real_env_steps']:,} real-env steps")
    if final is None:
        print("no evaluation finished within the wall budget")
    else:
        print(f"incumbent (since {final['wall_time_s']:.0f} s, proxy value {final['proxy_value']:.2f}): "
              f"{json.dumps(final['config'], sort_keys=True)}")
        print(f"its real-task score: {final['real_score']:.1f}")
    return 0


def _add_status(sub) -> None:
    p = sub.add_parser("status", help="where a long run stands (SE run or set, transfer folder), from its files")
    p.add_argument("runs", type=Path, nargs="+", help="train-se, train-ses or fit-models folders, transfer folders")
    p.set_defaults(func=_cmd_status)


def _cmd_status(args) -> int:
    from benchmark.status import describe

    for run in args.runs:
        print("\n".join(describe(run)))
    return 0


def _add_recipes(sub) -> None:
    p = sub.add_parser("recipes", help="the recipe (ablation) table: per arm, what its SEs cost and what they teach")
    p.add_argument("arms", nargs="+", metavar="ARM=SET[,TRANSFER]",
                   help="an arm's name, its train-ses folder and optionally a transfer folder run on its SEs")
    p.add_argument("--real", type=Path, help="a transfer folder with the real baseline (default: the arms' own)")
    p.add_argument("--out", type=Path, help="where recipes.md, the two CSV tables and recipe_curves.png go "
                                                 "(default: print only)")
    p.set_defaults(func=_cmd_recipes)


def _cmd_recipes(args) -> int:
    from analysis.recipes import Arm, write_recipe_tables

    print(write_recipe_tables([Arm.parse(a) for a in args.arms], args.real, args.out), end="")
    return 0


def _add_analyze(sub) -> None:
    p = sub.add_parser("analyze", help="tables and figures of train-se runs, transfer runs or sweeps")
    p.add_argument("runs", type=Path, nargs="+",
                   help="train-se or train-ses folders, a transfer --out folder or a sweep folder")
    p.add_argument("--out", type=Path, help="where tables and figures go (default: the (first) run folder)")
    p.set_defaults(func=_cmd_analyze)


def _cmd_analyze(args) -> int:
    from analysis import proxy, rn, sweep, transfer
    from analysis.nes_curves import plot_runs
    from benchmark import schema

    paths = []
    nes_runs, nes_home = [], None  # NES curves go to --out, else the first train-se / train-ses folder given
    for run in args.runs:
        if transfer.is_protocol_run(run):
            paths += transfer.analyze_protocol(run, args.out)
        elif rn.is_rn_eval(run):
            paths += rn.analyze_rn_eval(run, args.out)
        elif proxy.is_proxy_study(run):
            paths += proxy.analyze_proxy_study(run, args.out)
        elif sweep.is_sweep(run):
            paths += sweep.analyze_sweep(run, args.out or run)
        elif (run / schema.HISTORY).exists():
            nes_runs.append(run)
            nes_home = nes_home or run
        elif (run / schema.SET_META).exists():  # a train-ses folder: every seed's run, finished, given up or running
            nes_runs += sorted(p for p in run.iterdir() if (p / schema.HISTORY).exists())
            nes_home = nes_home or run
        else:
            raise ConfigError(f"{run} is none of: a train-se run ({schema.HISTORY}), a train-ses set "
                              f"({schema.SET_META}), a transfer run, an rn-eval run, a proxy study, a sweep")
    if nes_runs:
        paths += plot_runs(nes_runs, args.out or nes_home)
    for path in paths:
        print(path)
    return 0


EXIT_STATUS = """exit status:
  0    done
  1    a worker process died, or an hpo sweep was aborted (rerun with --resume)
  2    bad input (a flag, a --config file, a stored run that --resume cannot continue), or a file that could not
       be read or written (disk full, no permission; every file written before it is intact: rerun with --resume)
  130  interrupted (Ctrl-C); 143 stopped (SIGTERM): the last finished iteration is checkpointed"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sebench", description=__doc__, epilog=EXIT_STATUS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_se(sub)
    _add_train_ses(sub)
    _add_fit_models(sub)
    _add_transfer(sub)
    _add_headline(sub)
    _add_proxy_study(sub)
    _add_proxy_hpo(sub)
    _add_analyze(sub)
    _add_recipes(sub)
    _add_status(sub)
    from benchmark.hpo.cli import add_parsers as add_hpo_parsers
    from benchmark.rn.cli import add_parsers as add_rn_parsers
    add_hpo_parsers(sub)
    add_rn_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with stop_signals():
        return _run(args)


def _run(args) -> int:
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"sebench: error: {err}", file=sys.stderr)
        return 2
    except (BrokenProcessPool, WorkerDied) as err:
        print(f"sebench: error: a worker process died ({err}); the last finished iteration is checkpointed: "
              "rerun the same command with --resume", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` or a pager that quit: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 128 + signal.SIGPIPE
    except OutputError as err:  # disk full, no permission: the atomic write left the file's last version
        print(f"sebench: error: could not write {err.filename}: {err.strerror}; the files written before it (the "
              "last checkpoint too) are intact: free some space or fix the permissions, then rerun the same command "
              "(with --resume where it has one)", file=sys.stderr)
        return 2
    except OSError as err:
        if err.filename is None:  # not a file: a socket, a process... (a traceback helps more)
            raise
        print(f"sebench: error: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        how = "stopped (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        hint = "the last finished iteration is checkpointed (use --resume)" if hasattr(args, "resume") else \
            "what finished is kept: rerun the same command to go on"
        print(f"sebench: {how}; {hint}", file=sys.stderr)
        return 128 + signal_of(err)


if __name__ == "__main__":
    sys.exit(main())
