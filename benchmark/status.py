"""`sebench status DIR`: where a long run stands, read from its files alone (it runs nothing).

Knows SE runs (train-se / train-ses / fit-models folders) and transfer folders; reading a folder while its run
writes is safe, because every file is replaced atomically.
"""
from __future__ import annotations

from pathlib import Path

from benchmark import io
from benchmark.errors import ConfigError
from benchmark.schema import (CHECKPOINT, FAILURES, GIVEN_UP, HISTORY, PROTOCOL_META, SE_META, SET_META,
                              UNFINISHED_ITERATION, cell_path, complete_envs, read_history)


def describe(path: Path) -> list[str]:
    """Lines that say where the run in `path` stands."""
    path = Path(path)
    if (path / PROTOCOL_META).is_file():
        return _transfer(path)
    if _is_se_run(path):
        return [_se_run(path)]
    is_set = (path / SET_META).is_file()  # a set's seed folder is a run from its creation, files or not
    runs = sorted(p for p in path.iterdir() if p.is_dir() and (_is_se_run(p) or is_set and p.name.startswith("se_"))) \
        if path.is_dir() else []
    if not runs and is_set:
        return [f"{path}: an SE set that has started, with no seed's files yet (its first NES iteration is running)"]
    if not runs:
        raise ConfigError(f"{path} is neither a transfer folder nor an SE run or set (train-se, train-ses, fit-models)")
    states = [_se_state(p) for p in runs]
    finished, given_up = states.count("finished"), states.count("given up")
    return [f"{path}: {finished} finished, {given_up} given up, {len(runs) - finished - given_up} learning",
            *(f"  {_se_run(p)}" for p in runs)]


def _se_state(folder: Path) -> str:
    """finished, given up or learning."""
    if (folder / SE_META).is_file():
        return "finished"
    return "given up" if (folder / GIVEN_UP).is_file() else "learning"


def _is_se_run(folder: Path) -> bool:
    """A folder with an SE, a checkpoint or history, or the finished jobs of a first iteration in progress."""
    return (any((folder / name).is_file() for name in (SE_META, CHECKPOINT, HISTORY))
            or (folder / UNFINISHED_ITERATION).is_dir())


def _se_run(folder: Path) -> str:
    history = read_history(folder)
    best = max(history, key=lambda r: float(r["centre_score"])) if history else None
    best_text = f"best centre {float(best['centre_score']):.1f} at iteration {best['iteration']}" if best else ""
    state = _se_state(folder)
    if state == "finished":
        meta = io.read_json(folder / SE_META)
        if meta.get("kind") == "reward_network":
            return f"{folder.name} finished: reward network, {len(history)} NES iterations"
        if meta.get("kind") == "supervised_model":
            mse = float(meta.get("validation_mse", float("nan")))
            return f"{folder.name} finished: supervised model, validation MSE {mse:.4g}"
        solved = "solved" if meta.get("solved") else "not solved"
        return (f"{folder.name} finished ({solved}): centre {float(meta.get('centre_score', float('nan'))):.1f} "
                f"after {meta.get('iterations', len(history))} iterations; {best_text}")
    if state == "given up":
        return f"{folder.name} given up after {len(history)} iteration(s); {best_text}"
    kept = len(list((folder / UNFINISHED_ITERATION).glob("*.json")))
    kept_text = f"; {kept} job(s) of the next iteration done" if kept else ""
    if not history:
        return f"{folder.name} learning: no iteration finished yet{kept_text}"
    return (f"{folder.name} learning: {len(history)} iteration(s), last centre {float(history[-1]['centre_score']):.1f}, "
            f"{best_text}, last iteration {float(history[-1]['time_s']):.0f} s{kept_text}")


def _transfer(path: Path) -> list[str]:
    meta = io.read_json(path / PROTOCOL_META)
    config, settings = meta["config"], list(meta["settings"])
    total = len(settings) * len(config["agents"]) * config["num_envs"]
    done = {(s, a): sum(cell_path(path, s, a, e).exists() for e in range(config["num_envs"]))
            for s in settings for a in config["agents"]}
    lines = [f"{path}: {sum(done.values())} of {total} cells done ({len(settings)} settings x "
             f"{len(config['agents'])} agents x {config['num_envs']} envs)"]
    lines += [f"  {s} / {a}: {n} of {config['num_envs']}" for (s, a), n in done.items()]
    lines += [f"  {s}: the first {complete_envs(path, s, config['agents'])} env(s) complete for every agent"
              for s in settings]
    if (path / FAILURES).is_file():
        failures = io.read_json(path / FAILURES)
        lines.append(f"  {len(failures)} failed cell(s), rerun with --resume: {', '.join(sorted(failures))}")
    return lines
