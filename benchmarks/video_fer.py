#!/usr/bin/env python
"""The video_fer branch measured end to end (a measurement, not a test): the workflow with video_fer and
audio_mfcc_cnn (6 actor folds, actors held out), then the zero-shot accuracy of the pretrained FER2013 model
on the same clips (mean over frames of the mapped probabilities; no training).

    .venv/bin/python benchmarks/video_fer.py --out runs/fer_demo                      # synthetic demo corpus
    .venv/bin/python benchmarks/video_fer.py --out runs/fer_assembled --assembled 12  # real faces, real speech

``--assembled N`` first writes clips assembled from the real still frame of actors 1..N with their real
speech takes (``emo_utils.video.assemble``): the faces do not act the emotion, so both face numbers there
can only show chance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emo_utils.branches import fer_stage
from emo_utils.evaluate import format_metrics, metrics_from_table
from emo_utils.video.assemble import assemble_real_face_clips
from emo_utils.video.expression import zero_shot_table
from emo_utils.workflow import WorkflowSettings, feature_context, prepare_run, run_workflow

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, help="a dataset with videos (default: the synthetic demo corpus)")
    parser.add_argument("--assembled", type=int, help="assemble clips from the real faces of this many actors")
    parser.add_argument("--takes", type=int, default=8, help="takes per actor for --assembled")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--clip-limit", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args()
    data_root = args.data_root
    if args.assembled:
        data_root = args.out / "assembled"
        assemble_real_face_clips(
            args.shared / "data" / "ravdess", data_root, tuple(range(1, args.assembled + 1)), takes_per_actor=args.takes
        )
    settings = WorkflowSettings(
        data_root=data_root,
        out=args.out,
        branches=("video_fer", "audio_mfcc_cnn"),
        clip_limit=args.clip_limit,
        epochs=args.epochs,
        n_jobs=args.jobs,
        progress=False,
    )
    metrics = run_workflow(settings)
    run = prepare_run(settings)
    _, fer_proba, _ = fer_stage(feature_context(run))  # the branch's cached per-frame FER probabilities
    scores = metrics_from_table(zero_shot_table(fer_proba, run.manifest))
    data = "SYNTHETIC demo corpus" if metrics["synthetic"] else f"real data ({data_root})"
    print(format_metrics("video_fer zero-shot", scores, "no training, every clip", f"{data}, pretrained weights"))
    metrics["video_fer_zero_shot"] = scores
    (args.out / "metrics_with_zero_shot.json").write_text(json.dumps(metrics, indent=2) + "\n")


if __name__ == "__main__":
    main()
