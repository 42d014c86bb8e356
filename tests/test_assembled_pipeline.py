"""The pixel-video branches and the demo end to end on clips assembled from REAL actor faces and REAL
speech (the shared RAVDESS material has no videos). The faces do not act the emotion, so accuracy here
means nothing; the test checks that every stage runs and that the demo explains its prediction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emo_utils.fusion import FusionConfig, save_fusion_config
from emo_utils.inference import predict_file
from emo_utils.video.assemble import assemble_real_face_clips, make_bad_clips
from emo_utils.workflow import WorkflowSettings, run_workflow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def assembled_run(shared_ravdess: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("assembled")
    clips = assemble_real_face_clips(shared_ravdess, root / "data", actors=(1, 2, 3, 4, 5, 6), takes_per_actor=3)
    out = root / "run"
    run_workflow(
        WorkflowSettings(
            data_root=root / "data",
            out=out,
            epochs=1,
            progress=False,
            fuse_random_weights=True,
            branches=("audio_mfcc_cnn", "video_vit_cnn", "video_slowfast"),
        )
    )
    return out, clips


@pytest.mark.shared_data
def test_video_branches_train_on_real_faces(assembled_run: tuple[Path, list[Path]]) -> None:
    out, clips = assembled_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["synthetic"] is False
    for branch in ("audio_mfcc_cnn", "video_vit_cnn", "video_slowfast"):
        assert metrics["branches"][branch]["n_clips"] == len(clips)
    assert metrics["branches"]["video_vit_cnn"]["random_weights"] is True


@pytest.mark.shared_data
def test_demo_on_a_real_face_clip_and_on_bad_clips(
    assembled_run: tuple[Path, list[Path]], shared_ravdess: Path, tmp_path: Path
) -> None:
    out, clips = assembled_run
    config = save_fusion_config(
        FusionConfig(["audio_mfcc_cnn", "video_vit_cnn", "video_slowfast"], [1, 1, 1]), tmp_path / "equal.json"
    )
    result = predict_file(clips[0], run_dir=out, config_path=config)
    assert set(result["fused_from"]) == {"audio_mfcc_cnn", "video_vit_cnn", "video_slowfast"}
    bad = make_bad_clips(tmp_path, face_image=shared_ravdess / "actor-faces" / "Actor_03.png")  # silent real face
    no_audio = predict_file(bad["no_audio"], run_dir=out, config_path=config)
    assert "audio track" in no_audio["modalities"]["audio_mfcc_cnn"]["missing"]
    assert "audio_mfcc_cnn" not in no_audio["fused_from"]
    no_face = predict_file(bad["no_face"], run_dir=out, config_path=config)
    for video_branch in ("video_vit_cnn", "video_slowfast"):  # both read tracked face crops
        assert "no face found" in no_face["modalities"][video_branch]["missing"]
    assert no_face["fused_from"] == ["audio_mfcc_cnn"]
