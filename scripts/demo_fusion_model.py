#!/usr/bin/env python
"""Predict the emotion in a video file: with the models shipped in emo_utils/shipped_models (default), or with a
workflow run's trained branches and fusion config (--run DIR, or --run latest for the newest under runs/).

python scripts/demo_fusion_model.py --video path/to/video.mp4 [--audio speech.wav] [--run runs/ravdess] [--json]
"""

from __future__ import annotations

import sys

from emo_utils.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
