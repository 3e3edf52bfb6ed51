"""Tune an RL agent with Optuna on the SE proxy, through the HPOBench-style interface alone.

    pip install -e ".[examples]"    # optuna
    python examples/optuna_on_proxy.py --trials 20 --environment se --max-episodes 50

Everything sebench-specific is the three calls an HPOBench benchmark offers: `get_configuration_space()` (a
ConfigSpace space), `objective_function(configuration, fidelity, seed)` (minimise its "function_value") and
`objective_function_test(...)` (always tested on the real task). The bridge from ConfigSpace to Optuna below knows
ConfigSpace only, so the same script tunes any ConfigSpace-based benchmark. Prints each trial and, at the end, the
best configuration's real-task score; `--out FILE.csv` keeps the trials.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import ConfigSpace as CS
import optuna

from benchmark.objective import AgentBenchmark


def suggest(trial: optuna.Trial, space: CS.ConfigurationSpace) -> CS.Configuration:
    """One configuration of `space` drawn by the trial's sampler (float, integer, categorical, ordinal and
    constant hyperparameters; a space with conditions or forbidden clauses is refused)."""
    if space.conditions or space.forbidden_clauses:
        raise ValueError("suggest() handles flat spaces only: this space has conditions or forbidden clauses")
    values = {}
    for hp in space.values():
        if isinstance(hp, CS.UniformFloatHyperparameter):
            values[hp.name] = trial.suggest_float(hp.name, hp.lower, hp.upper, log=hp.log)
        elif isinstance(hp, CS.UniformIntegerHyperparameter):
            values[hp.name] = trial.suggest_int(hp.name, hp.lower, hp.upper, log=hp.log)
        elif isinstance(hp, CS.CategoricalHyperparameter):
            values[hp.name] = trial.suggest_categorical(hp.name, list(hp.choices))
        elif isinstance(hp, CS.OrdinalHyperparameter):
            values[hp.name] = hp.sequence[trial.suggest_int(hp.name, 0, len(hp.sequence) - 1)]
        elif isinstance(hp, CS.Constant):
            values[hp.name] = hp.value
        else:
            raise ValueError(f"suggest() does not know {type(hp).__name__} ({hp.name})")
    return CS.Configuration(space, values=values)  # ConfigSpace checks every value against its range


def tune(bench, trials: int, fidelity: dict, seed: int = 0) -> optuna.Study:
    """An Optuna study (TPE, seeded) minimising the benchmark's function_value at `fidelity`. Trial i's agents
    are seeded seed + i, so no two trials share agent seeds."""
    space = bench.get_configuration_space(seed=seed)

    def objective(trial: optuna.Trial) -> float:
        configuration = suggest(trial, space)
        trial.set_user_attr("configuration", dict(configuration))
        result = bench.objective_function(configuration, fidelity, seed=seed + trial.number)
        trial.set_user_attr("cost_s", result["cost"])
        trial.set_user_attr("real_env_steps", result["info"]["real_env_steps"])
        value = result["function_value"]
        if not math.isfinite(value):
            raise optuna.TrialPruned(f"non-finite function value {value}")  # recorded as pruned, never as good
        return value

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return study


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="CartPole-v0")
    ap.add_argument("--agent", default="ddqn", help="ddqn, dueling_ddqn or td3_discrete")
    ap.add_argument("--ses", default="results/zoo/CartPole-v0/paper_transfer_v3", help="an SE set folder")
    ap.add_argument("--environment", default="se", choices=("se", "real"), help="where the trials' agents train")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--agents", type=int, default=2, help="agents per trial (on SEs: one SE each, in turn)")
    ap.add_argument("--max-episodes", type=int, default=100, help="training episodes per agent")
    ap.add_argument("--test-episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="a CSV file for the trials")
    args = ap.parse_args(argv)
    if args.trials < 1:
        ap.error(f"--trials must be at least 1, got {args.trials}")

    bench = AgentBenchmark(args.task, args.agent, ses=args.ses, test_episodes=args.test_episodes)
    fidelity = {"environment": args.environment, "agents": args.agents, "max_episodes": args.max_episodes}
    study = tune(bench, args.trials, fidelity, seed=args.seed)
    trials = study.trials_dataframe()
    print(trials[["number", "value", "user_attrs_cost_s", "user_attrs_real_env_steps", "state"]].to_string(index=False))
    if args.out:
        trials.to_csv(args.out, index=False)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        print("no trial completed (every one was pruned): nothing to score")
        return 1
    best = CS.Configuration(bench.get_configuration_space(), values=study.best_trial.user_attrs["configuration"])
    # fresh agents (a seed no trial used), trained as in the trials, tested on the real task
    test = bench.objective_function_test(best, fidelity, seed=args.seed + args.trials)
    print(f"best trial {study.best_trial.number}: mean test return {-study.best_value:.1f} where it trained "
          f"({args.environment}); fresh agents trained on {args.environment}, tested on the real task: "
          f"{-test['function_value']:.1f}")
    print(f"best configuration: {dict(best)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
