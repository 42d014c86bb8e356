"""Cross-corpus evaluation: shared classes, per-corpus normalisation, and a small real RAVDESS x EmoDB run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shared_material import shared_emodb

from emo_utils.cli import main
from emo_utils.cross_corpus import (
    CROSS_FOLD,
    CrossCorpusSettings,
    limit_per_class,
    mean_prediction,
    normalise_per_corpus,
    restrict_to,
    run_cross_corpus,
    varying_features,
)
from emo_utils.errors import ActorLeakError
from emo_utils.evaluate import metrics_from_table
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import PROBA_COLUMNS

SHARED = ["neutral", "happy", "sad", "angry", "fearful", "disgust"]


def test_limit_per_class_deals_over_speakers() -> None:
    manifest = pd.DataFrame(
        {
            "actor": np.repeat(["a", "b", "c"], 4),
            "emotion": ["sad", "sad", "angry", "bored"] * 3,
            "take_id": [f"t{i:02d}" for i in range(12)],
        }
    )
    kept = limit_per_class(manifest, 2)
    assert kept["emotion"].value_counts().to_dict() == {"sad": 2, "angry": 2, "bored": 2}
    assert sorted(kept[kept["emotion"] == "sad"]["actor"]) == ["a", "b"]  # one take of each speaker first
    assert limit_per_class(manifest, None) is manifest


def test_restrict_to_zeroes_other_classes_and_renormalises() -> None:
    proba = np.full((2, len(PROBA_COLUMNS)), 1 / len(PROBA_COLUMNS))
    proba[1, 1] = 0.9  # "calm", not a shared class
    table = pd.DataFrame(proba, columns=list(PROBA_COLUMNS)).assign(emotion=["sad", "happy"])
    out = restrict_to(table, SHARED)
    assert (out[["p_calm", "p_surprised"]] == 0).all().all()
    np.testing.assert_allclose(out[list(PROBA_COLUMNS)].sum(axis=1), 1.0)
    assert metrics_from_table(out)["n_clips"] == 2


def test_per_corpus_normalisation_uses_each_corpus_own_statistics() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, (20, 10, 4)).astype(np.float32)
    X[:, 7:] = 0.0  # padding
    X_aug = X[:, None] + 1.0
    out = normalise_per_corpus(FeatureSet(np.arange(20).astype(str), X, {"kind": "x"}, X_aug))
    frames = out.X[:, :7].reshape(-1, 4)
    np.testing.assert_allclose(frames.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(frames.std(0), 1.0, atol=1e-3)
    assert (out.X[:, 7:] == 0).all() and out.meta["normalisation"] == "corpus"
    np.testing.assert_allclose(out.X_aug[:, 0, :7], out.X[:, :7] + 1.0 / X[:, :7].reshape(-1, 4).std(0), atol=1e-4)


def test_constant_training_features_are_dropped_and_seeds_averaged() -> None:
    X = np.ones((5, 4, 3), np.float32)
    X[:, :, 1] = np.arange(20).reshape(5, 4)  # varies
    X[:, 3] = 0.0  # padding frames do not count
    assert varying_features(X).tolist() == [False, True, False]
    assert varying_features(np.array([[1.0, -100.0], [2.0, -100.0]])).tolist() == [True, False]
    a = pd.DataFrame(np.eye(len(PROBA_COLUMNS))[:2], columns=list(PROBA_COLUMNS)).assign(emotion=["neutral", "calm"])
    b = a.copy()
    b[list(PROBA_COLUMNS)] = np.roll(a[list(PROBA_COLUMNS)].to_numpy(), 1, axis=1)
    mean = mean_prediction([a, b])
    np.testing.assert_allclose(mean[list(PROBA_COLUMNS)].sum(axis=1), 1.0)
    assert mean.loc[0, "p_neutral"] == mean.loc[0, "p_calm"] == 0.5 and (mean["emotion"] == a["emotion"]).all()


def test_settings_reject_non_audio_branches() -> None:
    with pytest.raises(ValueError, match="audio branches"):
        CrossCorpusSettings(Path("a"), Path("b"), Path("o"), branches=("face_au",))
    with pytest.raises(ValueError, match="normalisations"):
        CrossCorpusSettings(Path("a"), Path("b"), Path("o"), normalisations=("speaker",))
    with pytest.raises(ValueError, match="n_seeds"):
        CrossCorpusSettings(Path("a"), Path("b"), Path("o"), n_seeds=0)


@pytest.mark.slow
@pytest.mark.shared_data
def test_ravdess_emodb_both_directions_on_a_small_subset(shared_ravdess: Path, tmp_path: Path) -> None:
    """6 clips per class and corpus, 1 epoch, 2 seeds: the protocol, the outputs and the guards (not the accuracy)."""
    out = tmp_path / "cross"
    args = f"--train-root {shared_ravdess} --test-root {shared_emodb()} --out {out} --clips-per-class 6 --epochs 1"
    options = "--branches audio_mfcc_cnn audio_egemaps --seeds 2 --jobs 1 --quiet"
    code = main(["cross-corpus", *args.split(), *options.split()])
    assert code == 0
    for direction, (train, test) in {
        "ravdess_to_emodb": ("ravdess", "emodb"),
        "emodb_to_ravdess": ("emodb", "ravdess"),
    }.items():
        metrics = json.loads((out / direction / "metrics.json").read_text())
        assert metrics["protocol"].startswith(f"cross-corpus {train} -> {test}")
        assert metrics["shared_emotions"] == metrics["labels"] == SHARED
        assert metrics["chance"]["uniform"] == pytest.approx(1 / 6)
        assert set(metrics["branches"]) == {
            "audio_mfcc_cnn",
            "audio_mfcc_cnn +corpus-norm",
            "audio_egemaps",
            "audio_egemaps +corpus-norm",
        }
        assert {f"{b} within {c}" for b in ("audio_mfcc_cnn", "audio_egemaps") for c in (train, test)} == set(
            metrics["within_corpus"]
        )
        for name, m in metrics["branches"].items():
            assert m["n_clips"] == 36 and {"accuracy", "macro_f1", "uar", "per_class_f1"} <= set(m)
            assert m["n_seeds"] == 2 and len(m["accuracy_per_seed"]) == 2 and len(m["validation_actors"]) == 2
            validation = {actor for actors in m["validation_actors"] for actor in actors}
            assert validation and all(actor.startswith(f"{train}_") for actor in validation)
            tested = pd.read_csv(out / direction / name.replace(" ", "_") / "predictions.csv")["actor"]
            assert not validation & set(tested)
        table = pd.read_csv(out / direction / "audio_egemaps" / "predictions.csv")
        assert set(table["emotion"]) == set(SHARED) and (table["fold"] == CROSS_FOLD).all()
        assert table["actor"].str.startswith(f"{test}_").all()
        assert (table[["p_calm", "p_surprised"]] == 0).all().all()
        assert (out / direction / "figures" / "confusion_matrices.png").is_file()
    summary = (out / "summary.md").read_text()
    assert "ravdess -> emodb" in summary and "emodb -> ravdess" in summary and "transductive" in summary
    with pytest.raises(ActorLeakError):  # the same corpus on both sides is caught, not reported as cross-corpus
        run_cross_corpus(
            CrossCorpusSettings(
                shared_emodb(),
                shared_emodb(),
                tmp_path / "same",
                ("audio_egemaps",),
                ("none",),
                both_directions=False,
                within=False,
                clips_per_class=6,
                epochs=1,
                n_jobs=1,
                progress=False,
            )
        )
