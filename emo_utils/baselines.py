"""Untuned scikit-learn baselines through the same folds and protocol as the neural branches.

An RBF support-vector machine with scikit-learn's defaults (C=1, gamma="scale"; probabilities calibrated by
5-fold cross-validation within the training rows), on one pooled feature vector per clip (e.g. the mean and
spread of the MFCC frames, the AU means), standardised on the training rows. Nothing is tuned, so a neural
branch that does not beat its baseline has not earned its place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from emo_utils.data.folds import iter_folds
from emo_utils.errors import SettingsError
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import EMOTIONS
from emo_utils.speaker_norm import SpeakerNorm, enrolment_order, test_inputs, training_inputs
from emo_utils.train import oof_frame

STAGE_VERSION = 1  # bump when a change alters the SVM baselines (emo_utils.stages)

BASELINE = "SVM (RBF, scikit-learn defaults) on pooled features"


def svm_cross_validate(
    features: FeatureSet,
    labels: np.ndarray,
    actors: np.ndarray,
    folds: np.ndarray,
    speaker_norm: str = "none",
    label_names: tuple[str, ...] = EMOTIONS,
    seed: int = 0,
    enrol_seed: int = 0,
) -> pd.DataFrame:
    """Out-of-fold probabilities of an untuned RBF SVM on pooled features ``features.X`` (N, F).

    Every test fold is predicted by an SVM fitted on the other folds' actors; speaker normalisation follows
    ``speaker_norm`` exactly as :func:`emo_utils.train.cross_validate` applies it.
    """
    y, actors, folds = np.asarray(labels), np.asarray(actors), np.asarray(folds)
    norm = SpeakerNorm.parse(speaker_norm)
    rank = enrolment_order(features.clip_ids, actors, enrol_seed)
    raw = features.X.reshape(len(features), -1)
    X = training_inputs(raw, actors, norm)
    proba = np.full((len(y), len(label_names)), np.nan)
    for _, train, test in iter_folds(folds, actors):
        per_class = np.bincount(y[train])
        calibration_folds = min(5, int(per_class[per_class > 0].min()))
        if calibration_folds < 2:
            raise SettingsError(
                f"the SVM baseline needs 2 training clips per class to calibrate; a fold has "
                f"{per_class[per_class > 0].min()}"
            )
        svm = CalibratedClassifierCV(SVC(random_state=seed), cv=calibration_folds, ensemble=False)
        model = make_pipeline(StandardScaler(), svm)
        model.fit(X[train], y[train])
        proba[np.ix_(test, model.classes_)] = model.predict_proba(test_inputs(raw, actors, rank, test, train, norm, X))
        proba[test] = np.nan_to_num(proba[test])
    if norm.mode == "enrol":
        proba[rank < norm.k] = np.nan
    return oof_frame(proba, features.clip_ids, actors, folds, y, label_names)
