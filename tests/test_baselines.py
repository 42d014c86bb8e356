"""The untuned baselines: the SVM with its kernel computed once is scikit-learn's calibrated RBF SVM."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from emo_utils.baselines import BASELINES, CalibratedRBFSVC, baseline_cross_validate
from emo_utils.errors import SettingsError
from emo_utils.feature_store import FeatureSet


def _data(n: int = 180, width: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = (rng.normal(size=(n, width)) + y[:, None] * 0.4).astype(np.float32)
    X[:, 3] = 1.0  # a constant feature, as pooled features can have
    return X, y


@pytest.mark.parametrize("cv", [2, 5])
def test_svm_with_its_kernel_computed_once_is_sklearns_calibrated_svm(cv: int) -> None:
    X, y = _data()
    train, test = np.arange(140), np.arange(140, 180)
    reference = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(random_state=0), cv=cv, ensemble=False))
    ours = make_pipeline(StandardScaler(), CalibratedRBFSVC(cv, seed=0))
    expected = reference.fit(X[train], y[train]).predict_proba(X[test])
    got = ours.fit(X[train], y[train]).predict_proba(X[test])
    np.testing.assert_allclose(got, expected, atol=1e-9)
    np.testing.assert_array_equal(ours.classes_, reference.classes_)


def test_svm_baseline_cross_validates_every_clip_and_needs_two_clips_per_class() -> None:
    X, y = _data(n=120)
    actors = np.repeat([f"a{i}" for i in range(6)], 20)
    folds = np.repeat(np.arange(6) % 3, 20)
    features = FeatureSet(np.array([f"c{i}" for i in range(len(y))]), X, {})
    oof = baseline_cross_validate("SVM", features, y, actors, folds, label_names=("a", "b", "c", "d"))
    proba = oof[["p_a", "p_b", "p_c", "p_d"]].to_numpy(float)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-9)
    with pytest.raises(SettingsError, match="2 training clips per class"):
        BASELINES["SVM"].model(np.array([0, 0, 1, 1, 2]))
