"""The supervised baseline: the SE architecture fitted by regression on real transitions that DDQN agents
collected while learning the real task. It answers "why not just learn a model?" through the same protocol.

A fitted model is stored exactly like a learned SE (se.safetensors + se.json, kind "supervised_model"), so
`benchmark.load_se` and the transfer protocol take it unchanged.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark import io, rng, schema
from benchmark.agents.ddqn import DDQN, DDQNConfig
from benchmark.agents.sampling import sample_configs
from benchmark.envs.synthetic import SEConfig, se_network
from benchmark.envs.tasks import get_task
from benchmark.errors import ConfigError, check_range
from benchmark.nets import init_uniform_


@dataclass(frozen=True)
class ModelFitConfig:
    """How one supervised model is made."""

    task: str = "CartPole-v0"
    solved: float | None = None
    """The task's threshold where its gymnasium spec has none: a collector that reaches it stops early."""
    seed: int = 0
    collectors: int = 2
    """DDQN agents (varied hyperparameters) whose every real training transition is collected."""
    max_transitions: int = 30_000
    """Transitions collected in all: each collector trains until it solves the task or has taken its share."""
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    validation_share: float = 0.1
    se: SEConfig = field(default_factory=SEConfig)
    """The architecture fitted (an SE recipe's: `for_preset`)."""
    collector: DDQNConfig = field(default_factory=DDQNConfig)
    """The collectors' config (`for_preset`: the recipe's inner-loop DDQN, whose agents the SEs were learned
    with); each trains until it solves the task or has taken its share of max_transitions."""
    vary_collectors: bool = True
    """Each collector samples its lr, batch size and network around `collector` (`for_preset`: the recipe's
    vary_hp)."""
    preset: str | None = None
    """The SE recipe `se`, `collector` and `vary_collectors` were taken from (None: set by hand)."""

    @classmethod
    def for_preset(cls, preset: str, **fields) -> "ModelFitConfig":
        """The baseline of SE recipe `preset`: its SE architecture, fitted to transitions of its agents (with at
        least 1000 episodes each, so that the share of transitions, not a short SE-training episode limit, ends
        their collection)."""
        from benchmark.nes.presets import preset_fields

        recipe = preset_fields(preset)
        agent = {**recipe["agent"], "max_episodes": max(recipe["agent"]["max_episodes"], 1000)}
        return cls(se=SEConfig(**recipe["se"]), collector=DDQNConfig(**agent), vary_collectors=recipe["vary_hp"],
                   preset=preset, **fields)

    def __post_init__(self):
        get_task(self.task)
        check_range("collectors", self.collectors, 1, 1000, integer=True)
        check_range("max_transitions", self.max_transitions, 100, 10**8, integer=True)
        check_range("epochs", self.epochs, 1, 100_000, integer=True)
        check_range("batch_size", self.batch_size, 1, 1 << 20, integer=True)
        check_range("lr", self.lr, 1e-7, 1.0)
        check_range("validation_share", self.validation_share, 0.0, 0.5)


class _Recorder(gym.Wrapper):
    """Keeps every (state, action, next state, reward, terminated) the wrapped environment produces."""

    def __init__(self, env):
        super().__init__(env)
        self.rows: list[np.ndarray] = []
        self._obs = None

    def reset(self, **kwargs):
        self._obs, info = self.env.reset(**kwargs)
        return self._obs, info

    def step(self, action):
        nxt, reward, terminated, truncated, info = self.env.step(action)
        self.rows.append(np.concatenate([self._obs, [action], nxt, [reward, float(terminated)]]).astype(np.float32))
        self._obs = nxt
        return nxt, reward, terminated, truncated, info


def collect_transitions(config: ModelFitConfig) -> np.ndarray:
    """Rows (state, action, next state, reward, terminated) from `collectors` DDQN agents learning the task."""
    task = get_task(config.task, config.solved)
    seeds = rng.child_seeds(config.seed, config.collectors, rng.SeedPath.TRANSITIONS)
    solved = float("inf") if task.solved is None else task.solved  # without a threshold: the step budget alone
    share = config.max_transitions // config.collectors
    base = dataclasses.replace(config.collector, max_train_steps=share)
    agent_configs = sample_configs(base, config.collectors, seed=seeds[0]) if config.vary_collectors \
        else [base] * config.collectors
    rows = []
    for agent_config, seed in zip(agent_configs, seeds):
        env = _Recorder(task.make())
        DDQN(task.obs_dim, task.n_actions, agent_config, seed).train(env, solved=solved, max_steps=task.max_steps)
        rows += env.rows[:share]  # the step budget ends at an episode's end: drop the overshoot
    return np.stack(rows)


def fit_model(config: ModelFitConfig, data: np.ndarray) -> tuple[torch.nn.Module, dict]:
    """Regress the SE network's (next state, reward, done) outputs on (state, one-hot action); MSE loss."""
    task = get_task(config.task)
    d, a = task.obs_dim, task.n_actions
    data = torch.from_numpy(data)
    x = torch.cat([data[:, :d], torch.eye(a)[data[:, d].long()]], dim=1)
    y = data[:, d + 1:]  # next state, reward, terminated
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(x), generator=generator)
    n_val = int(len(x) * config.validation_share)
    val, train = order[:n_val], order[n_val:]
    net = init_uniform_(se_network(task, config.se), generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    for _ in range(config.epochs):
        for batch in torch.randperm(len(train), generator=generator).split(config.batch_size):
            idx = train[batch]
            loss = torch.nn.functional.mse_loss(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        losses = {"train_mse": float(torch.nn.functional.mse_loss(net(x[train]), y[train]))}
        if n_val:
            losses["validation_mse"] = float(torch.nn.functional.mse_loss(net(x[val]), y[val]))
    return net, losses


def fit_models(config: ModelFitConfig, out: Path, count: int, seed_start: int = 0, progress: bool = True, *,
               workers: int = 1, executor=None) -> list[Path]:
    """`count` models with seeds seed_start, ... into out/se_<seed>/, one job each on `workers` local processes
    (or `executor`); finished ones are skipped. A model whose job raised is recorded in out/failures.json and
    the others still finish; then a RuntimeError says to rerun."""
    from benchmark.cells import run_cells
    from benchmark.parallel import executor_scope

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_fit(out, config)
    seeds = range(seed_start, seed_start + count)
    todo = [seed for seed in seeds if not (schema.se_folder(out, seed) / schema.SE_META).exists()]
    with executor_scope(executor, workers) as pool, \
            tqdm(total=count, initial=count - len(todo), disable=not progress, unit="model", desc="fit models") as bar:
        failures = run_cells(pool, todo, submit=lambda seed: pool.submit(
                                 fit_one, dataclasses.replace(config, seed=seed), schema.se_folder(out, seed)),
                             write=lambda seed, _: None, name=lambda seed: schema.se_folder(out, seed).name,
                             failures_path=out / schema.FAILURES, workers=workers, on_done=lambda: bar.update(1))
    if failures:
        raise RuntimeError(f"{len(failures)} model(s) failed (see {out / schema.FAILURES}); rerun to retry them")
    return [schema.se_folder(out, seed) for seed in seeds]


def _check_same_fit(out: Path, config: ModelFitConfig) -> None:
    """ConfigError when a model already in `out` was fitted another way (a set mixes no two baselines; a model of
    an older sebench, without the newer fields, counts as fitted another way)."""
    from benchmark.config_layers import describe_differences, differences

    wanted = {k: v for k, v in dataclasses.asdict(config).items() if k != "seed"}
    for meta_path in sorted(out.glob(f"se_*/{schema.SE_META}")):
        fitted = {k: v for k, v in io.read_json(meta_path).get("fit", {}).items() if k != "seed"}
        if differences(fitted, wanted):
            raise ConfigError(f"{meta_path.parent} was fitted another way than requested "
                              f"({describe_differences(fitted, wanted)}); fit into a new --out")


def fit_one(config: ModelFitConfig, folder: Path) -> None:
    """Collect transitions, fit one model and save it to `folder` (a job: runs in a worker process)."""
    start = time.perf_counter()
    data = collect_transitions(config)
    net, losses = fit_model(config, data)
    Path(folder).mkdir(exist_ok=True)
    schema.save_se(folder, net.state_dict(), {
        "kind": "supervised_model", "task": config.task, "architecture": dataclasses.asdict(config.se),
        "seed": config.seed, "transitions": int(len(data)), **losses, "fit": dataclasses.asdict(config),
        "wall_time_s": time.perf_counter() - start, "real_env_steps": int(len(data)),
        "versions": io.package_versions()})
