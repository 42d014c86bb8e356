#!/usr/bin/env python
"""Face detectors compared (a measurement, not a test): detection rate and frames per second of MTCNN and
Haar on the 24 real RAVDESS actor frames (``../shared/data/ravdess/actor-faces``, 398x224) and on frames
sampled from a few clips of the synthetic demo corpus (128x128). One thread, detector loaded before timing.

    .venv/bin/python benchmarks/face_detectors.py [--shared ../shared] [--clips 16] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from emo_utils.data.manifest import index_dataset
from emo_utils.synthetic.corpus import generate_demo_corpus
from emo_utils.video.faces import default_detector, detect_faces_in_clip, make_detector
from emo_utils.video.frames import sample_frames

ROOT = Path(__file__).resolve().parents[1]


def actor_frames(shared: Path) -> list[np.ndarray]:
    """The 24 real actor frames, RGB."""
    pngs = sorted((shared / "data" / "ravdess" / "actor-faces").glob("Actor_*.png"))
    if not pngs:
        raise SystemExit(f"no actor frames under {shared}/data/ravdess/actor-faces (pass --shared)")
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in pngs]


def demo_frames(n_clips: int, n_frames: int = 22) -> list[np.ndarray]:
    """``n_frames`` frames from each of ``n_clips`` synthetic demo clips (2 actors, spread over the emotions)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_demo_corpus(Path(tmp) / "demo", n_actors=2, progress=False)
        manifest, _ = index_dataset(root)
        videos = manifest[manifest["video_path"] != ""].sort_values("take_id")
        step = max(1, len(videos) // n_clips)
        return [f for path in videos["video_path"].iloc[::step][:n_clips] for f in sample_frames(path, n_frames)]


def measure(name: str, frames: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Share of frames with a face and frames per second (best of ``repeats`` passes)."""
    detector = make_detector(name)
    detector.detect(frames[0])  # warm-up
    boxes = detect_faces_in_clip(frames, detector)
    best = min(_seconds(detector, frames) for _ in range(repeats))
    return {
        "frames": len(frames),
        "detected": float(np.mean([b is not None for b in boxes])),
        "fps": len(frames) / best,
    }


def _seconds(detector: object, frames: list[np.ndarray]) -> float:
    start = time.perf_counter()
    detect_faces_in_clip(frames, detector)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared/ folder")
    parser.add_argument("--clips", type=int, default=16, help="synthetic demo clips (22 frames each)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the fastest is kept)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    corpora = {
        "real actor frames (398x224)": actor_frames(args.shared),
        f"synthetic demo frames (128x128, {args.clips} clips)": demo_frames(args.clips),
    }
    results = {
        corpus: {name: measure(name, frames, args.repeats) for name in ("mtcnn", "haar")}
        for corpus, frames in corpora.items()
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, 1 thread; default detector here: {default_detector()}"
    )
    print("| frames | detector | n | detection rate | frames/s |\n|---|---|---|---|---|")
    for corpus, by_detector in results.items():
        for name, r in by_detector.items():
            print(f"| {corpus} | {name} | {r['frames']} | {r['detected']:.3f} | {r['fps']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
