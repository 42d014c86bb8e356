"""The notebook set-up helpers: parameters become settings; the key result is displayed as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emo_utils.notebook import RESULT_MIME, settings_from, show_result


def test_settings_from_renames_notebook_parameters(tmp_path: Path) -> None:
    settings = settings_from(
        {
            "out_dir": str(tmp_path),
            "n_actors": 6,
            "data_root": None,
            "speaker_norm": "enrol:4",
            "unrelated": 1,
            "robustness_clips": 48,
        }
    )
    assert settings.out == tmp_path and settings.demo_actors == 6 and settings.data_root is None
    assert settings.speaker_norm == "enrol:4"


def test_show_result_displays_json_with_a_text_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    show_result(accuracy=np.float32(0.5), n_clips=np.int64(96), branches=("a", "b"), path=Path("x"))
    ((bundle, kwargs),) = shown
    assert kwargs == {"raw": True}
    assert bundle[RESULT_MIME] == {"accuracy": 0.5, "n_clips": 96, "branches": ["a", "b"], "path": "x"}
    assert '"n_clips": 96' in bundle["text/plain"]


def test_show_result_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        show_result(model=object())
