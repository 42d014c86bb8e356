#!/usr/bin/env python
"""Where a workflow run spends its time: cProfile around ``emo_utils.workflow.run_workflow`` (a measurement, not
a test; nothing is asserted).

    .venv/bin/python benchmarks/profile_workflow.py --label demo --out /tmp/run_demo
    .venv/bin/python benchmarks/profile_workflow.py --label ravdess --data-root ../shared/data/ravdess \\
        --out /tmp/run_ravdess --features-dir /tmp/ravdess_features

Writes ``benchmarks/profile_<label>.md``: the command, the machine load, the wall time, the peak resident memory
(this process and its largest worker) and the top entries by cumulative time. Work done in worker processes
shows as the time the main process waits for them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import platform
import pstats
import re
import resource
import sys
import threading
import time
from pathlib import Path

from emo_utils.workflow import WorkflowSettings, run_workflow

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory in MB of this process and of its largest finished child (Linux reports KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, child


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (0 when it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (the workers of this run), read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


class MemoryWatch(logging.Handler):
    """Samples this process's resident memory and that of all its workers every ``every`` seconds, and knows
    which part of the run was going on (from the workflow's log lines), so the peak can be placed."""

    PHASE = re.compile(r"^\[(.*?)\](?= |$)")

    def __init__(self, every: float = 1.0) -> None:
        super().__init__()
        self.every, self.phase = every, "set-up"
        self.peak_main = (0.0, "")
        self.peak_total = (0.0, "")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PHASE.match(record.getMessage())
        if match:
            self.phase = match.group(1)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.every):
            main = rss_mb(me)
            total = main + sum(rss_mb(pid) for pid in descendants(me))
            if main > self.peak_main[0]:
                self.peak_main = (main, self.phase)
            if total > self.peak_total[0]:
                self.peak_total = (total, self.phase)

    def __enter__(self) -> MemoryWatch:
        logging.getLogger("emo_utils").addHandler(self)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        logging.getLogger("emo_utils").removeHandler(self)


def top_entries(profile: cProfile.Profile, n: int) -> str:
    """The ``n`` entries with the largest cumulative time, as pstats prints them."""
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("cumulative").print_stats(n)
    text = stream.getvalue()
    start = text.find("   ncalls")
    return text[start:].rstrip() if start >= 0 else text.rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True, help="names the output: benchmarks/profile_<label>.md")
    parser.add_argument("--data-root", type=Path, help="a corpus (default: the synthetic demo corpus)")
    parser.add_argument("--out", type=Path, required=True, help="the run folder (cold: an empty one)")
    parser.add_argument("--features-dir", type=Path, help="feature cache shared between runs")
    parser.add_argument("--branches", nargs="+", help="branches (default: every one whose inputs exist)")
    parser.add_argument("--clip-limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", default=None, help="6, emobox, ... (default: the corpus's scheme)")
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: every core)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    folds = int(args.folds) if args.folds and args.folds.isdigit() else args.folds
    settings = WorkflowSettings(
        data_root=args.data_root,
        out=args.out,
        branches=tuple(args.branches) if args.branches else None,
        clip_limit=args.clip_limit,
        folds=folds,
        seed=args.seed,
        n_jobs=args.jobs,
        progress=False,
        features_dir=args.features_dir,
    )
    load_before = os.getloadavg()
    cpu_before = os.times()
    profile = cProfile.Profile()
    started = time.perf_counter()
    with MemoryWatch() as memory:
        profile.enable()
        metrics = run_workflow(settings)
        profile.disable()
    wall = time.perf_counter() - started
    own, child = peak_rss_mb()
    cpu = os.times()
    cpu_own = cpu.user + cpu.system - cpu_before.user - cpu_before.system
    cpu_children = cpu.children_user + cpu.children_system - cpu_before.children_user - cpu_before.children_system
    branches = ", ".join(f"{n} {m['accuracy']:.3f}" for n, m in metrics["branches"].items())
    text = "\n".join(
        [
            f"# Profile `{args.label}`",
            "",
            f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
            "",
            f"- data: {metrics['dataset']} ({'synthetic demo corpus' if metrics['synthetic'] else 'real'}), "
            f"{metrics['n_takes']} takes; branches: {', '.join(metrics['branches']) or 'none'}",
            f"- accuracy (out of fold, for checking that nothing else changed): {branches}",
            f"- wall time: {wall:.0f} s",
            f"- CPU time: {cpu_own:.0f} s in this process, {cpu_children:.0f} s in finished child processes "
            "(on a loaded machine the wall time is mostly waiting for a core)",
            f"- peak resident memory: {own:.0f} MB (this process), {child:.0f} MB (largest worker process)",
            f"- sampled every second: this process peaked at {memory.peak_main[0]:.0f} MB during "
            f"`{memory.peak_main[1]}`; this process and its workers together at {memory.peak_total[0]:.0f} MB "
            f"during `{memory.peak_total[1]}`",
            f"- machine: {platform.node()}, {os.cpu_count()} cores; load average before "
            f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}",
            f"- measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            "Wall time per branch (features, training, baselines; from the run's `metrics.json`):",
            "",
            "| branch | wall s | accuracy |",
            "|---|---|---|",
            *(
                f"| {name} | {m.get('wall_time_s', float('nan')):.0f} | {m['accuracy']:.3f} |"
                for name, m in metrics["branches"].items()
            ),
            "",
            f"Top {args.top} by cumulative time (main process; workers show as waiting):",
            "",
            "```",
            top_entries(profile, args.top),
            "```",
            "",
        ]
    )
    path = ROOT / "benchmarks" / f"profile_{args.label}.md"
    path.write_text(text)
    print(text, flush=True)


if __name__ == "__main__":
    main()
