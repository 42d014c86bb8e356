"""Untuned scikit-learn baselines through the same folds and protocol as the neural branches.

Two models, each on one pooled feature vector per clip (e.g. the mean and spread of the MFCC frames, the AU
means), standardised with the training rows' statistics only:

- ``SVM``: an RBF support-vector machine with scikit-learn's defaults (C=1, gamma="scale"; probabilities
  calibrated by 5-fold cross-validation within the training rows).
- ``LR``: an L2 logistic regression with C fixed a priori at 0.1 (a strong, untuned penalty for a few
  thousand features and about a thousand clips).

Nothing is tuned, so a neural branch that does not beat its baselines has not earned its place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from emo_utils.data.folds import iter_folds
from emo_utils.errors import SettingsError
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import EMOTIONS
from emo_utils.speaker_norm import SpeakerNorm, enrolment_order, test_inputs, training_inputs
from emo_utils.train import oof_frame

STAGE_VERSION = 2  # bump when a change alters the baselines (emo_utils.stages)

LOGISTIC_C = 0.1


def _svm(y_train: np.ndarray, seed: int) -> ClassifierMixin:
    per_class = np.bincount(y_train)
    calibration_folds = min(5, int(per_class[per_class > 0].min()))
    if calibration_folds < 2:
        raise SettingsError(
            f"the SVM baseline needs 2 training clips per class to calibrate; a fold has "
            f"{per_class[per_class > 0].min()}"
        )
    return CalibratedClassifierCV(SVC(random_state=seed), cv=calibration_folds, ensemble=False)


def _logistic(y_train: np.ndarray, seed: int) -> ClassifierMixin:
    return LogisticRegression(C=LOGISTIC_C, max_iter=2000, random_state=seed)


@dataclass(frozen=True)
class Baseline:
    """An untuned model: its short name (``SVM``, ``LR``), what it is, and a builder for one training fold."""

    name: str
    description: str
    classifier: Callable[[np.ndarray, int], ClassifierMixin]

    def model(self, y_train: np.ndarray, seed: int = 0) -> Pipeline:
        """Standardisation (fitted on the training rows) followed by the classifier."""
        return make_pipeline(StandardScaler(), self.classifier(y_train, seed))


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in [
        Baseline("SVM", "SVM (RBF, scikit-learn defaults) on pooled features", _svm),
        Baseline("LR", f"L2 logistic regression (C={LOGISTIC_C}, fixed a priori) on pooled features", _logistic),
    ]
}


def baseline_cross_validate(
    baseline: str,
    features: FeatureSet,
    labels: np.ndarray,
    actors: np.ndarray,
    folds: np.ndarray,
    speaker_norm: str = "none",
    label_names: tuple[str, ...] = EMOTIONS,
    seed: int = 0,
    enrol_seed: int = 0,
) -> pd.DataFrame:
    """Out-of-fold probabilities of the untuned ``baseline`` (a key of :data:`BASELINES`) on pooled features
    ``features.X`` (N, F).

    Every test fold is predicted by a model fitted on the other folds' actors; speaker normalisation follows
    ``speaker_norm`` exactly as :func:`emo_utils.train.cross_validate` applies it.
    """
    spec = BASELINES[baseline]
    y, actors, folds = np.asarray(labels), np.asarray(actors), np.asarray(folds)
    norm = SpeakerNorm.parse(speaker_norm)
    rank = enrolment_order(features.clip_ids, actors, enrol_seed)
    raw = features.X.reshape(len(features), -1)
    X = training_inputs(raw, actors, norm)
    proba = np.full((len(y), len(label_names)), np.nan)
    for _, train, test in iter_folds(folds, actors):
        model = spec.model(y[train], seed)
        model.fit(X[train], y[train])
        proba[np.ix_(test, model.classes_)] = model.predict_proba(test_inputs(raw, actors, rank, test, train, norm, X))
        proba[test] = np.nan_to_num(proba[test])
    if norm.mode == "enrol":
        proba[rank < norm.k] = np.nan
    return oof_frame(proba, features.clip_ids, actors, folds, y, label_names)
