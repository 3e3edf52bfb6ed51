"""File formats: tensors (safetensors) with JSON metadata, JSON, CSV; every write is atomic (temp file + rename),
nothing is ever unpickled. What the files of a result folder are called and hold is `benchmark.schema`'s."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from benchmark.errors import ConfigError, OutputError

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) then rename tmp_path onto path (same folder, so the rename is atomic). An OSError (disk
    full, no permission) is raised as an OutputError naming `path`; path itself is then as it was before."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OutputError.of(path, err) from err
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # after writing: some writers recreate the file as 0600
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError) and (
                err.filename is None or str(err.filename) in (tmp, str(path))):  # not e.g. a copy's source file
            raise OutputError.of(path, err) from err
        failed = _safetensors_io_error(err)
        if failed is not None:
            raise OutputError.of(path, failed) from err
        raise


def _safetensors_io_error(err: BaseException) -> OSError | None:
    """The OSError inside a safetensors write error ("I/O error: No space left on device (os error 28)")."""
    found = re.search(r"I/O error: (.*?) \(os error (\d+)\)", str(err)) if isinstance(err, SafetensorError) else None
    return None if found is None else OSError(int(found.group(2)), found.group(1))


def copy_file(src: Path, dst: Path) -> None:
    """Copy src to dst atomically."""
    atomic_write(dst, lambda p: shutil.copyfile(src, p))


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default)))


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"corrupted JSON file {path}: {err}") from None


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda p: frame.to_csv(p, index=False))


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    meta = {"json": json.dumps(metadata, default=_json_default)} if metadata is not None else None
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Tensors and the JSON metadata stored with them; a ConfigError for a missing or corrupted file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"missing file {path}")
    try:
        with safe_open(str(path), "pt") as f:  # one read: tensors and metadata
            tensors = {key: f.get_tensor(key) for key in f.keys()}
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(f"corrupted safetensors file {path}: {err}") from None
    return tensors, (json.loads(meta["json"]) if "json" in meta else None)


def prepare_out_dir(out: Path, resume: bool, marker: str) -> Path:
    """Create `out` (or check it for --resume); refuse to overwrite a finished or started run silently."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} exists and is not a directory")
    if not resume and (out / marker).exists():
        raise ConfigError(f"out={out} already holds a run ({marker}); pass --resume to continue it or "
                          "choose another directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"out={out} is not writable: {err.strerror}") from None
    return out


def package_versions() -> dict[str, str]:
    import ConfigSpace
    import gymnasium

    from benchmark import __version__
    return {"sebench": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "gymnasium": gymnasium.__version__, "numpy": np.__version__, "ConfigSpace": ConfigSpace.__version__,
            **host_description()}


def host_description() -> dict[str, str]:
    """The CPU model and the SIMD path torch's CPU kernels take on it. Same seed, same floats holds on one host;
    another CPU (AVX2 vs AVX512 kernels) can round differently, and an agent's trajectory amplifies that."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _json_default(obj):
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")

