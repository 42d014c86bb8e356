"""Untuned scikit-learn baselines through the same folds and protocol as the neural branches.

Two models, each on one pooled feature vector per clip (e.g. the mean and spread of the MFCC frames, the AU
means), standardised with the training rows' statistics only:

- ``SVM``: an RBF support-vector machine with scikit-learn's defaults (C=1, gamma="scale"; probabilities
  calibrated by 5-fold cross-validation within the training rows). The squared distances between a fold's rows
  are computed once and every fit of the calibration reads its kernel from them (:class:`CalibratedRBFSVC`):
  scikit-learn's model, without recomputing the same kernel rows six times.
- ``LR``: an L2 logistic regression with C fixed a priori at 0.1 (a strong, untuned penalty for a few
  thousand features and about a thousand clips).

Nothing is tuned, so a neural branch that does not beat its baselines has not earned its place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
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


class _Distances:
    """Squared Euclidean distances from every row seen (the training rows first, then rows to predict) to the
    training rows, in float64 as libsvm computes its RBF kernel. scikit-learn's clones share it (no copy)."""

    def __init__(self, train: np.ndarray) -> None:
        self.train = train
        self.train_sq = np.einsum("ij,ij->i", train, train)
        self.table = self._to_train(train)

    def __deepcopy__(self, memo: dict[int, object]) -> _Distances:
        return self

    def _to_train(self, Z: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", Z, Z)[:, None] + self.train_sq[None, :] - 2.0 * (Z @ self.train.T)

    def add(self, Z: np.ndarray) -> np.ndarray:
        """Append the distances of new rows ``Z``; returns their row numbers in :attr:`table`."""
        start = len(self.table)
        self.table = np.vstack([self.table, self._to_train(Z)])
        return np.arange(start, len(self.table))


class _SlicedRBF(ClassifierMixin, BaseEstimator):
    """``SVC(kernel="rbf", gamma="scale")`` on row numbers into ``distances``: fitted on some training rows, its
    gamma is scikit-learn's "scale" of those rows and its kernel a slice of the shared distance table."""

    def __init__(self, distances: _Distances | None = None, random_state: int = 0) -> None:
        self.distances = distances
        self.random_state = random_state

    def fit(self, rows: np.ndarray, y: np.ndarray) -> _SlicedRBF:
        assert self.distances is not None
        self.rows_ = np.asarray(rows)[:, 0]
        train = self.distances.train[self.rows_]
        variance = train.var()
        self.gamma_ = 1.0 / (train.shape[1] * variance) if variance != 0 else 1.0  # SVC's gamma="scale"
        self.svc_ = SVC(kernel="precomputed", random_state=self.random_state).fit(self._kernel(self.rows_), y)
        self.classes_ = self.svc_.classes_
        return self

    def _kernel(self, rows: np.ndarray) -> np.ndarray:
        assert self.distances is not None
        return np.exp(-self.gamma_ * self.distances.table[np.ix_(rows, self.rows_)])

    def decision_function(self, rows: np.ndarray) -> np.ndarray:
        return self.svc_.decision_function(self._kernel(np.asarray(rows)[:, 0]))

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.svc_.predict(self._kernel(np.asarray(rows)[:, 0]))


class CalibratedRBFSVC(ClassifierMixin, BaseEstimator):
    """``CalibratedClassifierCV(SVC(random_state=seed), cv=cv, ensemble=False)`` with the kernel computed once:
    the squared distances between the training rows (and, to predict, from new rows to them) are computed a
    single time and each of the ``cv + 1`` SVM fits slices its RBF kernel from them. The model is scikit-learn's;
    only the rounding of the kernel differs (libsvm sums each dot product in its own order)."""

    def __init__(self, cv: int = 5, seed: int = 0) -> None:
        self.cv = cv
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> CalibratedRBFSVC:
        self.distances_ = _Distances(np.asarray(X, dtype=np.float64))  # SVC fits on float64 rows
        rows = np.arange(len(X))[:, None]
        svm = _SlicedRBF(self.distances_, self.seed)
        self.calibrated_ = CalibratedClassifierCV(svm, cv=self.cv, ensemble=False).fit(rows, y)
        self.classes_ = self.calibrated_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        rows = self.distances_.add(np.asarray(X, dtype=np.float64))
        return self.calibrated_.predict_proba(rows[:, None])


def _svm(y_train: np.ndarray, seed: int) -> ClassifierMixin:
    per_class = np.bincount(y_train)
    calibration_folds = min(5, int(per_class[per_class > 0].min()))
    if calibration_folds < 2:
        raise SettingsError(
            f"the SVM baseline needs 2 training clips per class to calibrate; a fold has "
            f"{per_class[per_class > 0].min()}"
        )
    return CalibratedRBFSVC(calibration_folds, seed)


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
