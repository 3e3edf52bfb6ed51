"""SEs as a cheap proxy objective: an HPOBench-style benchmark per (task, agent).

    bench = AgentBenchmark("CartPole-v0", "ddqn", ses="results/zoo/CartPole-v0/varied_hp")
    cs = bench.get_configuration_space(seed=1)
    result = bench.objective_function(cs.sample_configuration(), {"environment": "se"}, seed=0)
    result["function_value"], result["cost"], result["info"]["real_env_steps"]

The configuration space is the agent's tuning space (search_spaces/<agent>.py). The fidelity space says where
agents train: `environment` ("real" or "se"), `agents` (agents trained per evaluation; on SEs agent i trains
on SE i modulo the set's size) and `max_episodes` (each agent's training-episode budget).
`objective_function` tests each agent where it trained (on an SE: no real-environment step at all);
`objective_function_test` always tests on the real task. function_value = -(mean test return) (minimised);
cost = wall seconds; info holds training steps, real-environment steps and every test return.
"""
from __future__ import annotations

import time
from pathlib import Path

import ConfigSpace as CS
import numpy as np

from benchmark import rng
from benchmark.agents.common import AgentSpec
from benchmark.agents.registry import get_agent_kind
from benchmark.engine import ENGINES, train_and_test
from benchmark.envs.synthetic import load_se
from benchmark.envs.tasks import get_task
from benchmark.errors import ConfigError, check_choice
from benchmark.nets import flat_parameters
from benchmark.parallel import SerialExecutor
from benchmark.se_sets import find_ses
from search_spaces import get_space
from search_spaces.tools import validate_config

ENVIRONMENTS = ("real", "se")


class AgentBenchmark:
    """Tune `agent`'s hyperparameters for `task`; SEs (a set folder or SE folders) offer the cheap fidelity."""

    def __init__(self, task: str = "CartPole-v0", agent: str = "ddqn", ses: Path | str | list | None = None,
                 test_episodes: int = 10, engine: str = "batched", solved: float | None = None):
        """solved: the task's threshold where its gymnasium spec has none (real-task training stops there)."""
        self.task = get_task(task, solved)
        self.task.require_solved("an agent benchmark (real-task training stops at it)")
        self.kind = get_agent_kind(agent)
        check_choice("engine", engine, ENGINES)
        self.engine, self.test_episodes = engine, test_episodes
        folders = [] if ses is None else (find_ses(ses) if isinstance(ses, (str, Path)) else [Path(s) for s in ses])
        self.ses = [load_se(f) for f in folders]
        for folder, env in zip(folders, self.ses):
            if env.task.name != self.task.name:
                raise ConfigError(f"SE {folder} was learned for {env.task.name}, not {self.task.name}")
        self.se_params = np.stack([flat_parameters(e.net).double().numpy() for e in self.ses]) if self.ses else None

    def get_configuration_space(self, seed: int | None = None) -> CS.ConfigurationSpace:
        return get_space(self.kind.name, seed=seed)

    def get_fidelity_space(self, seed: int | None = None) -> CS.ConfigurationSpace:
        cs = CS.ConfigurationSpace(name="fidelity", seed=seed)
        cs.add([CS.Categorical("environment", list(ENVIRONMENTS) if self.ses else ["real"], default="real"),
                CS.Integer("agents", (1, 40), default=3),
                CS.Integer("max_episodes", (10, 1000), log=True, default=1000)])
        return cs

    def objective_function(self, configuration, fidelity: dict | None = None, seed: int = 0) -> dict:
        """Train per the fidelity and test where the agents trained."""
        return self._evaluate(configuration, fidelity, seed, test_on_real=False)

    def objective_function_test(self, configuration, fidelity: dict | None = None, seed: int = 0) -> dict:
        """Train per the fidelity, test on the real task."""
        return self._evaluate(configuration, fidelity, seed, test_on_real=True)

    def _fidelity(self, fidelity: dict | None) -> dict:
        space = self.get_fidelity_space()
        values = dict(space.get_default_configuration())
        values.update(validate_config(space, dict(fidelity or {})))
        return values

    def _evaluate(self, configuration, fidelity, seed: int, test_on_real: bool) -> dict:
        start = time.perf_counter()
        values = validate_config(self.get_configuration_space(), dict(configuration))
        fid = self._fidelity(fidelity)
        config = self.kind.defaults(**values, max_episodes=fid["max_episodes"])
        n = fid["agents"]
        specs = [AgentSpec(config, s) for s in rng.child_seeds(seed, n, rng.SeedPath.PROXY_AGENTS)]
        on_se = fid["environment"] == "se"
        params = self.se_params[np.arange(n) % len(self.ses)] if on_se else None
        se_config = self.ses[0].config if on_se else None
        outcomes = train_and_test(self.task, specs, se_config, params, self.test_episodes, self.engine,
                                  SerialExecutor(), 1, test_on_real=test_on_real or not on_se)
        returns = [r for o in outcomes for r in o.test_returns]
        train_steps = sum(o.train.steps for o in outcomes)
        tested_on_real = test_on_real or not on_se
        real_steps = (0 if on_se else train_steps) + (sum(o.test_steps for o in outcomes) if tested_on_real else 0)
        return {
            "function_value": -float(np.mean(returns)),
            "cost": time.perf_counter() - start,
            "info": {"test_returns": [float(r) for r in returns], "train_steps": int(train_steps),
                     "train_episodes": int(sum(o.train.episodes for o in outcomes)),
                     "real_env_steps": int(real_steps), "tested_on": "real" if tested_on_real else "se",
                     "diverged_agents": int(sum(o.train.diverged for o in outcomes)),
                     "fidelity": fid, "configuration": values},
        }
