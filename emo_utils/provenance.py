"""What a run's numbers stand on, as typed records with a schema version.

- :class:`BranchProvenance`: a trained model's ``provenance.json`` (data, protocol, speaker normalisation,
  random stand-in weights, plus what its stage adds: the training settings, the candidates chosen between, ...).
- :class:`WorkflowMetrics`: the run's ``metrics.json`` (per branch, baseline and fusion strategy).
- :class:`RunRecord`: the run's ``run.json``, written last by the workflow: it marks a folder as a finished
  workflow run, so ``emo demo --run latest`` never mistakes a ``faces-eval`` or ``cross-corpus`` folder (which
  also hold a ``metrics.json``) for one.

``SCHEMA_VERSION`` is bumped when a field changes meaning or goes; readers of older files see it in
``schema_version`` (absent: written before these records).
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from emo_utils.errors import DataError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
WORKFLOW = "workflow"
PACKAGE = "emotion-fusion"


def write_json(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as indented JSON (its folder made if needed); the one JSON writer of run records."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


@dataclass(frozen=True)
class BranchProvenance:
    """Where a trained model's numbers come from; ``details`` holds what its stage adds (saved beside the
    fields, so a reader of ``provenance.json`` finds ``train``, ``candidates``, ``fuses`` ... at the top)."""

    branch: str
    modality: str
    description: str
    random_weights: bool
    speaker_norm: str
    synthetic: bool
    dataset: str
    protocol: str
    labels: tuple[str, ...]
    n_skipped: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def with_details(self, **details: Any) -> BranchProvenance:
        """The same provenance with more (or changed) details."""
        return replace(self, details={**self.details, **details})

    def to_dict(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "details"}
        return {**record, "labels": list(self.labels), **self.details}


@dataclass(frozen=True)
class WorkflowMetrics:
    """``metrics.json``: the run's protocol and data, then the metrics of each branch, SVM baseline and fusion
    strategy (dicts of :func:`emo_utils.evaluate.metrics_from_table` plus what the report shows)."""

    protocol: str
    speaker_norm: str
    folds: str
    fold_seed: int | None
    seed: int
    dataset: str
    synthetic: bool
    n_takes: int
    labels: tuple[str, ...]
    branches: dict[str, dict[str, Any]]
    baselines: dict[str, dict[str, Any]]
    fusion: dict[str, dict[str, Any]]
    wall_time_s: float
    distillation: dict[str, dict[str, Any]] = field(default_factory=dict)  # emo_utils.distill: students side by side
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "labels": list(self.labels)}


def code_version() -> str:
    """The package version, with the git commit when run from a checkout (``+dirty`` with uncommitted edits)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version(PACKAGE)
    except PackageNotFoundError:
        release = "unknown"
    here = Path(__file__).parent
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return release
    return f"{release} ({commit})" if commit else release


@dataclass(frozen=True)
class RunRecord:
    """``run.json``: what made a run folder (``kind``), with which settings and which code."""

    kind: str
    settings: Mapping[str, Any]
    code_version: str
    schema_version: int = SCHEMA_VERSION

    def write(self, folder: str | Path) -> Path:
        return write_json(Path(folder) / RUN_FILE, asdict(self) | {"settings": dict(self.settings)})

    @classmethod
    def read(cls, folder: str | Path) -> RunRecord | None:
        """The record of ``folder`` (None when it has no ``run.json``)."""
        path = Path(folder) / RUN_FILE
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
            return cls(record["kind"], record["settings"], record["code_version"], record["schema_version"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(path, f"not a run record ({exc})", "delete it and re-run the workflow there") from None


def workflow_record(settings: Any) -> RunRecord:
    """The ``run.json`` of a workflow run with these settings (a dataclass, e.g.
    :class:`emo_utils.workflow.WorkflowSettings`)."""
    return RunRecord(WORKFLOW, json.loads(json.dumps(asdict(settings), default=str)), code_version())


def latest_workflow_run(runs_dir: str | Path) -> Path:
    """The most recently finished workflow run under ``runs_dir``: the newest folder whose ``run.json`` says
    ``workflow`` (folders of ``emo faces-eval``, ``emo cross-corpus`` and the like are never picked)."""
    runs_dir = Path(runs_dir)
    records = sorted(runs_dir.glob(f"**/{RUN_FILE}"), key=lambda p: p.stat().st_mtime)
    workflow_runs = [p.parent for p in records if (r := RunRecord.read(p.parent)) is not None and r.kind == WORKFLOW]
    if workflow_runs:
        return workflow_runs[-1]
    unmarked = sorted(
        p.parent
        for p in runs_dir.glob(f"**/{METRICS_FILE}")
        if (p.parent / "branches").is_dir() and not (p.parent / RUN_FILE).is_file()
    )
    if unmarked:
        raise DataError(
            runs_dir,
            f"no workflow run marked by {RUN_FILE}; {', '.join(map(str, unmarked[:3]))} look like runs made before "
            f"{RUN_FILE} existed",
            f"pass the run folder itself (--run {unmarked[-1]}), or re-run `emo workflow --out {unmarked[-1]}` "
            f"once to mark it (its cached stages load in seconds)",
        )
    raise DataError(runs_dir, "no finished workflow run found", "run ./run_fusion_workflow.sh first, or pass --run DIR")
