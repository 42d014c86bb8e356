"""The one metrics routine: accuracy, macro-F1, unweighted average recall, per-class scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from emo_utils.labels import EMOTIONS, labels_of, proba_columns


def proba_matrix(table: pd.DataFrame) -> np.ndarray:
    """The (N, L) probability columns of an out-of-fold table, in its label order."""
    return table[proba_columns(labels_of(table))].to_numpy(dtype=np.float64)


def true_indices(table: pd.DataFrame) -> np.ndarray:
    """Class indices of the ``emotion`` column into the table's labels."""
    position = {label: i for i, label in enumerate(labels_of(table))}
    return np.array([position[e] for e in table["emotion"]], dtype=int)


def scored(table: pd.DataFrame) -> pd.DataFrame:
    """The rows that have probabilities (enrolment clips and clips a branch could not use have none)."""
    return table.dropna(subset=proba_columns(labels_of(table)))


def chance_level(table: pd.DataFrame) -> float:
    """Accuracy of always predicting the most frequent true class of the scored rows."""
    counts = scored(table)["emotion"].value_counts()
    return float(counts.iloc[0] / counts.sum()) if len(counts) else 0.0


def compute_metrics(y_true: np.ndarray, proba: np.ndarray, labels: tuple[str, ...] = EMOTIONS) -> dict[str, Any]:
    """Accuracy, macro-F1 and UAR (mean per-class recall) over the classes present in ``y_true``."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(proba).argmax(axis=1)
    present = np.unique(y_true)
    per_class = f1_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "uar": float(balanced_accuracy_score(y_true, y_pred)),
        "n_clips": int(len(y_true)),
        "per_class_f1": {labels[c]: float(f) for c, f in zip(present, per_class)},
    }


def metrics_from_table(table: pd.DataFrame) -> dict[str, Any]:
    """:func:`compute_metrics` of an out-of-fold probability table (rows without probabilities excluded)."""
    usable = scored(table)
    return compute_metrics(true_indices(usable), proba_matrix(usable), labels_of(table))


def classification_report_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Precision, recall, F1 and support per emotion."""
    usable, labels = scored(table), labels_of(table)
    y_true, y_pred = true_indices(usable), proba_matrix(usable).argmax(1)
    present = np.unique(y_true)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    return pd.DataFrame(
        {"precision": p, "recall": r, "f1": f, "support": s},
        index=pd.Index([labels[c] for c in present], name="emotion"),
    ).round(3)


def confusion(table: pd.DataFrame, normalize: bool = True) -> pd.DataFrame:
    """Confusion matrix (rows: true emotion, columns: predicted), row-normalised by default."""
    usable, labels = scored(table), labels_of(table)
    y_true, y_pred = true_indices(usable), proba_matrix(usable).argmax(1)
    present = [i for i in range(len(labels)) if i in set(y_true) | set(y_pred)]
    cm = confusion_matrix(y_true, y_pred, labels=present).astype(float)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    names = [labels[i] for i in present]
    return pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))


def format_metrics(name: str, metrics: dict[str, Any], protocol: str, provenance: str) -> str:
    """One printable line: the numbers with their protocol and whether data/weights were real."""
    return (
        f"{name}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, "
        f"UAR {metrics['uar']:.3f} (n={metrics['n_clips']}; {protocol}; {provenance})"
    )
