"""The one training routine every branch uses: actor-independent cross-validation that saves
out-of-fold class probabilities per clip, learning curves, and one checkpoint per fold."""
from __future__ import annotations

import copy
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from emo_utils.data.folds import check_no_actor_leak, iter_folds, pick_validation_actors
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS
from emo_utils.models import build_model


@dataclass
class TrainConfig:
    """Settings of one branch's training (saved with every checkpoint)."""

    model: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    val_actors_per_gender: int = 1
    standardize: bool = True
    label_smoothing: float = 0.0
    actor_norm: bool = False
    seed: int = 0


@dataclass
class CVResult:
    """Out-of-fold probabilities (one row per clip), learning curves and checkpoint paths."""

    oof: pd.DataFrame
    history: pd.DataFrame
    checkpoints: list[Path]


@dataclass
class Standardizer:
    """Per-feature mean/std over the last axis, fitted on training rows only.

    In sequences (N, T, F), all-zero frames are padding: they are left out of the fit and stay zero.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, enabled: bool = True) -> Standardizer:
        if not enabled:
            return cls(np.zeros(1, np.float32), np.ones(1, np.float32))
        flat = X.reshape(-1, X.shape[-1])
        if X.ndim >= 3:
            flat = flat[np.abs(flat).sum(axis=1) > 0]
        flat = flat.astype(np.float64)
        return cls(flat.mean(0).astype(np.float32), (flat.std(0) + 1e-6).astype(np.float32))

    def __call__(self, X: np.ndarray) -> torch.Tensor:
        out = (X.astype(np.float32) - self.mean) / self.std
        if X.ndim >= 3 and self.mean.size > 1:
            out[np.abs(X).sum(axis=-1) == 0] = 0.0
        return torch.from_numpy(out)


def normalize_per_actor(X: np.ndarray, actors: np.ndarray) -> np.ndarray:
    """Z-score every feature within each actor (speaker normalisation).

    Unsupervised: it uses an actor's clips but never their labels, so it is allowed for test actors in
    speaker-independent evaluation (it needs several clips of a person; the demo on one clip cannot).
    All-zero frames (padding of sequences) are left out of the statistics and stay zero.
    """
    out = np.zeros(X.shape, dtype=np.float32)
    valid = np.abs(X).sum(axis=-1) > 0
    for actor in np.unique(actors):
        rows = actors == actor
        block, keep = X[rows].astype(np.float64), valid[rows]
        frames = block[keep]
        normalised = (block - frames.mean(0)) / (frames.std(0) + 1e-6)
        out[rows] = np.where(keep[..., None], normalised, 0.0).astype(np.float32)
    return out


def _batches(n: int, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def predict_proba(model: nn.Module, X: np.ndarray, scaler: Standardizer, batch_size: int = 64) -> np.ndarray:
    """Softmax class probabilities for every row of ``X``."""
    model.eval()
    out = []
    with torch.no_grad():
        for rows in _batches(len(X), batch_size, None):
            out.append(torch.softmax(model(scaler(X[rows])), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)), np.float32)


def _epoch_loss(model: nn.Module, X: np.ndarray, y: np.ndarray, scaler: Standardizer, loss_fn: nn.Module,
                batch_size: int) -> tuple[float, float]:
    proba = predict_proba(model, X, scaler, batch_size)
    loss = float(nn.functional.nll_loss(torch.log(torch.from_numpy(proba) + 1e-9), torch.from_numpy(y)))
    return loss, float((proba.argmax(1) == y).mean())


def fit_model(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, config: TrainConfig,
              scaler: Standardizer, progress: tqdm | None = None,
              X_train_aug: np.ndarray | None = None) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train one model with early stopping on the validation actors; return the best state and the curve.

    With ``X_train_aug`` (N, K, ...), every epoch shows each training clip once, as its original or one of
    its K augmented versions drawn at random (on-the-fly augmentation at the cost of one pass).
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_model(config.model, X_train.shape[1:], **config.model_kwargs)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    best_loss, best_state, since_best = np.inf, copy.deepcopy(model.state_dict()), 0
    curve: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        total = 0.0
        view = rng.integers(0, 1 + X_train_aug.shape[1], len(X_train)) if X_train_aug is not None else None
        for rows in _batches(len(X_train), config.batch_size, rng):
            if len(rows) < 2:  # BatchNorm needs two samples
                continue
            batch = X_train[rows]
            if view is not None:
                augmented = view[rows] > 0
                batch = batch.copy()
                batch[augmented] = X_train_aug[rows[augmented], view[rows[augmented]] - 1]
            optimiser.zero_grad()
            loss = loss_fn(model(scaler(batch)), torch.from_numpy(y_train[rows]))
            loss.backward()
            optimiser.step()
            total += loss.item() * len(rows)
        val_loss, val_acc = _epoch_loss(model, X_val, y_val, scaler, loss_fn, config.batch_size)
        curve.append({"epoch": epoch, "train_loss": total / max(1, len(X_train)), "val_loss": val_loss,
                      "val_accuracy": val_acc})
        if progress is not None:
            progress.set_postfix(epoch=epoch, val_acc=f"{val_acc:.2f}")
        if val_loss < best_loss - 1e-4:
            best_loss, best_state, since_best = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return model, curve


@dataclass
class FoldPlan:
    """The rows of one fold: fitted on, used for early stopping, predicted (all actor-checked)."""

    fold: int
    fit_rows: np.ndarray
    val_rows: np.ndarray
    test_rows: np.ndarray


def plan_folds(folds: np.ndarray, actors: np.ndarray, genders: np.ndarray, config: TrainConfig,
               leaky_ok: bool = False) -> list[FoldPlan]:
    """Split every fold's training rows into fit and validation rows; checks every split for actor leaks."""
    plans = []
    for fold, train_rows, test_rows in iter_folds(folds, actors, leaky_ok=leaky_ok):
        if leaky_ok:
            rng = np.random.default_rng(config.seed + fold)
            val_rows = rng.choice(train_rows, size=max(2, len(train_rows) // 10), replace=False)
        else:
            val_actors = pick_validation_actors(actors[train_rows], genders[train_rows],
                                                config.val_actors_per_gender, seed=config.seed + fold)
            val_rows = train_rows[np.isin(actors[train_rows], list(val_actors))]
            check_no_actor_leak(actors[val_rows], actors[test_rows], "validation vs test")
        fit_rows = np.setdiff1d(train_rows, val_rows)
        if not leaky_ok:
            check_no_actor_leak(actors[fit_rows], actors[val_rows], "validation")
        plans.append(FoldPlan(fold, fit_rows, val_rows, test_rows))
    return plans


@dataclass
class FoldData:
    """What every fold trains from: model inputs (after any per-actor normalisation), the raw features
    (for the population statistics saved with checkpoints), labels and where checkpoints go."""

    X: np.ndarray
    X_raw: np.ndarray
    X_aug: np.ndarray | None
    y: np.ndarray
    actors: np.ndarray
    config: TrainConfig
    feature_meta: dict[str, Any]
    out_dir: Path | None


FoldResult = tuple[int, list[dict[str, float]], np.ndarray, Path | None]


def train_fold(data: FoldData, plan: FoldPlan, progress: tqdm | None = None) -> FoldResult:
    """Fit one fold's model; return (fold, learning curve, test-row probabilities, checkpoint path)."""
    config, X, y = data.config, data.X, data.y
    X_fit = np.asarray(X[plan.fit_rows])
    X_fit_aug = np.asarray(data.X_aug[plan.fit_rows]) if data.X_aug is not None else None
    scaler = Standardizer.fit(X_fit, config.standardize)
    model, curve = fit_model(X_fit, y[plan.fit_rows], np.asarray(X[plan.val_rows]), y[plan.val_rows], config,
                             scaler, progress=progress, X_train_aug=X_fit_aug)
    proba = predict_proba(model, np.asarray(X[plan.test_rows]), scaler, config.batch_size)
    checkpoint = None
    if data.out_dir is not None:
        population = Standardizer.fit(np.asarray(data.X_raw[plan.fit_rows])) if config.actor_norm else None
        checkpoint = save_checkpoint(data.out_dir / f"fold{plan.fold}.pt", model, scaler, config, X.shape[1:],
                                     data.feature_meta, sorted(set(data.actors[plan.test_rows])), population)
    return plan.fold, curve, proba, checkpoint


_WORKER_DATA: FoldData | None = None


def _load_worker_data(folder: str, data: FoldData) -> None:
    """Pool initializer: the arrays memory-mapped from ``folder`` (shared page cache, no copies)."""
    global _WORKER_DATA
    torch.set_num_threads(1)
    arrays = {name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r") for name in ("X", "X_raw", "X_aug")
              if (Path(folder) / f"{name}.npy").exists()}
    _WORKER_DATA = replace(data, X=arrays["X"], X_raw=arrays.get("X_raw", arrays["X"]), X_aug=arrays.get("X_aug"))


def _train_fold_in_worker(plan: FoldPlan) -> FoldResult:
    assert _WORKER_DATA is not None
    return train_fold(_WORKER_DATA, plan)


def _train_folds_parallel(data: FoldData, plans: list[FoldPlan], n_jobs: int, bar: tqdm) -> list[FoldResult]:
    """Train the folds in ``n_jobs`` processes (one torch thread each); arrays travel as memory maps."""
    from emo_utils.extraction import process_pool
    with tempfile.TemporaryDirectory(prefix="emo-folds-") as folder:
        arrays = {"X": data.X, "X_raw": None if data.X_raw is data.X else data.X_raw, "X_aug": data.X_aug}
        for name, array in arrays.items():
            if array is not None:
                np.save(Path(folder) / f"{name}.npy", array)
        light = replace(data, X=np.empty(0), X_raw=np.empty(0), X_aug=None)
        results: list[FoldResult] = []
        with process_pool(min(n_jobs, len(plans)), initializer=_load_worker_data, initargs=(folder, light)) as pool:
            for result in pool.map(_train_fold_in_worker, plans):
                results.append(result)
                bar.update(1)
        return results


def cross_validate(features: FeatureSet, labels: np.ndarray, actors: np.ndarray, genders: np.ndarray,
                   folds: np.ndarray, config: TrainConfig, out_dir: str | Path | None = None,
                   leaky_ok: bool = False, desc: str = "train", progress: bool = True,
                   n_jobs: int = 1) -> CVResult:
    """Train one model per fold on the other folds' actors and predict the held-out actors.

    ``labels`` are class indices into :data:`EMOTIONS`. Within each training set, one actor per gender
    is held out for early stopping. Augmented versions (``features.X_aug``) are used for training rows only.
    With ``config.actor_norm`` every actor's features are z-scored with that actor's own statistics first.
    Every split is checked for actor leaks unless ``leaky_ok`` (the leakage lesson, labelled as such).
    With ``n_jobs > 1`` folds train in parallel processes; the results are the same as with one.
    """
    y = np.asarray(labels, dtype=np.int64)
    actors, genders = np.asarray(actors), np.asarray(genders)
    X, X_aug = features.X, features.X_aug
    if config.actor_norm:
        X = normalize_per_actor(X, actors)
        if X_aug is not None:
            X_aug = np.stack([normalize_per_actor(X_aug[:, k], actors) for k in range(X_aug.shape[1])], axis=1)
    data = FoldData(X, features.X, X_aug, y, actors, config, features.meta,
                    Path(out_dir) if out_dir is not None else None)
    plans = plan_folds(np.asarray(folds), actors, genders, config, leaky_ok)
    bar = tqdm(total=len(plans), desc=desc, unit="fold", disable=not progress)
    if n_jobs > 1 and len(plans) > 1:
        results = _train_folds_parallel(data, plans, n_jobs, bar)
    else:
        results = []
        for plan in plans:
            results.append(train_fold(data, plan, progress=bar))
            bar.update(1)
    bar.close()
    oof = np.full((len(y), len(EMOTIONS)), np.nan, dtype=np.float32)
    fold_of = np.full(len(y), -1)
    history: list[dict[str, float]] = []
    checkpoints: list[Path] = []
    for plan, (fold, curve, proba, checkpoint) in zip(plans, results):
        oof[plan.test_rows] = proba
        fold_of[plan.test_rows] = fold
        history += [{"fold": fold, **row} for row in curve]
        if checkpoint is not None:
            checkpoints.append(checkpoint)
    table = pd.DataFrame(oof, columns=list(PROBA_COLUMNS))
    table.insert(0, "clip_id", features.clip_ids)
    table.insert(1, "actor", actors)
    table.insert(2, "fold", fold_of)
    table.insert(3, "emotion", [EMOTIONS[i] for i in y])
    return CVResult(oof=table, history=pd.DataFrame(history), checkpoints=checkpoints)


def save_checkpoint(path: Path, model: nn.Module, scaler: Standardizer, config: TrainConfig,
                    input_shape: tuple[int, ...], feature_meta: dict[str, Any], test_actors: list[str],
                    population: Standardizer | None = None) -> Path:
    """Save everything needed to rebuild and apply the model to new clips.

    ``population`` holds the raw training features' statistics; with per-actor normalisation a single
    new clip (no other clips of that person) is normalised with them instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "mean": scaler.mean, "std": scaler.std,
                "config": asdict(config), "input_shape": list(input_shape), "feature_meta": feature_meta,
                "test_actors": test_actors, "labels": list(EMOTIONS),
                "population_mean": None if population is None else population.mean,
                "population_std": None if population is None else population.std}, path)
    return path


def load_checkpoint(path: str | Path) -> tuple[nn.Module, Standardizer, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns (model, scaler, checkpoint dict)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    config = TrainConfig(**ckpt["config"])
    model = build_model(config.model, ckpt["input_shape"], **config.model_kwargs)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, Standardizer(ckpt["mean"], ckpt["std"]), ckpt
