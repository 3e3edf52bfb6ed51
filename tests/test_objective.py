"""The HPOBench-style proxy objective and the fidelity study."""
import pytest

from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.headline import zoo_set
from benchmark.objective import AgentBenchmark

ZOO = zoo_set("CartPole-v0", "varied_hp")
CHEAP = {"agents": 1, "max_episodes": 10}


@pytest.fixture(scope="module")
def bench():
    return AgentBenchmark("CartPole-v0", "ddqn", ZOO, test_episodes=2)


def test_result_dictionaries_carry_the_documented_keys(bench):
    config = bench.get_configuration_space(seed=1).sample_configuration()
    for fidelity in ({**CHEAP, "environment": "se"}, {**CHEAP, "environment": "real"}):
        for fn in (bench.objective_function, bench.objective_function_test):
            result = fn(config, fidelity, seed=0)
            assert set(result) == {"function_value", "cost", "info"}
            assert isinstance(result["function_value"], float) and result["cost"] > 0
            info = result["info"]
            assert len(info["test_returns"]) == 2 and info["train_steps"] > 0
            tested_on_real = fn == bench.objective_function_test or fidelity["environment"] == "real"
            assert info["tested_on"] == ("real" if tested_on_real else "se")
            trained_on_real = fidelity["environment"] == "real"
            assert (info["real_env_steps"] > 0) == (tested_on_real or trained_on_real)
            if not tested_on_real and not trained_on_real:
                assert info["real_env_steps"] == 0


def test_same_seed_same_function_value(bench):
    config = bench.get_configuration_space(seed=2).sample_configuration()
    a = bench.objective_function(config, {**CHEAP, "environment": "se"}, seed=5)
    b = bench.objective_function(config, {**CHEAP, "environment": "se"}, seed=5)
    assert a["function_value"] == b["function_value"]


def test_invalid_configurations_and_fidelities_are_refused(bench):
    with pytest.raises(ConfigError, match="lr"):
        bench.objective_function({"lr": 5.0}, CHEAP)
    with pytest.raises(ConfigError, match="not a hyperparameter"):
        bench.objective_function({"learning_rate": 1e-3}, CHEAP)
    with pytest.raises(ConfigError, match="environment"):
        bench.objective_function({}, {"environment": "moon"})
    with pytest.raises(ConfigError, match="environment"):
        AgentBenchmark("CartPole-v0", "ddqn").objective_function({}, {"environment": "se"})
    fid = bench.get_fidelity_space()
    assert set(fid.keys()) == {"environment", "agents", "max_episodes"}


def test_tiny_study_writes_its_table_and_figure(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["proxy-study", "--configs", "4", "--ses", str(ZOO), "--agents", "1", "--max-episodes", "10",
                 "--test-episodes", "2", "--bootstrap", "50", "--workers", "1", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed
    for name in ("proxy_summary.md", "proxy_summary.csv", "proxy_scatter.png", "proxy_scatter.pdf", "scores.csv"):
        assert (out / name).exists()
    assert main(["analyze", str(out), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "proxy_scatter.png").exists()
