"""The documented examples run as users would run them (tiny budgets)."""
import ConfigSpace as CS
import optuna
import pandas as pd
import pytest

from benchmark.objective import AgentBenchmark
from examples.optuna_on_proxy import main, suggest, tune

ZOO_SET = "results/zoo/CartPole-v0/paper_transfer_v3"


def test_suggest_covers_every_kind_of_hyperparameter_and_stays_in_range():
    space = CS.ConfigurationSpace(seed=0)
    space.add([CS.Float("lr", (1e-4, 1e-2), log=True), CS.Integer("hidden", (8, 64), log=True),
               CS.Categorical("act", ["relu", "tanh"]), CS.OrdinalHyperparameter("layers", [1, 2, 3]),
               CS.Constant("gamma", 0.99)])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = [dict(suggest(study.ask(), space)) for _ in range(20)]
    assert all(1e-4 <= c["lr"] <= 1e-2 and 8 <= c["hidden"] <= 64 and c["gamma"] == 0.99 for c in seen)
    assert {c["layers"] for c in seen} == {1, 2, 3} and {c["act"] for c in seen} == {"relu", "tanh"}
    space.add(CS.EqualsCondition(space["hidden"], space["act"], "relu"))
    with pytest.raises(ValueError, match="conditions"):
        suggest(study.ask(), space)


def test_tune_on_the_se_proxy_takes_no_real_step_and_is_seeded():
    bench = AgentBenchmark("CartPole-v0", "ddqn", ses=ZOO_SET, test_episodes=2)
    fidelity = {"environment": "se", "agents": 1, "max_episodes": 12}
    first, second = (tune(bench, 3, fidelity, seed=1) for _ in range(2))
    assert [t.value for t in first.trials] == [t.value for t in second.trials]  # same seed, same study
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in first.trials)
    assert all(t.user_attrs["real_env_steps"] == 0 for t in first.trials)
    assert len({str(t.user_attrs["configuration"]) for t in first.trials}) == 3


def test_the_script_prints_the_trials_and_the_best_configurations_real_score(tmp_path, capsys):
    out = tmp_path / "trials.csv"
    assert main(["--ses", ZOO_SET, "--trials", "2", "--agents", "1", "--max-episodes", "12",
                 "--test-episodes", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tested on the real task:" in text and "best configuration: {" in text
    with pytest.raises(SystemExit) as refused:
        main(["--ses", ZOO_SET, "--trials", "0"])
    assert refused.value.code == 2 and "--trials must be at least 1, got 0" in capsys.readouterr().err
    assert len(pd.read_csv(out)) == 2
