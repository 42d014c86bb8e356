"""Errors that name the offending file and say what to do, and a log of clips a stage skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where a log is written: ``emo --help`` does not need it
    import pandas as pd


class EmoError(Exception):
    """Base class for every error emo_utils raises on purpose."""


class DataError(EmoError):
    """A problem with one input file: names the file, the problem and the fix."""

    def __init__(self, path: str | Path, problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        message = f"{self.path}: {problem}"
        if hint:
            message += f" -> {hint}"
        super().__init__(message)


class FilenameError(DataError):
    """A file name that does not follow the dataset's naming convention."""


class MissingModalityError(DataError):
    """A clip lacks what a branch needs (no audio track, no face, no AU row)."""


class SettingsError(EmoError, ValueError):
    """A setting that cannot work with this data (e.g. more folds than the actors can fill)."""


class ActorLeakError(EmoError):
    """The same actor appears on both sides of a train/test split."""


class MissingWeightsError(EmoError):
    """Pretrained weights are not on this machine and cannot be downloaded."""


@dataclass
class SkipLog:
    """Collects the clips a stage could not use, so none is dropped silently."""

    stage: str
    rows: list[dict] = field(default_factory=list)
    unit: str = "clip"  # what a row is: a clip, or a file (the index skips files, not takes)

    def add(self, clip: str, path: str | Path, reason: str) -> None:
        self.rows.append({"stage": self.stage, "clip": clip, "path": str(path), "reason": reason})

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["stage", "clip", "path", "reason"])

    def report(self, out_csv: str | Path | None = None, max_lines: int = 10) -> str:
        """Summarise the skipped clips (and write them all to ``out_csv`` when given)."""
        if out_csv is not None:
            Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
            self.to_frame().to_csv(out_csv, index=False)
        if not self.rows:
            return f"[{self.stage}] no {self.unit} skipped"
        lines = [f"[{self.stage}] skipped {len(self.rows)} {self.unit}(s):"]
        lines += [f"  - {r['clip']}: {r['reason']}" for r in self.rows[:max_lines]]
        if len(self.rows) > max_lines:
            lines.append(f"  ... and {len(self.rows) - max_lines} more" + (f" (all in {out_csv})" if out_csv else ""))
        return "\n".join(lines)
