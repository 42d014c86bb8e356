"""Cross-modal distillation: the soft-target loss, the teacher's nested targets, no test actor in the student,
and the workflow option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_protocol import _toy  # 12 actors with a speaker offset, 3 folds, 4 classes
from torch.nn import functional as F

from emo_utils.distill import DISTILLED_FOLDER, TEACHER_WEIGHTS, TEMPERATURES, Teacher, teacher_probabilities
from emo_utils.errors import SettingsError
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import proba_columns
from emo_utils.predictions import PredictionTable
from emo_utils.stacked import PlanRows, fit_stacked, soft_target_loss
from emo_utils.train import Standardizer, TrainConfig, cross_validate

LABELS = ("angry", "happy", "neutral", "sad")
P = proba_columns(LABELS)


def _inner_table(y, actors, folds, outer: int, seed: int) -> pd.DataFrame:
    """A branch's nested predictions of test fold ``outer``'s training actors: noisy, leaning to the truth."""
    rows = folds != outer
    logits = np.random.default_rng(seed).normal(size=(rows.sum(), 4)) + 1.5 * np.eye(4)[y[rows]]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    clip_ids = np.array([f"c{i:03d}" for i in np.flatnonzero(rows)])
    emotions = [LABELS[i] for i in y[rows]]
    table = PredictionTable.build(proba, clip_ids, actors[rows], emotions, LABELS, folds[rows]).frame
    return table.assign(outer_fold=outer)


def _teacher_tables(y, actors, folds, seed: int = 0) -> dict[str, pd.DataFrame]:
    return {
        name: pd.concat([_inner_table(y, actors, folds, k, seed + 10 * b + k) for k in range(3)], ignore_index=True)
        for b, name in enumerate(("audio", "face"))
    }


def test_soft_targets_equal_to_the_labels_at_temperature_one_give_the_cross_entropy() -> None:
    logits = torch.randn(2, 5, 4)
    y = torch.randint(0, 4, (2, 5))
    ce = F.cross_entropy(logits.reshape(-1, 4), y.reshape(-1), reduction="none").reshape(2, 5)
    one_hot = F.one_hot(y, 4).float()
    mixed = soft_target_loss(ce, logits, one_hot, torch.ones(2), torch.tensor([0.3, 0.7]))
    torch.testing.assert_close(mixed, ce)
    no_teacher = torch.full_like(one_hot, float("nan"))  # a row without a teacher keeps its cross-entropy
    torch.testing.assert_close(soft_target_loss(ce, logits, no_teacher, torch.full((2,), 4.0), torch.ones(2)), ce)
    uniform = torch.full_like(one_hot, 0.25)
    assert not torch.allclose(soft_target_loss(ce, logits, uniform, torch.ones(2), torch.ones(2)), ce)


def test_a_teacher_agreeing_with_the_labels_trains_the_same_model_and_another_one_leads_it() -> None:
    features, y, _, _, _ = _toy()
    X = features.X
    fit, val = np.arange(0, 64), np.arange(64, 96)
    scaler = Standardizer.fit(X[fit])
    config = TrainConfig("mlp", {"hidden": (16,), "dropout": 0.0}, epochs=20, patience=20, batch_size=16, lr=1e-2)
    misled = (y + 1) % 4  # a teacher that says the next class
    labels = np.where(np.isin(np.arange(len(y)), val), misled, y)  # validated on its side, so it is kept

    def train(teacher: np.ndarray | None, weight: float) -> np.ndarray:
        plan = PlanRows(fit, val, scaler.mean, scaler.std, teacher, 1.0, weight)
        ((model, _),) = fit_stacked(X, labels, [plan], config, n_classes=4)
        with torch.no_grad():
            return torch.softmax(model(scaler(X[fit])), 1).numpy()

    labels_only = train(None, 0.0)
    np.testing.assert_allclose(train(np.eye(4)[labels], 0.7), labels_only, atol=2e-3)  # Adam amplifies rounding
    taught = train(np.eye(4)[misled], 1.0)
    rows = np.arange(len(fit))
    assert taught[rows, misled[fit]].mean() > labels_only[rows, misled[fit]].mean() + 0.05


def test_the_teacher_of_a_test_fold_never_covers_its_actors_and_reads_only_that_folds_nested_rows() -> None:
    features, y, actors, _, folds = _toy()
    tables = _teacher_tables(y, actors, folds)
    by_fold = teacher_probabilities(tables, features.clip_ids, LABELS)
    assert sorted(by_fold) == [0, 1, 2]
    for k, probabilities in by_fold.items():
        assert np.isnan(probabilities[folds == k]).all()  # no prediction of a test actor
        np.testing.assert_allclose(probabilities[folds != k].sum(1), 1.0, atol=1e-6)
    expected = np.mean([t[t["outer_fold"] == 0][P].to_numpy() for t in tables.values()], axis=0)
    np.testing.assert_allclose(by_fold[0][folds != 0], expected, atol=1e-6)  # rows in clip order in both
    changed = {n: t.copy() for n, t in tables.items()}
    other = changed["face"]["outer_fold"] == 1
    changed["face"].loc[other, P] = 0.25
    again = teacher_probabilities(changed, features.clip_ids, LABELS)
    np.testing.assert_array_equal(again[0], by_fold[0])
    assert not np.allclose(again[1][folds != 1], by_fold[1][folds != 1])
    with pytest.raises(SettingsError, match="test fold 5"):
        Teacher(by_fold).targets(5)
    with pytest.raises(SettingsError, match="one run"):
        teacher_probabilities(tables, features.clip_ids, ("a", "b", "c", "d"))


def _student(features, y, actors, genders, folds, by_fold, temperature=2.0, weight=0.7):
    config = TrainConfig("mlp", {"hidden": (16,), "dropout": 0.3}, epochs=4, patience=4, batch_size=16)
    teacher = Teacher(by_fold, temperature, weight)
    return cross_validate(
        features, y, actors, genders, folds, config, progress=False, nested=True, label_names=LABELS, teacher=teacher
    )


def test_no_test_actor_reaches_the_student_and_each_test_fold_learns_from_its_own_teacher() -> None:
    """Poisoning a test actor's features leaves the other actors of its test fold exactly as they were; changing
    the teacher of test fold 1 moves fold 1's predictions and nothing of folds 0 and 2."""
    features, y, actors, genders, folds = _toy()
    by_fold = teacher_probabilities(_teacher_tables(y, actors, folds), features.clip_ids, LABELS)
    clean = _student(features, y, actors, genders, folds, by_fold)
    victim = actors[folds == 0][0]
    poisoned = FeatureSet(features.clip_ids, features.X.copy(), features.meta)
    poisoned.X[actors == victim] = np.random.default_rng(1).normal(20, 5, poisoned.X[actors == victim].shape)
    dirty = _student(poisoned, y, actors, genders, folds, by_fold)
    others = (folds == 0) & (actors != victim)
    np.testing.assert_array_equal(clean.oof.loc[others, P].to_numpy(), dirty.oof.loc[others, P].to_numpy())
    moved_teacher = {**by_fold, 1: np.where(np.isnan(by_fold[1]), np.nan, 0.25)}
    moved = _student(features, y, actors, genders, folds, moved_teacher)
    for fold in (0, 2):
        rows = clean.oof["fold"] == fold
        np.testing.assert_array_equal(clean.oof.loc[rows, P].to_numpy(), moved.oof.loc[rows, P].to_numpy())
    rows = clean.oof["fold"] == 1
    assert not np.array_equal(clean.oof.loc[rows, P].to_numpy(), moved.oof.loc[rows, P].to_numpy())
    with pytest.raises(SettingsError, match="MLP heads"):
        cross_validate(
            FeatureSet(features.clip_ids, features.X[:, None, :].repeat(3, 1), {}),
            y,
            actors,
            genders,
            folds,
            TrainConfig("sequence_lstm", epochs=1),
            progress=False,
            label_names=LABELS,
            teacher=Teacher(by_fold),
        )


@pytest.mark.slow
def test_workflow_distill_option_writes_both_students_cached_and_reported(tmp_path: Path) -> None:
    from emo_utils.workflow import WorkflowSettings, run_workflow

    settings = WorkflowSettings(
        data_root=None,
        out=tmp_path,
        branches=("face_au", "audio_egemaps"),
        clip_limit=48,
        epochs=2,
        demo_actors=6,
        distill=True,
        baselines=False,
        early_fusion=False,
        n_jobs=1,
        progress=False,
    )
    metrics = run_workflow(settings)
    distilled = metrics["distillation"]["audio_egemaps distilled"]
    labels_only = metrics["distillation"]["audio_egemaps labels only"]
    assert distilled["teacher"] == ["face_au", "audio_egemaps"] and labels_only["teacher"] == []
    assert distilled["n_clips"] == labels_only["n_clips"] == metrics["branches"]["audio_egemaps"]["n_clips"]
    grid = {f"T{t:g}_w{w:g}" for t in TEMPERATURES for w in TEACHER_WEIGHTS}
    assert set(distilled["chosen_per_fold"]) == {str(k) for k in range(6)}
    assert set(distilled["chosen_per_fold"].values()) <= grid
    folder = tmp_path / DISTILLED_FOLDER / "audio_egemaps"
    assert sorted(p.name for p in folder.glob("fold*.pt")) == [f"fold{k}.pt" for k in range(6)]
    assert not (folder / "candidates").exists()
    assert json.loads((folder / "provenance.json").read_text())["student_of"] == "audio_egemaps"
    report = (tmp_path / "report.md").read_text()
    assert "student audio_egemaps distilled" in report and "labels alone" in report
    for strategy in ("select_late", "select_product"):
        kept = metrics["fusion"][strategy]["kept_per_fold"]
        assert set(kept) == {str(k) for k in range(6)}
        assert all(set(names) <= {"face_au", "audio_egemaps"} and names for names in kept.values())
    stamp = (folder / "stage.json").stat().st_mtime_ns
    assert run_workflow(settings)["distillation"] == metrics["distillation"]
    assert (folder / "stage.json").stat().st_mtime_ns == stamp  # cached, not trained again
    candidate = tmp_path / "branches" / "audio_egemaps" / "candidates" / "medium" / "provenance.json"
    record = json.loads(candidate.read_text())
    candidate.write_text(json.dumps({**record, "train": {**record["train"], "lr": 0.5}}))  # not the student's MLP
    again = run_workflow(settings)["distillation"]
    assert (folder / "labels_only" / "oof.csv").is_file()  # trained here instead, by the same routine and seeds
    for name in ("audio_egemaps labels only", "audio_egemaps distilled"):
        assert again[name]["accuracy"] == metrics["distillation"][name]["accuracy"]
