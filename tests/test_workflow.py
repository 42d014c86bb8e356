"""The whole workflow on a tiny synthetic corpus: stages, caching, metrics.json, the CLI, the demo."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from emo_utils.cli import main as emo
from emo_utils.errors import DataError
from emo_utils.inference import load_predictor, predict_file, render_text
from emo_utils.labels import EMOTIONS
from emo_utils.workflow import WorkflowSettings, run_workflow

BRANCHES = ("audio_mfcc_cnn", "audio_wav2vec_lstm", "video_vit_cnn", "video_slowfast", "face_au", "audio_egemaps",
            "audio_compare")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    settings = WorkflowSettings(data_root=None, out=out, clip_limit=48, epochs=2, demo_actors=6, progress=False)
    return out, run_workflow(settings)


def test_workflow_writes_every_stage_and_labels_its_numbers(tiny_run: tuple[Path, dict]) -> None:
    out, metrics = tiny_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert saved["synthetic"] is True and "actor-independent" in saved["protocol"]
    assert set(saved["branches"]) == set(BRANCHES)
    for name, m in saved["branches"].items():
        assert {"accuracy", "macro_f1", "uar", "n_clips", "random_weights"} <= set(m)
        assert (out / "branches" / name / "oof.csv").is_file()
        assert len(list((out / "branches" / name).glob("fold*.pt"))) == 6
    assert saved["branches"]["audio_wav2vec_lstm"]["random_weights"] is True
    assert saved["branches"]["video_vit_cnn"]["random_weights"] is True
    assert saved["branches"]["audio_mfcc_cnn"]["random_weights"] is False
    assert set(saved["fusion"]) == {"late_equal", "late_learned", "product", "stacking", "dynamic", "early"}
    for strategy in saved["fusion"].values():
        assert "audio_wav2vec_lstm" not in strategy["branches"] and "video_vit_cnn" not in strategy["branches"]
    assert (out / "fusion" / "fusion_config.json").is_file()
    assert (out / "figures" / "confusion_matrices.png").stat().st_size > 0
    assert "SYNTHETIC" in (out / "report.md").read_text()


def test_second_run_reuses_cached_stages(tiny_run: tuple[Path, dict], capsys: pytest.CaptureFixture) -> None:
    out, first = tiny_run
    settings = WorkflowSettings(data_root=None, out=out, clip_limit=48, epochs=2, demo_actors=6, progress=False,
                                branches=("audio_mfcc_cnn", "face_au"))
    again = run_workflow(settings)
    assert "cached results" in capsys.readouterr().out
    for name in ("audio_mfcc_cnn", "face_au"):
        assert again["branches"][name]["accuracy"] == first["branches"][name]["accuracy"]


def test_demo_predicts_a_clip_and_explains_each_modality(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    video = next((out / "demo_data").glob("Actor_01/01-*.mp4"))
    result = predict_file(video, run_dir=out)
    assert result["prediction"] in EMOTIONS
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    for branch, entry in result["modalities"].items():
        assert ("probabilities" in entry) != ("missing" in entry)
    assert "PREDICTION" in render_text(result)


def test_demo_loads_a_branch_once_and_again_after_retraining(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    folder = out / "branches" / "face_au"
    first = load_predictor("face_au", folder)
    assert load_predictor("face_au", folder) is first and len(first.models) == 6
    checkpoint = folder / "fold0.pt"
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # as if retrained
    assert load_predictor("face_au", folder) is not first


def test_demo_on_bad_input_names_the_file(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny_run
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataError, match="broken.mp4"):
        predict_file(bad, run_dir=out)
    with pytest.raises(DataError, match="file not found"):
        predict_file(tmp_path / "missing.mp4", run_dir=out)


def test_cli_index_fusion_config_and_demo_json(tiny_run: tuple[Path, dict], tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    out, _ = tiny_run
    assert emo(["index", str(out / "demo_data"), "--out", str(tmp_path / "m.csv")]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert emo(["fusion-config", "--video_weight", "0.7", "--audio_weight", "0.3", "--video-branch",
                "video_slowfast", "--audio-branch", "audio_mfcc_cnn", "--out", str(tmp_path / "c.json")]) == 0
    config = json.loads((tmp_path / "c.json").read_text())
    assert config["weights"] == [0.7, 0.3] and config["branches"] == ["video_slowfast", "audio_mfcc_cnn"]
    video = next((out / "demo_data").glob("Actor_02/01-*.mp4"))
    capsys.readouterr()
    assert emo(["demo", "--video", str(video), "--run", str(out), "--config", str(tmp_path / "c.json"),
                "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["modalities"]) == {"video_slowfast", "audio_mfcc_cnn"}
    assert emo(["index", str(tmp_path / "nowhere")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["extract_wav2vec_features.py", "create_emotion_fusion.py",
                                    "demo_fusion_model.py"])
def test_scripts_have_help(script: str) -> None:
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / script), "--help"], capture_output=True,
                          text=True, check=True)
    assert "usage" in done.stdout


def test_extract_wav2vec_script_on_stand_in(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny_run
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "extract_wav2vec_features.py"),
                           "--data-root", str(out / "demo_data"), "--out", str(tmp_path / "w2v.npz"),
                           "--allow-stand-in"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "RANDOM stand-in" in done.stdout and (tmp_path / "w2v.npz").is_file()
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "extract_wav2vec_features.py"),
                           "--data-root", str(out / "demo_data"), "--out", str(tmp_path / "x.npz"),
                           "--model", "no-such-org/no-such-model"], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert done.returncode == 2 and "not on this machine" in done.stderr


def test_workflow_script_help() -> None:
    done = subprocess.run(["bash", str(REPO_ROOT / "run_fusion_workflow.sh"), "--help"], capture_output=True,
                          text=True, check=True)
    assert "--data-root" in done.stdout
