"""Fusion of per-branch class probabilities: pure functions on out-of-fold tables, one strategy registry.

Strategies (:data:`STRATEGIES`): ``late_equal`` and ``late_fixed`` (weighted average), ``late_learned``
(weights learned), ``product`` (weighted geometric mean), ``stacking`` (logistic regression on branch
log-probabilities), ``dynamic`` (per-clip weights from each branch's confidence after temperature
scaling), ``select_late`` and ``select_product`` (the mean or product of the branches chosen by forward selection,
:func:`select_branches`: a branch that does not raise the accuracy is left out), and ``early`` (one model on the
branches' concatenated pooled features, :func:`early_fusion`).
Whatever a strategy learns for test fold k is fitted on the *inner* out-of-fold predictions of fold k's
training actors, made by models that never saw fold k's actors (nested cross-validation). A clip missing
a branch is fused from the branches it has.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.errors import DataError
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import CANONICAL_EMOTIONS, EMOTIONS, labels_of, proba_columns
from emo_utils.predictions import PredictionTable
from emo_utils.provenance import write_json

log = logging.getLogger(__name__)
CONFIG_VERSION = 1
STAGE_VERSION = 1  # bump when a change alters the fused tables (emo_utils.stages)
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
    labels: tuple[str, ...] = EMOTIONS

    @property
    def available(self) -> np.ndarray:
        """(B, N) True where a branch has a prediction for the clip."""
        return ~np.isnan(self.P).any(axis=2)

    def rows(self, mask: np.ndarray) -> BranchStack:
        """The stack restricted to the clips where ``mask`` is True."""
        return BranchStack(
            self.branches,
            self.clip_ids[mask],
            self.actors[mask],
            self.folds[mask],
            self.y[mask],
            self.P[:, mask],
            self.labels,
        )


def stack_branches(tables: Mapping[str, pd.DataFrame]) -> BranchStack:
    """Align branches' out-of-fold tables on clip id (outer join: missing modalities become NaN)."""
    if not tables:
        raise ValueError("no branch tables to fuse")
    labels = {labels_of(t) for t in tables.values()}
    if len(labels) != 1:
        raise ValueError(f"the branches predict different label sets {sorted(labels)}; fuse branches of one run")
    (label_names,) = labels
    keys = ["clip_id", "actor", "fold", "emotion"]
    clips = pd.concat([t[keys] for t in tables.values()]).drop_duplicates("clip_id").sort_values("clip_id")
    P = np.full((len(tables), len(clips), len(label_names)), np.nan)
    for b, table in enumerate(tables.values()):
        aligned = table.set_index("clip_id").reindex(clips["clip_id"])
        P[b] = aligned[proba_columns(label_names)].to_numpy(dtype=float)
    position = {label: i for i, label in enumerate(label_names)}
    return BranchStack(
        list(tables),
        clips["clip_id"].to_numpy(),
        clips["actor"].to_numpy(),
        clips["fold"].to_numpy(dtype=int),
        np.array([position[e] for e in clips["emotion"]]),
        P,
        label_names,
    )


def inner_stacks(tables: Mapping[str, pd.DataFrame]) -> dict[int, BranchStack]:
    """Per test fold, the stack of its training actors' inner out-of-fold predictions (``outer_fold`` column)."""
    folds = sorted(set.intersection(*(set(t["outer_fold"]) for t in tables.values())))
    return {int(k): stack_branches({b: t[t["outer_fold"] == k] for b, t in tables.items()}) for k in folds}


def stack_with_inner(
    tables: Mapping[str, pd.DataFrame], inner_tables: Mapping[str, pd.DataFrame | None]
) -> tuple[BranchStack, dict[int, BranchStack] | None]:
    """The branches' stack and, when every branch saved nested predictions, the per-fold inner stacks."""
    stack = stack_branches(tables)
    if any(inner_tables.get(name) is None for name in tables):
        return stack, None
    return stack, inner_stacks({name: inner_tables[name] for name in tables})  # type: ignore[misc]


def _normalise(weights: np.ndarray) -> np.ndarray:
    weights = np.clip(np.asarray(weights, dtype=float), 0, None)
    if weights.sum() <= 0:
        raise ValueError("fusion weights must not all be zero")
    return weights / weights.sum()


def _weights_per_clip(P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, N) weights, zero where a branch has no prediction for the clip."""
    return np.broadcast_to(_normalise(weights)[:, None], P.shape[:2]) * ~np.isnan(P).any(axis=2)


def _average(P: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean of ``P`` over branches with per-clip weights ``w`` (B, N), renormalised; NaN where all are 0."""
    total = w.sum(axis=0, keepdims=True)
    fused = np.einsum("bn,bnk->nk", np.divide(w, total, out=np.zeros_like(w), where=total > 0), np.nan_to_num(P))
    fused[total[0] == 0] = np.nan
    return fused


def weighted_average(P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Late fusion: per clip, the weighted mean over the branches it has (weights renormalised)."""
    return _average(P, _weights_per_clip(P, weights))


def weighted_product(P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Product rule: weighted geometric mean over available branches, renormalised to sum to one."""
    w = _weights_per_clip(P, weights)
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
    """All non-zero weight vectors on the simplex with the given step (for up to ~4 branches)."""
    ticks = round(1 / step)
    rows = [c for c in itertools.product(range(ticks + 1), repeat=n_branches) if sum(c) == ticks]
    return np.array(rows, dtype=float) / ticks


def learn_weights(P: np.ndarray, y: np.ndarray, step: float = 0.1) -> np.ndarray:
    """Late-fusion weights maximising accuracy (ties broken by log-loss) on the given rows."""
    keys = [(_accuracy(proba := weighted_average(P, w), y), -_log_loss(proba, y)) for w in weight_grid(len(P), step)]
    return weight_grid(len(P), step)[max(range(len(keys)), key=keys.__getitem__)]


def fit_temperature(P: np.ndarray, y: np.ndarray) -> float:
    """Temperature T minimising the negative log-likelihood of softmax(log p / T) (calibration)."""
    from scipy.optimize import minimize_scalar

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


def dynamic_fusion(P: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """Per-clip weights proportional to each calibrated branch's confidence."""
    calibrated = np.stack([apply_temperature(P[b], t) for b, t in enumerate(temperatures)])
    return _average(calibrated, confidence(calibrated))


def _stack_inputs(P: np.ndarray) -> np.ndarray:
    filled = np.where(np.isnan(P), 1.0 / P.shape[-1], P)
    return np.log(filled + _EPS).transpose(1, 0, 2).reshape(P.shape[1], -1)


def _fit_stacking(train: BranchStack) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(_stack_inputs(train.P), train.y)
    return {"model": model, "n_train": len(train.y)}


def _apply_stacking(P: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    model = params["model"]
    full = np.zeros((P.shape[1], P.shape[2]))
    full[:, model.classes_] = model.predict_proba(_stack_inputs(P))
    return full


Rule = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (P, weights) -> fused probabilities


def select_branches(P: np.ndarray, y: np.ndarray, rule: Rule) -> np.ndarray:
    """0/1 weights of the branches that ``rule`` fuses, chosen by forward selection on the given rows: start from
    the most accurate branch, add the one that raises the fused accuracy most (ties broken by log-loss), stop when
    no branch raises it. A branch that does not help is left out."""

    def key(chosen: np.ndarray) -> tuple[float, float]:
        proba = rule(P, chosen)
        return _accuracy(proba, y), -_log_loss(proba, y)

    weights = np.zeros(len(P))
    best = (-np.inf, -np.inf)
    while not weights.all():
        trials = {b: key(np.where(np.arange(len(P)) == b, 1.0, weights)) for b in np.flatnonzero(weights == 0)}
        b, trial = max(trials.items(), key=lambda item: item[1])
        if weights.any() and trial[0] <= best[0]:
            break
        weights[b], best = 1.0, trial
    return weights


def _fit_selection(rule: Rule) -> Callable[[BranchStack], dict[str, Any]]:
    def fit(stack: BranchStack) -> dict[str, Any]:
        weights = select_branches(stack.P, stack.y, rule)
        return {"weights": weights, "selected": [b for b, w in zip(stack.branches, weights) if w]}

    return fit


def _apply_selection(rule: Rule) -> Callable[[np.ndarray, dict[str, Any]], np.ndarray]:
    """Fuse the chosen branches; a clip having none of them is fused from the branches it has."""

    def apply(P: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        fused = rule(P, np.asarray(params["weights"], dtype=float))
        none_chosen = np.isnan(fused).any(axis=1)
        if none_chosen.any():
            fused[none_chosen] = rule(P[:, none_chosen], np.ones(len(P)))
        return fused

    return apply


@dataclass(frozen=True)
class Strategy:
    """A fusion strategy: what it fits on training actors' predictions (``fit``) and how it fuses."""

    name: str
    description: str
    apply: Callable[[np.ndarray, dict[str, Any]], np.ndarray]
    fit: Callable[[BranchStack], dict[str, Any]] | None = None
    uses_weights: bool = False
    chooses_branches: bool = False  # fuses only the branches it chose on the training actors


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in [
        Strategy(
            "late_equal", "mean of the branches' probabilities", lambda P, p: weighted_average(P, np.ones(len(P)))
        ),
        Strategy(
            "late_fixed",
            "weighted mean with given weights",
            lambda P, p: weighted_average(P, p["weights"]),
            uses_weights=True,
        ),
        Strategy(
            "late_learned",
            "weighted mean, weights learned on the training actors",
            lambda P, p: weighted_average(P, p["weights"]),
            lambda s: {"weights": learn_weights(s.P, s.y)},
        ),
        Strategy(
            "product",
            "weighted geometric mean (the product rule)",
            lambda P, p: weighted_product(P, p["weights"]),
            uses_weights=True,
        ),
        Strategy("stacking", "logistic regression on the branches' log-probabilities", _apply_stacking, _fit_stacking),
        Strategy(
            "dynamic",
            "per-clip weights from each calibrated branch's confidence",
            lambda P, p: dynamic_fusion(P, p["temperatures"]),
            lambda s: {"temperatures": np.array([fit_temperature(s.P[b], s.y) for b in range(len(s.P))])},
        ),
        Strategy(
            "select_late",
            "mean of the branches chosen by forward selection on the training actors",
            _apply_selection(weighted_average),
            _fit_selection(weighted_average),
            chooses_branches=True,
        ),
        Strategy(
            "select_product",
            "product of the branches chosen by forward selection on the training actors",
            _apply_selection(weighted_product),
            _fit_selection(weighted_product),
            chooses_branches=True,
        ),
    ]
}
EARLY = "early"  # one model on the concatenated pooled features: trained by early_fusion, not fitted here
DEFAULT_STRATEGIES = (
    "late_equal",
    "late_learned",
    "product",
    "stacking",
    "dynamic",
    "select_late",
    "select_product",
    EARLY,
)


@dataclass
class FusionResult:
    """Fused out-of-fold probabilities plus what was fitted per test fold."""

    strategy: str
    proba: np.ndarray
    fitted: dict[int, dict[str, Any]] = field(default_factory=dict)


def fuse_cross_validated(
    stack: BranchStack, strategy: str, weights: np.ndarray | None = None, inner: Mapping[int, BranchStack] | None = None
) -> FusionResult:
    """Fuse ``stack`` with ``strategy``; anything learned for test fold k is fitted on training actors only.

    ``inner`` (from :func:`inner_stacks`) gives, per test fold, its training actors' predictions by models
    that never saw the test fold: the nested, fully honest fit. Without it, a learned strategy is fitted on
    the other folds' out-of-fold rows (models that did see the test fold's actors: one level of leak).
    ``weights`` are the given weights of ``late_fixed`` and ``product`` (default equal).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown fusion strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    spec = STRATEGIES[strategy]
    if spec.fit is None:
        params = {"weights": _normalise(np.ones(len(stack.branches)) if weights is None else weights)}
        return FusionResult(strategy, spec.apply(stack.P, params), {-1: {"weights": params["weights"].tolist()}})
    if inner is None:
        log.warning(
            "fusion %s fitted without nested predictions: the fit for each test fold uses models that saw "
            "that fold's actors",
            strategy,
        )
    proba = np.full(stack.P.shape[1:], np.nan)
    fitted: dict[int, dict[str, Any]] = {}
    for fold in np.unique(stack.folds):
        test = stack.folds == fold
        train = inner[int(fold)] if inner is not None else stack.rows(~test)
        params = spec.fit(train)
        proba[test] = spec.apply(stack.P[:, test], params)
        fitted[int(fold)] = {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in params.items() if k != "model"
        }
    return FusionResult(strategy, proba, fitted)


def result_table(stack: BranchStack, result: FusionResult) -> pd.DataFrame:
    """Out-of-fold table of a fusion result, with which branches each clip was fused from and, for a strategy that
    chooses branches, which ones its test fold kept (``kept``, chosen on the fold's training actors)."""
    extra: dict[str, Any] = {
        "fused_from": ["+".join(b for b, ok in zip(stack.branches, col) if ok) for col in stack.available.T]
    }
    if any("selected" in params for params in result.fitted.values()):
        extra["kept"] = ["+".join(result.fitted[int(k)]["selected"]) for k in stack.folds]
    emotions = [stack.labels[i] for i in stack.y]
    return PredictionTable.build(
        result.proba, stack.clip_ids, stack.actors, emotions, stack.labels, stack.folds, extra
    ).frame


def kept_per_fold(table: pd.DataFrame) -> dict[str, list[str]]:
    """The branches each test fold kept (test fold -> names), from the out-of-fold table of a strategy that chooses
    branches (:func:`result_table`'s ``kept`` column); empty for the others."""
    if "kept" not in table.columns:
        return {}
    return {str(k): str(kept).split("+") for k, kept in table.groupby("fold")["kept"].first().items()}


def joint_features(pooled: Mapping[str, FeatureSet]) -> FeatureSet:
    """Early fusion's input: the branches' pooled feature vectors side by side, for the clips having all."""
    common = sorted(set.intersection(*(set(f.clip_ids) for f in pooled.values())))
    blocks = [f.subset(common).X.reshape(len(common), -1) for f in pooled.values()]
    return FeatureSet(
        np.array(common),
        np.concatenate(blocks, axis=1).astype(np.float32),
        {"kind": "early_fusion", "branches": list(pooled)},
    )


def above_chance(table: pd.DataFrame, alpha: float = 0.001) -> tuple[bool, str]:
    """Whether a branch's out-of-fold accuracy is clearly above chance (one-sided binomial test against the
    majority-class rate), with the reason in words."""
    from scipy.stats import binomtest

    from emo_utils.evaluate import chance_level, metrics_from_table

    metrics, chance = metrics_from_table(table), chance_level(table)
    hits = round(metrics["accuracy"] * metrics["n_clips"])
    p = binomtest(hits, metrics["n_clips"], chance, alternative="greater").pvalue if metrics["n_clips"] else 1.0
    verdict = p < alpha
    why = (
        f"out-of-fold accuracy {metrics['accuracy']:.2f} vs chance {chance:.2f} "
        f"(n={metrics['n_clips']}, one-sided binomial p={p:.2g}{' <' if verdict else ' >='} {alpha})"
    )
    return verdict, why


@dataclass
class FusionConfig:
    """The saved, versioned description of a late-fusion model that the demo and notebooks load.

    ``reasons`` says, per branch, why it has the weight it has (e.g. 0 for a branch at chance level).
    """

    branches: list[str]
    weights: list[float]
    strategy: str = "late"
    labels: list[str] = field(default_factory=lambda: list(EMOTIONS))
    version: int = CONFIG_VERSION
    note: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    reasons: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.branches) != len(self.weights):
            raise ValueError(f"{len(self.branches)} branches but {len(self.weights)} weights")
        self.weights = _normalise(np.asarray(self.weights, dtype=float)).round(6).tolist()

    def weight_of(self, branch: str) -> float:
        return self.weights[self.branches.index(branch)] if branch in self.branches else 0.0


def deployment_config(
    tables: Mapping[str, pd.DataFrame], note: str = "", not_in_demo: Mapping[str, str] | None = None
) -> FusionConfig:
    """The demo's late-fusion config: weights learned on every actor's out-of-fold predictions, over the
    branches clearly above chance whose input the demo can compute; any other branch gets weight 0, and the
    config says why. ``not_in_demo``: branch -> why the demo cannot compute its input from a clip."""
    not_in_demo = dict(not_in_demo or {})
    verdicts = {name: above_chance(table) for name, table in tables.items()}
    usable = [name for name in tables if name not in not_in_demo]
    trusted = [name for name in usable if verdicts[name][0]] or usable or list(tables)
    stack = stack_branches({name: tables[name] for name in trusted})
    learned = dict(zip(trusted, learn_weights(stack.P, stack.y) if len(trusted) > 1 else [1.0]))
    reasons = {
        name: (
            f"weight 0, not computable in the demo ({not_in_demo[name]}): " + why
            if name in not_in_demo
            else ("used: " if name in trusted else "weight 0, not above chance: ") + why
        )
        for name, (_, why) in verdicts.items()
    }
    if not any(verdicts[name][0] for name in trusted):
        note += " NO branch the demo can use is clearly above chance: its predictions are close to guessing."
    return FusionConfig(
        list(tables),
        [learned.get(name, 0.0) for name in tables],
        labels=list(stack.labels),
        note=note.strip(),
        reasons=reasons,
    )


def save_fusion_config(config: FusionConfig, path: str | Path) -> Path:
    """Write ``config`` as JSON."""
    return write_json(path, asdict(config))


def load_fusion_config(path: str | Path) -> FusionConfig:
    """Read a fusion config, checking its version and label order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "fusion config not found", "create one with scripts/create_emotion_fusion.py")
    data = json.loads(path.read_text())
    if data.get("version") != CONFIG_VERSION:
        raise DataError(
            path,
            f"fusion config version {data.get('version')} is not {CONFIG_VERSION}",
            "re-create it with scripts/create_emotion_fusion.py",
        )
    unknown = set(data.get("labels", [])) - set(CANONICAL_EMOTIONS)
    if unknown:
        raise DataError(path, f"unknown labels {sorted(unknown)}", "re-create the fusion config")
    return FusionConfig(**data)
