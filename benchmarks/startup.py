#!/usr/bin/env python
"""Start-up time of ``import emo_utils`` and ``emo --help`` (a benchmark, not a test): each command runs in
several fresh Python processes; the median wall time, and which heavy libraries the process imported, go to
``benchmarks/startup.md``.

    .venv/bin/python benchmarks/startup.py [--runs 7] [--label after]

Each process is cold for Python (a new interpreter) but warm for the operating system's file cache: the first,
untimed, run of each command fills it. ``--label`` names a column, so a before/after pair can be written by
running it on two checkouts (``--keep`` keeps the other columns already in the file).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "startup.md"
HEAVY = ("torch", "librosa", "cv2", "pandas", "matplotlib", "sklearn", "transformers", "opensmile", "numba", "scipy")
COMMANDS = {
    "import emo_utils": ["-c", "import emo_utils"],
    "emo --help": ["-m", "emo_utils.cli", "--help"],
    "emo workflow --help": ["-m", "emo_utils.cli", "workflow", "--help"],
}
# Prints the heavy top-level modules a command left in sys.modules (run in the same process, after the command).
PROBE = "import sys; print(' '.join(m for m in {heavy} if m in sys.modules))"


def run_once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=_env())
    return time.perf_counter() - start


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def heavy_imports(args: list[str]) -> str:
    """The heavy libraries the command imports (``emo --help`` exits inside argparse, so it is probed by parsing)."""
    if args[0] == "-c":
        code = args[1]
    else:
        code = (
            "import contextlib, io\nfrom emo_utils.cli import build_parser\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    build_parser().parse_args({args[2:]!r})"
        )
    probe = PROBE.format(heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{probe}"], check=True, capture_output=True, text=True, cwd=ROOT, env=_env()
    )
    return out.stdout.strip() or "none"


def measure(runs: int) -> dict[str, tuple[float, float, str]]:
    """Command -> (median seconds, slowest seconds, heavy libraries imported)."""
    results = {}
    for name, args in COMMANDS.items():
        run_once(args)  # fills the file cache
        times = [run_once(args) for _ in range(runs)]
        results[name] = (statistics.median(times), max(times), heavy_imports(args))
    return results


def _existing_columns() -> dict[str, list[str]]:
    """Label -> its table rows, from an earlier ``startup.md`` (kept with ``--keep``)."""
    if not OUT.exists():
        return {}
    columns: dict[str, list[str]] = {}
    for line in OUT.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[0] not in ("checkout", "---"):
            columns.setdefault(cells[0], []).append(line)
    return columns


def write(results: dict[str, tuple[float, float, str]], label: str, runs: int, keep: bool) -> str:
    rows = [f"| {label} | `{n}` | {m:.2f} s | {hi:.2f} s | {h} |" for n, (m, hi, h) in results.items()]
    kept = {k: v for k, v in _existing_columns().items() if k != label} if keep else {}
    load = os.getloadavg()
    text = (
        "# Start-up time\n\n"
        f"Median and slowest of {runs} fresh Python processes per command (file cache warm), measured "
        f"{time.strftime('%Y-%m-%d %H:%M')} by `benchmarks/startup.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average {load[0]:.2f} at the end "
        "(the machine is shared). "
        "Goal: `import emo_utils` and `emo --help` each under 1 s.\n\n"
        "| checkout | command | median | slowest | heavy libraries imported |\n|---|---|---|---|---|\n"
        + "".join(line + "\n" for lines in kept.values() for line in lines)
        + "\n".join(rows)
        + "\n"
    )
    OUT.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed processes per command")
    parser.add_argument("--label", default="this checkout", help="name of this checkout in the table")
    parser.add_argument("--keep", action="store_true", help="keep the other checkouts' rows already in the file")
    args = parser.parse_args()
    print(write(measure(args.runs), args.label, args.runs, args.keep))


if __name__ == "__main__":
    main()
