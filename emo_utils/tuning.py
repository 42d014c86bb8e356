"""Choosing a setting without the test folds: per test fold, on the nested predictions of its training actors.

Every candidate configuration is cross-validated with nested folds (:func:`emo_utils.train.cross_validate` with
``nested=True``). For test fold k, the candidate whose inner out-of-fold predictions of fold k's *training* actors
are most accurate is chosen, and its fold-k model predicts the test actors. The test actors never take part in the
choice, so the out-of-fold result is an honest estimate of "this branch, tuned on the data at hand".
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from emo_utils.evaluate import metrics_from_table

STAGE_VERSION = 1  # bump when a change alters the per-fold choice among candidates (emo_utils.stages)


def inner_scores(inner_oofs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Accuracy of each candidate (columns) on each test fold's training actors (rows: the test fold)."""
    return pd.DataFrame(
        {
            name: {int(k): metrics_from_table(rows)["accuracy"] for k, rows in inner.groupby("outer_fold")}
            for name, inner in inner_oofs.items()
        }
    )


def choose_per_fold(inner_oofs: Mapping[str, pd.DataFrame]) -> dict[int, str]:
    """The candidate chosen for each test fold: best inner accuracy (the first listed wins a tie)."""
    scores = inner_scores(inner_oofs)
    return {int(fold): str(row.idxmax()) for fold, row in scores.iterrows()}


def combine(
    oofs: Mapping[str, pd.DataFrame], inner_oofs: Mapping[str, pd.DataFrame], choice: Mapping[int, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The out-of-fold and inner tables of the chosen candidate of each test fold, in the original row order."""
    first = next(iter(oofs.values()))
    oof = pd.concat([oofs[choice[int(k)]][first["fold"] == k] for k in sorted(first["fold"].unique())])
    inner = pd.concat(
        [rows[rows["outer_fold"] == k] for k, name in choice.items() for rows in [inner_oofs[name]]], ignore_index=True
    )
    return oof.loc[first.index], inner
