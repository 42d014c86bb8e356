#!/usr/bin/env python
"""Create a late-fusion config (weighted average of branch probabilities), as in the reference design.

    python scripts/create_emotion_fusion.py --video_weight 0.7 --audio_weight 0.3
    python scripts/create_emotion_fusion.py --weight audio_mfcc_cnn=0.5 --weight face_au=0.5 --out cfg.json

Weights are normalised and saved with the branch names and label order; the demo and notebooks load it.
"""

from __future__ import annotations

import sys

from emo_utils.cli import main

if __name__ == "__main__":
    sys.exit(main(["fusion-config", *sys.argv[1:]]))
