"""A crash in native code fails only the ``isolated`` test it happens in; and numba compiles generic code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

CRASHING_TESTS = """
import os
import signal

import pytest


@pytest.mark.isolated
def test_crashes_like_a_miscompiled_kernel():
    os.kill(os.getpid(), signal.SIGSEGV)


def test_after_the_crash():
    assert True
"""


def test_a_crashing_isolated_test_fails_alone_and_the_run_goes_on(tmp_path: Path) -> None:
    tests = REPO_ROOT / "tests"
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(tests)!r})\nfrom isolation import pytest_configure, pytest_pyfunc_call\n"
    )
    (tmp_path / "test_native.py").write_text(CRASHING_TESTS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "EMO_ISOLATED_TEST"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout and "SIGSEGV" in done.stdout


def test_importing_emo_utils_makes_numba_compile_generic_code() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CPU_NAME"}
    code = "import emo_utils, numba.core.config as c; print(c.CPU_NAME, repr(c.CPU_FEATURES))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment)
    assert done.stdout.split() == ["generic", "''"]
    kept = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**environment, "NUMBA_CPU_NAME": "skylake"},
    )
    assert kept.stdout.split()[0] == "skylake"
