"""SE sets: folders of SEs learned with distinct seeds (`sebench train-ses`), and how to find them."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from tqdm.auto import tqdm

from benchmark import io
from benchmark.errors import ConfigError
from benchmark.nes.trainer import GIVEN_UP, GiveUp, RunConfig, train_se
from benchmark.parallel import default_workers, executor_scope

SET_META = "set.json"


def se_folder(out: Path, seed: int) -> Path:
    return Path(out) / f"se_{seed:03d}"


def train_ses(run: RunConfig, out: Path, count: int, seed_start: int = 0, *, workers: int | None = None,
              progress: bool = True, executor=None, scheduler: str | None = None,
              give_up: GiveUp | None = None, max_seeds: int | None = None) -> list[Path]:
    """Learn `count` SEs with seeds seed_start, seed_start+1, ... into out/se_<seed>/ (resumable).

    A finished SE (its se.json exists) is skipped; a started one resumes from its checkpoint. With `give_up`, a
    seed whose population shows no learning is abandoned (out/se_<seed>/given_up.json) and the next seed is
    tried instead, up to `max_seeds` seeds in all (default 3 x count). Jobs run on `executor`, else on a new
    one: the dask.distributed cluster at `scheduler` or local processes. Returns the finished SEs' folders.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    max_seeds = 3 * count if max_seeds is None else max_seeds
    if max_seeds < count:
        raise ConfigError(f"max_seeds={max_seeds} must be at least count={count}")
    workers = default_workers() if workers is None else workers
    finished, abandoned = [], []
    _write_set_meta(out, run, finished, abandoned, give_up)
    with executor_scope(executor, workers, scheduler) as pool, \
            tqdm(total=count, disable=not progress, unit="SE", desc=f"SE set {out.name}") as bar:
        for seed in range(seed_start, seed_start + max_seeds):
            if len(finished) == count:
                break
            folder = se_folder(out, seed)
            if not (folder / io.SE_META).exists() and not (give_up and (folder / GIVEN_UP).exists()):
                train_se(dataclasses.replace(run, seed=seed), folder, workers=workers, resume=True,
                         progress=progress, executor=pool, give_up=give_up)
            if (folder / io.SE_META).exists():
                finished.append(seed)
                bar.update(1)
            else:
                abandoned.append(seed)
            _write_set_meta(out, run, finished, abandoned, give_up)
    return [se_folder(out, s) for s in finished]


def _write_set_meta(out: Path, run: RunConfig, finished: list[int], abandoned: list[int],
                    give_up: GiveUp | None) -> None:
    io.write_json(out / SET_META, {"run": run.to_dict(), "seeds": finished, "given_up_seeds": abandoned,
                                   "give_up": dataclasses.asdict(give_up) if give_up else None,
                                   "versions": io.package_versions()})


def find_ses(path: Path) -> list[Path]:
    """The finished SEs in `path`: the folder itself when it holds one SE, else its sub-folders that do
    (sorted by name)."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"SE set {path} is not a directory")
    if (path / io.SE_META).exists():
        return [path]
    found = sorted(p for p in path.iterdir() if (p / io.SE_META).exists())
    if not found:
        raise ConfigError(f"SE set {path} holds no finished SE (no sub-folder with {io.SE_META})")
    return found


def set_label(meta: dict) -> str:
    """A setting name from an SE's metadata: supervised, se_varied_hp or se_fixed_hp."""
    if meta.get("kind") == "supervised_model":
        return "supervised"
    return "se_varied_hp" if meta.get("vary_hp") else "se_fixed_hp"
