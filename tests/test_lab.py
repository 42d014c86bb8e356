"""scripts/lab.sh opens the course in JupyterLab: bound to 127.0.0.1, rooted at the repository, at notebooks/."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

LAB_SH = REPO_ROOT / "scripts" / "lab.sh"


def _lab_sh(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EMO_PYTHON": sys.executable}  # this environment, not a fresh .venv
    return subprocess.run(["bash", str(LAB_SH), *args], env=env, capture_output=True, text=True, timeout=60, check=True)


def test_help_says_how_to_open_the_course() -> None:
    out = _lab_sh("--help").stdout
    assert "JupyterLab" in out and "--dry-run" in out and "--port" in out


def test_dry_run_prints_a_local_command_and_url_with_a_token() -> None:
    out = _lab_sh("--dry-run", "--port", "18765").stdout
    command, url = out.strip().splitlines()
    assert "jupyter lab" in command and "--ip=127.0.0.1" in command
    assert f"--ServerApp.root_dir={REPO_ROOT}" in command and "default_url=/lab/tree/notebooks" in command
    match = re.fullmatch(r"URL: http://127\.0\.0\.1:(\d+)/lab/tree/notebooks\?token=([0-9a-f]{48})", url)
    assert match, url
    assert int(match[1]) >= 18765 and f"--IdentityProvider.token={match[2]}" in command


@pytest.mark.slow  # seconds: left out of the fast loop
def test_the_environment_has_jupyterlab() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "jupyter", "lab", "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    assert re.fullmatch(r"4\.\d+\.\d+", version), version
