"""The one prediction table: built, validated, saved and read back the same wherever predictions come from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emo_utils.predictions import PredictionTable, PredictionTableError

LABELS = ("neutral", "happy", "sad")
PROBA = np.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2], [np.nan, np.nan, np.nan]], dtype=np.float32)


def _table(proba: np.ndarray = PROBA, emotions: tuple[str, ...] = ("happy", "neutral", "sad")) -> PredictionTable:
    return PredictionTable.build(proba, ["01", "02", "03"], ["07", "07", "08"], emotions, LABELS, [0, 0, 1])


def test_build_gives_the_common_layout_and_reads_back_from_csv(tmp_path: Path) -> None:
    table = _table()
    assert table.frame.columns.tolist() == ["clip_id", "actor", "fold", "emotion", "p_neutral", "p_happy", "p_sad"]
    assert table.labels == LABELS and table.scored.tolist() == [True, True, False]
    again = PredictionTable.read_csv(table.to_csv(tmp_path / "oof.csv"))
    assert again.frame["clip_id"].tolist() == ["01", "02", "03"] and again.frame["actor"].tolist() == ["07", "07", "08"]
    np.testing.assert_allclose(again.proba, table.proba, atol=1e-7)


def test_a_table_without_folds_and_with_extra_columns() -> None:
    table = PredictionTable.build(PROBA[:2], ["a", "b"], ["1", "2"], ["sad", "sad"], LABELS, extra={"fused_from": "x"})
    assert table.frame.columns.tolist() == ["clip_id", "actor", "emotion", *(f"p_{e}" for e in LABELS), "fused_from"]


@pytest.mark.parametrize(
    ("proba", "emotions", "message"),
    [
        (PROBA * 2, ("happy", "neutral", "sad"), "do not sum to 1"),
        (np.array([[0.5, np.nan, 0.5], *PROBA[1:]]), ("happy", "neutral", "sad"), "e.g. clip 01"),
        (PROBA, ("happy", "angry", "sad"), "angry"),
    ],
)
def test_invalid_tables_are_refused_naming_what_is_wrong(proba: np.ndarray, emotions: tuple, message: str) -> None:
    with pytest.raises(PredictionTableError, match=message):
        _table(proba, emotions)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _table().to_csv(tmp_path / "oof.csv")
    path.write_text(path.read_text().replace("actor", "speaker"))
    with pytest.raises(PredictionTableError, match=r"oof.csv: .*\['actor'\]"):
        PredictionTable.read_csv(path)
