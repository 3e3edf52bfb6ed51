"""The suite's headline in miniature: learn SEs (or take them from the zoo), run a reduced transfer protocol
against the real baseline, write the summary table and the figures."""
from __future__ import annotations

from pathlib import Path

from benchmark.nes.trainer import RunConfig
from benchmark.protocol import ProtocolConfig, make_settings, run_protocol
from benchmark.se_sets import train_ses

ZOO = Path(__file__).resolve().parents[1] / "results" / "zoo"
"""SE sets kept in the repository: ZOO/<task>/<set>/se_<seed>/."""


def zoo_set(task: str, name: str = "varied_hp") -> Path:
    from benchmark.errors import ConfigError

    path = ZOO / task / name
    if not path.is_dir():
        available = sorted(p.name for p in (ZOO / task).glob("*") if any(p.glob("se_*/se.json")))
        raise ConfigError(f"the zoo has no SE set {task}/{name}; the SE sets of {task} there: {available}")
    return path


def run_headline(out: Path, protocol: ProtocolConfig, *, zoo: str | None = None, se_run: RunConfig | None = None,
                 workers: int | None = None, progress: bool = True, resume: bool = True) -> Path:
    """SE set (learned into out/ses, or the zoo's set named `zoo`), then the protocol into out/transfer; returns
    that folder."""
    out = Path(out)
    if zoo:
        ses = zoo_set(protocol.task, zoo)
    else:
        ses = out / "ses"
        train_ses(se_run or RunConfig(task=protocol.task, vary_hp=True), ses, protocol.num_envs,
                  workers=workers, progress=progress)
    settings = make_settings(protocol, [ses])
    run_protocol(protocol, settings, out / "transfer", workers=workers, resume=resume, progress=progress)
    return out / "transfer"
