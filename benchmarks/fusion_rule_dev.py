#!/usr/bin/env python
"""Choose the demo's fusion rule on DEVELOPMENT congruent pairs and ship it (a benchmark, not a test): writes
``benchmarks/fusion_rule_dev.md`` and ``.json``, the rule into ``emo_utils/shipped_models/fusion/`` and the table
into the model card.

    .venv/bin/python benchmarks/fusion_rule_dev.py [--fer-sample ../shared/data/fer2013-sample]

Run after ``benchmarks/shipped_calibration.py`` (temperatures, reliabilities) and before
``benchmarks/congruent_clips.py`` (the test). Development pairs (:mod:`emo_utils.fusion_dev`): a face of the
DEVELOPMENT half of the FER2013 sample, enlarged onto a frame as the test clips place theirs and read by the demo's
face predictor, with the out-of-fold voice reading (RAVDESS, actors held out) of a clip of the same emotion; five
classes, 15 pairs per class per draw, 20 draws (seeds 0-19). Every rule of ``FUSION_RULES`` is scored with the
shipped temperatures and reliabilities; the highest mean wins, a rule within 0.01 of it ties and the simpler wins.
Neither EmoDB nor the test half of the FER2013 sample is read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEEDS = tuple(range(20))
PER_CLASS = 15
PLACEMENT_SEED = 0


def face_path_digest() -> str:
    """A digest of what the face readings depend on: the shipped face branch's settings and the face path's code
    (a cache of readings made by another face path is not reused)."""
    from emo_utils.pretrained import FACE_BRANCH, SHIPPED_DIR

    sources = [SHIPPED_DIR / "branches" / FACE_BRANCH / "provenance.json"]
    sources += [ROOT / "emo_utils" / "video" / name for name in ("faces.py", "expression.py")]
    return hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]


def dev_readings(fer_sample: Path, cache: Path) -> Any:
    """The development readings (faces read in frames are cached in ``cache``, keyed by the faces and
    :func:`face_path_digest`: the slow part)."""
    import pandas as pd

    from emo_utils.fusion_dev import CONGRUENT_CLASSES, DevReadings, face_readings_in_frames
    from emo_utils.labels import EMOTIONS, labels_of
    from emo_utils.pretrained import SHIPPED_DIR, VOICE_BRANCH
    from emo_utils.video.face_eval import list_labelled_images, split_labelled_images

    development, _ = split_labelled_images(list_labelled_images(fer_sample))
    development = [(p, e) for p, e in development if e in CONGRUENT_CLASSES]
    names = [p.name for p, _ in development]
    key = {"names": names, "face_path": face_path_digest()}
    if cache.is_file() and {k: json.loads(cache.read_text()).get(k) for k in key} == key:
        face = [None if r is None else np.array(r) for r in json.loads(cache.read_text())["readings"]]
    else:
        face = face_readings_in_frames([p for p, _ in development], PLACEMENT_SEED)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({**key, "readings": [None if r is None else r.tolist() for r in face]}))
    oof = pd.read_csv(SHIPPED_DIR / "branches" / VOICE_BRANCH / "oof.csv")
    voice_labels = labels_of(oof)
    return DevReadings(
        face,
        tuple(EMOTIONS),
        [e for _, e in development],
        oof[[f"p_{e}" for e in voice_labels]].to_numpy(),
        tuple(voice_labels),
        oof["emotion"].tolist(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer-sample", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013-sample")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/fusion_rule_dev/dev_face_readings.json"))
    args = parser.parse_args()
    import torch

    from emo_utils.calibration import CALIBRATION_FILE, FUSION_RULES, load_calibration
    from emo_utils.fusion_dev import TIE_POINTS, choose_rule, score_rules
    from emo_utils.pretrained import FACE_BRANCH, SHIPPED_DIR, VOICE_BRANCH, save_shipped_fusion, update_card_section

    torch.set_num_threads(1)
    started = time.perf_counter()
    readings = dev_readings(args.fer_sample, args.cache)
    fusion = load_calibration(SHIPPED_DIR / "fusion" / CALIBRATION_FILE)
    scores, uncertain = score_rules(fusion, readings, FACE_BRANCH, VOICE_BRANCH, SEEDS, PER_CLASS)
    chosen = choose_rule(scores)
    fusion.rule = chosen
    save_shipped_fusion(fusion)

    def mean_sd(values: Any) -> dict[str, float]:
        return {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values, ddof=1)), 4)}

    summary = {name: mean_sd(v) for name, v in scores.items()}
    minus_chosen = {rule: mean_sd(np.subtract(scores[rule], scores[chosen])) for rule in FUSION_RULES}
    uncertain_share = {rule: mean_sd(v) for rule, v in uncertain.items()}
    summary = {
        name: {"mean": round(float(np.mean(v)), 4), "sd": round(float(np.std(v, ddof=1)), 4)}
        for name, v in scores.items()
    }
    results = {
        "data": "development congruent pairs: faces of the development half of the FER2013 sample (real) in frames, "
        "voices: out-of-fold readings of RAVDESS clips (real, actors held out), same emotion",
        "classes": ["angry", "fearful", "happy", "neutral", "sad"],
        "per_class": PER_CLASS,
        "seeds": list(SEEDS),
        "faces_not_found": int(sum(r is None for r in readings.face)),
        "n_faces": len(readings.face),
        "tie_points": TIE_POINTS,
        "chosen": chosen,
        "accuracy": summary,
        "minus_chosen": minus_chosen,
        "uncertain_share": uncertain_share,
        "uncertain_below": fusion.uncertain_below,
        "per_draw": scores,
        "seconds": round(time.perf_counter() - started, 1),
    }
    names = {
        "face_alone": "face alone (calibrated)",
        "voice_alone": "voice alone (calibrated)",
        **{rule: f"fused: `{rule}`" for rule in FUSION_RULES},
    }
    table = [
        "| reading | dev accuracy (5 classes) | minus the chosen rule, same draws | marked uncertain |",
        "|---|---|---|---|",
    ]
    for key, label in names.items():
        gap, doubt = minus_chosen.get(key), uncertain_share.get(key)
        accuracy = f"{summary[key]['mean']:.2f} +- {summary[key]['sd']:.2f}" + (" (chosen)" if key == chosen else "")
        difference = f"{gap['mean']:+.3f} +- {gap['sd']:.3f}" if gap and key != chosen else "-"
        table.append(f"| {label} | {accuracy} | {difference} | {format(doubt['mean'], '.2f') if doubt else '-'} |")
    text = "\n".join(
        [
            f"{time.strftime('%Y-%m-%d')}, CPU. Data: {results['data']}; five classes, {PER_CLASS} pairs per class "
            f"per draw, {len(SEEDS)} draws (seeds 0-{SEEDS[-1]}). Faces: {results['n_faces']} development faces, "
            f"each enlarged once onto a 640x360 frame with camera drift and read by the demo's face predictor "
            f"({results['faces_not_found']} not found: those pairs are fused from the voice alone, and count as "
            "wrong for the face alone). Weights: the shipped models (real), zero-shot face. Temperatures and "
            "reliabilities: the shipped calibration, fitted on these same development data. Chance 0.20.",
            "",
            "Rules (fixed before any was scored, simplest first): "
            + "; ".join(f"`{rule}`: {text}" for rule, text in FUSION_RULES.items())
            + ".",
            f"Choice (fixed before): the highest mean; a rule within {TIE_POINTS:.2f} of it ties and the simpler wins.",
            "",
            *table,
            "",
            f"Mean +- sd over the {len(SEEDS)} draws; the difference to the chosen rule is paired (the same pairs). "
            "Marked uncertain: the share of pairs whose fused top-1 probability is below "
            f"{fusion.uncertain_below:.2f}.",
            f"Chosen and shipped: **{chosen}** (`emo_utils/shipped_models/fusion/calibration.json`).",
            "",
        ]
    )
    print(text)
    (ROOT / "benchmarks" / "fusion_rule_dev.md").write_text(text)
    (ROOT / "benchmarks" / "fusion_rule_dev.json").write_text(json.dumps(results, indent=2) + "\n")
    update_card_section("fusion_rule", "## Choosing the fusion rule (`benchmarks/fusion_rule_dev.py`)\n" + text)


if __name__ == "__main__":
    main()
