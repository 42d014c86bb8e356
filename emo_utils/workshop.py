"""Workshop tracks: which notebooks a 90-minute or a 3-hour workshop teaches, in order, and the small settings
they run with (``emo course --workshop 90|180``; the plan with measured times is ``docs/workshop.md``).

No heavy import here: the command line reads the tracks to build its options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
# The settings the workshop runs (and tests/test_notebooks.py checks) every notebook with: 6 actors, 96 takes, 3 epochs.
WORKSHOP_PARAMETERS: dict[str, Any] = {"clip_limit": 96, "epochs": 3, "n_actors": 6}


@dataclass(frozen=True)
class WorkshopTrack:
    """The notebooks of one workshop, by number (``"05"`` also takes ``05a_...`` and ``05b_...``), in order."""

    minutes: int
    numbers: tuple[str, ...]
    parameters: dict[str, Any] = field(default_factory=lambda: dict(WORKSHOP_PARAMETERS))

    def notebooks(self, notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
        """The track's notebook files, in order; raises FileNotFoundError naming a number no notebook has."""
        paths = []
        for number in self.numbers:
            found = sorted(notebook_dir.glob(f"{number}_*.ipynb")) + sorted(notebook_dir.glob(f"{number}[a-z]_*.ipynb"))
            if not found:
                raise FileNotFoundError(
                    f"the {self.minutes}-minute workshop needs notebook {number}_*.ipynb in "
                    f"{notebook_dir}: restore it or update emo_utils/workshop.py"
                )
            paths += found
        return paths


WORKSHOP_TRACKS: dict[int, WorkshopTrack] = {
    # the overview, the data, the audio features, training with the leakage lesson, fusion with the enrolment
    # curve, the demo
    90: WorkshopTrack(90, ("00", "01", "03", "06", "07", "08")),
    # the whole pipeline from frames to the demo; 09 (two corpora) and 10 (fine-tuning) are left for later
    180: WorkshopTrack(180, ("00", "01", "02", "03", "04", "05", "06", "07", "08")),
}
