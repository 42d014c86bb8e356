"""The run report's results table: each branch with its untuned baselines, the fusions, the baselines' fusions."""

from __future__ import annotations

from emo_utils.report import results_table


def _m(accuracy: float, **extra: object) -> dict:
    return {"accuracy": accuracy, "macro_f1": accuracy, "uar": accuracy, "n_clips": 96, **extra}


def test_results_table_puts_both_baselines_beside_each_branch_and_says_what_selection_chose_among() -> None:
    metrics = {
        "branches": {"face_au": _m(0.5), "audio_compare": _m(0.6)},
        "baselines": {
            "SVM face_au": _m(0.45),
            "LR face_au": _m(0.52),
            "LR audio_compare": _m(0.58),
            "LR fusion product": _m(0.7, branches=["face_au", "audio_compare"]),
        },
        "fusion": {
            "late_equal": _m(0.66, branches=["face_au", "audio_compare"]),
            "select_product": _m(0.68, branches=["face_au", "audio_compare"]),
        },
    }
    rows = results_table(metrics)
    names = [row.split(" | ")[0].lstrip("| ").strip() for row in rows[2:]]
    assert names == [
        "face_au",
        "baseline: SVM on face_au features",
        "baseline: LR on face_au features",
        "audio_compare",
        "baseline: LR on audio_compare features",
        "fusion late_equal",
        "fusion select_product",
        "baseline: LR product fusion",
    ]
    assert "| fuses face_au + audio_compare |" in rows[7]
    assert "chosen on inner folds among face_au + audio_compare" in rows[8]
    assert "| 0.70 |" in rows[9]
