"""`sebench hpo ...` and `sebench spaces ...` subcommands (BOHB sweeps over ConfigSpace search spaces)."""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from benchmark.cli_common import positive_int
from benchmark.errors import ConfigError
from benchmark.interrupts import Terminated, signal_of


def add_parsers(sub) -> None:
    """Add the hpo and spaces subcommands to the `sebench` subparsers `sub`."""
    _add_hpo(sub)
    _add_spaces(sub)


# -- hpo ----------------------------------------------------------------------------------------------------
def _master_options(p) -> None:
    from benchmark.nes.presets import DEFAULT_PRESET, PRESETS

    p.add_argument("--space", default="se_cartpole",
                   help="search space: a registered name (`sebench spaces list`) or a ConfigSpace JSON file")
    p.add_argument("--min-budget", type=float, default=5, help="smallest budget, in NES iterations (default 5)")
    p.add_argument("--max-budget", type=float, default=45, help="largest budget, in NES iterations (default 45)")
    p.add_argument("--eta", type=float, default=3, help="successive-halving factor (default 3)")
    p.add_argument("--iterations", type=int, default=4,
                   help="successive-halving iterations (brackets) of the whole sweep; --resume runs the missing ones")
    p.add_argument("--config", type=Path,
                   help="JSON file with RunConfig fields the space does not tune (population, test_episodes, "
                        "agent.max_episodes, vary_hp, engine, ...), in train-se's --config format")
    p.add_argument("--task", help="real task (default: the space's task; the space se takes any task)")
    p.add_argument("--solved", type=float, default=None, help="the task's solved threshold where its gymnasium "
                                                              "spec has none, or to override the spec's")
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help=f"the SE recipe the sweep's hyperparameters are applied onto (default {DEFAULT_PRESET})")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of every SE run and of the space's sampler (default: --config's, else 0)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in the directory from its logs")
    p.add_argument("--time-limit", type=float,
                   help="wall-clock seconds, counted from when the workers are there, after which no new job "
                        "starts; running jobs finish and are logged")
    p.add_argument("--ping-interval", type=int, default=10,
                   help="seconds between worker pings: how fast a dead worker's job is recorded as lost")
    p.add_argument("--worker-wait", type=float, default=600,
                   help="abort after this many seconds without any live worker (0: wait forever, warning each minute)")
    p.add_argument("--verbose", action="store_true", help="debug logging of sebench and hpbandster")


def _add_hpo(sub) -> None:
    hpo = sub.add_parser("hpo", help="BOHB sweeps: SE training runs as hpbandster worker jobs")
    cmds = hpo.add_subparsers(dest="hpo_command", required=True)

    p = cmds.add_parser("nameserver", help="start the Pyro4 nameserver of a sweep (writes DIR/nameserver.json)")
    p.add_argument("--run-id", required=True)
    p.add_argument("--dir", type=Path, required=True, help="sweep directory, seen by every worker and the master")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; use this "
                                                       "machine's address for workers on other machines)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    p.set_defaults(func=_cmd_nameserver)

    p = cmds.add_parser("worker", help="evaluate jobs of a sweep until the master is done")
    p.add_argument("--run-id", required=True)
    p.add_argument("--dir", type=Path, required=True, help="sweep directory (holds nameserver.json)")
    p.add_argument("--host", help="address to listen on (default: the one that reaches the nameserver)")
    p.add_argument("--timeout", type=float, help="exit after this many idle seconds after a job (default: never)")
    p.add_argument("--wait", type=float, default=60, help="seconds to wait for nameserver.json (default 60)")
    p.add_argument("--parent-pid", type=int, help="stop (as on SIGTERM) when this parent process ends "
                   "(Linux; `hpo run` sets it for its workers)")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=_cmd_worker)

    p = cmds.add_parser("master", help="run BOHB: sample configurations, hand jobs to workers, log results")
    p.add_argument("--run-id", required=True)
    p.add_argument("--dir", type=Path, required=True, help="sweep directory (holds nameserver.json)")
    p.add_argument("--host", help="address the master listens on (default: the one that reaches the nameserver)")
    p.add_argument("--min-workers", type=int, default=1, help="workers needed before the first job (default 1)")
    p.add_argument("--wait", type=float, default=60, help="seconds to wait for nameserver.json (default 60)")
    _master_options(p)
    p.set_defaults(func=_cmd_master)

    p = cmds.add_parser("run", help="a whole sweep on this machine: nameserver, N worker processes and the master")
    p.add_argument("--workers", type=positive_int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", type=Path, required=True, help="sweep directory")
    _master_options(p)
    p.set_defaults(func=_cmd_run)


def _settings(args):
    from benchmark.hpo.launch import MasterSettings, base_run

    from benchmark.config_layers import read_config_file

    space_name = args.space if Path(args.space).suffix != ".json" else ""
    base = base_run(space_name, read_config_file(args.config), args.task, args.seed, args.preset, args.solved,
                    config_source=f"--config {args.config}")
    settings = MasterSettings(space=args.space, min_budget=args.min_budget, max_budget=args.max_budget, eta=args.eta,
                              iterations=args.iterations, ping_interval=args.ping_interval,
                              worker_wait=args.worker_wait or None, time_limit=args.time_limit,
                              min_workers=getattr(args, "min_workers", 1))
    return settings, base


def _print_summary(summary: dict, directory: Path) -> None:
    per_budget = ", ".join(f"{n} on budget {b:g}" for b, n in summary["per_budget"].items())
    print(f"sweep in {directory}: {summary['runs']} jobs ({per_budget or 'none'}); {summary['failed']} failed")
    inc = summary["incumbent"]
    if inc is None:
        print("no incumbent yet (no job finished on the largest budget)")
        return
    info = inc["info"] or {}
    verdict = "solves" if info.get("solved") else "does not solve"
    print(f"incumbent {tuple(inc['config_id'])}: loss {inc['loss']:.3f} on budget {inc['budget']:g}; its SE "
          f"{verdict} the task ({info.get('iterations')} NES iterations, best centre score "
          f"{info.get('best_score')}); SE in {directory / info.get('se_path', '?')}")
    print("config: " + json.dumps(inc["config"], sort_keys=True))


def _guarded(run, args) -> int:
    """Run a long-lived hpo command; clear messages for Ctrl-C and an aborted sweep; never hang on exit."""
    from benchmark.hpo.compat import SweepAborted
    from benchmark.hpo.launch import configure_logging, exit_if_threads_linger

    configure_logging(getattr(args, "verbose", False))

    try:  # SIGTERM arrives as KeyboardInterrupt too (benchmark.cli.main): the same orderly shutdown as Ctrl-C
        rc = run()
    except SweepAborted as err:
        print(f"sebench: error: sweep aborted: {err}", file=sys.stderr)
        rc = 1
    except KeyboardInterrupt as err:  # Ctrl-C: 130, SIGTERM: 143, as every sebench command
        how = "stopped (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        print(f"sebench: {how}; every finished job is in results.json (continue with --resume)", file=sys.stderr)
        rc = 128 + signal_of(err)
    exit_if_threads_linger(rc)
    return rc


def _cmd_nameserver(args) -> int:
    from benchmark.hpo.launch import serve_nameserver

    return _guarded(lambda: serve_nameserver(args.run_id, args.dir, args.host, args.port) or 0, args)


def _cmd_worker(args) -> int:
    from benchmark.hpo.launch import serve_worker
    from benchmark.parallel import die_with_parent

    if args.parent_pid is not None:
        die_with_parent(signal.SIGTERM, args.parent_pid)

    return _guarded(lambda: serve_worker(args.run_id, args.dir, args.host, args.timeout, args.wait) or 0, args)


def _cmd_master(args) -> int:
    from benchmark.hpo.launch import run_master

    def run():
        settings, base = _settings(args)
        summary = run_master(args.run_id, args.dir, settings, base, resume=args.resume, host=args.host,
                             wait_s=args.wait)
        _print_summary(summary, args.dir)
        return 0

    return _guarded(run, args)


def _cmd_run(args) -> int:
    from benchmark.hpo.launch import run_embedded

    def run():
        settings, base = _settings(args)
        summary = run_embedded(args.out, settings, base, args.workers, resume=args.resume)
        _print_summary(summary, args.out)
        return 0

    return _guarded(run, args)


# -- spaces -------------------------------------------------------------------------------------------------
def _add_spaces(sub) -> None:
    spaces = sub.add_parser("spaces", help="the ConfigSpace search spaces")
    cmds = spaces.add_subparsers(dest="spaces_command", required=True)
    p = cmds.add_parser("list", help="names of the registered spaces")
    p.set_defaults(func=_cmd_spaces_list)
    p = cmds.add_parser("show", help="hyperparameters of a space: name, type, legal range, default")
    p.add_argument("name")
    p.set_defaults(func=_cmd_spaces_show)
    p = cmds.add_parser("export", help="a space as ConfigSpace JSON")
    p.add_argument("name")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.set_defaults(func=_cmd_spaces_export)
    p = cmds.add_parser("check", help="validate a configuration (JSON file) against a space")
    p.add_argument("name", help="space name or ConfigSpace JSON file")
    p.add_argument("config", type=Path, help="JSON object: flat names ('nes.step_size') or nested sections")
    p.add_argument("--complete", action="store_true", help="every hyperparameter of the space must be given")
    p.set_defaults(func=_cmd_spaces_check)


def _cmd_spaces_list(args) -> int:
    from search_spaces import names, space_module

    for name in names():
        try:
            doc = (space_module(name).__doc__ or "").strip().split("\n\n")[0]
        except ImportError as err:  # one broken module does not hide the others
            doc = f"(cannot be imported: {err})"
        first = " ".join(doc.split()).split(". ")[0].rstrip(".")
        print(f"{name:<20} {first}")
    return 0


def _cmd_spaces_show(args) -> int:
    from search_spaces.tools import describe, load_space

    name, space = load_space(args.name)
    rows = describe(space)
    width = max(len(r["name"]) for r in rows)
    print(f"{name}: {len(rows)} hyperparameters")
    for r in rows:
        print(f"  {r['name']:<{width}}  {r['type']:<16} {r['legal']:<48} default {r['default']!r}")
    return 0


def _cmd_spaces_export(args) -> int:
    from benchmark import io
    from search_spaces.tools import load_space, to_json

    _, space = load_space(args.name)
    text = to_json(space)
    if args.out:
        io.atomic_write(args.out, lambda p: p.write_text(text + "\n"))
        print(args.out)
    else:
        print(text)
    return 0


def _cmd_spaces_check(args) -> int:
    from search_spaces.tools import load_space, validate_config

    name, space = load_space(args.name)
    try:
        config = json.loads(args.config.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{args.config}: {err}") from None
    flat = validate_config(space, config, complete=args.complete)
    print(f"{args.config}: {len(flat)} hyperparameter(s) valid in space {name!r}")
    return 0
