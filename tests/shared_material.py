"""Where the shared EmoDB material lies, for tests that read it (the lead may turn this into a conftest fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED_ROOT

SHARED_EMODB = SHARED_ROOT / "data" / "emodb"


def shared_emodb() -> Path:
    """The read-only EmoDB material (first 2 s of each utterance); skips the calling test when absent."""
    if not (SHARED_EMODB / "wav").is_dir():
        pytest.skip(f"EmoDB material not found at {SHARED_EMODB}")
    return SHARED_EMODB
