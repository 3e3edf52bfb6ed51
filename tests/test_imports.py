"""The import rules (scripts/check_imports.py): no import cycles, no private names taken across modules, and
analysis/ free of training code; the checker itself on small trees that break each rule."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "scripts" / "check_imports.py"


def _check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), str(root)], capture_output=True, text=True, timeout=120)


def test_the_repository_keeps_the_import_rules():
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr
    assert "no import cycles" in result.stdout


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in ("benchmark", "analysis"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("files, message", [
    ({"benchmark/a.py": "from benchmark import b\n", "benchmark/b.py": "from benchmark.a import x\n"},
     "import cycle: benchmark.a -> benchmark.b -> benchmark.a"),
    ({"benchmark/sub/__init__.py": "from . import a\n", "benchmark/sub/a.py": "import benchmark.sub\n"},
     "import cycle: benchmark.sub -> benchmark.sub.a -> benchmark.sub"),
    ({"benchmark/a.py": "_x = 1\n", "benchmark/b.py": "def f():\n    from benchmark.a import _x\n"},
     "private name imported across modules: from benchmark.a import _x"),
    ({"benchmark/a.py": "def _f(): pass\n", "benchmark/b.py": "from benchmark import a\nY = a._f\n"},
     "private name of another module used: a._f"),
    ({"benchmark/engine.py": "", "analysis/x.py": "def f():\n    from benchmark import engine\n"},
     "analysis/ imports training code: benchmark.engine"),
    ({"benchmark/engine.py": "", "benchmark/schema.py": "from benchmark import engine\n",
      "analysis/x.py": "from benchmark import schema\n"},
     "imported by analysis/ but pulls in benchmark.engine"),
])
def test_the_checker_names_each_broken_rule(tmp_path, files, message):
    result = _check(_tree(tmp_path, files))
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_deferred_and_type_checking_imports_make_no_cycle(tmp_path):
    files = {"benchmark/a.py": "from benchmark import b\n",
             "benchmark/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from benchmark import a\n"
                               "def f():\n    from benchmark import a\n",
             "benchmark/c.py": "from benchmark.a import load as _load\n"}  # an alias is not a private import
    result = _check(_tree(tmp_path, files))
    assert result.returncode == 0, result.stderr
