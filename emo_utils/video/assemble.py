"""Test clips for the video branches, assembled from real RAVDESS material, and the bad inputs users hit.

The RAVDESS videos are not available offline, but one real frame of each actor is
(``actor-faces/Actor_XX.png``) and so is each actor's real speech (``speech-16k``). An assembled clip
is that still face with small synthetic motion (slow zoom, pan, slight rotation, brightness flicker)
muxed with one real speech take, named like the official audio-video file of that take so the indexer
pairs it with its labels. The face does not act the emotion: the label comes from the audio take.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from emo_utils.errors import DataError
from emo_utils.media import write_video

SAMPLE_RATE = 16000
NOTE_FILE = "ASSEMBLED.txt"
NOTE = """\
Clips assembled by emo_utils.video.assemble.assemble_real_face_clips (not official RAVDESS videos).

Each Actor_XX/01-01-EE-II-SS-RR-AA.mp4 is one REAL still frame of actor XX (RAVDESS actor-faces/Actor_XX.png)
with SYNTHETIC motion (slow zoom, pan, slight rotation, brightness flicker), muxed with that actor's REAL
speech take 03-01-EE-II-SS-RR-AA (16 kHz). The emotion label in the name comes from the audio take:
the face does not act that emotion. Use these clips to exercise the pipeline (frames, face crops,
audio track, pairing), never to measure how well a video model recognises emotions.
RAVDESS: Livingstone & Russo (2018), CC BY-NC-SA 4.0.
"""


def animate_still(image: np.ndarray, n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """``n_frames`` RGB frames of ``image`` with slow zoom, pan, slight rotation and brightness flicker."""
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2  # H.264 needs even sizes
    image = image[:height, :width].astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, size=4)
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for t in range(n_frames):
        s = t / fps
        progress = t / max(1, n_frames - 1)
        angle = 2.0 * np.sin(2 * np.pi * 0.2 * s + phases[0])
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0 + 0.06 * progress)
        matrix[:, 2] += (6.0 * np.sin(2 * np.pi * 0.3 * s + phases[1]), 4.0 * np.sin(2 * np.pi * 0.25 * s + phases[2]))
        moved = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gain = 1.0 + 0.04 * np.sin(2 * np.pi * 1.5 * s + phases[3]) + rng.normal(0.0, 0.01)
        noisy = moved * gain + rng.normal(0.0, 2.0, size=moved.shape)
        frames[t] = np.clip(noisy, 0, 255).astype(np.uint8)
    return frames


def place_face(
    face: np.ndarray,
    side: int,
    centre: tuple[float, float],
    frame_size: tuple[int, int] = (360, 640),
    background: int = 128,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A plain ``frame_size`` (height, width) RGB frame with ``face`` (grey or RGB uint8, square) enlarged to
    ``side`` px and centred at ``centre`` (x, y as fractions of the frame), kept inside the frame.

    Returns the frame and where the face went, ``(x, y, side, side)``: the framing the face came with.
    """
    height, width = frame_size
    if side > min(height, width):
        raise ValueError(f"a face of {side} px does not fit a {width}x{height} frame")
    rgb = cv2.cvtColor(face, cv2.COLOR_GRAY2RGB) if face.ndim == 2 else face
    enlarged = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_CUBIC if side > face.shape[0] else cv2.INTER_AREA)
    x0 = int(np.clip(round(centre[0] * width - side / 2), 0, width - side))
    y0 = int(np.clip(round(centre[1] * height - side / 2), 0, height - side))
    frame = np.full((height, width, 3), background, dtype=np.uint8)
    frame[y0 : y0 + side, x0 : x0 + side] = enlarged
    return frame, (x0, y0, side, side)


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(path, "cannot be read as an image", "check the path to the RAVDESS actor-faces folder")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_speech(path: Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise DataError(path, f"sample rate is {rate} Hz, expected {SAMPLE_RATE}", "use the speech-16k folder")
    return audio.mean(axis=1)


def assemble_real_face_clips(
    shared_ravdess: Path,
    out_root: Path,
    actors: tuple[int, ...] = (1, 2),
    takes_per_actor: int = 4,
    fps: int = 15,
    seed: int = 0,
) -> list[Path]:
    """Write ``out_root/Actor_XX/01-01-EE-II-SS-RR-AA.mp4`` for ``takes_per_actor`` random speech takes per actor.

    ``shared_ravdess`` is the read-only RAVDESS folder (with ``actor-faces`` and ``speech-16k``); each clip
    lasts as long as its take. Also writes ``out_root/ASSEMBLED.txt`` saying what the clips are.
    """
    shared_ravdess, out_root = Path(shared_ravdess), Path(out_root)
    rng = np.random.default_rng(seed)
    written: list[Path] = []
    for actor in actors:
        face = _read_rgb(shared_ravdess / "actor-faces" / f"Actor_{actor:02d}.png")
        speech_dir = shared_ravdess / "speech-16k" / f"Actor_{actor:02d}"
        takes = sorted(speech_dir.glob("03-01-*.flac"))
        if not takes:
            raise DataError(speech_dir, "holds no speech take 03-01-*.flac", "check the RAVDESS speech-16k folder")
        chosen = sorted(rng.choice(len(takes), size=min(takes_per_actor, len(takes)), replace=False))
        for index in chosen:
            take = takes[index]
            audio = _read_speech(take)
            n_frames = int(np.ceil(len(audio) / SAMPLE_RATE * fps))
            target = out_root / f"Actor_{actor:02d}" / ("01" + take.stem[2:] + ".mp4")
            write_video(target, animate_still(face, n_frames, fps, rng), fps, audio=audio, sample_rate=SAMPLE_RATE)
            written.append(target)
    (out_root / NOTE_FILE).write_text(NOTE)
    return written


def landscape(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A faceless RGB scene: sky gradient, sun and rolling hills."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    image = (np.array([70, 130, 220]) * (1 - rows) + np.array([200, 225, 250]) * rows) * np.ones((1, width, 1))
    cv2.circle(image, (int(width * 0.8), int(height * 0.2)), height // 10, (255, 230, 120), -1)
    x = np.arange(width)
    ridge = height * (0.6 + 0.08 * np.sin(2 * np.pi * x / width * 1.5 + rng.uniform(0, 6)))
    image[np.arange(height)[:, None] > ridge[None, :]] = (60, 140, 60)
    return image.astype(np.uint8)


def make_bad_clips(out_dir: Path, face_image: Path | None = None, fps: int = 15) -> dict[str, Path]:
    """The bad inputs users hit, written to ``out_dir``; returns ``{kind: path}``.

    - ``no_face``: a moving landscape with sound but no face;
    - ``no_audio``: a video without audio track (showing ``face_image`` when given, else the landscape);
    - ``unreadable``: random bytes named ``.mp4``;
    - ``empty``: a 0-byte ``.mp4``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n_frames = 2 * fps
    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)
    scene = landscape()
    still = _read_rgb(face_image) if face_image is not None else scene
    paths = {kind: out_dir / f"{kind}.mp4" for kind in ("no_face", "no_audio", "unreadable", "empty")}
    write_video(paths["no_face"], animate_still(scene, n_frames, fps, rng), fps, audio=tone, sample_rate=SAMPLE_RATE)
    write_video(paths["no_audio"], animate_still(still, n_frames, fps, rng), fps)
    paths["unreadable"].write_bytes(rng.bytes(4096))
    paths["empty"].write_bytes(b"")
    return paths


def chain_clips(clips: list[Path], out: Path) -> Path:
    """One video of ``clips`` end to end (their frames at the first clip's frame rate, their sound tracks at 16 kHz):
    a clip whose emotion changes where one take ends and the next begins, for the timeline."""
    from emo_utils.audio.io import load_audio
    from emo_utils.media import probe
    from emo_utils.video.frames import sample_frames

    if not clips:
        raise ValueError("no clips to chain")
    fps = probe(clips[0]).fps
    frames, sound = [], []
    for clip in clips:
        sound.append(load_audio(clip, SAMPLE_RATE))
        frames.append(sample_frames(clip, max(1, round(len(sound[-1]) / SAMPLE_RATE * fps))))
    return write_video(out, np.concatenate(frames), fps, audio=np.concatenate(sound), sample_rate=SAMPLE_RATE)
