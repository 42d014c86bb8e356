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


def test_results_table_says_what_each_fold_kept_and_what_each_student_learnt_from() -> None:
    both = ["face_au", "audio_compare"]
    metrics = {
        "branches": {"face_au": _m(0.5), "audio_compare": _m(0.6)},
        "fusion": {
            "select_late": _m(0.68, branches=both, kept_per_fold={"0": both, "1": ["audio_compare"], "2": both}),
        },
        "distillation": {
            "audio_compare labels only": _m(0.6, student_of="audio_compare", size="medium", teacher=[]),
            "audio_compare distilled": _m(
                0.63, student_of="audio_compare", size="medium", teacher=both, chosen_per_fold={"0": "T2_w0.7"}
            ),
        },
    }
    rows = results_table(metrics)
    assert "kept face_au + audio_compare in folds 0, 2; audio_compare in fold 1 |" in rows[4]
    assert rows[5].startswith("| student audio_compare labels only | 0.60 |") and "labels alone" in rows[5]
    assert "soft targets of face_au + audio_compare" in rows[6] and "0: T2_w0.7" in rows[6]
