#!/usr/bin/env python
"""A CPU-sized input for ``video_slowfast``: crop side and batch size against training cost and accuracy, on a
development copy of the synthetic demo corpus (a measurement, not a test; nothing is asserted).

The default run's corpus (seed 0) is never read here: the settings are compared on a corpus drawn with another
seed (``--corpus-seed``), as the branch's first settings were, with the branch's own training settings, actor
folds and ``--speaker-norm none``; only the outer folds are trained (nested inner models do not change a
branch's own accuracy, only what fusion reads).

    .venv/bin/python benchmarks/slowfast_cpu.py --work /tmp/slowfast_cpu

Writes ``benchmarks/slowfast_cpu.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from emo_utils.branches import BRANCHES
from emo_utils.data.folds import make_folds
from emo_utils.data.manifest import index_dataset
from emo_utils.evaluate import metrics_from_table
from emo_utils.labels import EMOTIONS
from emo_utils.results_file import machine_line, measured_now, write_results
from emo_utils.synthetic.corpus import generate_demo_corpus
from emo_utils.train import cross_validate
from emo_utils.video.slowfast import ClipSettings, extract_clip_tensors

ROOT = Path(__file__).resolve().parents[1]
# (crop side, batch size, frames): the branch's first setting, then smaller inputs, with the batch grown as the input
# shrinks and kept (the first three were run first; larger batches cut the optimiser steps of the 15 epochs), then
# fewer frames (the slow pathway sees one)
SETTINGS: list[tuple[int, int, int]] = [(64, 8, 8), (48, 16, 8), (32, 32, 8), (48, 8, 8), (32, 8, 8), (64, 8, 4)]


def load_text(load: list[float | None]) -> str:
    """The load average before / after a measurement (the first runs did not record it: uptime read 5-7)."""
    return "not recorded (5-7)" if load[0] is None else f"{load[0]} / {load[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (corpus, clips, models)")
    parser.add_argument("--corpus-seed", type=int, default=1, help="the development corpus (the default run uses 0)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    corpus = generate_demo_corpus(args.work / "corpus", seed=args.corpus_seed)
    manifest, _ = index_dataset(corpus)
    manifest = manifest[manifest["video_path"].fillna("") != ""].reset_index(drop=True)
    folds = make_folds(manifest["actor"], manifest["gender"], 6, None)
    labels = manifest["emotion"].map(EMOTIONS.index).to_numpy()
    tasks = list(zip(manifest["take_id"], manifest["video_path"]))
    branch = BRANCHES["video_slowfast"].train
    load_before = os.getloadavg()[0]
    rows = []
    for size, batch, n_frames in SETTINGS:
        clip = ClipSettings(size=size, n_frames=n_frames, detect_frames=n_frames)
        folder = args.work / (f"{size}px" if n_frames == 8 else f"{size}px-{n_frames}f")
        done = folder / f"batch{batch}.json"
        if done.is_file():  # measured by an earlier call with the same corpus
            rows.append(json.loads(done.read_text()))
            continue
        features, skipped = extract_clip_tensors(tasks, folder / "clips.npz", folder / "cache", clip, n_jobs=args.jobs)
        config = replace(branch, batch_size=batch)
        keep = manifest["take_id"].isin(features.clip_ids).to_numpy()
        wall, load = time.perf_counter(), os.getloadavg()[0]
        result = cross_validate(
            features,
            labels[keep],
            manifest["actor"].to_numpy()[keep],
            manifest["gender"].to_numpy()[keep],
            folds[keep],
            config,
            out_dir=folder / "model",
            desc=f"slowfast {size}px",
            n_jobs=args.jobs,
        )
        metrics = metrics_from_table(result.oof)
        rows.append(
            {
                "size": size,
                "batch_size": batch,
                "n_frames": n_frames,
                "clips": len(features),
                "skipped": len(skipped),
                "accuracy": round(float(metrics["accuracy"]), 3),
                "macro_f1": round(float(metrics["macro_f1"]), 3),
                "train_wall_s": round(time.perf_counter() - wall, 1),
                "load_before_after": [round(load, 1), round(os.getloadavg()[0], 1)],
            }
        )
        done.write_text(json.dumps(rows[-1]))
        print(rows[-1], flush=True)
    record = {
        "data": f"SYNTHETIC demo corpus drawn with seed {args.corpus_seed} (development copy, not the default run's)",
        "protocol": "6 actor folds, outer models only, speaker norm none, the branch's training settings",
        "weights": "random initialisation, trained from scratch",
        "machine": machine_line(load_before),
        "measured": measured_now(),
        "rows": rows,
    }
    lines = [
        "# video_slowfast sized for a CPU",
        "",
        f"Data: {record['data']}. Protocol: {record['protocol']}. Weights: {record['weights']}. "
        f"Machine: {record['machine']}; measured {record['measured']}. Written by `benchmarks/slowfast_cpu.py`.",
        "",
        "| crop side | batch | frames | accuracy | macro-F1 | training wall s (6 folds, 2 processes) | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['size']} px | {row['batch_size']} | {row.get('n_frames', 8)} | {row['accuracy']:.3f} | "
            f"{row['macro_f1']:.3f} | {row['train_wall_s']:.0f} | {load_text(row['load_before_after'])} |"
        )
    write_results(ROOT / "benchmarks" / "slowfast_cpu", record, lines)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
