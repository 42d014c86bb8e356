"""The ``isolated`` marker: the test runs in its own pytest process, so a crash in native code (a segfault in a
numba kernel or a codec) fails that one test, with the signal named, and the rest of the run goes on.

``tests/conftest.py`` imports the two hooks below. The test's fixtures are set up in the child process; the parent
only reports the child's outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

CHILD = "EMO_ISOLATED_TEST"  # set in the child, which then runs the test in-process
TAIL = 4000  # characters of the child's output shown when it fails


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "isolated: runs in its own process, so a crash in native code (numba, a codec) fails only this test"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``isolated`` test as ``python -m pytest NODEID`` and turn its exit into this test's outcome."""
    if pyfuncitem.get_closest_marker("isolated") is None or os.environ.get(CHILD):
        return None
    command = [sys.executable, "-m", "pytest", pyfuncitem.nodeid, "-q", "-rs", "-p", "no:cacheprovider"]
    done = subprocess.run(
        command, cwd=pyfuncitem.config.rootpath, env={**os.environ, CHILD: "1"}, capture_output=True, text=True
    )
    output = (done.stdout + done.stderr)[-TAIL:]
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        pytest.fail(f"{pyfuncitem.nodeid} crashed its process with {name}; the run goes on:\n{output}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{pyfuncitem.nodeid} failed in its own process (exit {done.returncode}):\n{output}", pytrace=False)
    if " skipped" in done.stdout and " passed" not in done.stdout:
        pytest.skip(f"skipped in its own process: {done.stdout.strip().splitlines()[-1]}")
    return True
