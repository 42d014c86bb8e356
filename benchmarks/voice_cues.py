"""The eGeMAPS voice parameters per emotion on real RAVDESS, relative to each speaker's neutral takes (the table
notebook 03 quotes):

    .venv/bin/python benchmarks/voice_cues.py [--data-root ../shared/data/ravdess] [--out runs/voice_cues]

Writes benchmarks/voice_cues.md. A description of the data (medians over clips), not a classifier result;
measurement, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from emo_utils.analysis.voice_cues import relative_to_neutral
from emo_utils.branches import BRANCHES
from emo_utils.workflow import WorkflowSettings, feature_context, prepare_run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "voice_cues", help="run folder (features cache)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    run = prepare_run(WorkflowSettings(data_root=args.data_root, out=args.out, n_jobs=args.jobs, progress=False))
    egemaps, skipped = BRANCHES["audio_egemaps"].build_features(feature_context(run))
    by_emotion, neutral = relative_to_neutral(egemaps, run.rows(egemaps.clip_ids))
    shown = by_emotion.drop(index="neutral", errors="ignore")
    decimals = {"jitter": 3, "F1 (Hz)": 0}
    header = "| emotion | " + " | ".join(shown.columns) + " |\n|---|" + "---|" * len(shown.columns)
    rows = [
        f"| {emotion} | " + " | ".join(f"{v:+.{decimals.get(k, 2)}f}" for k, v in values.items()) + " |"
        for emotion, values in shown.iterrows()
    ]
    typical = " | ".join(f"{v:.{decimals.get(k, 2)}f}" for k, v in neutral.items())
    text = (
        f"Median difference from each actor's own neutral takes (real RAVDESS speech, {len(egemaps.clip_ids)} clips, "
        f"{run.manifest['actor'].nunique()} actors; eGeMAPS v02 functionals by openSMILE; {len(skipped)} clips "
        "skipped):\n\n"
        f"{header}\n" + "\n".join(rows) + "\n\n"
        "A typical neutral take (median over actors of their neutral medians):\n\n"
        "| | " + " | ".join(neutral.index) + " |\n|---|" + "---|" * len(neutral) + f"\n| neutral | {typical} |\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} by benchmarks/voice_cues.py ({time.perf_counter() - started:.0f} s).\n"
    )
    (ROOT / "benchmarks" / "voice_cues.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
