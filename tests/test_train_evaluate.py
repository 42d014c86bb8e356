"""The one training routine, the metrics routine and checkpoints, on small separable data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_protocol import _toy as toy_with_speakers

from emo_utils.checkpoints import load_checkpoint
from emo_utils.data.folds import assign_actor_folds, random_clip_folds
from emo_utils.errors import ActorLeakError
from emo_utils.evaluate import classification_report_frame, compute_metrics, confusion, metrics_from_table
from emo_utils.feature_store import FeatureSet, load_features, save_features
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS
from emo_utils.train import TrainConfig, cross_validate, predict_proba


def _toy(
    n_per_actor: int = 16, n_actors: int = 6, seed: int = 0
) -> tuple[FeatureSet, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    actors = np.repeat([f"a{i:02d}" for i in range(1, n_actors + 1)], n_per_actor)
    genders = np.array(["male" if int(a[1:]) % 2 else "female" for a in actors])
    y = np.tile(np.arange(8), len(actors) // 8)
    X = rng.normal(size=(len(y), 12)).astype(np.float32)
    X[np.arange(len(y)), y] += 3.0
    aug = (X[:, None, :] + rng.normal(scale=0.1, size=(len(y), 2, 12))).astype(np.float32)
    return FeatureSet([f"c{i:03d}" for i in range(len(y))], X, {"kind": "toy"}, aug), y, actors, genders


def test_cross_validate_gives_every_clip_one_out_of_fold_prediction(tmp_path: Path) -> None:
    features, y, actors, genders = _toy()
    folds = assign_actor_folds(actors, genders, 3)
    result = cross_validate(
        features,
        y,
        actors,
        genders,
        folds,
        TrainConfig("mlp", epochs=25, patience=25),
        out_dir=tmp_path,
        progress=False,
    )
    oof = result.oof
    assert list(oof.columns[:4]) == ["clip_id", "actor", "fold", "emotion"]
    assert oof[list(PROBA_COLUMNS)].notna().all().all()
    np.testing.assert_allclose(oof[list(PROBA_COLUMNS)].sum(axis=1), 1.0, rtol=1e-5)
    assert (oof["fold"].to_numpy() == folds).all()
    assert metrics_from_table(oof)["accuracy"] > 0.6  # the classes are separable
    assert len(result.checkpoints) == 3 and set(result.history["fold"]) == {0, 1, 2}
    fold_model = load_checkpoint(result.checkpoints[0])
    test_rows = folds == 0
    assert set(fold_model.test_actors) == set(actors[test_rows]) and fold_model.labels == EMOTIONS
    np.testing.assert_allclose(
        predict_proba(fold_model.model, features.X[test_rows], fold_model.scaler),
        oof.loc[test_rows, list(PROBA_COLUMNS)].to_numpy(),
        rtol=1e-4,
        atol=1e-6,
    )


def test_folds_trained_in_parallel_processes_match_one_process(tmp_path: Path) -> None:
    features, y, actors, genders, folds = toy_with_speakers()
    config = TrainConfig("mlp", epochs=6, patience=6, speaker_norm="enrol:2")
    serial = cross_validate(
        features, y, actors, genders, folds, config, out_dir=tmp_path / "one", progress=False, nested=True
    )
    parallel = cross_validate(
        features, y, actors, genders, folds, config, out_dir=tmp_path / "two", progress=False, n_jobs=2, nested=True
    )
    pd.testing.assert_frame_equal(serial.oof, parallel.oof, rtol=1e-5)
    pd.testing.assert_frame_equal(serial.inner_oof, parallel.inner_oof, rtol=1e-5)
    pd.testing.assert_frame_equal(serial.history, parallel.history, rtol=1e-5)
    assert [p.name for p in parallel.checkpoints] == ["fold0.pt", "fold1.pt", "fold2.pt"]
    assert all(p.parent == tmp_path / "two" for p in parallel.checkpoints)


def test_cross_validate_refuses_leaky_folds_unless_asked() -> None:
    features, y, actors, genders = _toy()
    leaky = random_clip_folds(len(y), 3)
    config = TrainConfig("mlp", epochs=2)
    with pytest.raises(ActorLeakError):
        cross_validate(features, y, actors, genders, leaky, config, progress=False)
    result = cross_validate(features, y, actors, genders, leaky, config, leaky_ok=True, progress=False)
    assert result.oof[list(PROBA_COLUMNS)].notna().all().all()


def test_metrics_on_known_predictions() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.eye(8)[[0, 1, 1, 1, 2, 0]]
    m = compute_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["uar"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert m["per_class_f1"]["calm"] == pytest.approx(0.8)
    assert m["n_clips"] == 6
    table = pd.DataFrame(proba, columns=list(PROBA_COLUMNS)).assign(emotion=[EMOTIONS[i] for i in y])
    cm = confusion(table)
    assert cm.loc["neutral", "calm"] == pytest.approx(0.5) and cm.loc["calm", "calm"] == 1.0
    report = classification_report_frame(table)
    assert report.loc["calm", "recall"] == 1.0 and report["support"].sum() == 6


def test_feature_file_round_trip(tmp_path: Path) -> None:
    features, *_ = _toy()
    loaded = load_features(save_features(tmp_path / "f.npz", features))
    assert loaded.meta == {"kind": "toy"} and loaded.X_aug.shape == features.X_aug.shape
    assert (loaded.subset(["c005", "c001"]).X == features.X[[5, 1]]).all()
