"""The default workflow on the second real corpus: EmoDB (the shared copy: first 2 s of each utterance)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from shared_material import shared_emodb

from emo_utils.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.shared_data
def test_workflow_on_emodb_trains_the_audio_branches_on_speaker_folds(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["workflow", "--data-root", str(shared_emodb()), "--out", str(out), "--clip-limit", "70", "--epochs", "1"]
    assert main([*args, "--branches", "audio_mfcc_cnn", "audio_egemaps", "--no-baselines", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "emodb" and not metrics["synthetic"] and metrics["speaker_norm"] == "none"
    assert metrics["protocol"].startswith("5-fold actor-independent (emodb, first 2 s of each utterance, 10 actors")
    assert set(metrics["branches"]) == {"audio_mfcc_cnn", "audio_egemaps"} and metrics["fusion"]
    assert "bored" in metrics["labels"] and "calm" not in metrics["labels"]  # EmoDB's own label space
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == 70 and manifest["actor"].nunique() == 10
    speakers = manifest.drop_duplicates("actor").groupby("fold")["gender"].agg(sorted)
    assert speakers.tolist() == [["female", "male"]] * 5  # each test fold: one male and one female speaker
    oof = pd.read_csv(out / "branches" / "audio_egemaps" / "oof.csv")
    assert "p_bored" in oof.columns and len(oof) == 70
