#!/usr/bin/env python
"""Extract wav2vec 2.0 embeddings of every clip of a dataset (thin wrapper over emo_utils.audio.wav2vec).

    python scripts/extract_wav2vec_features.py --data-root ../shared/data/ravdess --out runs/w2v/wav2vec.npz
    python scripts/extract_wav2vec_features.py --model facebook/wav2vec2-base --allow-stand-in ...

Writes frame sequences (N, T, H) and pooled vectors (N, H) with clip ids and the model name; a rerun
reuses them, an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emo_utils.audio.wav2vec import extract_wav2vec, pooled_path
from emo_utils.data.manifest import index_dataset
from emo_utils.errors import EmoError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True, help="dataset folder (RAVDESS Actor_XX/ or CREMA-D clips)")
    parser.add_argument("--out", default="runs/wav2vec/wav2vec.npz", help="output .npz (sequences)")
    parser.add_argument("--model", default="facebook/wav2vec2-base", help="hub name or local folder")
    parser.add_argument("--layer", type=int, default=-1, help="hidden layer (-1: last)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--allow-stand-in",
        action="store_true",
        help="without the weights, use a tiny RANDOM stand-in (its embeddings mean nothing)",
    )
    args = parser.parse_args(argv)
    try:
        manifest, log = index_dataset(args.data_root)
        if len(log):
            print(log.report())
        source = manifest["audio_path"].where(manifest["audio_path"] != "", manifest["video_path"])
        tasks = [(t, s) for t, s in zip(manifest["take_id"], source) if s]
        out = Path(args.out)
        features, skipped = extract_wav2vec(
            tasks,
            out,
            args.model,
            layer=args.layer,
            batch_size=args.batch_size,
            stand_in_dir=out.parent / "stand_in_wav2vec2" if args.allow_stand_in else None,
        )
    except EmoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(skipped.report())
    print(
        f"{len(features)} clips: sequences {features.X.shape} -> {out}, pooled -> {pooled_path(out)}"
        + ("  [RANDOM stand-in weights]" if features.random_weights else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
