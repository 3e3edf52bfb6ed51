"""The suite's headline in miniature: learn SEs (or take them from the zoo), run a reduced transfer protocol
against the real baseline, write the summary table and the figures. The real baseline does not depend on the SEs,
so its cells are taken from the repository's real-baseline folders where they match (the costliest part: agents
with poor sampled HPs train 1,000 real episodes), unless asked to recompute them."""
from __future__ import annotations

from pathlib import Path

from benchmark import io
from benchmark.config_layers import differences, layered
from benchmark.envs.synthetic import LEGACY_SE_FIELDS
from benchmark.nes.presets import preset_fields
from benchmark.nes.trainer import RunConfig
from benchmark.protocol import ProtocolConfig, make_settings, run_protocol
from benchmark.schema import PROTOCOL_META, REAL, SE_META, SES
from benchmark.se_sets import train_ses

ZOO = Path(__file__).resolve().parents[1] / "results" / "zoo"
"""SE sets kept in the repository: ZOO/<task>/<set>/se_<seed>/."""
BASELINES = ZOO.parent / "transfer"
"""Transfer folders kept in the repository (results/transfer/); those with only the real setting are baselines."""
ZOO_SETS = {"se_fixed_hp": ("fixed_hp_v3", "fixed_hp_v2"), "se_varied_hp": ("paper_transfer_v3", "varied_hp_v2")}
"""The headline's SE settings and the zoo sets each is taken from when not learned: the first that exists (the
0.3.0 sets, learned under the K-centre-agent rule, before the 0.2.0 ones)."""
LEARNED = {"se_fixed_hp": "quick", "se_varied_hp": "paper_transfer"}
"""The preset with which the headline learns each setting's SE: the fixed-HP SE is the `quick` preset's
(paper_transfer's NES and SE, 4 centre agents with a small fixed-HP DDQN, 8 noise directions: minutes on 2 cores);
the varied-HP SE is the paper_transfer recipe itself (hours on 2 cores)."""


def zoo_set(task: str, name: str | tuple[str, ...]) -> Path:
    """The zoo's SE set ZOO/TASK/NAME (the first of several names that exists); a ConfigError listing the task's
    sets if there is none."""
    from benchmark.errors import ConfigError

    for candidate in (name,) if isinstance(name, str) else name:
        if (ZOO / task / candidate).is_dir():
            return ZOO / task / candidate
    available = sorted(p.name for p in (ZOO / task).glob("*") if any(p.glob(f"se_*/{SE_META}")))
    raise ConfigError(f"the zoo has no SE set {task}/{name}; the SE sets of {task} there: {available}")


def learned_run(label: str, task: str, iterations: int) -> RunConfig:
    """The RunConfig with which the headline learns setting `label`'s SE (LEARNED), on `task`."""
    preset = LEARNED[label]
    fields = layered(RunConfig().to_dict(), (f"preset {preset}", preset_fields(preset)),
                     ("headline", {"task": task, "iterations": iterations}))
    return RunConfig.from_dict(fields)


def headline_ses(task: str, learn: tuple[str, ...] = ("se_fixed_hp",), iterations: int = 10,
                 ) -> dict[str, Path | RunConfig]:
    """The headline's SE settings (those of ZOO_SETS): the ones in `learn` as the runs that learn them (LEARNED,
    up to `iterations` NES iterations), the others as the zoo's sets."""
    return {label: learned_run(label, task, iterations) if label in learn else zoo_set(task, names)
            for label, names in ZOO_SETS.items()}


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
            folders[label] = out / SES / label
            train_ses(source, folders[label], protocol.num_envs, workers=workers, progress=progress, solved_only=False)
        else:
            folders[label] = Path(source)
    settings = make_settings(protocol, [f"{label}={folder}" for label, folder in folders.items()])
    reuse = [] if recompute_real else real_baselines(protocol.task, baselines)
    run_protocol(protocol, settings, out / "transfer", workers=workers, resume=resume, progress=progress,
                 reuse_from=reuse)
    return out / "transfer"


def describe_ses(transfer: Path) -> list[str]:
    """One line per SE a protocol folder used: its setting, folder, recipe and how its NES run ended; then, where
    there are several learned SEs, how each one's recipe differs from the first's."""
    lines, recipes = [], {}
    for setting, folders in io.read_json(Path(transfer) / PROTOCOL_META)["settings"].items():
        for folder in folders:
            meta = io.read_json(Path(folder) / SE_META)
            if "iterations" not in meta:  # a supervised model: no NES run
                lines.append(f"{setting}: {folder}")
                continue
            recipes.setdefault(setting, recipe_fields(meta))
            ended = "solved" if meta.get("solved") else "not solved; its best centre scored " \
                                                        f"{meta.get('centre_score')}"
            lines.append(f"{setting}: {folder} ({recipe(meta)}; seed {meta.get('seed')}, {ended} after "
                         f"{meta['iterations']} NES iterations, {_duration(meta.get('wall_time_s', 0.0))} of learning)")
    settings = list(recipes)
    for other in settings[1:]:
        changed = differences(recipes[settings[0]], recipes[other], wording="{field} {a} vs {b}")
        lines.append(f"{settings[0]} vs {other}: " + ("; ".join(changed) if changed else "the same recipe"))
    return lines


def recipe_fields(meta: dict) -> dict:
    """An SE's NES run settings from its se.json, flattened (`nes.noise_std`, ...); an SE from before 0.3.0 was
    scored by one centre agent and has no preset."""
    run = {"preset": "none (sebench < 0.3.0)", "centre_agents": 1, **meta.get("run", {})}
    run["se"] = {**LEGACY_SE_FIELDS, **run.get("se", {})}
    flat = {}
    for key, value in run.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        elif key not in ("seed", "task"):
            flat[key] = value
    return flat


def recipe(meta: dict) -> str:
    """An SE's recipe in a few words: preset, centre agents, agent hyperparameters, noise directions."""
    fields = recipe_fields(meta)
    hps = "varied" if fields.get("vary_hp") else "fixed"
    return (f"preset {fields['preset']}, {fields['centre_agents']} centre agent(s) with {hps} HPs, "
            f"population {fields.get('nes.population')}")


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
