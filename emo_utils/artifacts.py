"""A trained branch on disk: one folder, one loader.

``RUN/branches/NAME/`` holds

    oof.csv            out-of-fold class probabilities, one row per take (clip_id, actor, fold, emotion, p_*)
    inner_oof.csv      nested predictions of each test fold's training actors (what fusion is fitted on)
    provenance.json    what the numbers stand on: data, protocol, speaker normalisation, random stand-in weights
    fold*.pt           one checkpoint per test fold (the demo applies them to new clips)
    final.pt           optional: one model fitted on every actor (the shipped models, emo_utils.pretrained);
                       where present the demo applies it instead of the fold models
    pooled.npz         optional: one pooled feature vector per take (early fusion concatenates these)

Fusion, every analysis, the widgets and the demo read a branch through :func:`load_branch`, so a run folder
copied to another machine still fuses and demos.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emo_utils.errors import DataError
from emo_utils.feature_store import FeatureSet, load_features, save_features
from emo_utils.predictions import PredictionTable
from emo_utils.provenance import BranchProvenance

log = logging.getLogger(__name__)

OOF_FILE = "oof.csv"
INNER_OOF_FILE = "inner_oof.csv"
PROVENANCE_FILE = "provenance.json"
POOLED_FILE = "pooled.npz"
FINAL_MODEL_FILE = "final.pt"  # the name emo_utils.train.fit_final saves under
MISSING_RUN_HINT = "train the branch first: `emo workflow --out RUN` or notebooks 05/06"


@dataclass
class BranchArtifact:
    """A trained branch as saved on disk: its out-of-fold table and where its numbers come from."""

    name: str
    folder: Path
    oof: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def random_weights(self) -> bool:
        """True when the branch's features come from randomly initialised stand-in backbone weights."""
        return bool(self.provenance.get("random_weights", False))

    @property
    def checkpoints(self) -> list[Path]:
        """The fold models, in fold order."""
        return sorted(self.folder.glob("fold*.pt"))

    @property
    def models_for_new_clips(self) -> list[Path]:
        """What the demo applies to a stranger's clip: the model fitted on every actor where one was saved,
        else the fold models (their probabilities averaged)."""
        final = self.folder / FINAL_MODEL_FILE
        return [final] if final.is_file() else self.checkpoints

    def inner_oof(self) -> pd.DataFrame | None:
        """Nested predictions: per test fold, its training actors predicted by models that never saw the
        test fold (``outer_fold`` column); fusion fits on these."""
        path = self.folder / INNER_OOF_FILE
        return read_oof(path) if path.is_file() else None

    def pooled(self) -> FeatureSet | None:
        """One pooled feature vector per take (for early fusion), or None when the branch saved none."""
        path = self.folder / POOLED_FILE
        return load_features(path) if path.is_file() else None


def write_branch_artifact(
    folder: str | Path,
    oof: pd.DataFrame,
    provenance: BranchProvenance | Mapping[str, Any],
    pooled: FeatureSet | None = None,
    inner_oof: pd.DataFrame | None = None,
) -> Path:
    """Save a branch's out-of-fold table, provenance and (optionally) pooled features and nested predictions
    (a plain mapping as provenance is for hand-made artifacts, as in tests)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    PredictionTable(oof)  # raises PredictionTableError naming what is wrong
    if pooled is not None:
        save_features(folder / POOLED_FILE, pooled)
    if inner_oof is not None:
        inner_oof.to_csv(folder / INNER_OOF_FILE, index=False)
    oof.to_csv(folder / OOF_FILE, index=False)
    record = provenance.to_dict() if isinstance(provenance, BranchProvenance) else dict(provenance)
    (folder / PROVENANCE_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return folder


def read_oof(path: str | Path) -> pd.DataFrame:
    """An out-of-fold table (branch or fusion) with ids read as text."""
    return PredictionTable.read_csv(path).frame


def load_artifact(folder: str | Path) -> BranchArtifact:
    """The trained model saved in ``folder`` (a branch, a baseline, early fusion); raises :class:`DataError`
    naming what is missing."""
    folder = Path(folder)
    for needed in (OOF_FILE, PROVENANCE_FILE):
        if not (folder / needed).is_file():
            raise DataError(folder / needed, f"{folder.name} has no {needed}", MISSING_RUN_HINT)
    provenance = json.loads((folder / PROVENANCE_FILE).read_text())
    return BranchArtifact(folder.name, folder, read_oof(folder / OOF_FILE), provenance)


def load_branch(run_dir: str | Path, name: str) -> BranchArtifact:
    """The trained branch ``name`` of a run."""
    return load_artifact(Path(run_dir) / "branches" / name)


def load_branches(run_dir: str | Path, names: list[str] | None = None) -> dict[str, BranchArtifact]:
    """Every finished branch of a run (or the named ones), by name."""
    root = Path(run_dir) / "branches"
    if names is None:
        names = sorted(p.parent.name for p in root.glob(f"*/{PROVENANCE_FILE}") if (p.parent / OOF_FILE).is_file())
    if not names:
        raise DataError(root, "no trained branch found", MISSING_RUN_HINT)
    return {name: load_branch(run_dir, name) for name in names}


def fusable(artifacts: dict[str, BranchArtifact], include_random: bool = False) -> dict[str, BranchArtifact]:
    """The branches allowed into fusion: those on random stand-in weights only when asked for (a learned
    fusion would at best ignore them, at worst fit their noise)."""
    left_out = [name for name, a in artifacts.items() if a.random_weights and not include_random]
    if left_out:
        log.warning(
            "[fusion] left out (RANDOM stand-in weights; fuse_random_weights to include): %s", ", ".join(left_out)
        )
    return {name: a for name, a in artifacts.items() if name not in left_out}
