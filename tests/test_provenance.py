"""Typed records of a run: provenance and metrics carry a schema version; run.json marks a workflow run, and
`emo demo --run latest` picks only such runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from emo_utils.errors import DataError
from emo_utils.inference import latest_run
from emo_utils.provenance import SCHEMA_VERSION, WORKFLOW, BranchProvenance, RunRecord


def _folder(root: Path, name: str, kind: str | None, age_s: int, branches: bool = True) -> Path:
    """A run-like folder with metrics.json, and run.json of ``kind`` (None: made before run.json), ``age_s`` old."""
    folder = root / name
    (folder / "branches" if branches else folder).mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    if kind is not None:
        RunRecord(kind, {"out": str(folder)}, "test").write(folder)
    for path in folder.rglob("*.json"):
        os.utime(path, (path.stat().st_atime - age_s, path.stat().st_mtime - age_s))
    return folder


def test_latest_picks_the_newest_workflow_run_not_a_newer_evaluation(tmp_path: Path) -> None:
    _folder(tmp_path, "old", WORKFLOW, age_s=300)
    newest_workflow = _folder(tmp_path, "nested/new", WORKFLOW, age_s=200)
    _folder(tmp_path, "faces-eval", "faces-eval", age_s=10, branches=False)  # newer, but no workflow run
    _folder(tmp_path, "cross-corpus", None, age_s=5, branches=False)  # metrics.json only
    assert latest_run(tmp_path) == newest_workflow


def test_runs_made_before_run_json_get_a_clear_message(tmp_path: Path) -> None:
    old = _folder(tmp_path, "before", None, age_s=0)
    with pytest.raises(DataError, match="made before run.json") as caught:
        latest_run(tmp_path)
    assert f"--run {old}" in str(caught.value)
    with pytest.raises(DataError, match="no finished workflow run"):
        latest_run(tmp_path / "empty")


def test_run_record_round_trips_and_a_broken_one_is_named(tmp_path: Path) -> None:
    record = RunRecord(WORKFLOW, {"seed": 0, "out": "runs/x"}, "0.1.0 (abc)")
    record.write(tmp_path)
    assert RunRecord.read(tmp_path) == record
    assert json.loads((tmp_path / "run.json").read_text())["schema_version"] == SCHEMA_VERSION
    assert RunRecord.read(tmp_path / "none") is None
    (tmp_path / "run.json").write_text('{"kind": "workflow"}')
    with pytest.raises(DataError, match="run.json"):
        RunRecord.read(tmp_path)


def test_branch_provenance_saves_its_fields_details_and_schema_version() -> None:
    provenance = BranchProvenance(
        "audio_egemaps", "audio", "eGeMAPS into an MLP", False, "none", True, "ravdess", "6 folds", ("sad", "calm"), 2
    )
    saved = provenance.with_details(train={"epochs": 3}).with_details(baseline_of="x").to_dict()
    assert saved["schema_version"] == SCHEMA_VERSION and saved["labels"] == ["sad", "calm"]
    assert saved["train"] == {"epochs": 3} and saved["baseline_of"] == "x" and "details" not in saved
    assert saved["random_weights"] is False and saved["n_skipped"] == 2
