"""The one cache rule of every stage: a stage is current when its fingerprint matches.

A :class:`Stage` declares what its output depends on: its name, the ``version`` of the code that computes it
(declared beside that code as ``STAGE_VERSION``, bumped when a change alters the output), its parameters and the
stages it reads. Its fingerprint hashes these and nothing else, so changing a parameter, bumping a version or
recomputing an input changes the fingerprint of that stage and of every stage below it, while dict order, an
unrelated stage or an edit that keeps the version leave it alone.

Feature stages live in folders named by their fingerprint (``out/features/NAME-FINGERPRINT/``), so an old version
is never read by mistake; stages at fixed places (a branch's artifact folder) keep the fingerprint in
``stage.json`` beside their outputs, written last, so a crash leaves the stage stale.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGE_FILE = "stage.json"


def _jsonable(obj: Any) -> Any:
    """What ``json.dumps`` cannot write, as plain data: dataclasses as dicts, paths and the rest as text."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    return str(obj)


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short hash of any JSON-able object (sorted keys, so dict order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_jsonable).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Stage:
    """One cached step: ``name``, the ``version`` of its code, its ``params`` and the ``inputs`` it reads.

    An input is another :class:`Stage`, or the fingerprint of a finished stage read from its ``stage.json``
    (:func:`recorded_fingerprint`) when only its output folder is at hand. Inputs are a set: their order does not
    change the fingerprint.
    """

    name: str
    version: int
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[Stage | str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """The hash of everything the stage's output depends on."""
        upstream = sorted(i.fingerprint if isinstance(i, Stage) else i for i in self.inputs)
        return stable_hash({"name": self.name, "version": self.version, "params": self.params, "inputs": upstream})

    @property
    def folder_name(self) -> str:
        """``NAME-FINGERPRINT``: the folder of a stage whose place is named by its fingerprint."""
        return f"{self.name}-{self.fingerprint}"

    def folder(self, root: str | Path) -> Path:
        """Where this stage's outputs go under ``root`` (a new folder for every fingerprint)."""
        return Path(root) / self.folder_name

    def is_current(self, folder: str | Path, outputs: Iterable[str] = ()) -> bool:
        """True when ``folder`` holds this stage finished with this fingerprint and all the named outputs."""
        return recorded_fingerprint(folder) == self.fingerprint and all(
            (Path(folder) / name).exists() for name in outputs
        )

    def mark_done(self, folder: str | Path) -> None:
        """Record that this stage finished in ``folder`` (call it last, after every output is written)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "params": self.params,
            "inputs": [i.folder_name if isinstance(i, Stage) else i for i in self.inputs],
        }
        (folder / STAGE_FILE).write_text(json.dumps(record, indent=2, default=_jsonable) + "\n")


def recorded_fingerprint(folder: str | Path) -> str | None:
    """The fingerprint a finished stage in ``folder`` was made with (None when unfinished or made before
    fingerprints)."""
    marker = Path(folder) / STAGE_FILE
    return json.loads(marker.read_text()).get("fingerprint") if marker.is_file() else None
