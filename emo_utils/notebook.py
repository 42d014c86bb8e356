"""The one set-up every notebook starts with: read the parameters cell, prepare or find the run, say what the
numbers will stand on.

    from emo_utils.notebook import start
    nb = start(globals())          # reads data_root, out_dir, clip_limit, epochs, n_actors, ... if defined

``nb.settings`` (the workflow settings), ``nb.run`` (manifest, labels, protocol), ``nb.data_note`` and
``nb.provenance(random_weights)`` are what the notebook cells use. Nothing here trains: the manifest is made
when missing (or made with other settings), exactly as ``emo workflow`` makes it.

Each notebook ends its key cell (tagged ``result``) with ``show_result(name=value, ...)``: the numbers it
states, displayed as JSON so that the notebook tests read them back from the executed notebook.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from emo_utils.report import provenance_line
from emo_utils.run_setup import Run, WorkflowSettings, prepare_run

log = logging.getLogger(__name__)
RANDOM_BANNER = (
    "!!! {name}: RANDOM stand-in backbone weights (the real ones cannot be downloaded here). "
    "Its accuracy is not a result, and fusion leaves it out."
)
RESULT_MIME = "application/json"  # how show_result displays the values the notebook tests read back
# Parameters-cell names that differ from WorkflowSettings' field names.
_RENAMED = {"out_dir": "out", "n_actors": "demo_actors"}


@dataclass
class NotebookRun:
    """What a notebook works with: the settings, the prepared run and the provenance labels."""

    settings: WorkflowSettings
    run: Run

    @property
    def manifest(self) -> Any:
        return self.run.manifest

    @property
    def protocol(self) -> str:
        return self.run.protocol

    @property
    def data_note(self) -> str:
        """Which data the numbers stand on, for every printed line and figure title."""
        return "SYNTHETIC demo corpus" if self.run.synthetic else f"real data ({self.run.dataset})"

    def provenance(self, random_weights: bool = False) -> str:
        """Data and weights of a number, in words."""
        return provenance_line(self.run.synthetic, random_weights)

    def title(self, what: str, random_weights: bool = False) -> str:
        """A figure title naming what is shown, the protocol and the provenance."""
        return f"{what} | {self.protocol} | {self.provenance(random_weights)}"


def settings_from(params: Mapping[str, Any]) -> WorkflowSettings:
    """Workflow settings from a notebook's parameters (names as in the parameters cells)."""
    known = {f.name for f in fields(WorkflowSettings) if f.init}
    values = {_RENAMED.get(k, k): v for k, v in params.items() if _RENAMED.get(k, k) in known}
    if values.get("data_root"):
        values["data_root"] = Path(values["data_root"])
    values.setdefault("out", Path("../runs/notebooks"))
    values.setdefault("data_root", None)
    return WorkflowSettings(**values)


def start(params: Mapping[str, Any]) -> NotebookRun:
    """Set up a notebook from its parameters: logging to the notebook, the run's manifest (made if needed),
    and one printed paragraph saying what data, protocol and output folder the notebook uses."""
    root = logging.getLogger("emo_utils")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    settings = settings_from(params)
    run = prepare_run(settings)
    nb = NotebookRun(settings, run)
    log.info("data: %s, %d takes, %d actors", nb.data_note, len(run.manifest), run.manifest["actor"].nunique())
    log.info("protocol: %s", run.protocol)
    log.info("output folder: %s", settings.out.resolve())
    return nb


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples and paths turned into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def show_result(**values: Any) -> None:
    """Display the notebook's key numbers as JSON (with a plain-text fallback).

    The notebook tests read the ``application/json`` output of the cell tagged ``result`` back from the
    executed notebook, so these values are what CI checks.
    """
    from IPython.display import display

    plain = _plain(values)
    text = json.dumps(plain, indent=1)  # raises TypeError for a value JSON cannot hold
    display({RESULT_MIME: plain, "text/plain": text}, raw=True)
