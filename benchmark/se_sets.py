"""SE sets: folders of SEs learned with distinct seeds (`sebench train-ses`), and how to find them."""
from __future__ import annotations

import dataclasses
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from tqdm.auto import tqdm

from benchmark import io
from benchmark.errors import ConfigError, check_range
from benchmark.nes.trainer import NO_LEARNING, GiveUp, RunConfig, given_up_reason, train_se
from benchmark.parallel import SerialExecutor, default_workers, executor_scope
from benchmark.schema import GIVEN_UP, HISTORY, SE_META, SET_META, se_folder


def train_ses(run: RunConfig, out: Path, count: int, seed_start: int = 0, *, workers: int | None = None,
              progress: bool = True, executor=None, scheduler: str | None = None,
              give_up: GiveUp | None = None, max_seeds: int | None = None, concurrent: int = 1,
              solved_only: bool = True) -> list[Path]:
    """Learn `count` solved SEs with seeds seed_start, seed_start+1, ... into out/se_<seed>/ (resumable).

    A finished SE (its se.json exists) is skipped; a started one resumes from its checkpoint. As in the paper, only
    solved SEs make a set: a seed that has not solved within run.iterations is given up (out/se_<seed>/
    given_up.json, reason unsolved) and the next seed is tried (solved_only=False: its best centre is an SE of the
    set too); so is, with `give_up`, a seed whose population shows no learning (reason no_learning). At most
    `max_seeds` seeds are tried (default 3 x count); set.json records the yield (solved / tried). Jobs run on
    `executor`, else on a new one: the dask.distributed cluster at `scheduler` or local processes. `concurrent` seeds train at once on
    that executor, so one run's jobs fill the workers another run leaves idle at the end of its NES iterations;
    the set is the same as one seed at a time (the first `count` seeds that finish, in seed order: a seed
    starts only while fewer than `count` seeds are finished or running). Returns the finished SEs' folders.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    max_seeds = 3 * count if max_seeds is None else max_seeds
    if max_seeds < count:
        raise ConfigError(f"max_seeds={max_seeds} must be at least count={count}")
    check_range("concurrent", concurrent, 1, 64, integer=True)
    workers = default_workers() if workers is None else workers
    finished, abandoned = [], []
    _write_set_meta(out, run, finished, abandoned, give_up)

    def learn(seed: int) -> bool:
        folder = se_folder(out, seed)
        if not (folder / SE_META).exists() and not _stays_given_up(folder, run, give_up):
            train_se(dataclasses.replace(run, seed=seed), folder, workers=workers, resume=True,
                     progress=progress and concurrent == 1, executor=pool, give_up=give_up,
                     solved_only=solved_only)
        return (folder / SE_META).exists()

    done_before = {s for s in range(seed_start, seed_start + max_seeds) if (se_folder(out, s) / SE_META).exists()}

    def ended(results: dict[int, bool]) -> None:
        bar.update(sum(solved and seed not in done_before for seed, solved in results.items()))
        for seed, solved in results.items():
            (finished if solved else abandoned).append(seed)
        finished.sort()
        abandoned.sort()
        _write_set_meta(out, run, finished, abandoned, give_up)

    # runs outside pool: on an error or Ctrl-C the pool is shut down first, which ends the other runs' threads
    with SerialExecutor() if concurrent == 1 else ThreadPoolExecutor(concurrent) as runs, \
            executor_scope(executor, workers, scheduler) as pool, \
            tqdm(total=count, initial=min(len(done_before), count), disable=not progress, unit="SE",
                 desc=f"SE set {out.name}") as bar:
        _run_seeds(runs, learn, range(seed_start, seed_start + max_seeds), count, concurrent, ended,
                   lambda running: bar.set_postfix_str(" | ".join(latest_iteration(se_folder(out, s))
                                                                 for s in running)))
    return [se_folder(out, s) for s in finished]


def _run_seeds(runs, learn, seeds, count: int, concurrent: int, ended, show) -> None:
    """Run learn(seed) -> solved for `seeds` in order on executor `runs`, `concurrent` at a time, until `count`
    have solved or the seeds run out (a seed starts only while fewer than `count` are solved or running);
    ended({seed: solved}) whenever runs end, show(running seeds) every 30 s while several run."""
    seeds, running, solved = iter(seeds), {}, 0
    while True:
        while len(running) < concurrent and solved + len(running) < count:
            seed = next(seeds, None)
            if seed is None:
                break
            running[runs.submit(learn, seed)] = seed
        if not running:
            return
        done = wait(running, timeout=None if concurrent == 1 else 30, return_when=FIRST_COMPLETED).done
        if concurrent > 1:
            show(sorted(running.values()))
        results = {running.pop(future): future.result() for future in done}
        solved += sum(results.values())
        if results:
            ended(results)


def _stays_given_up(folder: Path, run: RunConfig, give_up: GiveUp | None) -> bool:
    """A given-up seed stays given up while its reason holds: a no-learning rule still applies, or the iteration
    limit it did not solve within has not been raised."""
    reason = given_up_reason(folder)
    if reason is None:
        return False
    if reason == NO_LEARNING:
        return give_up is not None
    return io.read_json(folder / GIVEN_UP)["iterations"] >= run.iterations


def latest_iteration(folder: Path) -> str:
    """`se_<seed> it N centre S`: the last iteration in a running SE's history (for the progress bar)."""
    try:
        last = (folder / HISTORY).read_text().strip().splitlines()[-1].split(",")
        return f"{folder.name} it {int(last[0]) + 1} centre {float(last[1]):.1f}"
    except (OSError, IndexError, ValueError):
        return f"{folder.name} starting"


def _write_set_meta(out: Path, run: RunConfig, finished: list[int], abandoned: list[int],
                    give_up: GiveUp | None) -> None:
    tried = len(finished) + len(abandoned)
    io.write_json(out / SET_META, {"run": run.to_dict(), "seeds": finished, "given_up_seeds": abandoned,
                                   "given_up_reasons": {str(s): given_up_reason(se_folder(out, s)) for s in abandoned},
                                   "tried": tried, "yield": len(finished) / tried if tried else None,
                                   "give_up": dataclasses.asdict(give_up) if give_up else None,
                                   "versions": io.package_versions()})


def find_ses(path: Path) -> list[Path]:
    """The finished SEs in `path`: the folder itself when it holds one SE, else its sub-folders that do
    (sorted by name)."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"SE set {path} is not a directory")
    if (path / SE_META).exists():
        return [path]
    found = sorted(p for p in path.iterdir() if (p / SE_META).exists())
    if not found:
        raise ConfigError(f"SE set {path} holds no finished SE (no sub-folder with {SE_META})")
    return found


def given_up_runs(ses: list[Path]) -> list[Path]:
    """The runs given up (`--give-up-after`) on the way to these SEs: per set folder, its given-up seeds below
    the largest seed among `ses` (a success rate over the SEs alone would count only the runs that solved)."""
    runs = []
    for parent in sorted({Path(se).parent for se in ses}):
        seeds = [io.read_json(se / SE_META).get("seed") for se in ses if Path(se).parent == parent]
        last = max((s for s in seeds if s is not None), default=None)
        if last is not None:
            runs += [f.parent for f in sorted(parent.glob(f"se_*/{GIVEN_UP}")) if io.read_json(f)["seed"] < last]
    return runs


def set_label(meta: dict) -> str:
    """A setting name from an SE's metadata: supervised, se_varied_hp or se_fixed_hp."""
    if meta.get("kind") == "supervised_model":
        return "supervised"
    return "se_varied_hp" if meta.get("vary_hp") else "se_fixed_hp"
