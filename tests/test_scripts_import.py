"""Every script in benchmarks/ and scripts/ imports cleanly (nothing runs before ``if __name__ == "__main__"``), so
a renamed library function breaks this test, not the next person who runs the benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import REPO_ROOT

SCRIPTS = sorted([*(REPO_ROOT / "benchmarks").glob("*.py"), *(REPO_ROOT / "scripts").glob("*.py")])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_imports_without_running(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert 'if __name__ == "__main__":' in script.read_text(), f"{script}: run its work under a __main__ guard"
    monkeypatch.setattr("sys.argv", [str(script), "--not-an-option"])  # a top-level parse_args would exit
    spec = importlib.util.spec_from_file_location(f"script_{script.parent.name}_{script.stem}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # an ImportError (a function that no longer exists) fails here
