"""The one cache rule of every stage: a stage is current when its key matches.

A stage's key hashes its settings, the source of the code that computes it, and the keys of the stages it
reads. Editing a feature module therefore changes the key of that feature stage and of every stage below it
(training, fusion, report), and nothing else. Feature stages live in folders named by their key
(``out/features/NAME-KEY/``), so an old version is never read by mistake; stages at fixed places (a branch's
artifact folder) keep the key in ``stage.json`` beside their outputs.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STAGE_FILE = "stage.json"


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short hash of any JSON-able object (sorted keys, so dict order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def module_source(module: str) -> str:
    """The source text of a module of this package (what a code edit changes)."""
    path = importlib.import_module(module).__file__
    assert path is not None
    return Path(path).read_text()


def code_version(modules: Iterable[str]) -> str:
    """Hash of the named modules' source code."""
    return stable_hash({name: module_source(name) for name in sorted(set(modules))})


def stage_key(settings: dict[str, Any], code: Iterable[str] = (), inputs: Iterable[str] = ()) -> str:
    """The key of a stage: its settings, its code and the keys of the stages it reads."""
    return stable_hash({"settings": settings, "code": code_version(code), "inputs": sorted(inputs)})


def is_current(folder: str | Path, key: str, outputs: Iterable[str] = ()) -> bool:
    """True when ``folder`` holds a finished stage with this key and all the named outputs."""
    marker = Path(folder) / STAGE_FILE
    if not marker.is_file():
        return False
    saved = json.loads(marker.read_text()).get("key")
    return saved == key and all((Path(folder) / name).exists() for name in outputs)


def mark_done(folder: str | Path, key: str, settings: dict[str, Any]) -> None:
    """Record that the stage in ``folder`` finished with this key (written last, so a crash leaves it stale)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STAGE_FILE).write_text(json.dumps({"key": key, "settings": settings}, indent=2, default=str) + "\n")


def stage_key_of(folder: str | Path) -> str | None:
    """The key a finished stage was made with (None when unfinished)."""
    marker = Path(folder) / STAGE_FILE
    return json.loads(marker.read_text()).get("key") if marker.is_file() else None
