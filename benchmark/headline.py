"""The suite's headline in miniature: learn SEs (or take them from the zoo), run a reduced transfer protocol
against the real baseline, write the summary table and the figures. The real baseline does not depend on the SEs,
so its cells are taken from the repository's real-baseline folders where they match (the costliest part: agents
with poor sampled HPs train 1,000 real episodes), unless asked to recompute them."""
from __future__ import annotations

from pathlib import Path

from benchmark import io
from benchmark.nes.trainer import RunConfig
from benchmark.protocol import PROTOCOL_META, REAL, ProtocolConfig, make_settings, run_protocol
from benchmark.se_sets import train_ses

ZOO = Path(__file__).resolve().parents[1] / "results" / "zoo"
"""SE sets kept in the repository: ZOO/<task>/<set>/se_<seed>/."""
BASELINES = ZOO.parent / "transfer"
"""Transfer folders kept in the repository (results/transfer/); those with only the real setting are baselines."""
ZOO_SETS = {"se_fixed_hp": "fixed_hp_v2", "se_varied_hp": "varied_hp_v2"}
"""The headline's SE settings and the zoo set (learned with sebench 0.2.0) each is taken from when not learned."""


def zoo_set(task: str, name: str) -> Path:
    """The zoo's SE set ZOO/TASK/NAME; a ConfigError listing the task's sets if there is none."""
    from benchmark.errors import ConfigError

    path = ZOO / task / name
    if not path.is_dir():
        available = sorted(p.name for p in (ZOO / task).glob("*") if any(p.glob("se_*/se.json")))
        raise ConfigError(f"the zoo has no SE set {task}/{name}; the SE sets of {task} there: {available}")
    return path


def headline_ses(task: str, learn: tuple[str, ...] = ("se_fixed_hp",), iterations: int = 100,
                 ) -> dict[str, Path | RunConfig]:
    """The headline's SE settings (those of ZOO_SETS): the ones in `learn` as the runs that learn them (paper
    settings, fixed or varied agent HPs, up to `iterations` NES iterations), the others as the zoo's sets."""
    return {label: RunConfig(task=task, iterations=iterations, vary_hp=label == "se_varied_hp") if label in learn
            else zoo_set(task, name) for label, name in ZOO_SETS.items()}


def real_baselines(task: str, root: Path = BASELINES) -> list[Path]:
    """The transfer folders under `root` that ran only the real setting of `task`."""
    metas = {path.parent: io.read_json(path) for path in sorted(Path(root).glob(f"*/{PROTOCOL_META}"))}
    return [folder for folder, meta in metas.items()
            if list(meta.get("settings", {})) == [REAL] and meta.get("config", {}).get("task") == task]


def run_headline(out: Path, protocol: ProtocolConfig, ses: dict[str, Path | RunConfig], *,
                 workers: int | None = None, progress: bool = True, resume: bool = True, recompute_real: bool = False,
                 baselines: Path = BASELINES) -> Path:
    """The protocol over the real setting and one setting per entry of `ses` (label -> an SE set's folder, or the
    run that learns protocol.num_envs SEs into out/ses/LABEL first, resumably) into out/transfer; returns that
    folder. Real cells matching those of a real-baseline folder under `baselines` (same protocol fields, sebench
    version and cell numerics) are copied from there unless `recompute_real`."""
    out = Path(out)
    folders = {}
    for label, source in ses.items():
        if isinstance(source, RunConfig):
            folders[label] = out / "ses" / label
            train_ses(source, folders[label], protocol.num_envs, workers=workers, progress=progress, solved_only=False)
        else:
            folders[label] = Path(source)
    settings = make_settings(protocol, [f"{label}={folder}" for label, folder in folders.items()])
    reuse = [] if recompute_real else real_baselines(protocol.task, baselines)
    run_protocol(protocol, settings, out / "transfer", workers=workers, resume=resume, progress=progress,
                 reuse_from=reuse)
    return out / "transfer"


def describe_ses(transfer: Path) -> list[str]:
    """One line per SE a protocol folder used: its setting, folder, and how its NES run ended."""
    lines = []
    for setting, folders in io.read_json(Path(transfer) / PROTOCOL_META)["settings"].items():
        for folder in folders:
            meta = io.read_json(Path(folder) / io.SE_META)
            if "iterations" not in meta:  # a supervised model: no NES run
                lines.append(f"{setting}: {folder}")
                continue
            ended = "solved" if meta.get("solved") else "not solved; its best centre scored " \
                                                        f"{meta.get('centre_score')}"
            lines.append(f"{setting}: {folder} (seed {meta.get('seed')}, {ended} after {meta['iterations']} NES "
                         f"iterations, {_duration(meta.get('wall_time_s', 0.0))} of learning)")
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
