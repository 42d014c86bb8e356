"""The plans of a cross-validation: for each test fold (and, nested, each inner fold) the rows a model is fitted
on, the validation actors' rows it stops early on and the rows it predicts, every split checked for actor leaks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emo_utils.artifacts import FINAL_MODEL_FILE
from emo_utils.data.folds import check_no_actor_leak, iter_folds, pick_validation_actors
from emo_utils.errors import SettingsError
from emo_utils.fitting import TrainConfig

FINAL = -1  # FoldPlan.outer of the model fitted on every actor: it has no test fold


@dataclass
class FoldPlan:
    """The rows of one fold: fitted on, used for early stopping, predicted (all actor-checked).

    ``outer`` is the test fold; an inner plan (``inner`` set) predicts training fold ``inner`` of test fold
    ``outer`` from the other training folds, so that fusion for fold ``outer`` is fitted on predictions
    of models that never saw its actors (nested cross-validation).
    """

    outer: int
    fit_rows: np.ndarray
    val_rows: np.ndarray
    test_rows: np.ndarray
    inner: int | None = None
    teacher: np.ndarray | None = None  # soft targets of every row for distillation (emo_utils.distill), or None
    temperature: float = 1.0
    teacher_weight: float = 0.0

    @property
    def checkpoint_name(self) -> str:
        """``foldK.pt``, or ``final.pt`` for the model fitted on every actor (:func:`fit_final`)."""
        return FINAL_MODEL_FILE if self.outer == FINAL else f"fold{self.outer}.pt"


def split_validation(
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    actors: np.ndarray,
    genders: np.ndarray,
    config: TrainConfig,
    seed: int,
    leaky_ok: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit and validation rows of one training set: validation actors drawn from the training actors only."""
    if leaky_ok:
        rng = np.random.default_rng(seed)
        val_rows = rng.choice(train_rows, size=max(2, len(train_rows) // 10), replace=False)
    else:
        val_actors = pick_validation_actors(
            actors[train_rows], genders[train_rows], config.val_actors_per_gender, seed=seed
        )
        val_rows = train_rows[np.isin(actors[train_rows], list(val_actors))]
        if len(val_rows) == 0:
            raise SettingsError(
                f"{len(np.unique(actors[train_rows]))} training actors leave none to hold out for "
                "early stopping; use fewer folds or more actors"
            )
        check_no_actor_leak(actors[val_rows], actors[test_rows], "validation vs test")
    fit_rows = np.setdiff1d(train_rows, val_rows)
    if not leaky_ok:
        check_no_actor_leak(actors[fit_rows], actors[val_rows], "validation")
        check_no_actor_leak(actors[fit_rows], actors[test_rows], "test")
    return fit_rows, val_rows


def plan_folds(
    folds: np.ndarray,
    actors: np.ndarray,
    genders: np.ndarray,
    config: TrainConfig,
    leaky_ok: bool = False,
    nested: bool = False,
) -> list[FoldPlan]:
    """One plan per test fold (and, with ``nested``, one per pair of test fold and inner training fold);
    every split is checked for actor leaks."""
    plans = []
    for fold, train_rows, test_rows in iter_folds(folds, actors, leaky_ok=leaky_ok):
        fit_rows, val_rows = split_validation(
            train_rows, test_rows, actors, genders, config, config.seed + fold, leaky_ok
        )
        plans.append(FoldPlan(fold, fit_rows, val_rows, test_rows))
        if not nested:
            continue
        for inner in np.unique(folds[train_rows]):
            inner_test = train_rows[folds[train_rows] == inner]
            inner_train = train_rows[folds[train_rows] != inner]
            fit, val = split_validation(
                inner_train, inner_test, actors, genders, config, config.seed + 100 * (fold + 1) + int(inner), leaky_ok
            )
            plans.append(FoldPlan(fold, fit, val, inner_test, int(inner)))
    return plans
