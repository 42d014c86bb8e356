"""The whole workflow on a tiny synthetic corpus: stages, caching, metrics.json, the CLI, the demo."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, TINY_RUN

from emo_utils.artifacts import fusable, load_branch, load_branches
from emo_utils.audio import opensmile_features
from emo_utils.branches import BRANCHES as BRANCH_SPECS
from emo_utils.cli import main as emo
from emo_utils.errors import DataError
from emo_utils.evaluate import metrics_from_table
from emo_utils.fusion import DEFAULT_STRATEGIES
from emo_utils.inference import load_predictor, predict_file, render_text
from emo_utils.labels import EMOTIONS
from emo_utils.stages import recorded_fingerprint
from emo_utils.workflow import WorkflowSettings, fuse_artifacts, run_workflow

pytestmark = pytest.mark.slow

BRANCHES = tuple(BRANCH_SPECS)  # every branch of the registry runs by default


def _without_times(metrics: dict) -> dict:
    return {
        k: (
            {n: {kk: vv for kk, vv in m.items() if kk != "wall_time_s"} for n, m in v.items()}
            if isinstance(v, dict)
            else v
        )
        for k, v in metrics.items()
        if k != "wall_time_s"
    }


def test_workflow_writes_every_stage_and_labels_its_numbers(tiny_run: tuple[Path, dict]) -> None:
    out, metrics = tiny_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert saved["synthetic"] is True and "actor-independent" in saved["protocol"]
    assert saved["speaker_norm"] == "none" and "no test-speaker statistics" in saved["protocol"]
    assert set(saved["branches"]) == set(BRANCHES)
    for name, m in saved["branches"].items():
        assert {"accuracy", "macro_f1", "uar", "n_clips", "random_weights"} <= set(m)
        artifact = load_branch(out, name)
        assert len(artifact.checkpoints) == 6 and artifact.provenance["speaker_norm"] == "none"
        inner = artifact.inner_oof()
        if artifact.random_weights:  # not fused, so no nested predictions are made for it
            assert inner is None
            continue
        assert inner is not None and set(inner["outer_fold"]) == set(artifact.oof["fold"])
        for outer, rows in inner.groupby("outer_fold"):  # nested: never the outer fold's own clips
            assert outer not in set(rows["fold"]) and rows["clip_id"].is_unique
    assert saved["branches"]["audio_wav2vec_lstm"]["random_weights"] is True
    assert saved["branches"]["video_vit_cnn"]["random_weights"] is True
    assert saved["branches"]["audio_mfcc_cnn"]["random_weights"] is False
    assert set(saved["fusion"]) == set(DEFAULT_STRATEGIES) >= {"late_equal", "stacking", "select_product", "early"}
    for strategy in saved["fusion"].values():
        assert "audio_wav2vec_lstm" not in strategy["branches"] and "video_vit_cnn" not in strategy["branches"]
    for baseline in ("SVM", "LR"):
        expected = {f"{baseline} audio_mfcc_cnn", f"{baseline} face_au", f"{baseline} fusion late_equal"}
        assert expected | {f"{baseline} fusion product"} <= set(saved["baselines"])
    assert (out / "fusion" / "fusion_config.json").is_file()
    assert (out / "figures" / "confusion_matrices.png").stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "SYNTHETIC" in report and "baseline: SVM on audio_mfcc_cnn" in report
    assert "baseline: LR on audio_mfcc_cnn" in report and "baseline: LR product fusion" in report
    assert "chosen on inner folds among" in report


def test_second_run_reuses_cached_stages(tiny_run: tuple[Path, dict], caplog: pytest.LogCaptureFixture) -> None:
    out, first = tiny_run
    with caplog.at_level(logging.INFO):
        again = run_workflow(WorkflowSettings(data_root=None, out=out, progress=False, **TINY_RUN))
    assert "cached results" in caplog.text and "training:" not in caplog.text
    assert "cached late-fusion tables" in caplog.text  # stacking is not refitted
    assert _without_times(again) == _without_times(first)


def test_demo_predicts_a_clip_and_explains_each_modality(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    video = next((out / "demo_data").glob("Actor_01/01-*.mp4"))
    result = predict_file(video, run_dir=out)
    assert result["prediction"] in EMOTIONS
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    for entry in result["modalities"].values():
        assert ("probabilities" in entry) != ("missing" in entry)
        assert "why" in entry  # the config says why each branch has its weight
    assert "PREDICTION" in render_text(result)


def test_a_copied_run_folder_still_fuses_and_demos(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, metrics = tiny_run
    copy = tmp_path / "moved"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("features", "demo_data"))
    artifacts = fusable(load_branches(copy))
    tables = fuse_artifacts(artifacts)
    assert metrics_from_table(tables["late_learned"])["accuracy"] == metrics["fusion"]["late_learned"]["accuracy"]
    video = next((out / "demo_data").glob("Actor_03/01-*.mp4"))
    assert predict_file(video, run_dir=copy)["run"] == str(copy)


def test_demo_loads_a_branch_once_and_again_after_retraining(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    folder = out / "branches" / "face_au"
    first = load_predictor(folder)
    assert load_predictor(folder) is first and len(first.models) == 6
    checkpoint = folder / "fold0.pt"
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # as if retrained
    assert load_predictor(folder) is not first


def test_the_same_command_gives_identical_numbers(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    """Training from scratch in a fresh folder gives the shared run's numbers to the last digit."""
    _, first = tiny_run
    again = run_workflow(
        WorkflowSettings(
            data_root=None, out=tmp_path, progress=False, branches=("audio_mfcc_cnn", "face_au"), **TINY_RUN
        )
    )
    for name in ("audio_mfcc_cnn", "face_au"):
        assert _without_times(again)["branches"][name] == _without_times(first)["branches"][name]
        assert again["baselines"][f"SVM {name}"] == first["baselines"][f"SVM {name}"]


def test_demo_on_bad_input_names_the_file(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny_run
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataError, match="broken.mp4"):
        predict_file(bad, run_dir=out)
    with pytest.raises(DataError, match="file not found"):
        predict_file(tmp_path / "missing.mp4", run_dir=out)


def test_cli_index_fusion_config_and_demo_json(
    tiny_run: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, _ = tiny_run
    assert emo(["index", str(out / "demo_data"), "--out", str(tmp_path / "m.csv")]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert (
        emo(
            [
                "fusion-config",
                "--video_weight",
                "0.7",
                "--audio_weight",
                "0.3",
                "--video-branch",
                "video_slowfast",
                "--audio-branch",
                "audio_mfcc_cnn",
                "--out",
                str(tmp_path / "c.json"),
            ]
        )
        == 0
    )
    config = json.loads((tmp_path / "c.json").read_text())
    assert config["weights"] == [0.7, 0.3] and config["branches"] == ["video_slowfast", "audio_mfcc_cnn"]
    video = next((out / "demo_data").glob("Actor_02/01-*.mp4"))
    capsys.readouterr()
    assert emo(["demo", "--video", str(video), "--run", str(out), "--config", str(tmp_path / "c.json"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["modalities"]) == {"video_slowfast", "audio_mfcc_cnn"}
    assert all(len(repr(p)) <= 6 for p in result["probabilities"].values())  # 0.1234, no float32 noise
    assert emo(["index", str(tmp_path / "nowhere")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_no_stand_ins_without_the_weights_fails_naming_them(
    tiny_run: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = tiny_run
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail in seconds on a machine with a network too
    absent = tmp_path / "no_weights_here"
    command = ["workflow", "--data-root", str(out / "demo_data"), "--out", str(tmp_path / "run")]
    command += ["--branches", "audio_wav2vec_lstm", "--wav2vec-model", str(absent), "--clip-limit", "12"]
    assert emo([*command, "--jobs", "1", "--quiet", "--no-stand-ins"]) == 2
    error = capsys.readouterr().err
    assert "audio_wav2vec_lstm" in error and str(absent) in error and "--no-stand-ins" in error
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("script", ["extract_wav2vec_features.py", "create_emotion_fusion.py", "demo_fusion_model.py"])
def test_scripts_have_help(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), "--help"], capture_output=True, text=True, check=True
    )
    assert "usage" in done.stdout


def test_extract_wav2vec_script_on_stand_in(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny_run

    def extract(target: str, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        script = REPO_ROOT / "scripts" / "extract_wav2vec_features.py"
        command = [sys.executable, str(script), "--data-root", str(out / "demo_data"), "--out", str(tmp_path / target)]
        return subprocess.run([*command, *options], capture_output=True, text=True, env=env)

    done = extract("w2v.npz", "--allow-stand-in")
    assert done.returncode == 0, done.stderr
    assert "RANDOM stand-in" in done.stdout and (tmp_path / "w2v.npz").is_file()
    done = extract("x.npz", "--model", "no-such-org/no-such-model", env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert done.returncode == 2 and "not on this machine" in done.stderr


def test_workflow_script_help() -> None:
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "run_fusion_workflow.sh"), "--help"], capture_output=True, text=True, check=True
    )
    assert "--data-root" in done.stdout


def test_bumping_a_feature_stage_version_invalidates_exactly_the_stages_below_it(
    tiny_run: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    shutil.copytree(tiny_run[0], out)

    def stage_keys() -> dict[str, str | None]:
        return {str(p.parent.relative_to(out)): recorded_fingerprint(p.parent) for p in out.rglob("stage.json")}

    before, features_before = stage_keys(), {p.name for p in (out / "features").iterdir()}
    monkeypatch.setattr(opensmile_features, "STAGE_VERSION", opensmile_features.STAGE_VERSION + 1)
    run_workflow(WorkflowSettings(data_root=None, out=out, progress=False, **TINY_RUN))
    after = stage_keys()
    changed = {stage for stage in after if before.get(stage) != after[stage]}
    smile = {"audio_egemaps", "audio_compare"}
    assert changed == {f"{kind}/{name}" for kind in ("branches", "baselines", "baselines/lr") for name in smile} | {
        f"branches/{name}/candidates/{c}" for name in smile for c in BRANCH_SPECS[name].candidates
    } | {"fusion/early", "fusion"}
    new_features = {p.name for p in (out / "features").iterdir()} - features_before
    assert {name.rsplit("-", 1)[0] for name in new_features} == {"audio_egemaps", "audio_compare"}
