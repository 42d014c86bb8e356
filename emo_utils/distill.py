"""Cross-modal knowledge distillation: does seeing the face while training help a model that only hears?

An audio-only *student* (the audio branch's MLP at a size fixed a priori, :data:`STUDENT_SIZE`, on the branch's own
features) learns from the labels and from the soft targets of the audio-visual *teacher*: the equal-weight late
fusion of the run's fused branches (audio and face). Its loss per clip is ``(1 - w) * cross-entropy + w * T^2 *
KL(teacher_T || student_T)`` (:func:`emo_utils.stacked.soft_target_loss`).

No test actor takes part: for test fold k, the teacher's targets for fold k's training actors are its nested
predictions (``inner_oof.csv``: inner models that never saw fold k, nor the clip's own training fold), and the
student's early stopping reads its validation actors' labels as every branch does. The temperature T and the
weight w are chosen per test fold among :data:`TEMPERATURES` x :data:`TEACHER_WEIGHTS` on the nested predictions
of its training actors, as the branches choose their size (:mod:`emo_utils.tuning`). The inner students of that
choice learn from the same fold-k targets, made by inner models that did see the inner test fold's actors (an honest
inner score would need a third level of nesting): their inner accuracy flatters the teacher and favours a large w,
which ``inner_accuracy`` in metrics.json shows beside the label-only student's. The choice still sees training
actors only, so the test fold's estimate stays honest.

The comparison is the same student on labels alone: the branch's own ``STUDENT_SIZE`` candidate (same MLP, seeds,
folds and training routine), or trained here when the branch kept none.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.artifacts import INNER_OOF_FILE, BranchArtifact, fusable, load_artifact, write_branch_artifact
from emo_utils.branches import BRANCHES, BranchSpec, FeatureContext
from emo_utils.errors import SettingsError
from emo_utils.evaluate import metrics_from_table
from emo_utils.feature_store import FeatureSet
from emo_utils.fusion import apply_temperature, inner_stacks, weighted_average
from emo_utils.labels import emotion_index
from emo_utils.provenance import BranchProvenance
from emo_utils.run_setup import Run, branch_config
from emo_utils.stages import Stage, recorded_fingerprint, stable_hash
from emo_utils.train import TrainConfig, cross_validate
from emo_utils.tuning import choose_per_fold, combine, inner_scores

log = logging.getLogger(__name__)

STAGE_VERSION = 1  # bump when a change alters the distilled student (emo_utils.stages)
STUDENT_SIZE = "medium"  # the branch's MLP candidate (emo_utils.branches.MLP_CANDIDATES) the student uses
TEMPERATURES = (1.0, 2.0, 4.0)  # the grid chosen from per test fold on inner folds, fixed a priori
TEACHER_WEIGHTS = (0.3, 0.7)
DISTILLED_FOLDER = Path("fusion") / "distilled"  # under the run: one artifact per student branch


@dataclass(frozen=True)
class Teacher:
    """A teacher's soft targets: per outer test fold, its probabilities (N, C) of every clip (NaN: none),
    softened at ``temperature`` and weighted ``weight`` in the student's loss."""

    by_fold: Mapping[int, np.ndarray]
    temperature: float = 1.0
    weight: float = 0.5

    @property
    def name(self) -> str:
        return f"T{self.temperature:g}_w{self.weight:g}"

    def targets(self, fold: int) -> np.ndarray:
        """The soft targets the plans of test fold ``fold`` learn from."""
        if fold not in self.by_fold:
            raise SettingsError(f"the teacher has no nested predictions for test fold {fold}; rerun its branches")
        return apply_temperature(self.by_fold[fold], self.temperature)


def teacher_probabilities(
    inner_tables: Mapping[str, pd.DataFrame], clip_ids: np.ndarray, labels: tuple[str, ...]
) -> dict[int, np.ndarray]:
    """Per outer test fold k, the teacher's probabilities of every clip of ``clip_ids`` (in that order): the
    equal-weight late fusion of the branches' nested predictions of fold k's training actors, made by inner models
    that never saw fold k. NaN for the clips it has no prediction of (fold k's own actors above all)."""
    position = {clip: i for i, clip in enumerate(clip_ids)}
    by_fold = {}
    for fold, stack in inner_stacks(inner_tables).items():
        if tuple(stack.labels) != tuple(labels):
            raise SettingsError(f"the teacher predicts {stack.labels}, the student learns {labels}; use one run")
        known = np.array([clip in position for clip in stack.clip_ids], dtype=bool)
        probabilities = np.full((len(clip_ids), len(labels)), np.nan)
        probabilities[[position[c] for c in stack.clip_ids[known]]] = weighted_average(
            stack.P[:, known], np.ones(len(stack.P))
        )
        by_fold[fold] = probabilities
    return by_fold


def distill_cross_validate(
    features: FeatureSet,
    labels: np.ndarray,
    rows: pd.DataFrame,
    config: TrainConfig,
    by_fold: Mapping[int, np.ndarray],
    folder: Path,
    label_names: tuple[str, ...],
    n_jobs: int = 1,
    progress: bool = False,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The student for every (T, w) of the grid, cross-validated nested with actors held out (``rows``: the
    clips' actor, gender and fold); per test fold the setting whose nested predictions of its training actors are
    most accurate. Saves the chosen fold models in ``folder``; returns the out-of-fold and nested tables and what
    was chosen."""
    candidates = {}
    for temperature in TEMPERATURES:
        for weight in TEACHER_WEIGHTS:
            teacher = Teacher(by_fold, temperature, weight)
            candidates[teacher.name] = cross_validate(
                features,
                labels,
                rows["actor"].to_numpy(),
                rows["gender"].to_numpy(),
                rows["fold"].to_numpy(),
                config,
                out_dir=folder / "candidates" / teacher.name,
                desc=f"distil {teacher.name}",
                progress=progress,
                n_jobs=n_jobs,
                nested=True,
                label_names=label_names,
                enrol_seed=seed,
                teacher=teacher,
            )
            log.info("[distil] %s trained: %d fold models and their nested ones", teacher.name, len(by_fold))
    inner = {name: result.inner_oof for name, result in candidates.items()}
    choice = choose_per_fold(inner)  # type: ignore[arg-type]
    oof, inner_oof = combine({n: r.oof for n, r in candidates.items()}, inner, choice)  # type: ignore[arg-type]
    for fold, name in choice.items():
        shutil.move(folder / "candidates" / name / f"fold{fold}.pt", folder / f"fold{fold}.pt")
    shutil.rmtree(folder / "candidates")  # the other settings' fold models are not kept
    chosen = {
        "chosen_per_fold": choice,
        "inner_accuracy": inner_scores(inner).round(4).to_dict(),  # type: ignore[arg-type]
        "grid": {"temperature": list(TEMPERATURES), "teacher_weight": list(TEACHER_WEIGHTS)},
    }
    return oof, inner_oof, chosen


def _labels_only_student(run: Run, spec: BranchSpec, config: TrainConfig) -> BranchArtifact | None:
    """The branch's own ``STUDENT_SIZE`` candidate (the same MLP trained on labels alone), when it kept one."""
    folder = run.settings.out / "branches" / spec.name / "candidates" / STUDENT_SIZE
    if not (folder / "oof.csv").is_file():
        return None
    candidate = load_artifact(folder)
    return candidate if stable_hash(candidate.provenance.get("train")) == stable_hash(asdict(config)) else None


def _train_labels_only(
    run: Run, spec: BranchSpec, features: FeatureSet, config: TrainConfig, folder: Path
) -> BranchArtifact:
    """The student on labels alone, trained here (cached) when the branch kept no ``STUDENT_SIZE`` candidate."""
    rows = run.rows(features.clip_ids)
    split = {"clips": stable_hash(list(features.clip_ids)), "folds": stable_hash(rows["fold"].tolist())}
    params = {"train": asdict(config), **split}
    stage = Stage("labels_only", STAGE_VERSION, params)
    if not stage.is_current(folder, ("oof.csv",)):
        result = cross_validate(
            features,
            np.array([emotion_index(e, run.labels) for e in rows["emotion"]]),
            rows["actor"].to_numpy(),
            rows["gender"].to_numpy(),
            rows["fold"].to_numpy(),
            config,
            out_dir=folder,
            n_jobs=run.settings.jobs,
            nested=True,
            label_names=run.labels,
            enrol_seed=run.settings.seed,
        )
        record = {"branch": spec.name, "train": asdict(config)}
        write_branch_artifact(folder, result.oof, record, None, result.inner_oof)
        stage.mark_done(folder)
    return load_artifact(folder)


def distilled_student(
    run: Run, spec: BranchSpec, ctx: FeatureContext, teachers: Mapping[str, BranchArtifact]
) -> tuple[BranchArtifact, BranchArtifact]:
    """The branch's student distilled from the ``teachers``' late fusion, and the same student on labels alone
    (each cached by its stage fingerprint)."""
    config = replace(branch_config(spec, run.settings), **spec.candidates[STUDENT_SIZE])
    folder = run.settings.out / DISTILLED_FOLDER / spec.name
    features: FeatureSet | None = None
    labels_only = _labels_only_student(run, spec, config)
    if labels_only is None:
        features, _ = spec.build_features(ctx)
        labels_only = _train_labels_only(run, spec, features, config, folder / "labels_only")
    params = {
        "train": asdict(config),
        "temperatures": TEMPERATURES,
        "teacher_weights": TEACHER_WEIGHTS,
        "teacher": "late_equal of nested predictions",
        "labels": run.labels,
    }
    inputs = [f"{n}:{recorded_fingerprint(a.folder)}" for n, a in teachers.items()]
    stage = Stage("distill", STAGE_VERSION, params, (*inputs, f"student:{recorded_fingerprint(labels_only.folder)}"))
    if stage.is_current(folder, ("oof.csv", "provenance.json")):
        log.info("[%s distilled] cached results in %s", spec.name, folder)
        return load_artifact(folder), labels_only
    started = time.perf_counter()
    if features is None:
        features, _ = spec.build_features(ctx)
    rows = run.rows(features.clip_ids)
    by_fold = teacher_probabilities({n: a.inner_oof() for n, a in teachers.items()}, features.clip_ids, run.labels)
    log.info("[%s distilled] student of %s, teacher %s", spec.name, STUDENT_SIZE, " + ".join(teachers))
    oof, inner_oof, chosen = distill_cross_validate(
        features,
        np.array([emotion_index(e, run.labels) for e in rows["emotion"]]),
        rows,
        config,
        by_fold,
        folder,
        run.labels,
        run.settings.jobs,
        run.settings.progress,
        run.settings.seed,
    )
    provenance = BranchProvenance(
        branch=f"{spec.name} distilled",
        modality="audio",
        description=f"{spec.description}, {STUDENT_SIZE} MLP distilled from " + " + ".join(teachers),
        random_weights=bool(features.random_weights),
        speaker_norm=config.speaker_norm,
        synthetic=run.synthetic,
        dataset=run.dataset,
        protocol=run.protocol,
        labels=run.labels,
        details={
            "student_of": spec.name,
            "teacher": list(teachers),
            "train": asdict(config),
            "wall_time_s": round(time.perf_counter() - started, 1),
            **chosen,
        },
    )
    write_branch_artifact(folder, oof, provenance, None, inner_oof)
    stage.mark_done(folder)
    log.info("[%s distilled] T, w chosen per test fold on inner folds: %s", spec.name, chosen["chosen_per_fold"])
    return load_artifact(folder), labels_only


def _inner_accuracy(artifact: BranchArtifact) -> float:
    """Mean over test folds of the accuracy of the nested predictions of their training actors (what the choice of
    T and w saw; for a distilled student optimistic, see the module's docstring)."""
    return round(float(inner_scores({"s": artifact.inner_oof()}).mean().iloc[0]), 4)  # type: ignore[dict-item]


def run_distillation(
    run: Run, artifacts: Mapping[str, BranchArtifact], ctx: FeatureContext
) -> dict[str, dict[str, Any]]:
    """Each audio MLP branch of the run distilled from the audio-visual teacher (the run's fused branches with
    nested predictions), beside the same student on labels alone: the ``distillation`` entries of metrics.json."""
    fused = fusable(dict(artifacts), run.settings.fuse_random_weights)
    teachers = {n: a for n, a in fused.items() if (a.folder / INNER_OOF_FILE).is_file()}
    students = [n for n in teachers if BRANCHES[n].modality == "audio" and STUDENT_SIZE in BRANCHES[n].candidates]
    if not students or all(BRANCHES[n].modality == "audio" for n in teachers):
        log.warning("[distillation] needs an audio MLP branch and a face branch with nested predictions: skipped")
        return {}
    results: dict[str, dict[str, Any]] = {}
    for name in students:
        student, labels_only = distilled_student(run, BRANCHES[name], ctx, teachers)
        common = {"student_of": name, "size": STUDENT_SIZE, "random_weights": student.random_weights}
        results[f"{name} labels only"] = {
            **metrics_from_table(labels_only.oof),
            **common,
            "teacher": [],
            "inner_accuracy": _inner_accuracy(labels_only),
        }
        results[f"{name} distilled"] = {
            **metrics_from_table(student.oof),
            **common,
            "inner_accuracy": _inner_accuracy(student),
            "teacher": student.provenance["teacher"],
            "chosen_per_fold": {str(k): v for k, v in student.provenance["chosen_per_fold"].items()},
            "wall_time_s": student.provenance["wall_time_s"],
        }
    return results
