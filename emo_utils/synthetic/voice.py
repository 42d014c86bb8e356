"""A small source-filter speech synthesiser for the generated demo corpus (16 kHz, mono).

Source: a glottal pulse train (Rosenberg pulses, whose closing speed sets the high-frequency energy)
following an f0 contour, with cycle-to-cycle jitter and shimmer and pulse-synchronous breath noise.
Filter: four formant resonators per vowel, cross-faded from syllable to syllable, with noise consonants
between syllables. Prosody per emotion follows the vocal-cue table of
``shared/reference/emotion-cues.md``; by design calm and neutral sound alike while fear (fast, tense,
jittery, flat) and surprise (a large pitch rise on the stressed syllable) sound clearly different.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import signal

from emo_utils.labels import EMOTIONS

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Prosody:
    """How one emotion is spoken, relative to the speaker's neutral voice."""

    pitch: float  # f0 level as a ratio of the speaker's base f0
    pitch_range: float  # size of pitch accents, in semitones
    rate: float  # syllables per second
    loudness_db: float  # level relative to neutral speech
    tension: float  # 0..1: faster glottal closure and less tilt = more high-frequency energy
    breath: float  # aspiration noise relative to the voiced source
    jitter: float  # cycle-to-cycle period perturbation (fraction)
    shimmer: float  # cycle-to-cycle amplitude perturbation (fraction)
    tremor: float  # 5-8 Hz f0 tremor depth, in semitones
    declination: float  # f0 fall over the utterance, in semitones (negative = rise)
    final_rise: float  # pitch movement on the last syllable, in semitones (negative = fall)
    peak: float  # extra rise on the stressed syllable, in semitones
    attack_s: float  # syllable onset time (small = abrupt onsets)


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(1.0, 2.5, 4.0, 0.0, 0.5, 0.05, 0.006, 0.03, 0.0, 2.0, -1.0, 0.0, 0.03),
    "calm": Prosody(0.97, 2.1, 3.8, -1.5, 0.45, 0.06, 0.006, 0.03, 0.0, 2.0, -1.0, 0.0, 0.035),
    "happy": Prosody(1.25, 5.0, 4.7, 3.0, 0.65, 0.04, 0.008, 0.04, 0.0, 0.5, 3.0, 0.0, 0.025),
    "sad": Prosody(0.88, 1.2, 3.0, -6.0, 0.2, 0.12, 0.015, 0.07, 0.1, 3.5, -2.5, 0.0, 0.05),
    "angry": Prosody(1.3, 5.0, 5.0, 7.0, 0.95, 0.03, 0.01, 0.05, 0.0, 2.5, -2.0, 0.0, 0.006),
    "fearful": Prosody(1.45, 1.5, 5.8, 1.0, 0.8, 0.1, 0.035, 0.12, 0.6, 0.5, 0.0, 0.0, 0.012),
    "disgust": Prosody(0.9, 3.0, 3.2, -2.0, 0.35, 0.08, 0.009, 0.04, 0.0, 4.0, -3.0, 0.0, 0.04),
    "surprised": Prosody(1.2, 3.0, 4.2, 3.0, 0.6, 0.04, 0.006, 0.03, 0.0, 1.0, 0.0, 9.0, 0.02),
}
# Strong takes push every cue further from neutral by this factor.
INTENSITY_GAIN: dict[str, float] = {"normal": 1.0, "strong": 1.5}

# Formants (F1-F4, Hz) of adult male vowels (Peterson & Barney-style averages).
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "i": (270, 2290, 3010, 3700),
    "I": (390, 1990, 2550, 3600),
    "E": (530, 1840, 2480, 3600),
    "ae": (660, 1720, 2410, 3500),
    "a": (730, 1090, 2440, 3400),
    "o": (570, 840, 2410, 3300),
    "u": (300, 870, 2240, 3300),
    "V": (640, 1190, 2390, 3400),
}
# The two RAVDESS statements as vowel sequences, with the stressed syllable of each.
STATEMENTS: dict[str, tuple[tuple[str, ...], int]] = {
    "01": (("I", "a", "o", "I", "a", "V", "o"), 2),  # kids are TALKing by the door
    "02": (("o", "a", "I", "I", "a", "V", "o"), 0),  # DOGS are sitting by the door
}


@dataclass(frozen=True)
class Voice:
    """A speaker: base f0 and vocal-tract size."""

    f0: float
    formant_scale: float
    breathiness: float


@dataclass(frozen=True, eq=False)
class Speech:
    """One synthesised utterance."""

    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    f0: np.ndarray  # designed f0 per sample (0 where unvoiced)
    articulation: np.ndarray  # mouth opening per sample, 0..1 (drives the drawn face)

    def articulation_at(self, fps: float, n_frames: int) -> np.ndarray:
        """Mean mouth opening over each video frame."""
        per_frame = int(round(self.sample_rate / fps))
        padded = np.zeros(n_frames * per_frame)
        padded[: min(len(padded), len(self.articulation))] = self.articulation[: len(padded)]
        return padded.reshape(n_frames, per_frame).mean(axis=1)


def actor_voice(actor: int, seed: int = 0) -> Voice:
    """The voice of ``actor``: odd numbers male (f0 100-130 Hz), even female (190-230 Hz)."""
    rng = np.random.default_rng([seed, actor, 0x501CE])
    male = actor % 2 == 1
    return Voice(
        f0=float(rng.uniform(100, 130) if male else rng.uniform(190, 230)),
        formant_scale=float(rng.uniform(0.96, 1.04) * (1.0 if male else 1.17)),
        breathiness=float(rng.uniform(0.5, 1.0) if male else rng.uniform(0.8, 1.4)),
    )


def prosody_for(emotion: str, intensity: str = "normal") -> Prosody:
    """The prosody of ``emotion`` at ``intensity`` ("normal" or "strong")."""
    if emotion not in PROSODY:
        raise KeyError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    gain = INTENSITY_GAIN[intensity]
    base, target = PROSODY["neutral"], PROSODY[emotion]
    pushed = {
        f.name: getattr(base, f.name) + gain * (getattr(target, f.name) - getattr(base, f.name))
        for f in fields(Prosody)
    }
    for name in ("pitch_range", "breath", "jitter", "shimmer", "tremor"):
        pushed[name] = max(pushed[name], 0.0)
    pushed["tension"] = float(np.clip(pushed["tension"], 0.0, 1.0))
    pushed["attack_s"] = max(pushed["attack_s"], 0.004)
    return Prosody(**pushed)


def _jittered(prosody: Prosody, rng: np.random.Generator) -> Prosody:
    """Per-take variation, so that takes of one emotion are not copies of each other."""
    return replace(
        prosody,
        pitch=prosody.pitch * rng.lognormal(0.0, 0.05),
        pitch_range=prosody.pitch_range * rng.lognormal(0.0, 0.2),
        rate=prosody.rate * rng.lognormal(0.0, 0.08),
        loudness_db=prosody.loudness_db + rng.normal(0.0, 1.5),
        tension=float(np.clip(prosody.tension + rng.normal(0.0, 0.07), 0.05, 1.0)),
        breath=prosody.breath * rng.lognormal(0.0, 0.25),
    )


def _glottal_flow(phase: np.ndarray, tension: float) -> np.ndarray:
    """Rosenberg glottal flow pulse over the cycle phase (0..1); tense voices close faster."""
    opening = 0.42 - 0.12 * tension
    closing = 0.26 - 0.2 * tension
    rise = 0.5 * (1.0 - np.cos(np.pi * np.clip(phase / opening, 0.0, 1.0)))
    fall = np.cos(0.5 * np.pi * np.clip((phase - opening) / closing, 0.0, 1.0))
    return np.where(phase < opening, rise, fall)


def _resonators(formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Second-order sections of a cascade of unit-gain-at-DC formant resonators."""
    sos = []
    for freq, bw in zip(formants, bandwidths):
        r = np.exp(-np.pi * bw / SAMPLE_RATE)
        theta = 2 * np.pi * freq / SAMPLE_RATE
        a = [1.0, -2 * r * np.cos(theta), r * r]
        sos.append([sum(a), 0.0, 0.0, *a])
    return np.asarray(sos)


def _syllable_plan(n_syllables: int, start: float, end: float, rng: np.random.Generator) -> np.ndarray:
    """Boundaries (n+1 times, s) of syllables filling [start, end] with irregular lengths."""
    lengths = rng.uniform(0.75, 1.25, n_syllables)
    return start + (end - start) * np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])


def synthesize_speech(
    emotion: str,
    actor: int,
    rng: np.random.Generator,
    intensity: str = "normal",
    statement: str = "01",
    duration_s: float = 2.0,
    seed: int = 0,
) -> Speech:
    """Speak one RAVDESS-like take: ``actor``'s voice saying ``statement`` ("01" or "02") with ``emotion``'s
    prosody at ``intensity``. ``rng`` drives the take's variation, ``seed`` the actor's voice."""
    if statement not in STATEMENTS:
        raise KeyError(f"unknown statement {statement!r}; expected one of {', '.join(STATEMENTS)}")
    voice = actor_voice(actor, seed)
    pros = _jittered(prosody_for(emotion, intensity), rng)
    n = int(round(duration_s * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE

    # Timing: the utterance starts after a short silence; faster speech says more syllables in the window.
    start = rng.uniform(0.12, 0.3) * min(1.0, duration_s / 2.0)
    end = duration_s - rng.uniform(0.1, 0.25) * min(1.0, duration_s / 2.0)
    vowels, stressed = STATEMENTS[statement]
    n_syl = max(2, int(round(pros.rate * (end - start))))
    bounds = _syllable_plan(n_syl, start, end, rng)
    syl = np.clip(np.searchsorted(bounds, t, side="right") - 1, 0, n_syl - 1)
    in_speech = (t >= start) & (t < end)
    pos = (t - bounds[syl]) / np.diff(bounds)[syl]  # position inside the syllable, 0..1
    consonant = in_speech & (pos < 0.22)
    voiced = in_speech & (pos >= 0.22) & (pos < 0.92)
    stress = np.arange(n_syl) == stressed % n_syl
    attack = np.clip((pos - 0.22) * np.diff(bounds)[syl] / pros.attack_s, 0, 1)
    release = np.clip((0.92 - pos) * np.diff(bounds)[syl] / 0.03, 0, 1)
    loud = np.where(stress, 1.0, rng.uniform(0.6, 0.85, n_syl))[syl]
    amp = voiced * loud * attack * release

    # f0 contour (semitones around the emotion's level): declination, accents, stressed peak, final movement.
    progress = np.clip((t - start) / (end - start), 0, 1)
    accents = rng.uniform(0.3, 1.0, n_syl) * pros.pitch_range
    accents[stress] = pros.pitch_range + pros.peak
    hat = np.sin(np.pi * np.clip(pos, 0, 1)) ** 2
    semis = -pros.declination * progress + accents[syl] * hat
    last = syl == n_syl - 1
    semis += last * pros.final_rise * np.clip((pos - 0.3) / 0.6, 0, 1)
    semis += pros.tremor * np.sin(2 * np.pi * rng.uniform(5, 8) * t + rng.uniform(0, 2 * np.pi))
    drift = np.interp(t, np.linspace(0, duration_s, 12), rng.normal(0, 0.4, 12))
    f0 = voice.f0 * pros.pitch * 2 ** ((semis + drift) / 12)

    # Source: Rosenberg pulses with per-cycle jitter and shimmer, plus pulse-synchronous breath noise.
    cycles = np.floor(np.cumsum(f0) / SAMPLE_RATE).astype(int)
    jitter = rng.normal(0, pros.jitter, cycles[-1] + 2)[cycles]
    phase = np.cumsum(f0 * (1 + jitter)) / SAMPLE_RATE
    cycle, frac = np.floor(phase).astype(int), phase % 1.0
    shimmer = 1 + rng.normal(0, pros.shimmer, cycle[-1] + 2)[cycle]
    flow = _glottal_flow(frac, pros.tension)
    source = np.diff(flow, prepend=flow[0]) * shimmer * amp * 8.0
    breath = rng.normal(0, 1, n) * (0.3 + flow) * amp * pros.breath * voice.breathiness * 0.25
    source = source + breath

    # Filter: each vowel's resonator cascade, cross-faded at syllable boundaries.
    sequence = [vowels[i % len(vowels)] for i in range(n_syl)]
    scale = voice.formant_scale * rng.uniform(0.97, 1.03)
    weights = np.zeros((len(VOWELS), n))
    names = list(VOWELS)
    for k, name in enumerate(sequence):
        weights[names.index(name)] += np.interp(
            t,
            [bounds[k] - 0.03, bounds[k] + 0.03, bounds[k + 1] - 0.03, bounds[k + 1] + 0.03],
            [0, 1, 1, 0],
            left=0,
            right=0,
        )
    weights /= np.maximum(weights.sum(axis=0), 1e-9)
    # Wider for lax voices, and F1/F2 wider at high f0 (else sparse harmonics miss narrow formant peaks).
    bandwidths = (
        np.array([70.0, 100.0, 140.0, 200.0]) * (1.3 - 0.4 * pros.tension)
        + np.array([0.3, 0.15, 0.0, 0.0]) * voice.f0 * pros.pitch
    )
    speech = np.zeros(n)
    for i, name in enumerate(names):
        if weights[i].any():
            formants = np.array(VOWELS[name]) * scale
            speech += weights[i] * signal.sosfilt(_resonators(formants, bandwidths), source)
    # Spectral tilt: tense voices keep more high frequencies.
    speech = signal.lfilter([1.0, -float(np.clip(1.3 * pros.tension - 0.35, -0.5, 0.97))], [1.0], speech)

    # Consonants: short noise bursts, band-limited like fricatives and stop releases.
    bursts = rng.normal(0, 1, n) * consonant * np.sin(np.pi * np.clip(pos / 0.22, 0, 1)) * loud
    speech += (0.015 + 0.05 * pros.tension) * signal.sosfilt(
        signal.butter(2, [2500, 6500], "bandpass", fs=SAMPLE_RATE, output="sos"), bursts
    )

    # Loudness: speech RMS at -22 dBFS for neutral, shifted by the emotion; quiet room noise underneath.
    rms = np.sqrt(np.mean(speech[in_speech] ** 2)) + 1e-12
    speech *= 10 ** ((-22 + pros.loudness_db) / 20) / rms
    speech += rng.normal(0, 10 ** (-62 / 20), n)
    samples = np.tanh(speech * 1.2) / 1.2
    articulation = np.convolve(amp, np.ones(400) / 400, mode="same")
    return Speech(
        samples.astype(np.float32),
        SAMPLE_RATE,
        np.where(amp > 0, f0, 0.0),
        np.clip(articulation / max(articulation.max(), 1e-9), 0, 1),
    )
