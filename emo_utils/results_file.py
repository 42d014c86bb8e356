"""What a benchmark writes: one record as ``NAME.json`` and its page as ``NAME.md``, stamped with the machine, its
load and the time of measurement (README, docs and notebooks quote these files: ``docs/quoting.md``)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def machine_line(load_before: float) -> str:
    """The machine and its 1-minute load average before the measurement and now."""
    return (
        f"{platform.node() or 'vm'}, {os.cpu_count()} cores; load average before {load_before:.1f}, "
        f"after {os.getloadavg()[0]:.1f}"
    )


def measured_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def write_results(stem: Path, record: dict[str, Any], lines: list[str]) -> None:
    """``stem.json`` holds ``record``, ``stem.md`` the page ``lines``; the page is also printed."""
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
