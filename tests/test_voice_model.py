"""The voice model for strangers: its recipes, per-utterance loudness normalisation, augmented copies, the demo
computing the same input from one clip, the choice among variants, and the branch folder it writes."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from test_audio_features import SR, voiced

from emo_utils.artifacts import load_artifact
from emo_utils.audio.augment import augment
from emo_utils.audio.opensmile_features import SmileParams, feature_names, normalise_loudness, waveform_smile_features
from emo_utils.branches import BRANCHES
from emo_utils.clip_media import ClipMedia
from emo_utils.cross_corpus import Corpus
from emo_utils.evaluate import metrics_from_table
from emo_utils.feature_store import FeatureSet
from emo_utils.inference import load_predictor
from emo_utils.labels import EMOTIONS
from emo_utils.voice_model import (
    STRANGER_AUGMENT,
    VoiceRecipe,
    augmented,
    choose_final,
    choose_on_inner_folds,
    clip_voice_features,
    cross_validate_variant,
    extract_voice_features,
    recipe_features,
    ship,
)


def write_clip(path: Path, y: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.concatenate([np.zeros(SR // 4, np.float32), y, np.zeros(SR // 4, np.float32)]), SR)
    return path


def test_recipe_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError, match="feature_set"):
        VoiceRecipe("mfcc")
    with pytest.raises(ValueError, match="unknown augmentation"):
        VoiceRecipe("egemaps", augment=("echo",))
    with pytest.raises(ValueError, match="unknown augmentation"):
        VoiceRecipe("egemaps", augment=("reverb+echo",))
    with pytest.raises(ValueError, match="head"):
        VoiceRecipe("egemaps", head="huge")
    recipe = VoiceRecipe("egemaps", -25.0, STRANGER_AUGMENT)
    assert recipe.branch == "audio_egemaps" and recipe.params.loudness_dbfs == -25.0
    assert recipe.train_config(3).seed == 3 and recipe.train_config().speaker_norm == "none"


def test_loudness_normalisation_removes_the_recording_gain() -> None:
    y = voiced(1.5)
    assert 20 * np.log10(np.sqrt(np.mean(normalise_loudness(y, -25.0) ** 2))) == pytest.approx(-25.0, abs=1e-3)
    assert normalise_loudness(np.zeros(10, np.float32), -25.0).max() == 0.0
    loudness = feature_names(SmileParams("egemaps")).index("loudness_sma3_amean")
    as_recorded, normalised = SmileParams("egemaps"), SmileParams("egemaps", loudness_dbfs=-25.0)
    loud, quiet = waveform_smile_features(y, as_recorded), waveform_smile_features(0.05 * y, as_recorded)
    assert quiet[loudness] < 0.5 * loud[loudness]  # as recorded, the gain shows
    loud, quiet = waveform_smile_features(y, normalised), waveform_smile_features(0.05 * y, normalised)
    assert quiet[loudness] == pytest.approx(loud[loudness], rel=1e-3)  # normalised, it does not


def test_a_chain_applies_its_kinds_in_turn() -> None:
    y = voiced(1.0)
    chained = augmented(y, SR, "speed+pitch", np.random.default_rng(0))
    rng = np.random.default_rng(0)
    by_hand = augment(augment(y, SR, "speed", rng), SR, "pitch", rng)
    np.testing.assert_array_equal(chained, by_hand)
    assert len(chained) != len(y)  # the speed change kept its length change


def test_augmented_copies_are_seeded_and_the_demo_computes_the_clean_features(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.wav", voiced(1.5))
    params = SmileParams("egemaps", loudness_dbfs=-25.0)
    first = clip_voice_features(path, params, STRANGER_AUGMENT, seed=1)
    again = clip_voice_features(path, params, STRANGER_AUGMENT, seed=1)
    other = clip_voice_features(path, params, STRANGER_AUGMENT, seed=2)
    assert first["X"].shape == (88,) and first["X_aug"].shape == (len(STRANGER_AUGMENT), 88)
    np.testing.assert_array_equal(first["X_aug"], again["X_aug"])
    assert not np.allclose(first["X_aug"], other["X_aug"])
    assert all(not np.allclose(copy, first["X"]) for copy in first["X_aug"])
    features, skipped = extract_voice_features(
        [("c0", str(path))], params, tmp_path / "cache", STRANGER_AUGMENT, seed=1, n_jobs=1, progress=False
    )
    assert not len(skipped) and features.meta["augment"] == list(STRANGER_AUGMENT)
    np.testing.assert_array_equal(features.X_aug[0], first["X_aug"])
    demo_input = BRANCHES["audio_egemaps"].clip_input(ClipMedia(audio=str(path)), features.meta)
    np.testing.assert_allclose(demo_input, features.X[0], rtol=1e-6)


def test_recipe_features_keeps_the_recipes_copies() -> None:
    X_aug = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    kinds = ["noise", "reverb", "speed", "pitch+noise"]
    held = FeatureSet(["a", "b"], np.zeros((2, 3)), {"augment": kinds}, X_aug)
    assert recipe_features(held, VoiceRecipe("egemaps")).X_aug is None
    some = recipe_features(held, VoiceRecipe("egemaps", augment=("speed", "noise")))
    np.testing.assert_array_equal(some.X_aug, X_aug[:, [2, 0]])
    assert some.meta["augment"] == ["speed", "noise"]
    with pytest.raises(ValueError, match="no"):
        recipe_features(FeatureSet(["a"], np.zeros((1, 3)), {}), VoiceRecipe("egemaps", augment=("noise",)))


def oof_table(correct: list[bool], fold: list[int], outer: list[int] | None = None) -> pd.DataFrame:
    """Two-class predictions, right where ``correct`` says."""
    truth = ["happy", "sad"] * (len(correct) // 2)
    right = np.array([[0.9, 0.1] if e == "happy" else [0.1, 0.9] for e in truth])
    proba = np.where(np.array(correct)[:, None], right, right[:, ::-1])
    table = pd.DataFrame(
        {"clip_id": range(len(correct)), "actor": "01", "fold": fold, "emotion": truth, "p_happy": proba[:, 0]}
    )
    table["p_sad"] = proba[:, 1]
    return table if outer is None else table.assign(outer_fold=outer)


def test_the_choice_uses_inner_folds_per_test_fold_and_out_of_fold_accuracy_for_the_final_model() -> None:
    folds = [0, 0, 1, 1]
    # variant a: test folds all right; inner predictions of fold 0's training actors all wrong, fold 1's right
    oofs = {"a": oof_table([True] * 4, folds), "b": oof_table([False, False, True, False], folds)}
    inner = {
        "a": oof_table([False, False, True, True], [1, 1, 0, 0], outer=[0, 0, 1, 1]),
        "b": oof_table([True, True, False, False], [1, 1, 0, 0], outer=[0, 0, 1, 1]),
    }
    nested = choose_on_inner_folds(oofs, inner)
    assert nested.choice == {0: "b", 1: "a"}
    assert list(nested.oof["p_happy"].round(1)) == [0.1, 0.9, 0.9, 0.1]  # fold 0 from b, fold 1 from a
    assert choose_final(oofs) == "a"
    assert choose_final({"x": oofs["a"], "y": oofs["a"]}) == "x"  # a tie goes to the first listed


def synthetic_corpus(n_actors: int = 12, per_emotion: int = 2, seed: int = 0) -> tuple[Corpus, FeatureSet]:
    """A labelled corpus of random eGeMAPS-sized features with a class signal, 3 gender-balanced actor folds."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "take_id": f"{a:02d}-{e}-{k}",
            "actor": f"{a:02d}",
            "gender": "male" if a % 2 else "female",
            "emotion": emotion,
            "fold": (a - 1) // 4,
            "synthetic": True,
        }
        for a in range(1, n_actors + 1)
        for e, emotion in enumerate(EMOTIONS)
        for k in range(per_emotion)
    ]
    manifest = pd.DataFrame(rows)
    centres = rng.standard_normal((len(EMOTIONS), 88)).astype(np.float32)
    y = manifest["emotion"].map(EMOTIONS.index).to_numpy()
    X = centres[y] + rng.standard_normal((len(y), 88)).astype(np.float32)
    X_aug = X[:, None] + 0.1 * rng.standard_normal((len(y), 2, 88)).astype(np.float32)
    meta = {"params": asdict(SmileParams("egemaps", loudness_dbfs=-25.0)), "augment": ["noise", "speed"]}
    features = FeatureSet(manifest["take_id"], X, meta, X_aug)
    return Corpus("synthetic voices", Path("."), manifest, Path(".")), features


def test_written_branch_is_what_the_demo_loads(tmp_path: Path) -> None:
    corpus, features = synthetic_corpus()
    recipe = VoiceRecipe("egemaps", -25.0, ("noise", "speed"))
    cv = cross_validate_variant(features, corpus, recipe, seed=0)
    assert set(cv.inner_oof["outer_fold"]) == {0, 1, 2} and cv.oof["fold"].nunique() == 3
    assert (
        cv.oof["emotion"] == np.array(EMOTIONS)[cv.oof[[f"p_{e}" for e in EMOTIONS]].to_numpy().argmax(1)]
    ).mean() > 0.5
    shipped = ship(tmp_path / "shipped", {"v": features}, corpus, {"v": cv.oof}, {"v": cv.inner_oof}, {"v": recipe})
    folder = Path(shipped["folder"])
    assert folder == tmp_path / "shipped" / "branches" / "audio_egemaps"
    assert shipped["final_variant"] == "v" and set(shipped["choice_per_fold"].values()) == {"v"}
    assert shipped["oof_accuracy"] == pytest.approx(metrics_from_table(cv.oof)["accuracy"], abs=1e-4)
    assert {p.name for p in folder.iterdir()} == {"final.pt", "oof.csv", "provenance.json"}
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["recipe"]["loudness_dbfs"] == -25.0 and provenance["speaker_norm"] == "none"
    assert provenance["labels"] == list(EMOTIONS) and provenance["shipped"]["oof_accuracy"] == shipped["oof_accuracy"]
    assert len(load_artifact(folder).oof) == len(features)
    clip = write_clip(tmp_path / "stranger.wav", voiced(1.2, 200.0, seed=1))
    proba = load_predictor(folder).predict(ClipMedia(audio=str(clip)))
    assert proba.shape == (len(EMOTIONS),) and proba.sum() == pytest.approx(1.0, abs=1e-5)
