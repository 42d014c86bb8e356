"""The timeline as a record: one entry per window, its table (``timeline.csv``), its JSON, temporal smoothing of
its labels and its plot. :mod:`emo_utils.timeline.windows` computes it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from emo_utils.branches import BRANCHES
from emo_utils.errors import DataError
from emo_utils.smoothing import NO_LABEL, smooth_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Timeline:
    """Predictions per window. Each window is a dict: ``start_s``, ``end_s``, ``prediction`` (fused top label, or
    None when no branch could be used), ``probabilities`` (fused, label -> p; empty when None), ``modalities``
    (branch -> ``{"probabilities": {...}}`` or ``{"missing": reason}``), ``missing`` (why nothing was fused) and,
    when ``smoothing`` is not "none", ``smoothed`` (the label after temporal smoothing, None where no prediction)."""

    source: str
    run: str
    labels: list[str]
    branches: list[str]
    window_s: float
    hop_s: float
    fps: float | None
    windows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    smoothing: str = "none"

    def __len__(self) -> int:
        return len(self.windows)

    def missing_counts(self) -> dict[str, int]:
        """Per branch, the number of windows it was missing from."""
        return {b: sum("missing" in w["modalities"][b] for w in self.windows) for b in self.branches}

    def frame(self) -> pd.DataFrame:
        """One row per window, wide (the columns of ``timeline.csv``, see the module docstring)."""
        rows = []
        for w in self.windows:
            row: dict[str, Any] = {
                "start_s": w["start_s"],
                "end_s": w["end_s"],
                "prediction": w["prediction"] or "",
                "missing": w.get("missing", ""),
            }
            if self.smoothed:
                row["smoothed"] = w["smoothed"] or ""
            row.update({f"fused:{e}": w["probabilities"].get(e, np.nan) for e in self.labels})
            for branch in self.branches:
                entry = w["modalities"][branch]
                probabilities = entry.get("probabilities", {})
                row.update({f"{branch}:{e}": probabilities.get(e, np.nan) for e in self.labels})
                row[f"{branch}:missing"] = entry.get("missing", "")
            rows.append(row)
        return pd.DataFrame(rows, columns=_columns(self.labels, self.branches, self.smoothed))

    @property
    def smoothed(self) -> bool:
        """Whether the windows carry a label after temporal smoothing (``smoothed``)."""
        return self.smoothing != "none"

    def segments(self) -> list[tuple[float, float, str]]:
        """Stretches where the fused label (after smoothing, when smoothed) stays the same: (start s, end s, label;
        "-" where nothing was fused). Each window stands for the time around its centre: neighbours meet half-way
        between their centres."""
        if not self.windows:
            return []
        centres = [(w["start_s"] + w["end_s"]) / 2 for w in self.windows]
        bounds = [self.windows[0]["start_s"], *((a + b) / 2 for a, b in zip(centres, centres[1:]))]
        bounds.append(self.windows[-1]["end_s"])
        out: list[tuple[float, float, str]] = []
        for i, w in enumerate(self.windows):
            label = w["smoothed" if self.smoothed else "prediction"] or "-"
            if out and out[-1][2] == label:
                out[-1] = (out[-1][0], bounds[i + 1], label)
            else:
                out.append((bounds[i], bounds[i + 1], label))
        return out

    def summary(self) -> str:
        """A short text: the windows, each branch's missing windows, and the segments of one fused label."""
        lines = [
            f"timeline of {self.source}: {len(self)} windows of {self.window_s:g} s every {self.hop_s:g} s",
            f"run: {self.run}",
        ]
        for branch, n in self.missing_counts().items():
            lines.append(f"  {branch:<20} read in {len(self) - n} of {len(self)} windows")
        if self.smoothed:
            lines.append(f"labels smoothed over time ({self.smoothing}, emo_utils.smoothing):")
        lines += [f"{start:.1f}-{end:.1f} s {label}" for start, end, label in self.segments()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The timeline as a JSON-ready dict (what ``timeline.json`` holds)."""
        return asdict(self)


def _columns(labels: list[str], branches: list[str], smoothed: bool = False) -> list[str]:
    columns = ["start_s", "end_s", "prediction", *(["smoothed"] if smoothed else []), "missing"]
    columns += [f"fused:{e}" for e in labels]
    for branch in branches:
        columns += [*(f"{branch}:{e}" for e in labels), f"{branch}:missing"]
    return columns


def modality_of(branch: str) -> str:
    """The branch's modality, "audio" or "video" (guessed from its name for a branch this version does not know)."""
    spec = BRANCHES.get(branch)
    return spec.modality if spec is not None else ("audio" if branch.startswith("audio") else "video")


def smooth_timeline(timeline: Timeline, method: str) -> Timeline:
    """``timeline`` with each window's label after temporal smoothing of the fused probabilities (``method``:
    ``ema`` or ``viterbi``, see :mod:`emo_utils.smoothing`; "none" returns it as it is)."""
    if method == "none":
        return timeline
    P = np.full((len(timeline), len(timeline.labels)), np.nan)
    for i, w in enumerate(timeline.windows):
        if w["prediction"]:
            P[i] = [w["probabilities"][e] for e in timeline.labels]
    labels = smooth_labels(P, method, timeline.hop_s)
    windows = [
        {**w, "smoothed": timeline.labels[k] if k != NO_LABEL else None} for w, k in zip(timeline.windows, labels)
    ]
    return replace(timeline, windows=windows, smoothing=method)


def write_timeline(timeline: Timeline, out_dir: str | Path) -> dict[str, Path]:
    """Write ``timeline.json`` and ``timeline.csv`` (wide, see the module docstring) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "timeline.json", "csv": out / "timeline.csv"}
    paths["json"].write_text(json.dumps(timeline.to_json(), indent=2) + "\n")
    timeline.frame().to_csv(paths["csv"], index=False)
    return paths


def read_timeline(path: str | Path) -> Timeline:
    """A timeline written by :func:`write_timeline` (its ``timeline.json``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "timeline not found", "write one with emo demo --timeline")
    return Timeline(**json.loads(path.read_text()))


def read_timeline_csv(path: str | Path) -> pd.DataFrame:
    """``timeline.csv`` as :meth:`Timeline.frame` gives it (empty reasons as "", missing probabilities NaN)."""
    head = pd.read_csv(path, nrows=0).columns
    text = [c for c in head if c in ("prediction", "smoothed", "missing") or c.endswith(":missing")]
    return pd.read_csv(
        path, dtype={c: str for c in text}, keep_default_na=False, na_values={c: [""] for c in head if c not in text}
    )


def plot_timeline(timeline: Timeline) -> Figure:
    """One heat-map per branch plus the fused one: emotions (y) over time (x, window centres), the fused top
    label marked with dots; windows where a branch is missing are left grey."""
    import matplotlib.pyplot as plt

    from emo_utils.plotting import use_style

    if not timeline.windows:
        raise ValueError("the timeline has no window to plot")
    use_style()
    names = [*timeline.branches, "fused"]
    frame = timeline.frame()
    centres = ((frame["start_s"] + frame["end_s"]) / 2).to_numpy(dtype=float)
    if len(centres) > 1:
        mids = (centres[1:] + centres[:-1]) / 2
        edges = np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])
    else:
        edges = np.array([frame["start_s"].iloc[0], frame["end_s"].iloc[0]], dtype=float)
    labels = timeline.labels
    fig, axes = plt.subplots(
        len(names), 1, figsize=(max(7.0, 0.12 * len(frame) + 4), 1.0 + 1.6 * len(names)), sharex=True, squeeze=False
    )
    missing = timeline.missing_counts()
    mesh = None
    for ax, name in zip(axes[:, 0], names):
        values = frame[[f"{name}:{e}" for e in labels]].to_numpy(dtype=float).T
        ax.set_facecolor("0.85")
        mesh = ax.pcolormesh(
            edges, np.arange(len(labels) + 1) - 0.5, np.ma.masked_invalid(values), cmap="magma_r", vmin=0, vmax=1
        )
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.grid(False)
        title = name if name == "fused" else f"{name} ({modality_of(name)})"
        if name != "fused" and missing[name]:
            title += f": missing in {missing[name]} of {len(frame)} windows"
        ax.set_title(title, loc="left")
    fused_ax = axes[-1, 0]
    top = [labels.index(p) if p in labels else np.nan for p in frame["prediction"]]
    fused_ax.scatter(
        centres,
        top,
        marker="o",
        s=14,
        color="tab:cyan",
        edgecolor="black",
        linewidth=0.5,
        label="fused top label",
        zorder=3,
    )
    if timeline.smoothed:
        smoothed = [labels.index(p) if p in labels else np.nan for p in frame["smoothed"]]
        fused_ax.plot(centres, smoothed, color="tab:green", linewidth=2, label=f"smoothed ({timeline.smoothing})")
    fused_ax.legend(loc="upper right", fontsize=7)
    fused_ax.set_xlabel("time (s, window centres)")
    if mesh is not None:
        fig.colorbar(mesh, ax=axes[:, 0].tolist(), label="probability", fraction=0.03, pad=0.01)
    fig.suptitle(
        f"emotion over time: {Path(timeline.source).name} ({timeline.window_s:g} s windows every {timeline.hop_s:g} s)",
        fontsize=10,
    )
    return fig
