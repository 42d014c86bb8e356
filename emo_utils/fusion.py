"""Fusion of per-branch class probabilities: pure functions on out-of-fold tables.

Strategies: ``late`` (weighted average, equal or learned weights), ``product`` (weighted geometric
mean), ``stacking`` (logistic regression on branch log-probabilities), ``dynamic`` (per-clip weights from
each branch's confidence after temperature scaling). Learned parameters are always fitted on the
training actors of each test fold only. A clip missing a branch is fused from the branches it has.
Early fusion (a joint model on concatenated features) trains through ``emo_utils.train`` instead.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression

from emo_utils.errors import DataError
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS, emotion_index

Strategy = Literal["late", "product", "stacking", "dynamic"]
CONFIG_VERSION = 1
_EPS = 1e-9


@dataclass
class BranchStack:
    """Branch probabilities aligned on clips: ``P[b, i]`` is branch b's vector for clip i (NaN if missing)."""

    branches: list[str]
    clip_ids: np.ndarray
    actors: np.ndarray
    folds: np.ndarray
    y: np.ndarray
    P: np.ndarray

    @property
    def available(self) -> np.ndarray:
        """(B, N) True where a branch has a prediction for the clip."""
        return ~np.isnan(self.P).any(axis=2)


def stack_branches(tables: dict[str, pd.DataFrame]) -> BranchStack:
    """Align branches' out-of-fold tables on clip id (outer join: missing modalities become NaN)."""
    if not tables:
        raise ValueError("no branch tables to fuse")
    keys = ["clip_id", "actor", "fold", "emotion"]
    clips = pd.concat([t[keys] for t in tables.values()]).drop_duplicates("clip_id").sort_values("clip_id")
    P = np.full((len(tables), len(clips), len(EMOTIONS)), np.nan)
    for b, table in enumerate(tables.values()):
        aligned = table.set_index("clip_id").reindex(clips["clip_id"])
        P[b] = aligned[list(PROBA_COLUMNS)].to_numpy(dtype=float)
    return BranchStack(list(tables), clips["clip_id"].to_numpy(), clips["actor"].to_numpy(),
                       clips["fold"].to_numpy(dtype=int), np.array([emotion_index(e) for e in clips["emotion"]]), P)


def _normalise(weights: np.ndarray) -> np.ndarray:
    weights = np.clip(np.asarray(weights, dtype=float), 0, None)
    if weights.sum() <= 0:
        raise ValueError("fusion weights must not all be zero")
    return weights / weights.sum()


def weighted_average(P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Late fusion: per clip, the weighted mean over the branches it has (weights renormalised)."""
    w = np.broadcast_to(_normalise(weights)[:, None], P.shape[:2]) * ~np.isnan(P).any(axis=2)
    total = w.sum(axis=0, keepdims=True)
    fused = np.einsum("bn,bnk->nk", np.divide(w, total, out=np.zeros_like(w), where=total > 0), np.nan_to_num(P))
    fused[total[0] == 0] = np.nan
    return fused


def weighted_product(P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Product rule: weighted geometric mean over available branches, renormalised to sum to one."""
    w = np.broadcast_to(_normalise(weights)[:, None], P.shape[:2]) * ~np.isnan(P).any(axis=2)
    logp = np.einsum("bn,bnk->nk", w, np.log(np.nan_to_num(P, nan=1.0) + _EPS))
    logp /= np.maximum(w.sum(axis=0), _EPS)[:, None]
    fused = np.exp(logp - logp.max(axis=1, keepdims=True))
    fused /= fused.sum(axis=1, keepdims=True)
    fused[w.sum(axis=0) == 0] = np.nan
    return fused


def _accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    ok = ~np.isnan(proba).any(axis=1)
    return float((proba[ok].argmax(1) == y[ok]).mean()) if ok.any() else 0.0


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    ok = ~np.isnan(proba).any(axis=1)
    return float(-np.log(proba[ok, y[ok]] + _EPS).mean()) if ok.any() else np.inf


def weight_grid(n_branches: int, step: float = 0.1) -> np.ndarray:
    """All weight vectors on the simplex with the given step (for up to ~4 branches)."""
    ticks = round(1 / step)
    rows = [c for c in itertools.product(range(ticks + 1), repeat=n_branches) if sum(c) == ticks]
    return np.array(rows, dtype=float) / ticks


def learn_weights(P: np.ndarray, y: np.ndarray, step: float = 0.1, rule: Strategy = "late") -> np.ndarray:
    """Weights maximising accuracy (ties broken by log-loss) on the given rows: training actors only."""
    fuse = weighted_average if rule == "late" else weighted_product
    best, best_key = None, None
    for weights in weight_grid(P.shape[0], step):
        if weights.sum() == 0:
            continue
        proba = fuse(P, weights)
        key = (_accuracy(proba, y), -_log_loss(proba, y))
        if best_key is None or key > best_key:
            best, best_key = weights, key
    assert best is not None
    return best


def fit_temperature(P: np.ndarray, y: np.ndarray) -> float:
    """Temperature T minimising the negative log-likelihood of softmax(log p / T) (calibration)."""
    ok = ~np.isnan(P).any(axis=1)
    logp = np.log(P[ok] + _EPS)

    def nll(t: float) -> float:
        z = logp / t
        z -= z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(z)), y[ok]] - np.log(np.exp(z).sum(axis=1))).mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x) if ok.sum() > 1 else 1.0


def apply_temperature(P: np.ndarray, t: float) -> np.ndarray:
    """Rescale probabilities by temperature ``t`` (NaN rows stay NaN)."""
    missing = np.isnan(P).any(axis=-1)
    z = np.log(np.nan_to_num(P, nan=1.0) + _EPS) / t
    z -= z.max(axis=-1, keepdims=True)
    out = np.exp(z)
    out /= out.sum(axis=-1, keepdims=True)
    out[missing] = np.nan
    return out


def confidence(P: np.ndarray) -> np.ndarray:
    """Per-clip confidence in [0, 1]: one minus the normalised entropy of each probability vector."""
    entropy = -(np.nan_to_num(P) * np.log(np.nan_to_num(P) + _EPS)).sum(axis=-1)
    conf = 1 - entropy / np.log(P.shape[-1])
    return np.where(np.isnan(P).any(axis=-1), 0.0, conf)


def dynamic_fusion(P: np.ndarray, temperatures: np.ndarray, base_weights: np.ndarray | None = None) -> np.ndarray:
    """Per-clip weights proportional to each calibrated branch's confidence (times optional base weights)."""
    calibrated = np.stack([apply_temperature(P[b], t) for b, t in enumerate(temperatures)])
    w = confidence(calibrated) * (1.0 if base_weights is None else _normalise(base_weights)[:, None])
    total = w.sum(axis=0, keepdims=True)
    fused = np.einsum("bn,bnk->nk", np.divide(w, total, out=np.zeros_like(w), where=total > 0),
                      np.nan_to_num(calibrated))
    fused[total[0] == 0] = np.nan
    return fused


def _stack_inputs(P: np.ndarray) -> np.ndarray:
    filled = np.where(np.isnan(P), 1.0 / P.shape[-1], P)
    return np.log(filled + _EPS).transpose(1, 0, 2).reshape(P.shape[1], -1)


@dataclass
class FusionResult:
    """Fused out-of-fold probabilities plus what was fitted per test fold."""

    strategy: str
    proba: np.ndarray
    fitted: dict[int, dict[str, Any]] = field(default_factory=dict)


def fuse_cross_validated(stack: BranchStack, strategy: str, weights: np.ndarray | None = None,
                         step: float = 0.1) -> FusionResult:
    """Fuse ``stack`` with ``strategy``; anything learned is fitted per test fold on the other folds' clips.

    Strategies: ``late_equal``, ``late_fixed`` (given ``weights``), ``late_learned``, ``product``,
    ``stacking``, ``dynamic``.
    """
    n_branches = len(stack.branches)
    fixed = np.ones(n_branches) if weights is None else np.asarray(weights, float)
    if strategy in ("late_equal", "late_fixed"):
        w = np.ones(n_branches) if strategy == "late_equal" else fixed
        return FusionResult(strategy, weighted_average(stack.P, w), {-1: {"weights": _normalise(w).tolist()}})
    if strategy == "product":
        return FusionResult(strategy, weighted_product(stack.P, fixed), {-1: {"weights": _normalise(fixed).tolist()}})
    proba = np.full(stack.P.shape[1:], np.nan)
    fitted: dict[int, dict[str, Any]] = {}
    for fold in np.unique(stack.folds):
        test, train = stack.folds == fold, stack.folds != fold
        if strategy == "late_learned":
            w = learn_weights(stack.P[:, train], stack.y[train], step)
            proba[test] = weighted_average(stack.P[:, test], w)
            fitted[int(fold)] = {"weights": w.tolist()}
        elif strategy == "dynamic":
            temps = np.array([fit_temperature(stack.P[b, train], stack.y[train]) for b in range(n_branches)])
            proba[test] = dynamic_fusion(stack.P[:, test], temps)
            fitted[int(fold)] = {"temperatures": temps.tolist()}
        elif strategy == "stacking":
            model = LogisticRegression(C=1.0, max_iter=2000)
            model.fit(_stack_inputs(stack.P[:, train]), stack.y[train])
            full = np.zeros((int(test.sum()), len(EMOTIONS)))
            full[:, model.classes_] = model.predict_proba(_stack_inputs(stack.P[:, test]))
            proba[test] = full
            fitted[int(fold)] = {"n_train": int(train.sum())}
        else:
            raise ValueError(f"unknown fusion strategy {strategy!r}")
    return FusionResult(strategy, proba, fitted)


def result_table(stack: BranchStack, result: FusionResult) -> pd.DataFrame:
    """Out-of-fold table of a fusion result, with which branches each clip was fused from."""
    table = pd.DataFrame(result.proba, columns=list(PROBA_COLUMNS))
    table.insert(0, "clip_id", stack.clip_ids)
    table.insert(1, "actor", stack.actors)
    table.insert(2, "fold", stack.folds)
    table.insert(3, "emotion", [EMOTIONS[i] for i in stack.y])
    table["fused_from"] = ["+".join(b for b, ok in zip(stack.branches, col) if ok) for col in stack.available.T]
    return table


@dataclass
class FusionConfig:
    """The saved, versioned description of a late-fusion model that the demo and notebooks load."""

    branches: list[str]
    weights: list[float]
    strategy: str = "late"
    labels: list[str] = field(default_factory=lambda: list(EMOTIONS))
    version: int = CONFIG_VERSION
    note: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if len(self.branches) != len(self.weights):
            raise ValueError(f"{len(self.branches)} branches but {len(self.weights)} weights")
        self.weights = _normalise(np.asarray(self.weights, dtype=float)).round(6).tolist()

    def weight_of(self, branch: str) -> float:
        return self.weights[self.branches.index(branch)] if branch in self.branches else 0.0


def save_fusion_config(config: FusionConfig, path: str | Path) -> Path:
    """Write ``config`` as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(config), indent=2) + "\n")
    return path


def load_fusion_config(path: str | Path) -> FusionConfig:
    """Read a fusion config, checking its version and label order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "fusion config not found", "create one with scripts/create_emotion_fusion.py")
    data = json.loads(path.read_text())
    if data.get("version") != CONFIG_VERSION:
        raise DataError(path, f"fusion config version {data.get('version')} is not {CONFIG_VERSION}",
                        "re-create it with scripts/create_emotion_fusion.py")
    if data.get("labels") != list(EMOTIONS):
        raise DataError(path, "label order differs from this version's", "re-create the fusion config")
    return FusionConfig(**data)
