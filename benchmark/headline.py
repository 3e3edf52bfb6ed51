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


def zoo_set(task: str, name: str) -> Path:
    """The zoo's SE set ZOO/TASK/NAME; a ConfigError listing the task's sets if there is none."""
    from benchmark.errors import ConfigError

    path = ZOO / task / name
    if not path.is_dir():
        available = sorted(p.name for p in (ZOO / task).glob("*") if any(p.glob("se_*/se.json")))
        raise ConfigError(f"the zoo has no SE set {task}/{name}; the SE sets of {task} there: {available}")
    return path


def real_baselines(task: str, root: Path = BASELINES) -> list[Path]:
    """The transfer folders under `root` that ran only the real setting of `task`."""
    metas = {path.parent: io.read_json(path) for path in sorted(Path(root).glob(f"*/{PROTOCOL_META}"))}
    return [folder for folder, meta in metas.items()
            if list(meta.get("settings", {})) == [REAL] and meta.get("config", {}).get("task") == task]


def run_headline(out: Path, protocol: ProtocolConfig, *, zoo: str | None = None, se_run: RunConfig | None = None,
                 workers: int | None = None, progress: bool = True, resume: bool = True, recompute_real: bool = False,
                 baselines: Path = BASELINES) -> Path:
    """SE set (learned into out/ses, or the zoo's set named `zoo`), then the protocol into out/transfer; returns
    that folder. Real cells matching those of a real-baseline folder under `baselines` (same protocol fields,
    sebench version and cell numerics) are copied from there unless `recompute_real`."""
    out = Path(out)
    if zoo:
        ses = zoo_set(protocol.task, zoo)
    else:
        ses = out / "ses"
        train_ses(se_run or RunConfig(task=protocol.task, vary_hp=True), ses, protocol.num_envs,
                  workers=workers, progress=progress)
    settings = make_settings(protocol, [ses])
    reuse = [] if recompute_real else real_baselines(protocol.task, baselines)
    run_protocol(protocol, settings, out / "transfer", workers=workers, resume=resume, progress=progress,
                 reuse_from=reuse)
    return out / "transfer"
