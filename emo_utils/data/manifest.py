"""Index a dataset folder into a manifest: one row per take, with the path of each modality found.

The audio-only clip ``03-...`` and the audio-video clip ``01-...`` of the same RAVDESS take share a
``take_id`` and become one row; per-clip facial AU tables and per-frame OpenFace CSVs join by take too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import soundfile

from emo_utils.data.naming import ClipName, parse_crema_d, parse_emodb, parse_ravdess
from emo_utils.errors import DataError, FilenameError, SkipLog

STAGE_VERSION = 1  # bump when a change alters the manifest (indexing, naming, folds) (emo_utils.stages)

EXCERPT_SECONDS = 2.0  # data whose every clip is this short are excerpts (the shared EmoDB copy)

AUDIO_SUFFIXES = (".wav", ".flac")
VIDEO_SUFFIXES = (".mp4", ".flv", ".avi")
OPENFACE_SUFFIXES = (".csv", ".csv.gz")
AU_TABLE_NAME = "openface_au_means.csv"
SYNTHETIC_MARKER = "SYNTHETIC.txt"
MANIFEST_COLUMNS = [
    "dataset",
    "take_id",
    "actor",
    "gender",
    "emotion",
    "intensity",
    "statement",
    "repetition",
    "vocal_channel",
    "audio_path",
    "video_path",
    "au_path",
    "openface_path",
    "synthetic",
]


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(AUDIO_SUFFIXES):
        return "audio"
    if name.endswith(VIDEO_SUFFIXES):
        return "video"
    if name.endswith(OPENFACE_SUFFIXES) and name != AU_TABLE_NAME and name[:1].isdigit():
        return "openface"
    return None


def _crema_genders(root: Path) -> dict[str, str]:
    for table in root.rglob("VideoDemographics.csv"):
        demo = pd.read_csv(table)
        return {str(a): str(s).lower() for a, s in zip(demo["ActorID"], demo["Sex"])}
    return {}


def _name_shape(path: Path) -> str | None:
    """Which corpus a file name looks like (its fields are checked later by that corpus's parser)."""
    stem = path.name.split(".")[0]
    if "-" in stem:
        return "ravdess"
    if "_" in stem:
        return "crema-d"
    if len(stem) == 7 and stem[:2].isdigit():
        return "emodb"
    return None


def _parsers(paths: list[Path], genders: dict[str, str]) -> Callable[[Path], ClipName]:
    """A parser per file: by the shape of its name, else (a name like none) the folder's most common corpus,
    so that a misnamed file is reported against the convention of the folder it lies in."""
    parsers: dict[str, Callable[[Path], ClipName]] = {
        "ravdess": parse_ravdess,
        "crema-d": lambda p: parse_crema_d(p, genders),
        "emodb": parse_emodb,
    }
    shapes = Counter(shape for shape in map(_name_shape, paths) if shape)
    folder_default = shapes.most_common(1)[0][0] if shapes else "ravdess"
    return lambda path: parsers[_name_shape(path) or folder_default](path)


def _au_rows(root: Path, log: SkipLog) -> Iterable[tuple[ClipName, Path]]:
    for table in sorted(root.rglob(AU_TABLE_NAME)):
        try:
            clip_ids = pd.read_csv(table, usecols=["clip_id"])["clip_id"].astype(str)
        except (ValueError, pd.errors.ParserError) as exc:
            log.add(table.name, table, f"{table}: not an OpenFace AU table with a clip_id column ({exc})")
            continue
        for clip_id in clip_ids:
            try:
                yield parse_ravdess(clip_id), table
            except FilenameError as exc:
                log.add(clip_id, table, f"row {clip_id!r} of {table}: {exc.problem}")


def index_dataset(root: str | Path, strict: bool = False) -> tuple[pd.DataFrame, SkipLog]:
    """Index every RAVDESS, CREMA-D or EmoDB clip under ``root``.

    Files whose names break the convention are reported in the returned :class:`SkipLog` (each naming
    the file and the bad field) and skipped; with ``strict=True`` any such file raises instead.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            root, "dataset folder not found", "pass the folder that holds the Actor_XX/ folders (see data/README.md)"
        )
    log = SkipLog("index", unit="file")
    genders = _crema_genders(root)
    takes: dict[str, dict] = {}

    def add(clip: ClipName, column: str, path: Path) -> None:
        row = takes.setdefault(
            clip.take_id,
            {
                "dataset": clip.dataset,
                "take_id": clip.take_id,
                "actor": clip.actor,
                "gender": clip.gender,
                "emotion": clip.emotion,
                "intensity": clip.intensity,
                "statement": clip.statement,
                "repetition": clip.repetition,
                "vocal_channel": "song" if clip.take_id.startswith("02-") and clip.dataset == "ravdess" else "speech",
            },
        )
        if row.get(column):
            log.add(
                clip.take_id,
                path,
                f"{path}: a second {column.split('_')[0]} file for take {clip.take_id}; the take keeps {row[column]}",
            )
            return
        row[column] = str(path)

    media = [(path, kind) for path in sorted(p for p in root.rglob("*") if p.is_file()) if (kind := _kind(path))]
    parse = _parsers([path for path, _ in media], genders)
    for path, kind in media:
        try:
            clip = parse(path)
        except FilenameError as exc:
            if strict:
                raise
            log.add(path.name, path, str(exc))
            continue
        add(clip, f"{kind}_path", path)
    for clip, table in _au_rows(root, log):
        add(clip, "au_path", table)
    if strict and len(log):
        raise DataError(root, log.report(), "fix or remove the files listed (or index without --strict)")
    if not takes:
        misnamed = f"; every media file is misnamed:\n{log.report(max_lines=len(log))}\n" if len(log) else ""
        raise DataError(
            root,
            "no RAVDESS, CREMA-D or EmoDB clips found" + misnamed,
            "expected files like Actor_01/03-01-05-01-01-01-01.wav, 1001_DFA_ANG_XX.wav or "
            "wav/03a01Fa.wav (see data/README.md)",
        )
    manifest = pd.DataFrame(list(takes.values())).reindex(columns=MANIFEST_COLUMNS)
    manifest["synthetic"] = (root / SYNTHETIC_MARKER).exists()
    for column in ("audio_path", "video_path", "au_path", "openface_path"):
        manifest[column] = manifest[column].astype(object).fillna("").astype(str)
    manifest = manifest.sort_values(["actor", "take_id"]).reset_index(drop=True)
    return manifest, log


def dataset_name(manifest: pd.DataFrame) -> str:
    """How results name the data: "synthetic demo corpus", or the datasets' names."""
    if "synthetic" in manifest and manifest["synthetic"].astype(bool).any():
        return "synthetic demo corpus"
    return ", ".join(manifest["dataset"].unique()) if "dataset" in manifest else "given data"


def excerpt_note(manifest: pd.DataFrame, limit_s: float = EXCERPT_SECONDS) -> str:
    """ ", first 2 s of each utterance" when no audio file of the (real) data lasts longer than ``limit_s`` (the
    shared EmoDB copy holds only the first 2 s of each utterance: its results must say so), else ""."""
    if "audio_path" not in manifest or dataset_name(manifest) == "synthetic demo corpus":
        return ""
    paths = [p for p in manifest["audio_path"] if p]
    try:
        if not paths or any(soundfile.info(p).duration > limit_s + 0.01 for p in paths):
            return ""
    except (OSError, RuntimeError):  # an unreadable file is reported where features are extracted
        return ""
    return f", first {limit_s:g} s of each utterance"


def summarize(manifest: pd.DataFrame) -> str:
    """Counts a student checks first: takes, actors, emotions, modalities."""
    lines = [
        f"{len(manifest)} takes, {manifest['actor'].nunique()} actors "
        f"({', '.join(f'{n} {g}' for g, n in manifest.drop_duplicates('actor')['gender'].value_counts().items())})"
    ]
    if manifest["synthetic"].any():
        lines[0] += "  [SYNTHETIC demo data, not RAVDESS]"
    counts = manifest["emotion"].value_counts()
    lines.append("emotions: " + ", ".join(f"{e} {counts[e]}" for e in counts.index))
    lines.append(
        "modalities: "
        + ", ".join(
            f"{name} {int((manifest[col] != '').sum())}"
            for name, col in (
                ("audio", "audio_path"),
                ("video", "video_path"),
                ("facial AUs", "au_path"),
                ("OpenFace frames", "openface_path"),
            )
        )
    )
    return "\n".join(lines)


def load_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV written by ``emo index`` or the workflow."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "manifest not found", "run `emo index ROOT --out FILE.csv` or notebook 01 first")
    manifest = pd.read_csv(path, dtype={"take_id": str, "statement": str}, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataError(path, f"is not a manifest (missing columns {missing})", "re-create it with `emo index`")
    manifest["synthetic"] = manifest["synthetic"].astype(str).str.lower() == "true"
    return manifest
