"""Synthetic talking faces driven by FACS action units (AUs), for the generated demo corpus.

A face is drawn analytically (soft-edged shapes on a pixel grid in face coordinates, so head roll and
sub-pixel motion come for free) with the shading a Haar face detector looks for: dark eye sockets, a
lighter nose bridge, shadowed nostrils and mouth. Its expression is a vector of AU intensities in 0..1
(:data:`AU_NAMES`); :func:`expression_track` moves it over a clip (onset-apex-offset), following the
EMFACS prototypes of ``shared/reference/emotion-cues.md``. By design fear and surprise look alike (fear's
extra AU4/AU20 are faint) while calm and neutral differ visibly (calm: lowered lids, slight smile).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from emo_utils.labels import EMOTIONS

AU_NAMES: tuple[str, ...] = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU12", "AU15",
                             "AU20", "AU23", "AU25", "AU26", "AU45")
AU_INDEX: dict[str, int] = {name: i for i, name in enumerate(AU_NAMES)}

# Apex intensities (0..1) per emotion at strong intensity; "normal" takes scale them down.
FACE_PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "calm": {"AU45": 0.45, "AU12": 0.35, "AU06": 0.1},
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

    width: float            # face half-width as a fraction of the frame size
    aspect: float           # half-height / half-width
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    background: tuple[float, float, float]
    clothing: tuple[float, float, float]
    brow_thickness: float   # in face half-widths
    eye_spacing: float      # eye centre distance from the midline, in face half-widths
    mouth_width: float      # mouth half-width, in face half-widths
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
    smooth = np.convolve(raw, kernel / np.sqrt((kernel ** 2).sum()), mode="same")
    return smooth[4 * int(width): 4 * int(width) + n]


def expression_envelope(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Onset-apex-offset curve in 0..1 over ``n_frames`` with random timing."""
    t = np.linspace(0.0, 1.0, n_frames)
    onset, rise = rng.uniform(0.0, 0.2), rng.uniform(0.12, 0.3)
    apex_end, fall, rest = rng.uniform(0.6, 0.8), rng.uniform(0.15, 0.35), rng.uniform(0.25, 0.55)
    up = _smoothstep((t - onset) / rise)
    down = 1.0 - (1.0 - rest) * _smoothstep((t - apex_end) / fall)
    return up * down


def expression_track(emotion: str, n_frames: int, rng: np.random.Generator, intensity: str = "normal",
                     speech_envelope: np.ndarray | None = None, fps: float = 15.0) -> np.ndarray:
    """AU intensities per frame (``n_frames`` x len(AU_NAMES), 0..1) for one clip.

    The emotion's prototype (per-AU jittered) follows an onset-apex-offset envelope; random small
    co-activations, frame noise and blinks are added, and ``speech_envelope`` (0..1 per frame) opens the
    mouth while the actor talks.
    """
    apex = prototype(emotion, intensity) * rng.lognormal(0.0, 0.2, len(AU_NAMES))
    leak = rng.uniform(0.0, 0.15, len(AU_NAMES)) * (rng.random(len(AU_NAMES)) < 0.35)
    track = np.outer(expression_envelope(n_frames, rng), apex) + leak
    track += 0.03 * np.stack([_smooth_noise(n_frames, rng) for _ in AU_NAMES], axis=1)
    for start in np.flatnonzero(rng.random(n_frames) < 0.25 / fps):
        blink = np.array([0.6, 1.0, 0.5])[: n_frames - start]
        track[start:start + len(blink), AU_INDEX["AU45"]] += blink
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
    """A float RGB image with soft-mask painting in rotated, normalised face coordinates."""

    def __init__(self, size: int, identity: FaceIdentity, pose: np.ndarray) -> None:
        dx, dy, roll, scale = pose
        self.a = identity.width * size * scale          # face half-width in pixels
        self.px = 1.0 / self.a                           # one pixel in face units
        cx = size * (0.5 + identity.offset[0] + dx)
        cy = size * (0.5 + identity.offset[1] + dy)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        c, s = np.cos(roll), np.sin(roll)
        self.X = ((xx - cx) * c + (yy - cy) * s) / self.a
        self.Y = (-(xx - cx) * s + (yy - cy) * c) / self.a
        self.img = np.empty((size, size, 3), np.float32)

    def soft(self, signed: np.ndarray) -> np.ndarray:
        """Coverage (0..1) from a signed distance in face units (negative inside), anti-aliased."""
        return np.clip(0.5 - signed / self.px, 0.0, 1.0)

    def paint(self, mask: np.ndarray, colour) -> None:
        m = mask[..., None]
        self.img += m * (np.asarray(colour, np.float32) - self.img)

    def shade(self, factor: np.ndarray) -> None:
        self.img *= factor[..., None]

    def gauss(self, x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
        return np.exp(-0.5 * (((self.X - x0) / sx) ** 2 + ((self.Y - y0) / sy) ** 2))


def _band(canvas: _Canvas, x0: float, x1: float, centre, half_thickness) -> np.ndarray:
    """Soft mask of a thick curve y=centre(X) (|X| in face units) between x0 and x1."""
    X = canvas.X
    inside_x = canvas.soft(np.maximum(x0 - X, X - x1))
    return inside_x * canvas.soft(np.abs(canvas.Y - centre(X)) - half_thickness(X))


def draw_face(aus: Mapping[str, float] | np.ndarray, identity: FaceIdentity, size: int = 160,
              pose: np.ndarray | None = None, rng: np.random.Generator | None = None,
              noise: float = 0.012) -> np.ndarray:
    """Draw one RGB uint8 ``size`` x ``size`` frame of ``identity`` showing the AU intensities ``aus``.

    ``pose`` is (dx, dy, roll, scale) as from :func:`head_motion`; ``rng`` adds sensor noise.
    """
    au = dict(zip(AU_NAMES, np.clip(au_vector(aus), 0.0, 1.0)))
    cv = _Canvas(size, identity, np.array([0.0, 0.0, 0.0, 1.0]) if pose is None else pose)
    X, Y, H = cv.X, cv.Y, identity.aspect
    skin = np.asarray(identity.skin, np.float32)

    # Background (light studio wall with a soft vignette) and dark clothing.
    cv.img[:] = np.asarray(identity.background, np.float32)
    cv.shade(1.0 - 0.06 * np.clip((X ** 2 + (Y + 0.3) ** 2) / 9.0, 0, 1))
    cv.paint(cv.soft(1.05 * H + 0.5 - Y + 0.35 * np.abs(X) ** 1.5 - 0.9), identity.clothing)
    cv.paint(cv.soft(np.maximum(np.abs(X) - 0.55, 0.9 * H - Y)) * cv.soft(1.8 * H - Y), skin * 0.72)

    # Hair behind the head, then the face ellipse (the jaw drops with AU26) with sphere shading.
    cv.paint(cv.soft(np.hypot(X / 1.1, (Y + 0.12) / (H * 1.02)) - 1.0) * cv.soft(Y - 0.15), identity.hair)
    chin = H + 0.1 * au["AU26"]
    r = np.hypot(X, Y / np.where(Y > 0, chin, H))
    face = cv.soft(r - 1.0)
    cv.paint(face, skin)
    shading = 0.78 + 0.22 * np.sqrt(np.clip(1.0 - r ** 2, 0.0, 1.0)) + 0.04 * (-X - Y) / 2
    cv.shade(np.where(face > 0, shading, 1.0))
    hairline = -0.78 * H + 0.25 * X ** 2
    cv.paint(face * cv.soft(Y - hairline) * cv.soft(np.abs(X) - 1.2), identity.hair)

    es, ey = identity.eye_spacing, -0.22
    # Eye sockets, nose bridge and nose sides: the light-dark pattern Haar features respond to.
    sockets = cv.gauss(es, ey - 0.03, 0.22, 0.15) + cv.gauss(-es, ey - 0.03, 0.22, 0.15)
    cv.shade(1.0 - 0.3 * sockets * face)
    cv.shade(1.0 + 0.1 * cv.gauss(0.0, -0.05, 0.07, 0.28) * face)
    cv.shade(1.0 - 0.16 * (cv.gauss(0.14, 0.15, 0.04, 0.12) + cv.gauss(-0.14, 0.15, 0.04, 0.12)))
    # Cheeks raise and flush with AU6.
    cheeks = cv.gauss(0.45, 0.2 - 0.07 * au["AU06"], 0.14, 0.1) + cv.gauss(-0.45, 0.2 - 0.07 * au["AU06"], 0.14, 0.1)
    cv.shade(1.0 + (0.03 + 0.08 * au["AU06"]) * cheeks)
    # Nose wrinkle (AU9): creases on the bridge, lifted nostrils; nasolabial folds deepen with AU6/9/12.
    for k in range(3):
        cv.shade(1.0 - 0.35 * au["AU09"] * _band(cv, -0.12, 0.12, lambda x, k=k: -0.1 + 0.06 * k + 0 * x,
                                                   lambda x: 0.012 + 0 * x))
    nostril_y = 0.34 - 0.05 * au["AU09"]
    nostril_w = 0.055 * (1 + 0.3 * au["AU09"])
    cv.shade(1.0 - 0.25 * cv.gauss(0.0, nostril_y + 0.06, 0.14, 0.04))
    for side in (1, -1):
        cv.paint(0.85 * cv.soft(np.hypot((X - side * 0.09) / nostril_w, (Y - nostril_y) / 0.03) - 1.0),
                 skin * 0.3)
        fold = 0.12 + 0.5 * max(au["AU09"], au["AU12"], au["AU06"])
        cv.shade(1.0 - fold * 0.4 * _band(cv, -2, 2, lambda x, s=side: nostril_y + 0.02 + 2.6 * (s * x - 0.2),
                                          lambda x: 0.014 + 0 * x) * cv.soft(np.abs(Y - 0.5) - 0.16))

    # Brows: AU1 lifts the inner end, AU2 the outer end, AU4 lowers them and draws them together.
    inner_x = 0.1 - 0.05 * au["AU04"]
    inner_y = ey - 0.24 - 0.13 * au["AU01"] + 0.09 * au["AU04"] - 0.03 * au["AU05"]
    outer_y = ey - 0.24 - 0.12 * au["AU02"] + 0.03 * au["AU04"] + 0.05 * au["AU15"] * au["AU01"]
    span = es + 0.26 - inner_x
    for side in (1, -1):
        def brow_y(x, s=side):
            u = np.clip((s * x - inner_x) / span, 0, 1)
            return inner_y + (outer_y - inner_y) * u - 0.05 * np.sin(np.pi * u) ** 0.8

        def brow_half(x, s=side):
            u = np.clip((s * x - inner_x) / span, 0, 1)
            return identity.brow_thickness * (0.6 - 0.25 * u)

        lo, hi = (inner_x, inner_x + span) if side > 0 else (-inner_x - span, -inner_x)
        cv.paint(0.92 * face * _band(cv, lo, hi, brow_y, brow_half), identity.hair)
    # Frown lines (AU4) and forehead wrinkles (AU1+AU2).
    cv.shade(1.0 - 0.35 * au["AU04"] * (_band(cv, 0.03, 0.06, lambda x: -0.5 + 0 * x, lambda x: 0.08 + 0 * x)
                                        + _band(cv, -0.06, -0.03, lambda x: -0.5 + 0 * x, lambda x: 0.08 + 0 * x)))
    lift = 0.5 * (au["AU01"] + au["AU02"])
    for k in range(2):
        cv.shade(1.0 - 0.18 * lift * face * _band(cv, -0.45, 0.45, lambda x, k=k: -0.75 - 0.09 * k + 0.1 * x ** 2,
                                                  lambda x: 0.01 + 0 * x))

    # Eyes: lids open with AU5, close with AU7/AU6 (squint), calm droop and blinks (AU45).
    upper = 0.085 * (1 + 0.7 * au["AU05"] - 0.35 * au["AU07"] - 0.25 * au["AU06"]) * (1 - 0.95 * au["AU45"])
    lower = 0.055 * (1 - 0.45 * au["AU07"] - 0.5 * au["AU06"] + 0.15 * au["AU05"]) * (1 - 0.6 * au["AU45"])
    upper, lower = max(upper, 0.004), max(lower, 0.004)
    ew = 0.19
    for side in (1, -1):
        u = np.clip((X - side * es) / ew, -1, 1)
        arc = np.sqrt(1 - u ** 2)
        top, bottom = ey - upper * arc, ey + lower * arc ** 1.5
        eye = cv.soft(np.maximum(top - Y, Y - bottom)) * cv.soft(np.abs(X - side * es) - ew)
        cv.paint(0.9 * eye, (0.92, 0.9, 0.88))
        iris = cv.soft(np.hypot(X - side * es, Y - ey + 0.01) - 0.075)
        cv.paint(eye * iris, (0.18, 0.13, 0.1))
        cv.paint(eye * cv.soft(np.hypot(X - side * es, Y - ey + 0.01) - 0.035), (0.03, 0.03, 0.03))
        cv.paint(0.9 * cv.soft(np.abs(Y - top + 0.008) - 0.012) * cv.soft(np.abs(X - side * es) - ew), skin * 0.25)
        crease = ey - upper - 0.06 - 0.04 * au["AU05"]
        cv.shade(1.0 - 0.18 * _band(cv, side * es - ew if side > 0 else -es - ew, side * es + ew if side > 0 else -es + ew,
                                    lambda x, s=side: crease + 0.04 * ((x - s * es) / ew) ** 2,
                                    lambda x: 0.012 + 0 * x))

    # Mouth: AU12 pulls the corners up and out, AU15 down, AU20 stretches, AU23 thins and presses the
    # lips, AU25 parts them, AU26 drops the jaw; AU9 lifts the upper lip.
    my = 0.66 + 0.05 * au["AU26"]
    mw = identity.mouth_width * (1 + 0.22 * au["AU20"] + 0.15 * au["AU12"] - 0.12 * au["AU23"])
    corner = -0.13 * au["AU12"] + 0.11 * au["AU15"] + 0.03 * au["AU20"]
    opening = max(0.12 * au["AU25"] + 0.2 * au["AU26"] - 0.08 * au["AU23"], 0.0)
    thin = 1 - 0.65 * au["AU23"]
    u = np.clip(X / mw, -1, 1)
    body = np.clip(1 - u ** 2, 0, 1)
    mid = my + corner * u ** 2 - 0.02 * au["AU09"] * body
    inner_top = mid - 0.5 * opening * body ** 0.7 - 0.015 * au["AU09"] * body
    inner_bot = mid + 0.5 * opening * body ** 0.7
    outer_top = inner_top - 0.055 * thin * body ** 0.5 * (1 - 0.35 * np.exp(-(X / 0.06) ** 2))
    outer_bot = inner_bot + 0.075 * thin * body ** 0.5
    in_x = cv.soft(np.abs(X) - mw)
    cv.shade(1.0 - 0.22 * cv.gauss(0.0, my + 0.17 + 0.5 * opening, 0.2, 0.05))
    cv.paint(in_x * cv.soft(np.maximum(outer_top - Y, Y - outer_bot)), identity.lips)
    cv.paint(in_x * cv.soft(np.abs(Y - mid) - 0.008), np.asarray(identity.lips) * 0.35)
    cavity = in_x * cv.soft(np.maximum(inner_top - Y, Y - inner_bot))
    cv.paint(cavity, (0.12, 0.05, 0.05))
    cv.paint(cavity * cv.soft(Y - inner_top - 0.4 * opening) * cv.soft(np.abs(X) - 0.6 * mw), (0.85, 0.83, 0.78))

    img = cv.img
    if rng is not None and noise > 0:
        img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def render_clip(track: np.ndarray, identity: FaceIdentity, size: int, rng: np.random.Generator) -> np.ndarray:
    """Frames (T, size, size, 3 uint8) for an AU ``track`` (T x len(AU_NAMES)) with head motion and noise."""
    poses = head_motion(len(track), rng)
    gain = rng.uniform(0.92, 1.06)
    frames = np.stack([draw_face(aus, identity, size, pose, rng) for aus, pose in zip(track, poses)])
    return np.clip(frames.astype(np.float32) * gain, 0, 255).astype(np.uint8)
