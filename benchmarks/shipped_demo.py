#!/usr/bin/env python
"""Latency of the out-of-the-box demo (the shipped models, no workflow run) and the size of what ships (a benchmark,
not a test): writes ``benchmarks/shipped_demo.md``.

    .venv/bin/python benchmarks/shipped_demo.py [--data-root ../shared/data/ravdess]

The clip is assembled from a real RAVDESS actor's face and one of the actor's real speech takes (about 4 s).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "4237eea"  # before the demo's start-up work (issue 19): its results file is quoted as "before"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    from emo_utils.inference import predict_file
    from emo_utils.media import probe
    from emo_utils.pretrained import SHIPPED_DIR
    from emo_utils.video.assemble import assemble_real_face_clips

    imports = time.perf_counter() - started
    imports_cpu = cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="emo-shipped-") as tmp:
        clips = assemble_real_face_clips(args.data_root, Path(tmp), actors=(1, 2), takes_per_actor=2)
        clip = min(clips, key=lambda c: abs(probe(c).duration_s - 4.0))
        cpu_before = cpu_seconds()
        start = time.perf_counter()
        result = predict_file(clip)
        first = time.perf_counter() - start
        first_cpu = cpu_seconds() - cpu_before
        again, again_cpu = [], []
        for _ in range(args.repeats):
            start, cpu_start = time.perf_counter(), cpu_seconds()
            predict_file(clip)
            again.append(time.perf_counter() - start)
            again_cpu.append(cpu_seconds() - cpu_start)
        duration = probe(clip).duration_s
    files = [p for p in SHIPPED_DIR.rglob("*") if p.is_file()]
    weights = sum(p.stat().st_size for p in files if p.suffix == ".pt")
    total = sum(p.stat().st_size for p in files)
    rows = [
        ("shipped weights (`*.pt`)", f"{weights / 1e6:.2f} MB"),
        (f"everything in emo_utils/shipped_models ({len(files)} files)", f"{total / 1e6:.2f} MB"),
        ("import emo_utils.inference", f"{imports:.1f} s ({imports_cpu:.1f} s CPU)"),
        (
            f"first prediction on {clip.name} ({duration:.1f} s, real face + real speech): loads the FER network, "
            "MTCNN, openSMILE and the voice model",
            f"{first:.2f} s ({first_cpu:.1f} s of CPU)",
        ),
        ("cold process: import + first prediction", f"{imports + first:.2f} s"),
        (
            f"next predictions (models kept loaded; median of {args.repeats})",
            f"{float(np.median(again)):.2f} s ({float(np.median(again_cpu)):.2f} s CPU)",
        ),
        ("fused from", ", ".join(result["fused_from"])),
    ]
    table = "\n".join(["| measurement | result |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]])
    load = os.getloadavg()[0]
    text = (
        f"{time.strftime('%Y-%m-%d')}, one torch thread, CPU; 2-core machine shared with other jobs (load average "
        f"{load:.1f} at the end), so wall times are high; CPU seconds are closer to what an idle machine needs.\n\n"
        f"{table}\n"
    )
    before = subprocess.run(
        ["git", "show", f"{BEFORE_COMMIT}:benchmarks/shipped_demo.md"], cwd=ROOT, capture_output=True, text=True
    )
    if before.returncode == 0:
        text += f"\n## Before (commit {BEFORE_COMMIT}, the same script then)\n\n{before.stdout}"
    print(text)
    (ROOT / "benchmarks" / "shipped_demo.md").write_text(text)


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
