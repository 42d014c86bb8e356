"""The one training routine every branch uses: actor-independent cross-validation that saves
out-of-fold class probabilities per clip, learning curves, and one checkpoint per fold."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from emo_utils.checkpoints import save_checkpoint
from emo_utils.errors import SettingsError
from emo_utils.feature_store import FeatureSet
from emo_utils.fitting import Standardizer, TrainConfig, batches, train_epochs
from emo_utils.fold_plans import FINAL, FoldPlan, plan_folds, split_validation
from emo_utils.labels import EMOTIONS
from emo_utils.models import build_model
from emo_utils.predictions import PredictionTable
from emo_utils.speaker_norm import (
    SpeakerNorm,
    enrolment_order,
    normalise_per_actor,
    test_inputs,
    training_inputs,
    within_actor_variance,
)

if TYPE_CHECKING:
    from emo_utils.distill import Teacher

STAGE_VERSION = 2  # bump when a change alters what training outputs: models, speaker norm, folds (emo_utils.stages)


@dataclass
class CVResult:
    """Out-of-fold probabilities (one row per clip), the nested inner out-of-fold probabilities, learning
    curves and checkpoint paths."""

    oof: pd.DataFrame
    history: pd.DataFrame
    checkpoints: list[Path]
    inner_oof: pd.DataFrame | None = None
    views: dict[str, pd.DataFrame] = field(default_factory=dict)


def predict_proba(model: nn.Module, X: np.ndarray, scaler: Standardizer, batch_size: int = 64) -> np.ndarray:
    """Softmax class probabilities for every row of ``X`` (computed where the model's weights are)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for rows in batches(len(X), batch_size, None):
            out.append(torch.softmax(model(scaler(X[rows]).to(device)), dim=1).cpu().numpy())
    n_classes = int(getattr(model, "n_classes", 0)) or len(EMOTIONS)
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)


def fit_model(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    scaler: Standardizer,
    progress: tqdm | None = None,
    X_train_aug: np.ndarray | None = None,
    n_classes: int = len(EMOTIONS),
    device: str = "cpu",
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train one model with early stopping on the validation actors (:func:`emo_utils.fitting.train_epochs`); return
    the best state (on the CPU) and the curve.

    The inputs are standardised once and moved to ``device`` ("cpu", "cuda", "cuda:N") once. With ``X_train_aug``
    (N, K, ...), every epoch shows each training clip once, as its original or one of its K augmented versions
    drawn at random (on-the-fly augmentation at the cost of one pass).
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_model(config.model, X_train.shape[1:], n_classes=n_classes, **config.model_kwargs).to(device)
    X_aug = None
    if X_train_aug is not None:
        X_aug = torch.stack([scaler(X_train_aug[:, k]) for k in range(X_train_aug.shape[1])], dim=1).to(device)
    curve: list[dict[str, float]] = []
    for report in train_epochs(
        model,
        scaler(X_train).to(device),
        torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(device),
        scaler(X_val).to(device),
        torch.from_numpy(np.asarray(y_val, dtype=np.int64)).to(device),
        config,
        rng,
        X_aug,
    ):
        curve.append(report.curve_row())
        if progress is not None:
            progress.set_postfix(epoch=report.epoch, val_acc=f"{report.val_accuracy:.2f}")
    model.to("cpu")
    model.n_classes = n_classes
    return model, curve


@dataclass
class FoldData:
    """What every fold trains from: the training side's model inputs, the raw features (test speakers are
    normalised from them per plan, and checkpoints save their population statistics), labels, each clip's
    enrolment rank and where checkpoints go."""

    X: np.ndarray
    X_raw: np.ndarray
    X_aug: np.ndarray | None
    y: np.ndarray
    actors: np.ndarray
    enrol_rank: np.ndarray
    config: TrainConfig
    feature_meta: dict[str, Any]
    label_names: tuple[str, ...]
    out_dir: Path | None
    test_views: tuple[str, ...] = ()
    device: str = "cpu"


@dataclass
class FoldResult:
    """One trained plan: its learning curve, its test-row probabilities (also under each extra test view)
    and its checkpoint (outer plans)."""

    plan: FoldPlan
    curve: list[dict[str, float]]
    proba: np.ndarray
    checkpoint: Path | None
    views: dict[str, np.ndarray] = field(default_factory=dict)


def train_fold(data: FoldData, plan: FoldPlan, progress: tqdm | None = None) -> FoldResult:
    """Fit one plan's model and predict its test rows."""
    config, X = data.config, data.X
    X_fit = np.asarray(X[plan.fit_rows])
    X_fit_aug = np.asarray(data.X_aug[plan.fit_rows]) if data.X_aug is not None else None
    scaler = Standardizer.fit(X_fit, config.standardize)
    model, curve = fit_model(
        X_fit,
        data.y[plan.fit_rows],
        np.asarray(X[plan.val_rows]),
        data.y[plan.val_rows],
        config,
        scaler,
        progress=progress,
        X_train_aug=X_fit_aug,
        n_classes=len(data.label_names),
        device=data.device,
    )
    return finish_fold(data, plan, model, scaler, curve)


def finish_fold(
    data: FoldData, plan: FoldPlan, model: nn.Module, scaler: Standardizer, curve: list[dict[str, float]]
) -> FoldResult:
    """A trained plan's test-row probabilities (under each test view) and, for an outer plan, its checkpoint."""
    config, X = data.config, data.X
    norm = SpeakerNorm.parse(config.speaker_norm)
    train_rows = np.concatenate([plan.fit_rows, plan.val_rows])

    def predict(view: SpeakerNorm) -> np.ndarray:
        X_test = test_inputs(data.X_raw, data.actors, data.enrol_rank, plan.test_rows, train_rows, view, X)
        return predict_proba(model, np.asarray(X_test), scaler, config.batch_size)

    proba = predict(norm)
    views = {view: predict(SpeakerNorm.parse(view)) for view in data.test_views}
    checkpoint = None
    if data.out_dir is not None and plan.inner is None:
        raw_fit = np.asarray(data.X_raw[plan.fit_rows])
        per_actor = norm.per_actor
        checkpoint = save_checkpoint(
            data.out_dir / plan.checkpoint_name,
            model,
            scaler,
            config,
            X.shape[1:],
            data.feature_meta,
            sorted(set(data.actors[plan.test_rows])),
            data.label_names,
            population=Standardizer.fit(raw_fit) if per_actor else None,
            within_actor_variance=within_actor_variance(raw_fit, data.actors[plan.fit_rows]) if per_actor else None,
        )
    return FoldResult(plan, curve, proba, checkpoint, views)


_WORKER_DATA: FoldData | None = None
_ARRAYS = ("X", "X_raw", "X_aug")


def _load_worker_data(folder: str, data: FoldData) -> None:
    """Pool initializer: the arrays memory-mapped from ``folder`` (shared page cache, no copies)."""
    global _WORKER_DATA
    torch.set_num_threads(1)
    arrays = {
        name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r")
        for name in _ARRAYS
        if (Path(folder) / f"{name}.npy").exists()
    }
    _WORKER_DATA = replace(data, X=arrays["X"], X_raw=arrays.get("X_raw", arrays["X"]), X_aug=arrays.get("X_aug"))


def _train_fold_in_worker(plan: FoldPlan) -> list[FoldResult]:
    assert _WORKER_DATA is not None
    return [train_fold(_WORKER_DATA, plan)]


def _train_stacked_in_worker(plans: list[FoldPlan]) -> list[FoldResult]:
    assert _WORKER_DATA is not None
    return train_stacked(_WORKER_DATA, plans)


def _train_folds_parallel(
    data: FoldData,
    work: list[Any],
    worker: Callable[[Any], list[FoldResult]],
    n_jobs: int,
    bar: tqdm,
) -> list[FoldResult]:
    """Run ``worker`` on each item of ``work`` (a plan, or a group of plans) in ``n_jobs`` processes (one torch
    thread each); arrays travel as memory maps."""
    from emo_utils.extraction import process_pool

    with tempfile.TemporaryDirectory(prefix="emo-folds-") as folder:
        for name in _ARRAYS:
            array = getattr(data, name)
            if array is not None and (name == "X" or array is not data.X):
                np.save(Path(folder) / f"{name}.npy", array)
        light = replace(data, X=np.empty(0), X_raw=np.empty(0), X_aug=None)
        results: list[FoldResult] = []
        with process_pool(min(n_jobs, len(work)), initializer=_load_worker_data, initargs=(folder, light)) as pool:
            for done in pool.map(worker, work):
                results += done
                bar.update(len(done))
        return results


def stackable(data: FoldData) -> bool:
    """True when the plans can train side by side as one stacked model (:mod:`emo_utils.stacked`): MLP heads on
    one vector per clip, without augmented copies, on the CPU."""
    return (
        data.config.model == "mlp"
        and data.X.ndim == 2
        and data.X_aug is None
        and torch.device(data.device).type == "cpu"
    )


def train_stacked(data: FoldData, plans: list[FoldPlan]) -> list[FoldResult]:
    """Train ``plans`` side by side (:func:`emo_utils.stacked.fit_stacked`), each on its own rows, with its own
    standardisation and early stopping on its own validation actors, then predict and save each."""
    from emo_utils.stacked import PlanRows, fit_stacked

    X = np.array(data.X, dtype=np.float32)  # a writable copy of a worker's memory map
    scalers = [Standardizer.fit(X[plan.fit_rows], data.config.standardize) for plan in plans]
    rows = [
        PlanRows(p.fit_rows, p.val_rows, s.mean, s.std, p.teacher, p.temperature, p.teacher_weight)
        for p, s in zip(plans, scalers)
    ]
    fitted = fit_stacked(X, data.y, rows, data.config, len(data.label_names))
    return [
        finish_fold(data, plan, model, scaler, curve) for plan, scaler, (model, curve) in zip(plans, scalers, fitted)
    ]


def oof_frame(
    proba: np.ndarray,
    clip_ids: np.ndarray,
    actors: np.ndarray,
    folds: np.ndarray,
    y: np.ndarray,
    label_names: tuple[str, ...],
) -> pd.DataFrame:
    """The common out-of-fold table (:class:`~emo_utils.predictions.PredictionTable`) as a DataFrame."""
    emotions = [label_names[i] for i in y]
    return PredictionTable.build(proba, clip_ids, actors, emotions, label_names, folds).frame


def _fold_data(
    features: FeatureSet,
    y: np.ndarray,
    actors: np.ndarray,
    config: TrainConfig,
    out_dir: str | Path | None,
    label_names: tuple[str, ...],
    enrol_seed: int = 0,
    test_views: tuple[str, ...] = (),
    device: str = "cpu",
) -> FoldData:
    """The training inputs every plan reads (speaker-normalised as ``config`` says)."""
    speaker_norm = SpeakerNorm.parse(config.speaker_norm)
    X_aug = features.X_aug
    if X_aug is not None and speaker_norm.per_actor:
        X_aug = np.stack([normalise_per_actor(X_aug[:, k], actors) for k in range(X_aug.shape[1])], axis=1)
    return FoldData(
        training_inputs(features.X, actors, speaker_norm),
        features.X,
        X_aug,
        y,
        actors,
        enrolment_order(features.clip_ids, actors, enrol_seed),
        config,
        features.meta,
        tuple(label_names),
        Path(out_dir) if out_dir is not None else None,
        tuple(test_views),
        device,
    )


def cross_validate(
    features: FeatureSet,
    labels: np.ndarray,
    actors: np.ndarray,
    genders: np.ndarray,
    folds: np.ndarray,
    config: TrainConfig,
    out_dir: str | Path | None = None,
    leaky_ok: bool = False,
    desc: str = "train",
    progress: bool = True,
    n_jobs: int = 1,
    nested: bool = False,
    label_names: tuple[str, ...] = EMOTIONS,
    enrol_seed: int = 0,
    test_views: tuple[str, ...] = (),
    device: str = "cpu",
    teacher: Teacher | None = None,
) -> CVResult:
    """Train one model per fold on the other folds' actors and predict the held-out actors.

    ``labels`` are class indices into ``label_names``. Within each training set, one actor per gender is
    held out for early stopping. Augmented versions (``features.X_aug``) are used for training rows only.
    ``config.speaker_norm`` (:mod:`emo_utils.speaker_norm`) says whether and how speakers are normalised;
    under ``enrol:K`` a test actor's K enrolment clips (drawn with ``enrol_seed``) are not scored (their
    probabilities are NaN). With ``nested`` every test fold's training folds are also predicted by inner
    models that never saw the test fold (``inner_oof``, for fitting fusion). Every split is checked for
    actor leaks unless ``leaky_ok`` (the leakage lesson, labelled as such). ``test_views`` are other speaker
    normalisations of the test side (e.g. ``enrol:1`` ... ``all`` for a model trained on per-speaker normalised
    actors): each fold model also predicts its test actors under each (``views``, every clip scored). MLP heads
    train their plans side by side as stacked models (:mod:`emo_utils.stacked`); with ``n_jobs > 1`` the plans
    (or groups of stacked plans) train in parallel processes. The same ``n_jobs`` gives the same results; with
    dropout, another ``n_jobs`` groups the stacked plans otherwise and changes them (:mod:`emo_utils.stacked`).
    ``device``: where the models train; on a CUDA device the folds train one after another in this process.
    ``teacher``: a teacher's soft targets per test fold mixed into the loss (:mod:`emo_utils.distill`; MLP heads).
    """
    y = np.asarray(labels, dtype=np.int64)
    actors, genders, folds = np.asarray(actors), np.asarray(genders), np.asarray(folds)
    speaker_norm = SpeakerNorm.parse(config.speaker_norm)
    data = _fold_data(features, y, actors, config, out_dir, label_names, enrol_seed, test_views, device)
    enrol_rank = data.enrol_rank
    plans = plan_folds(folds, actors, genders, config, leaky_ok, nested)
    if teacher is not None:
        if not stackable(data):
            raise SettingsError("soft targets train MLP heads on one vector per clip only (emo_utils.stacked)")
        plans = [
            replace(p, teacher=teacher.targets(p.outer), temperature=teacher.temperature, teacher_weight=teacher.weight)
            for p in plans
        ]
    bar = tqdm(total=len(plans), desc=desc, unit="model", disable=not progress)
    parallel = n_jobs > 1 and len(plans) > 1 and torch.device(device).type == "cpu"
    if stackable(data):
        groups = [plans[i::n_jobs] for i in range(min(n_jobs, len(plans)))]  # outer and inner plans in each
        if parallel:
            results = _train_folds_parallel(data, groups, _train_stacked_in_worker, n_jobs, bar)
        else:
            results = train_stacked(data, plans)
            bar.update(len(plans))
    elif parallel:
        results = _train_folds_parallel(data, plans, _train_fold_in_worker, n_jobs, bar)
    else:
        results = []
        for plan in plans:
            results.append(train_fold(data, plan, progress=bar))
            bar.update(1)
    bar.close()
    results.sort(key=lambda r: (r.plan.outer, r.plan.inner is not None, r.plan.inner or 0))  # plan_folds' order
    unscored = enrol_rank < speaker_norm.k if speaker_norm.mode == "enrol" else np.zeros(len(y), dtype=bool)
    oof = np.full((len(y), len(label_names)), np.nan, dtype=np.float32)
    views = {view: np.full_like(oof, np.nan) for view in test_views}
    inner_tables, history, checkpoints = [], [], []
    for result in results:
        plan = result.plan
        proba = np.where(unscored[plan.test_rows, None], np.nan, result.proba)
        if plan.inner is None:
            oof[plan.test_rows] = proba
            for view, view_proba in result.views.items():
                views[view][plan.test_rows] = view_proba
            history += [{"fold": plan.outer, **row} for row in result.curve]
            if result.checkpoint is not None:
                checkpoints.append(result.checkpoint)
        else:
            rows = plan.test_rows
            inner = oof_frame(proba, features.clip_ids[rows], actors[rows], folds[rows], y[rows], data.label_names)
            inner_tables.append(inner.assign(outer_fold=plan.outer))
    table = oof_frame(oof, features.clip_ids, actors, folds, y, data.label_names)
    inner_oof = pd.concat(inner_tables, ignore_index=True) if inner_tables else None
    view_tables = {v: oof_frame(P, features.clip_ids, actors, folds, y, data.label_names) for v, P in views.items()}
    return CVResult(
        oof=table,
        history=pd.DataFrame(history),
        checkpoints=sorted(checkpoints),
        inner_oof=inner_oof,
        views=view_tables,
    )


def fit_final(
    features: FeatureSet,
    labels: np.ndarray,
    actors: np.ndarray,
    genders: np.ndarray,
    config: TrainConfig,
    out_dir: str | Path,
    label_names: tuple[str, ...] = EMOTIONS,
    device: str = "cpu",
) -> tuple[Path, pd.DataFrame]:
    """One model fitted on every actor through the same routine (early stopping on one held-out actor per
    gender), saved as ``out_dir/final.pt``: the model to ship once :func:`cross_validate` has estimated how
    well this recipe does on unseen actors. Returns the checkpoint and the learning curve."""
    actors, genders = np.asarray(actors), np.asarray(genders)
    y = np.asarray(labels, dtype=np.int64)
    no_test = np.array([], dtype=np.int64)
    fit_rows, val_rows = split_validation(np.arange(len(y)), no_test, actors, genders, config, config.seed, False)
    data = _fold_data(features, y, actors, config, out_dir, tuple(label_names), device=device)
    result = train_fold(data, FoldPlan(FINAL, fit_rows, val_rows, no_test))
    assert result.checkpoint is not None
    return result.checkpoint, pd.DataFrame(result.curve)
