"""Generate a small RAVDESS-shaped demo corpus (faces + voices + AU table) on any machine, offline.

``generate_demo_corpus(root)`` writes, in the official RAVDESS layout and naming,
``Actor_XX/01-01-EE-II-SS-RR-AA.mp4`` (H.264 video with the speech as AAC audio),
``Actor_XX/03-01-EE-II-SS-RR-AA.wav`` (the same speech, 16 kHz PCM16) and
``facial-au/openface_au_means.csv`` (the same columns as the real OpenFace table), plus a
``SYNTHETIC.txt`` marker holding the generation parameters. Everything is generated, not recorded:
results computed on it must carry :data:`SYNTHETIC_NOTICE`.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from emo_utils.errors import DataError
from emo_utils.extraction import process_pool
from emo_utils.labels import RAVDESS_EMOTION_CODES
from emo_utils.media import write_video
from emo_utils.synthetic.face import AU_NAMES, expression_track, face_identity, render_clip
from emo_utils.synthetic.voice import SAMPLE_RATE, synthesize_speech
from emo_utils.video.openface import AU_COLUMNS, AU_INTENSITY, AU_PRESENCE, INTENSITY_AUS, PRESENCE_AUS

SYNTHETIC_NOTICE = (
    "SYNTHETIC DEMO DATA: generated faces and voices, not RAVDESS recordings; "
    "numbers from it show the pipeline runs, not how well emotions are recognised."
)
MARKER_NAME = "SYNTHETIC.txt"
AU_TABLE = Path("facial-au") / "openface_au_means.csv"
GENERATOR_VERSION = 1

# OpenFace AUs the face does not draw follow the drawn ones they co-occur with.
_CO_ACTIVATION: dict[str, dict[str, float]] = {
    "AU10": {"AU09": 0.7, "AU12": 0.3},
    "AU14": {"AU12": 0.4, "AU23": 0.2},
    "AU17": {"AU15": 0.5, "AU23": 0.3},
    "AU28": {"AU23": 0.2},
}
_OPENFACE_SCALE = 2.6  # drawn intensity 1.0 reads as about 2.6 on OpenFace's 0-5 scale
_PRESENCE_THRESHOLD = 1.0  # an AU counts as present in a frame above this intensity

# (intensity, statement, repetition) in the order takes are added, so that two takes already differ in
# intensity and statement; neutral has no strong intensity.
_TAKE_ORDER = (
    ("01", "01", "01"),
    ("02", "02", "01"),
    ("02", "01", "01"),
    ("01", "02", "01"),
    ("01", "01", "02"),
    ("02", "02", "02"),
    ("02", "01", "02"),
    ("01", "02", "02"),
)


@dataclass(frozen=True)
class _Job:
    root: str
    actor: int
    emotion_code: str
    intensity_code: str
    statement: str
    repetition: str
    duration_s: float
    fps: int
    frame_size: int
    seed: int

    @property
    def stem(self) -> str:
        return f"01-{self.emotion_code}-{self.intensity_code}-{self.statement}-{self.repetition}-{self.actor:02d}"

    @property
    def clip_id(self) -> str:
        return f"01-{self.stem}"

    def path(self, modality: str, suffix: str) -> Path:
        return Path(self.root) / f"Actor_{self.actor:02d}" / f"{modality}-{self.stem}{suffix}"


def _openface_weights() -> np.ndarray:
    """Matrix from drawn AU intensities (len(AU_NAMES)) to OpenFace AUs (PRESENCE_AUS order)."""
    weights = np.zeros((len(AU_NAMES), len(PRESENCE_AUS)))
    for j, number in enumerate(PRESENCE_AUS):
        name = f"AU{number:02d}"
        for source, w in ({name: 1.0} if name in AU_NAMES else _CO_ACTIVATION[name]).items():
            weights[AU_NAMES.index(source), j] = w
    return weights


def openface_like_row(track: np.ndarray, actor: int, seed: int, rng: np.random.Generator) -> dict[str, float]:
    """What OpenFace might report for a clip whose drawn AUs are ``track`` (frames x AU_NAMES).

    Intensities are rescaled to 0-5 with a per-actor offset (OpenFace's person-specific bias) and
    per-frame measurement noise, then averaged; presence is the fraction of frames above threshold.
    """
    bias = np.abs(np.random.default_rng([seed, actor, 0xB1A5]).normal(0.0, 0.35, len(PRESENCE_AUS)))
    true = _OPENFACE_SCALE * track @ _openface_weights() + bias
    measured = np.clip(true + rng.normal(0.0, 0.4, true.shape), 0.0, 5.0)
    present = (true + rng.normal(0.0, 0.5, true.shape)) > _PRESENCE_THRESHOLD
    row = {name: float(measured[:, PRESENCE_AUS.index(n)].mean()) for name, n in zip(AU_INTENSITY, INTENSITY_AUS)}
    row.update({name: float(present[:, j].mean()) for j, name in enumerate(AU_PRESENCE)})
    return row


def _generate_take(job: _Job) -> tuple[str, dict[str, float]]:
    """Write one take's mp4 and wav; return its AU-table row."""
    emotion = RAVDESS_EMOTION_CODES[job.emotion_code]
    intensity = "strong" if job.intensity_code == "02" else "normal"
    streams = np.random.SeedSequence(
        [job.seed, job.actor, int(job.emotion_code), int(job.intensity_code), int(job.statement), int(job.repetition)]
    ).spawn(4)
    voice_rng, face_rng, render_rng, au_rng = (np.random.default_rng(s) for s in streams)
    speech = synthesize_speech(emotion, job.actor, voice_rng, intensity, job.statement, job.duration_s, job.seed)
    n_frames = int(round(job.duration_s * job.fps))
    track = expression_track(emotion, n_frames, face_rng, intensity, speech.articulation_at(job.fps, n_frames), job.fps)
    frames = render_clip(track, face_identity(job.actor, job.seed), job.frame_size, render_rng)
    write_video(job.path("01", ".mp4"), frames, job.fps, audio=speech.samples, sample_rate=SAMPLE_RATE)
    sf.write(job.path("03", ".wav"), speech.samples, SAMPLE_RATE, subtype="PCM_16")
    return job.clip_id, openface_like_row(track, job.actor, job.seed, au_rng)


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _plan(root: Path, params: dict) -> list[_Job]:
    jobs = []
    for actor in range(1, params["n_actors"] + 1):
        for code in RAVDESS_EMOTION_CODES:
            order = [t for t in _TAKE_ORDER if not (code == "01" and t[0] == "02")]
            for intensity, statement, repetition in order[: params["takes_per_emotion"]]:
                jobs.append(
                    _Job(
                        str(root),
                        actor,
                        code,
                        intensity,
                        statement,
                        repetition,
                        params["duration_s"],
                        params["fps"],
                        params["frame_size"],
                        params["seed"],
                    )
                )
    return jobs


def _read_marker(root: Path) -> dict | None:
    """The JSON record in the marker (None when there is none)."""
    marker = Path(root) / MARKER_NAME
    if not marker.is_file():
        return None
    for line in marker.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            return json.loads(line)
    return {}


def _write_marker(root: Path, params: dict, complete: bool) -> None:
    record = {"generator_version": GENERATOR_VERSION, "complete": complete, **params}
    text = "\n".join(
        [
            f"# {SYNTHETIC_NOTICE}",
            "# Every file in this folder was generated by emo_utils.synthetic (drawn faces whose expressions",
            "# follow FACS action-unit prototypes, a source-filter voice whose prosody follows published vocal",
            "# cues, and an AU table simulating OpenFace measurements). It only borrows RAVDESS's layout and",
            "# file naming so that the pipeline can run without the real data. Do not report results on it",
            "# as emotion-recognition results. The JSON line below records how it was generated.",
            json.dumps(record, sort_keys=True),
        ]
    )
    (root / MARKER_NAME).write_text(text + "\n", encoding="utf-8")


def is_synthetic_root(root: str | Path) -> bool:
    """Whether ``root`` holds a generated demo corpus (its ``SYNTHETIC.txt`` marker is present)."""
    return (Path(root) / MARKER_NAME).is_file()


def _is_complete(root: Path, params: dict, jobs: list[_Job]) -> bool:
    record = _read_marker(root)
    expected = {"generator_version": GENERATOR_VERSION, "complete": True, **params}
    if record != expected or not (root / AU_TABLE).is_file():
        return False
    return all(
        job.path(m, s).is_file() and job.path(m, s).stat().st_size > 0
        for job in jobs
        for m, s in (("01", ".mp4"), ("03", ".wav"))
    )


def generate_demo_corpus(
    root: Path,
    n_actors: int = 12,
    takes_per_emotion: int = 2,
    duration_s: float = 2.0,
    fps: int = 15,
    frame_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    workers: int = 2,
) -> Path:
    """Write the synthetic demo corpus to ``root`` (skipped when already complete for these parameters).

    ``n_actors`` actors (odd male, even female) x 8 emotions x ``takes_per_emotion`` takes (1-8; neutral
    has at most 4, as it has no strong intensity). Reproducible for a given ``seed``, whatever the number
    of ``workers`` (processes; 1 generates in this process). Returns ``root``.
    """
    root = Path(root)
    if not 1 <= n_actors <= 99:
        raise ValueError(f"n_actors must be 1-99 (RAVDESS actor numbers are two digits), got {n_actors}")
    if not 1 <= takes_per_emotion <= len(_TAKE_ORDER):
        raise ValueError(f"takes_per_emotion must be 1-{len(_TAKE_ORDER)}, got {takes_per_emotion}")
    if frame_size % 2 or frame_size < 48:
        raise ValueError(f"frame_size must be even and at least 48 (H.264, face detection), got {frame_size}")
    if duration_s < 0.5 or fps < 1:
        raise ValueError(f"need duration_s >= 0.5 and fps >= 1, got {duration_s} and {fps}")
    params = {
        "n_actors": n_actors,
        "takes_per_emotion": takes_per_emotion,
        "duration_s": float(duration_s),
        "fps": fps,
        "frame_size": frame_size,
        "seed": seed,
    }
    jobs = _plan(root, params)
    if _is_complete(root, params, jobs):
        return root
    if root.is_dir() and any(root.iterdir()) and not is_synthetic_root(root):
        raise DataError(
            root,
            f"folder holds files but no {MARKER_NAME} marker, so it may be real data",
            "generate the demo corpus into an empty or new folder",
        )
    for stale in (*root.glob("Actor_[0-9][0-9]"), root / AU_TABLE.parent):
        shutil.rmtree(stale, ignore_errors=True)
    for actor in range(1, n_actors + 1):
        (root / f"Actor_{actor:02d}").mkdir(parents=True, exist_ok=True)
    (root / AU_TABLE.parent).mkdir(parents=True, exist_ok=True)
    _write_marker(root, params, complete=False)

    pool = process_pool(min(workers, os.cpu_count() or 1), initializer=_init_worker) if workers > 1 else nullcontext()
    with pool:
        results = pool.map(_generate_take, jobs, chunksize=4) if workers > 1 else map(_generate_take, jobs)
        rows = dict(tqdm(results, total=len(jobs), desc="synthetic demo corpus", unit="take", disable=not progress))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(AU_COLUMNS)).sort_index()
    table.index.name = "clip_id"
    table.to_csv(root / AU_TABLE)
    _write_marker(root, params, complete=True)
    return root


def corpus_parameters(root: str | Path) -> dict:
    """The generation parameters recorded in ``root``'s marker (raises DataError when it has none)."""
    record = _read_marker(Path(root))
    if record is None:
        raise DataError(root, f"no {MARKER_NAME} marker", "this is not a generated demo corpus")
    return record
