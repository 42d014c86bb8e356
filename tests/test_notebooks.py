"""Every notebook runs top to bottom with small parameters (papermill), is stored without outputs, and shows the
numbers it teaches: the cell tagged ``result`` displays them with ``emo_utils.notebook.show_result``, and the
checks below read them back from the executed notebook.

The notebooks share one output folder, as a student's do, so later ones load what earlier ones cached; but each
one is correct on its own (the set-up line makes the manifest, notebooks 07 and 08 train missing branches through
``ensure_branches``), so no test depends on another having run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import REPO_ROOT

from emo_utils.branches import BRANCHES
from emo_utils.labels import EMOTIONS
from emo_utils.notebook import RESULT_MIME
from emo_utils.video.faces import default_detector
from emo_utils.workshop import WORKSHOP_PARAMETERS

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The workshop's small settings, so CI runs every notebook in minutes; students use each parameters cell's defaults.
CI_PARAMETERS = WORKSHOP_PARAMETERS
# Where notebook 02 reads the real FER2013 faces (its path relative to notebooks/).
FER_SAMPLE = (REPO_ROOT / "notebooks" / "../../shared/data/fer2013-sample").resolve()
LATE_STRATEGIES = {"late_equal", "late_learned", "product", "stacking", "dynamic"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebook_run")


def _cells(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def shown_result(executed: nbformat.NotebookNode) -> dict[str, Any]:
    """The values the notebook's ``result`` cell displayed with ``show_result``."""
    (cell,) = _cells(executed, "result")
    shown = [o["data"][RESULT_MIME] for o in cell.outputs if RESULT_MIME in o.get("data", {})]
    assert len(shown) == 1, "the result cell must display its values once, with show_result"
    return shown[0]


def _fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and 0.0 <= value <= 1.0


def check_overview(r: dict[str, Any]) -> None:
    assert r["n_folds"] == 6 and r["actors_per_fold"] == [4]
    assert r["n_branches"] >= 5


def check_explore(r: dict[str, Any]) -> None:
    assert 0 < r["n_takes"] <= CI_PARAMETERS["clip_limit"]
    assert r["n_actors"] == CI_PARAMETERS["n_actors"] and r["synthetic"] is True
    assert r["n_emotions"] == len(EMOTIONS)
    assert r["n_folds"] == 6 and r["folds_per_actor"] == 1, "every actor sits in exactly one test fold"


def check_faces(r: dict[str, Any]) -> None:
    assert r["n_cropped"] > 0 and r["n_cropped"] + r["n_skipped"] == r["n_videos"]
    assert _fraction(r["detected_fraction"])
    assert r["grey_crop_shape"][1:] == [48, 48]
    assert r["detector"] == default_detector(), "the crops are made with the default detector, as the branches do"
    assert r["detector"] in r["faces_found"] and set(r["faces_found"]) <= {"mtcnn", "haar"}
    assert all(0 < n <= r["n_frames"] for n in r["faces_found"].values())
    if FER_SAMPLE.is_dir():  # the real FER2013 faces: far above chance (1/7) for the pretrained model
        assert r["fer_sample_images"] == sum(1 for _ in FER_SAMPLE.glob("*/*.jpg"))
        assert r["fer_sample_accuracy"] > 0.4
    else:
        assert r["fer_sample_accuracy"] is None


def check_audio_features(r: dict[str, Any]) -> None:
    assert r["n_clips"] > 0 and r["n_frames"] > 0 and r["features_per_frame"] > 0
    assert {r["loudest_emotion"], r["quietest_emotion"]} <= set(EMOTIONS)
    assert r["loudest_emotion"] != r["quietest_emotion"]


def check_wav2vec(r: dict[str, Any]) -> None:
    assert r["n_clips"] > 0 and isinstance(r["wav2vec_random_weights"], bool)
    for key in ("mfcc_same_actor", "mfcc_same_actor_chance", "mfcc_same_emotion", "mfcc_same_emotion_chance"):
        assert _fraction(r[key]), key
    assert r["pack_takes"] == 1440, "the speaker lesson runs on the shipped real pack, every take"
    for kind, ratios in r["ratios"].items():  # the lesson, on real voices and faces: speakers group more than emotions
        assert ratios["actor"] > ratios["emotion"] > 1, kind


def _check_branches(r: dict[str, Any], expected: set[str]) -> None:
    assert r["speaker_norm"] == "none" and r["synthetic"] is True
    assert expected <= set(r["branches"]), f"trained {sorted(r['branches'])}, expected {sorted(expected)}"
    for name, scores in r["branches"].items():
        assert _fraction(scores["accuracy"]) and _fraction(scores["macro_f1"]), name
        assert scores["n_clips"] > 0, name
        assert scores["svm_baseline_accuracy"] is None or _fraction(scores["svm_baseline_accuracy"]), name


def check_video_branches(r: dict[str, Any]) -> None:
    _check_branches(r, {"video_vit_cnn", "video_fer", "video_slowfast", "face_au"})  # the demo corpus has videos, AUs
    assert r["branches"]["video_slowfast"]["svm_baseline_accuracy"] is None  # no pooled features: no baseline
    assert r["branches"]["face_au"]["svm_baseline_accuracy"] is not None
    fer = r["branches"]["video_fer"]
    assert fer["random_weights"] is False, "video_fer reads the real pretrained FER2013 weights"
    assert fer["svm_baseline_accuracy"] is not None
    zero_shot = r["video_fer_zero_shot"]
    assert _fraction(zero_shot["accuracy"]) and _fraction(zero_shot["macro_f1"])
    assert zero_shot["n_clips"] == fer["n_clips"], "zero-shot scores the clips the trained branch predicted"


def check_audio_branches(r: dict[str, Any]) -> None:
    _check_branches(r, {"audio_mfcc_cnn", "audio_wav2vec_lstm", "audio_egemaps", "audio_compare"})
    assert r["branches"]["audio_egemaps"]["svm_baseline_accuracy"] is not None
    assert _fraction(r["watched_fold_accuracy"])
    for kind, scores in r["pack_cross_validation"].items():
        assert _fraction(scores["mlp"]) and _fraction(scores["svm_rbf"]) and len(scores["per_fold"]) == 6, kind
    assert set(r["leakage"]) == {"mfcc_stats", "egemaps"}
    for kind, gap in r["leakage"].items():  # real features: the leaky split scores higher, beyond its spread
        assert _fraction(gap["held_out"]) and _fraction(gap["leaky"]), kind
        assert gap["gap_points_mean"] > 2 * gap["gap_points_sd"] and gap["gap_points_mean"] > 0, kind


def check_fusion(r: dict[str, Any]) -> None:
    assert r["speaker_norm"] == "none" and len(r["fused_branches"]) >= 2
    assert set(r["branches"]) == set(r["fused_branches"])
    assert LATE_STRATEGIES <= set(r["strategies"])
    assert all(_fraction(v) for v in [*r["strategies"].values(), *r["branches"].values()])
    with_baseline = {f"SVM {b}" for b in r["fused_branches"] if BRANCHES[b].pooled is not None}
    assert with_baseline and with_baseline <= set(r["svm_baselines"])
    assert all(_fraction(v) for v in r["svm_baselines"].values())


def check_demo(r: dict[str, Any]) -> None:
    assert r["prediction"] in r["labels"] and set(r["labels"]) <= set(EMOTIONS)
    assert r["fused_from"] and 1 / len(r["labels"]) - 1e-3 <= r["top_probability"] <= 1
    assert r["config"] in ("run", "equal weights")


def check_cross_corpus(r: dict[str, Any]) -> None:
    assert len(r["directions"]) == 2 and r["models"]  # both ways, at least one audio branch
    assert all(_fraction(v) for v in r["cross_corpus"]) and _fraction(r["chance"])


def check_finetune(r: dict[str, Any]) -> None:
    assert _fraction(r["accuracy"]) and r["n_clips"] > 0 and r["every_clip_once"] is True
    assert r["speaker_norm"] == "none" and isinstance(r["random_weights"], bool)


def check_beyond_late_fusion(r: dict[str, Any]) -> None:
    assert r["speaker_norm"] == "none" and LATE_STRATEGIES <= set(r["strategies"])
    assert {"select_late", "select_product"} <= set(r["strategies"]) and r["lr_baselines"]
    assert _fraction(r["attention_accuracy"]) and _fraction(r["best_late_same_inputs"])
    assert (
        r["attention_inputs"][0] == "audio_mfcc_cnn" and r["strategies"]["cross_attention"] == r["attention_accuracy"]
    )
    assert r["smoothing"]["viterbi"]["switches"] <= r["smoothing"]["none"]["switches"]


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "00_overview": check_overview,
    "01_explore_dataset": check_explore,
    "02_frames_and_faces": check_faces,
    "03_audio_features": check_audio_features,
    "04_wav2vec_embeddings": check_wav2vec,
    "05_train_video_branches": check_video_branches,
    "06_train_audio_branches": check_audio_branches,
    "07_fusion_and_evaluation": check_fusion,
    "08_demo_inference": check_demo,
    "09_cross_corpus": check_cross_corpus,
    "10_finetune_wav2vec": check_finetune,
    "11_beyond_late_fusion": check_beyond_late_fusion,
}


def test_every_notebook_has_checks() -> None:
    assert {p.stem for p in NOTEBOOKS} == set(CHECKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_inline_exercises_with_folded_answers(path: Path) -> None:
    markdown = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    exercises = sum("**Your turn" in m for m in markdown)
    answers = sum("<details>" in m for m in markdown)
    assert exercises >= 2, f"{path.name}: at least two 'Your turn' exercises in the flow"
    assert answers >= exercises, f"{path.name}: every exercise has its answer folded in a <details> block"
    assert any("Predict before you run" in m for m in markdown), f"{path.name}: a 'predict before you run' question"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "papermill needs kernelspec metadata"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} is stored with outputs"
    tagged = _cells(nb, "parameters")
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    for name in ("out_dir", "data_root"):
        assert name in tagged[0].source, f"{path.name}: parameters cell lacks {name}"
    result = _cells(nb, "result")
    assert len(result) == 1 and "show_result(" in result[0].source, f"{path.name}: one 'result' cell with show_result"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, run_dir: Path) -> None:
    import papermill as pm

    declared = _cells(nbformat.read(path, as_version=4), "parameters")[0].source
    params = {k: v for k, v in CI_PARAMETERS.items() if f"{k} =" in declared}
    executed = run_dir / path.name
    pm.execute_notebook(
        str(path),
        str(executed),
        parameters={"out_dir": str(run_dir / "run"), **params},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
    )
    CHECKS[path.stem](shown_result(nbformat.read(executed, as_version=4)))
