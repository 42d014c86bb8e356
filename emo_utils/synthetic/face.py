"""Synthetic talking faces driven by FACS action units (AUs), for the generated demo corpus.

A face is drawn analytically (anti-aliased soft-edged shapes in face coordinates; head motion is an
image warp afterwards) with the shading a Haar face detector looks for: dark eye sockets, a lighter
nose bridge, shadowed nostrils and mouth (OpenCV's default cascade finds it in over 95% of frames).
Its expression is a vector of AU intensities in 0..1 (:data:`AU_NAMES`); :func:`expression_track` moves
it over a clip (onset-apex-offset), following the EMFACS prototypes of
``shared/reference/emotion-cues.md``. By design fear and surprise look alike (fear's extra AU4/AU20 are
faint) while calm and neutral differ visibly (calm: lowered lids, slight smile).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from emo_utils.labels import EMOTIONS

AU_NAMES: tuple[str, ...] = (
    "AU01",
    "AU02",
    "AU04",
    "AU05",
    "AU06",
    "AU07",
    "AU09",
    "AU12",
    "AU15",
    "AU20",
    "AU23",
    "AU25",
    "AU26",
    "AU45",
)
AU_INDEX: dict[str, int] = {name: i for i, name in enumerate(AU_NAMES)}

# Apex intensities (0..1) per emotion at strong intensity; "normal" takes scale them down.
FACE_PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "calm": {"AU45": 0.55, "AU12": 0.45, "AU06": 0.15},
    "happy": {"AU06": 0.8, "AU12": 1.0, "AU25": 0.4},
    "sad": {"AU01": 0.85, "AU04": 0.55, "AU15": 0.85, "AU45": 0.2},
    "angry": {"AU04": 1.0, "AU05": 0.5, "AU07": 0.8, "AU23": 0.9},
    "fearful": {"AU01": 0.9, "AU02": 0.8, "AU04": 0.15, "AU05": 0.9, "AU20": 0.2, "AU25": 0.7, "AU26": 0.7},
    "disgust": {"AU09": 0.95, "AU15": 0.6, "AU04": 0.35, "AU07": 0.3},
    "surprised": {"AU01": 0.9, "AU02": 0.9, "AU05": 0.9, "AU25": 0.75, "AU26": 0.75},
}
INTENSITY_SCALE: dict[str, float] = {"normal": 0.65, "strong": 1.0}


@dataclass(frozen=True)
class FaceIdentity:
    """What stays fixed for one actor: face shape, colours and framing."""

    width: float  # face half-width as a fraction of the frame size
    aspect: float  # half-height / half-width
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    background: tuple[float, float, float]
    clothing: tuple[float, float, float]
    brow_thickness: float  # in face half-widths
    eye_spacing: float  # eye centre distance from the midline, in face half-widths
    mouth_width: float  # mouth half-width, in face half-widths
    offset: tuple[float, float]  # face centre shift (fraction of the frame size)


def face_identity(actor: int, seed: int = 0) -> FaceIdentity:
    """The drawn identity of ``actor`` (reproducible for a given ``seed``)."""
    rng = np.random.default_rng([seed, actor, 0xFACE])
    tone = rng.uniform(0.0, 1.0)
    skin = np.array([0.93, 0.77, 0.66]) * (1 - tone) + np.array([0.55, 0.38, 0.28]) * tone
    skin = skin * rng.uniform(0.96, 1.04, 3)
    hair = np.array([0.08, 0.06, 0.05]) + rng.uniform(0.0, 0.25) * np.array([1.0, 0.7, 0.45])
    lips = skin * np.array([0.92, 0.62, 0.62])
    return FaceIdentity(
        width=float(rng.uniform(0.25, 0.29)),
        aspect=float(rng.uniform(1.22, 1.36)),
        skin=tuple(np.clip(skin, 0, 1).tolist()),
        hair=tuple(hair.tolist()),
        lips=tuple(np.clip(lips, 0, 1).tolist()),
        background=tuple((np.full(3, rng.uniform(0.82, 0.96)) + rng.normal(0, 0.02, 3)).clip(0, 1).tolist()),
        clothing=tuple((np.full(3, rng.uniform(0.05, 0.25)) + rng.normal(0, 0.03, 3)).clip(0, 1).tolist()),
        brow_thickness=float(rng.uniform(0.06, 0.1)),
        eye_spacing=float(rng.uniform(0.37, 0.42)),
        mouth_width=float(rng.uniform(0.28, 0.34)),
        offset=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.03, 0.04))),
    )


def au_vector(aus: Mapping[str, float] | np.ndarray) -> np.ndarray:
    """AU intensities as a float array ordered like :data:`AU_NAMES` (unknown names raise ``KeyError``)."""
    if isinstance(aus, Mapping):
        vec = np.zeros(len(AU_NAMES))
        for name, value in aus.items():
            vec[AU_INDEX[name]] = value
        return vec
    vec = np.asarray(aus, dtype=float)
    if vec.shape != (len(AU_NAMES),):
        raise ValueError(f"expected {len(AU_NAMES)} AU intensities ordered as AU_NAMES, got shape {vec.shape}")
    return vec


def prototype(emotion: str, intensity: str = "normal") -> np.ndarray:
    """Apex AU vector of ``emotion`` at ``intensity`` ("normal" or "strong")."""
    if emotion not in FACE_PROTOTYPES:
        raise KeyError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    return au_vector(FACE_PROTOTYPES[emotion]) * INTENSITY_SCALE[intensity]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _smooth_noise(n: int, rng: np.random.Generator, width: float = 3.0) -> np.ndarray:
    """Unit-variance random series smoothed over about ``width`` samples."""
    raw = rng.normal(size=n + 8 * int(width))
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    smooth = np.convolve(raw, kernel / np.sqrt((kernel**2).sum()), mode="same")
    return smooth[4 * int(width) : 4 * int(width) + n]


def expression_envelope(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Onset-apex-offset curve in 0..1 over ``n_frames`` with random timing."""
    t = np.linspace(0.0, 1.0, n_frames)
    onset, rise = rng.uniform(0.0, 0.2), rng.uniform(0.12, 0.3)
    apex_end, fall, rest = rng.uniform(0.6, 0.8), rng.uniform(0.15, 0.35), rng.uniform(0.25, 0.55)
    up = _smoothstep((t - onset) / rise)
    down = 1.0 - (1.0 - rest) * _smoothstep((t - apex_end) / fall)
    return up * down


def expression_track(
    emotion: str,
    n_frames: int,
    rng: np.random.Generator,
    intensity: str = "normal",
    speech_envelope: np.ndarray | None = None,
    fps: float = 15.0,
) -> np.ndarray:
    """AU intensities per frame (``n_frames`` x len(AU_NAMES), 0..1) for one clip.

    The emotion's prototype (per-AU jittered) follows an onset-apex-offset envelope; random small
    co-activations, frame noise and blinks are added, and ``speech_envelope`` (0..1 per frame) opens the
    mouth while the actor talks.
    """
    apex = prototype(emotion, intensity) * rng.lognormal(0.0, 0.3, len(AU_NAMES))
    leak = rng.uniform(0.0, 0.25, len(AU_NAMES)) * (rng.random(len(AU_NAMES)) < 0.4)
    track = np.outer(expression_envelope(n_frames, rng), apex) + leak
    track += 0.03 * np.stack([_smooth_noise(n_frames, rng) for _ in AU_NAMES], axis=1)
    for start in np.flatnonzero(rng.random(n_frames) < 0.25 / fps):
        blink = np.array([0.6, 1.0, 0.5])[: n_frames - start]
        track[start : start + len(blink), AU_INDEX["AU45"]] += blink
    if speech_envelope is not None:
        speech = np.clip(np.asarray(speech_envelope, dtype=float), 0.0, 1.0)
        track[:, AU_INDEX["AU25"]] += 0.55 * speech
        track[:, AU_INDEX["AU26"]] += 0.3 * speech
    return np.clip(track, 0.0, 1.0)


def head_motion(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Small smooth head motion per frame: columns dx, dy (fraction of frame), roll (rad), scale."""
    t = np.arange(n_frames)[:, None]
    freqs = rng.uniform(0.01, 0.06, (1, 4)) * 2 * np.pi
    phases = rng.uniform(0, 2 * np.pi, (1, 4))
    amps = np.array([[0.015, 0.012, 0.05, 0.025]]) * rng.uniform(0.5, 1.0, (1, 4))
    motion = amps * np.sin(freqs * t + phases)
    motion[:, 3] += 1.0
    return motion


class _Canvas:
    """A float RGB image (or a window onto one) painted with soft masks in upright face coordinates.

    Face coordinates: origin at the face centre, unit = face half-width, y pointing down. X is a row
    vector and Y a column vector, so masks broadcast to the window's shape. Head pose is applied to the
    finished image as a warp.
    """

    def __init__(self, img: np.ndarray, X: np.ndarray, Y: np.ndarray, px: float) -> None:
        self.img, self.X, self.Y, self.px = img, X, Y, px

    @classmethod
    def upright(cls, size: int, identity: FaceIdentity, img: np.ndarray | None = None) -> _Canvas:
        a = identity.width * size
        cx, cy = _centre(size, identity)
        X = ((np.arange(size, dtype=np.float32) - cx) / a)[None, :]
        Y = ((np.arange(size, dtype=np.float32) - cy) / a)[:, None]
        return cls(np.empty((size, size, 3), np.float32) if img is None else img, X, Y, 1.0 / a)

    def window(self, x0: float, x1: float, y0: float, y1: float) -> _Canvas:
        """The part of the canvas inside the face-coordinate box (a view: painting it paints the image)."""
        c0, c1 = np.searchsorted(self.X[0], [x0, x1])
        r0, r1 = np.searchsorted(self.Y[:, 0], [y0, y1])
        return _Canvas(self.img[r0:r1, c0:c1], self.X[:, c0:c1], self.Y[r0:r1], self.px)

    def soft(self, signed: np.ndarray) -> np.ndarray:
        """Coverage (0..1) from a signed distance in face units (negative inside), anti-aliased."""
        return np.clip(0.5 - signed / self.px, 0.0, 1.0)

    def paint(self, mask: np.ndarray, colour) -> None:
        self.img += mask[..., None] * (np.asarray(colour, np.float32) - self.img)

    def shade(self, factor: np.ndarray) -> None:
        self.img *= factor[..., None]

    def gauss(self, x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
        return np.exp(-0.5 * ((self.X - x0) / sx) ** 2) * np.exp(-0.5 * ((self.Y - y0) / sy) ** 2)

    def band(
        self,
        x0: float,
        x1: float,
        centre: Callable[[np.ndarray], np.ndarray] | float,
        half_thickness: Callable[[np.ndarray], np.ndarray] | float,
    ) -> np.ndarray:
        """Soft mask of a thick curve Y = centre(X) between X = x0 and x1."""
        c = centre(self.X) if callable(centre) else centre
        h = half_thickness(self.X) if callable(half_thickness) else half_thickness
        return self.soft(np.maximum(x0 - self.X, self.X - x1)) * self.soft(np.abs(self.Y - c) - h)


def _centre(size: int, identity: FaceIdentity) -> tuple[float, float]:
    return size * (0.5 + identity.offset[0]), size * (0.5 + identity.offset[1])


EYE_Y, EYE_HALF_WIDTH, NOSTRIL_Y, MOUTH_Y = -0.22, 0.19, 0.34, 0.66


@lru_cache(maxsize=64)
def _base_image(identity: FaceIdentity, size: int) -> np.ndarray:
    """The parts of an upright face that no AU moves: background, body, hair, shaded skin, sockets, nose."""
    cv = _Canvas.upright(size, identity)
    X, Y, H = cv.X, cv.Y, identity.aspect
    skin = np.asarray(identity.skin, np.float32)
    cv.img[:] = np.asarray(identity.background, np.float32)
    cv.shade(1.0 - 0.06 * np.clip((X**2 + (Y + 0.3) ** 2) / 9.0, 0, 1))
    cv.paint(cv.soft(np.maximum(np.abs(X) - 0.5, 0.6 - Y)), skin * 0.7)  # neck
    shoulders = H - 0.3 + 0.3 * np.abs(X) ** 1.5 - Y
    collar = np.hypot(X / 0.52, (Y - 1.22 * H) / 0.28) - 1.0
    cv.paint(cv.soft(np.maximum(shoulders, -collar)), identity.clothing)
    hair_shape = np.hypot(X / 1.1, (Y + 0.12) / (H * 1.02)) - 1.0
    cv.paint(cv.soft(np.maximum(hair_shape, Y - 0.15)), identity.hair)
    r = np.hypot(X, Y / H)
    face = cv.soft(r - 1.0)
    cv.paint(face, skin)
    shading = 0.78 + 0.22 * np.sqrt(np.clip(1.0 - r**2, 0.0, 1.0)) - 0.02 * (X + Y)
    cv.shade(1.0 + face * (shading - 1.0))
    cv.paint(cv.soft(np.maximum(hair_shape, Y + 0.78 * H - 0.25 * X**2)), identity.hair)  # hair cap
    es = identity.eye_spacing
    # Dark eye sockets, a lighter nose bridge, shadowed nose sides and under-nose: what Haar features see.
    cv.shade(1.0 - 0.3 * face * (cv.gauss(es, EYE_Y - 0.03, 0.22, 0.15) + cv.gauss(-es, EYE_Y - 0.03, 0.22, 0.15)))
    cv.shade(1.0 + 0.1 * face * cv.gauss(0.0, -0.05, 0.07, 0.28))
    cv.shade(1.0 - 0.16 * (cv.gauss(0.14, 0.15, 0.04, 0.12) + cv.gauss(-0.14, 0.15, 0.04, 0.12)))
    cv.shade(1.0 - 0.25 * cv.gauss(0.0, NOSTRIL_Y + 0.05, 0.14, 0.04))
    cv.shade(1.0 + 0.03 * (cv.gauss(0.45, 0.2, 0.14, 0.1) + cv.gauss(-0.45, 0.2, 0.14, 0.1)))
    cv.img.setflags(write=False)  # cached and shared: draw_face paints on a copy
    return cv.img


def _draw_jaw_and_cheeks(cv: _Canvas, au: dict[str, float], identity: FaceIdentity) -> None:
    """AU26 lowers the chin outline; AU6 raises and lights the cheeks."""
    H, skin = identity.aspect, np.asarray(identity.skin, np.float32)
    if au["AU26"] > 0.01:
        w = cv.window(-1.0, 1.0, 0.5, H + 0.12)
        grown = np.hypot(w.X, w.Y / (H + 0.1 * au["AU26"])) - 1.0
        rim = (0.78 - 0.02 * (w.X + w.Y))[..., None] * skin  # the base shading at the outline
        w.paint(w.soft(grown) * w.soft(1.0 - np.hypot(w.X, w.Y / H)), rim)
    if au["AU06"] > 0.01:
        w = cv.window(-0.75, 0.75, -0.15, 0.5)
        y = 0.2 - 0.07 * au["AU06"]
        w.shade(1.0 + 0.08 * au["AU06"] * (w.gauss(0.45, y, 0.14, 0.1) + w.gauss(-0.45, y, 0.14, 0.1)))


def _draw_nose(cv: _Canvas, au: dict[str, float], identity: FaceIdentity) -> None:
    """Nostrils (lifted and widened by AU9), bridge creases (AU9), nasolabial folds (AU6/9/12)."""
    if au["AU09"] > 0.01:
        w = cv.window(-0.15, 0.15, -0.15, 0.06)
        for k in range(3):
            w.shade(1.0 - 0.35 * au["AU09"] * w.band(-0.12, 0.12, -0.1 + 0.06 * k, 0.012))
    y, half_w = NOSTRIL_Y - 0.05 * au["AU09"], 0.055 * (1 + 0.3 * au["AU09"])
    w = cv.window(-0.2, 0.2, y - 0.05, y + 0.05)
    for side in (1, -1):
        w.paint(
            0.85 * w.soft(np.hypot((w.X - side * 0.09) / half_w, (w.Y - y) / 0.03) - 1.0),
            np.asarray(identity.skin, np.float32) * 0.3,
        )
    depth = 0.4 * (0.12 + 0.5 * max(au["AU09"], au["AU12"], au["AU06"]))
    w = cv.window(-0.6, 0.6, 0.34, 0.66)
    for side in (1, -1):
        w.shade(1.0 - depth * w.band(-2.0, 2.0, lambda x, s=side: y + 0.02 + 2.6 * (s * x - 0.2), 0.014))


def _draw_brows(cv: _Canvas, au: dict[str, float], identity: FaceIdentity) -> None:
    """AU1 lifts the inner brow, AU2 the outer brow, AU4 lowers them and draws them together."""
    es = identity.eye_spacing
    inner_x = 0.1 - 0.05 * au["AU04"]
    inner_y = EYE_Y - 0.24 - 0.13 * au["AU01"] + 0.09 * au["AU04"] - 0.03 * au["AU05"]
    outer_y = EYE_Y - 0.24 - 0.12 * au["AU02"] + 0.03 * au["AU04"] + 0.05 * au["AU15"] * au["AU01"]
    span = es + 0.26 - inner_x
    w = cv.window(-es - 0.3, es + 0.3, EYE_Y - 0.5, EYE_Y - 0.05)
    for side in (1, -1):

        def along(x: np.ndarray, s: int = side) -> np.ndarray:
            return np.clip((s * x - inner_x) / span, 0.0, 1.0)

        def centre(x: np.ndarray) -> np.ndarray:
            u = along(x)
            return inner_y + (outer_y - inner_y) * u - 0.05 * np.clip(np.sin(np.pi * u), 0.0, 1.0) ** 0.8

        def half(x: np.ndarray) -> np.ndarray:
            return identity.brow_thickness * (0.6 - 0.25 * along(x))

        lo, hi = sorted((side * inner_x, side * (inner_x + span)))
        w.paint(0.92 * w.band(lo, hi, centre, half), identity.hair)
    if au["AU04"] > 0.01:
        w = cv.window(-0.1, 0.1, -0.62, -0.38)
        w.shade(1.0 - 0.35 * au["AU04"] * (w.band(0.03, 0.06, -0.5, 0.08) + w.band(-0.06, -0.03, -0.5, 0.08)))
    lift = 0.5 * (au["AU01"] + au["AU02"])
    if lift > 0.01:
        w = cv.window(-0.5, 0.5, -0.9, -0.7)
        for k in range(2):
            w.shade(1.0 - 0.18 * lift * w.band(-0.45, 0.45, lambda x, k=k: -0.75 - 0.09 * k + 0.1 * x**2, 0.01))


def _draw_eyes(cv: _Canvas, au: dict[str, float], identity: FaceIdentity) -> None:
    """Lids open with AU5, narrow with AU7 and AU6, droop or close with AU45."""
    upper = 0.085 * (1 + 0.7 * au["AU05"] - 0.35 * au["AU07"] - 0.25 * au["AU06"]) * (1 - 0.95 * au["AU45"])
    lower = 0.055 * (1 - 0.45 * au["AU07"] - 0.5 * au["AU06"] + 0.15 * au["AU05"]) * (1 - 0.6 * au["AU45"])
    upper, lower = max(upper, 0.004), max(lower, 0.004)
    es, ew, skin = identity.eye_spacing, EYE_HALF_WIDTH, np.asarray(identity.skin, np.float32)
    # The white of the eye lies in the socket's shade; a bright one would break the dark-eyes pattern.
    sclera = 0.85 * (0.5 * np.array([0.92, 0.9, 0.88], np.float32) + 0.5 * skin)
    for side in (1, -1):
        x0 = side * es
        w = cv.window(x0 - ew - 0.03, x0 + ew + 0.03, EYE_Y - 0.25, EYE_Y + 0.1)
        dx = w.X - x0
        arc = np.sqrt(1.0 - np.clip(dx / ew, -1.0, 1.0) ** 2)
        top, bottom = EYE_Y - upper * arc, EYE_Y + lower * arc**1.5
        inside_x = w.soft(np.abs(dx) - ew)
        eye = w.soft(np.maximum(top - w.Y, w.Y - bottom)) * inside_x
        w.paint(0.9 * eye, sclera)
        from_pupil = np.hypot(dx, w.Y - EYE_Y + 0.01)
        w.paint(eye * w.soft(from_pupil - 0.08), (0.18, 0.13, 0.1))
        w.paint(eye * w.soft(from_pupil - 0.035), (0.03, 0.03, 0.03))
        w.paint(0.9 * w.soft(np.abs(w.Y - top + 0.008) - 0.012) * inside_x, skin * 0.25)
        crease = EYE_Y - upper - 0.06 - 0.04 * au["AU05"]
        w.shade(1.0 - 0.18 * w.band(x0 - ew, x0 + ew, lambda x: crease + 0.04 * ((x - x0) / ew) ** 2, 0.012))


def _draw_mouth(cv: _Canvas, au: dict[str, float], identity: FaceIdentity) -> None:
    """AU12 pulls the corners up and out, AU15 down, AU20 stretches, AU23 thins and presses the lips,
    AU25 parts them, AU26 drops the jaw; AU9 lifts the upper lip."""
    my = MOUTH_Y + 0.05 * au["AU26"]
    mw = identity.mouth_width * (1 + 0.22 * au["AU20"] + 0.15 * au["AU12"] - 0.12 * au["AU23"])
    corner = -0.13 * au["AU12"] + 0.11 * au["AU15"] + 0.03 * au["AU20"]
    opening = max(0.12 * au["AU25"] + 0.2 * au["AU26"] - 0.08 * au["AU23"], 0.0)
    thin = 1 - 0.65 * au["AU23"]
    w = cv.window(-mw - 0.05, mw + 0.05, my - 0.3, my + 0.45)
    X, Y = w.X, w.Y
    u = np.clip(X / mw, -1.0, 1.0)
    body = 1.0 - u**2
    mid = my + corner * u**2 - 0.02 * au["AU09"] * body
    inner_top = mid - 0.5 * opening * body**0.7 - 0.015 * au["AU09"] * body
    inner_bottom = mid + 0.5 * opening * body**0.7
    outer_top = inner_top - 0.055 * thin * body**0.5 * (1 - 0.35 * np.exp(-((X / 0.06) ** 2)))
    outer_bottom = inner_bottom + 0.075 * thin * body**0.5
    inside_x = w.soft(np.abs(X) - mw)
    w.shade(1.0 - 0.22 * w.gauss(0.0, my + 0.17 + 0.5 * opening, 0.2, 0.05))
    w.paint(inside_x * w.soft(np.maximum(outer_top - Y, Y - outer_bottom)), identity.lips)
    w.paint(inside_x * w.soft(np.abs(Y - mid) - 0.008), np.asarray(identity.lips, np.float32) * 0.35)
    if opening > 0.005:
        cavity = inside_x * w.soft(np.maximum(inner_top - Y, Y - inner_bottom))
        w.paint(cavity, (0.12, 0.05, 0.05))
        w.paint(cavity * w.soft(Y - inner_top - 0.4 * opening) * w.soft(np.abs(X) - 0.6 * mw), (0.85, 0.83, 0.78))


def draw_face(
    aus: Mapping[str, float] | np.ndarray,
    identity: FaceIdentity,
    size: int = 160,
    pose: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    noise: float = 0.012,
) -> np.ndarray:
    """Draw one RGB uint8 ``size`` x ``size`` frame of ``identity`` showing the AU intensities ``aus``.

    ``pose`` is (dx, dy, roll, scale) as from :func:`head_motion`; with ``rng``, sensor noise is added.
    """
    au = dict(zip(AU_NAMES, np.clip(au_vector(aus), 0.0, 1.0).tolist()))
    cv = _Canvas.upright(size, identity, _base_image(identity, size).copy())
    for part in (_draw_jaw_and_cheeks, _draw_nose, _draw_brows, _draw_eyes, _draw_mouth):
        part(cv, au, identity)
    img = cv.img
    if pose is not None:
        dx, dy, roll, scale = pose
        matrix = cv2.getRotationMatrix2D(_centre(size, identity), float(np.degrees(roll)), float(scale))
        matrix[:, 2] += (dx * size, dy * size)
        img = cv2.warpAffine(img, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng is not None and noise > 0:
        img = img + noise * rng.standard_normal(img.shape, dtype=np.float32)
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def render_clip(track: np.ndarray, identity: FaceIdentity, size: int, rng: np.random.Generator) -> np.ndarray:
    """Frames (T, size, size, 3 uint8) for an AU ``track`` (T x len(AU_NAMES)) with head motion, lighting
    and sensor noise."""
    poses = head_motion(len(track), rng)
    gain = rng.uniform(0.92, 1.06)
    frames = np.stack([draw_face(aus, identity, size, pose, rng) for aus, pose in zip(track, poses)])
    return np.clip(frames.astype(np.float32) * gain, 0, 255).astype(np.uint8)
