"""Small computations and figures for the exploration notebooks (01-04): the data, its clips, its features.

Every ``plot_*`` function applies the project style (:func:`emo_utils.plotting.use_style`) and returns a
matplotlib figure; the notebooks show them, the tests check their axes and content.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import librosa
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import soundfile as sf
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from emo_utils.audio.features import FeatureParams
from emo_utils.audio.io import SOUNDFILE_SUFFIXES
from emo_utils.data.naming import parse_crema_d
from emo_utils.errors import DataError, EmoError, FilenameError, SkipLog
from emo_utils.labels import EMOTIONS
from emo_utils.media import probe
from emo_utils.plotting import use_style
from emo_utils.video.frames import sample_frames
from emo_utils.video.openface import AU_INTENSITY, AU_NAMES

GENDER_COLOURS = {"male": "C0", "female": "C3", "unknown": "C7"}


def _ordered_emotions(labels: Sequence[str]) -> list[str]:
    """The emotions present in ``labels``, in the canonical :data:`EMOTIONS` order."""
    present = set(labels)
    return [e for e in EMOTIONS if e in present]


def _label_order(labels: Sequence[str]) -> list[str]:
    """Emotions in canonical order; any other labels (actors, genders) sorted."""
    return _ordered_emotions(labels) or sorted(set(labels))


# --- the manifest: who, what, how many ------------------------------------------------------------------


def actor_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per actor: gender, number of takes and (when assigned) the actor's fold."""
    columns = ["gender", "fold"] if "fold" in manifest.columns else ["gender"]
    table = manifest.groupby("actor")[columns].first()
    table.insert(1, "takes", manifest.groupby("actor").size())
    return table


def fold_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per fold: its test actors, how many of each gender, and its takes."""
    rows = []
    for fold, group in manifest.groupby("fold"):
        actors = group.drop_duplicates("actor")
        rows.append(
            {
                "fold": int(fold),
                "test actors": ", ".join(sorted(actors["actor"])),
                "male": int((actors["gender"] == "male").sum()),
                "female": int((actors["gender"] == "female").sum()),
                "takes": len(group),
            }
        )
    return pd.DataFrame(rows).set_index("fold")


def plot_class_balance(manifest: pd.DataFrame, title: str = "") -> Figure:
    """Takes per emotion (stacked by actor gender) and takes per actor (coloured by gender)."""
    use_style()
    fig, (ax_emotion, ax_actor) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
    counts = pd.crosstab(manifest["emotion"], manifest["gender"]).reindex(_ordered_emotions(manifest["emotion"]))
    counts.plot.bar(stacked=True, ax=ax_emotion, rot=30, color=[GENDER_COLOURS.get(g, "C7") for g in counts.columns])
    ax_emotion.set(xlabel="", ylabel="takes", title="takes per emotion")
    per_actor = actor_table(manifest)
    ax_actor.bar(
        range(len(per_actor)), per_actor["takes"], color=[GENDER_COLOURS.get(g, "C7") for g in per_actor["gender"]]
    )
    ax_actor.set_xticks(range(len(per_actor)), [a.split("_")[-1] for a in per_actor.index], rotation=90)
    ax_actor.set(xlabel="actor", ylabel="takes", title="takes per actor (blue male, red female)")
    fig.suptitle(title or f"{len(manifest)} takes, {len(per_actor)} actors", fontsize=10)
    return fig


# --- clip durations ------------------------------------------------------------------------------------


def clip_durations(tasks: Sequence[tuple[str, str | Path]]) -> tuple[pd.Series, SkipLog]:
    """Duration in seconds of every ``(clip_id, path)``, read from the file header (nothing is decoded).

    Audio files are read with soundfile, anything else (mp4) with PyAV; unreadable files are left out
    and listed in the returned :class:`SkipLog`.
    """
    skipped = SkipLog("durations")
    durations: dict[str, float] = {}
    for clip_id, path in tasks:
        try:
            durations[clip_id] = _duration_s(Path(path))
        except EmoError as exc:
            skipped.add(clip_id, path, str(exc))
    return pd.Series(durations, name="duration_s", dtype=float), skipped


def _duration_s(path: Path) -> float:
    """Seconds, from the header: soundfile for audio files, PyAV for anything else (raises DataError)."""
    if path.suffix.lower() not in SOUNDFILE_SUFFIXES:
        return probe(path).duration_s
    try:
        return float(sf.info(str(path)).duration)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DataError(path, f"cannot be read as audio ({exc})", "re-copy or re-download it") from exc


def plot_durations(durations: pd.Series, emotions: pd.Series | None = None, title: str = "") -> Figure:
    """Histogram of clip durations (median marked), and one box per emotion when ``emotions`` (same index) is given."""
    use_style()
    ncols = 1 if emotions is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 3.4), squeeze=False)
    ax = axes[0, 0]
    ax.hist(durations, bins=min(40, max(5, len(durations) // 5)), color="C0")
    median = float(durations.median())
    ax.axvline(median, color="C1", linestyle="--", label=f"median {median:.2f} s")
    ax.set(xlabel="duration (s)", ylabel="clips", title=f"clip durations ({len(durations)} clips)")
    ax.legend()
    if emotions is not None:
        by_emotion = emotions.reindex(durations.index)
        order = _ordered_emotions(by_emotion.dropna())
        axes[0, 1].boxplot([durations[by_emotion == e].to_numpy() for e in order], tick_labels=order)
        axes[0, 1].set(ylabel="duration (s)", title="duration per emotion")
        axes[0, 1].tick_params(axis="x", rotation=30)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# --- one clip's sound -----------------------------------------------------------------------------------


def log_mel_spectrogram(y: np.ndarray, sr: int, params: FeatureParams = FeatureParams()) -> np.ndarray:
    """(n_mels, frames) log-mel power in dB relative to the loudest bin, framed like the MFCC features."""
    mel = librosa.feature.melspectrogram(
        y=np.asarray(y, dtype=np.float32), sr=sr, n_fft=params.n_fft, hop_length=params.hop_length, n_mels=params.n_mels
    )
    return librosa.power_to_db(mel, ref=np.max)


def _show_spectrogram(ax: plt.Axes, y: np.ndarray, sr: int, title: str) -> AxesImage:
    spec = log_mel_spectrogram(y, sr)
    image = ax.imshow(
        spec, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0, extent=(0, len(y) / sr, 0, spec.shape[0])
    )
    ax.set(xlabel="time (s)", ylabel="mel band", title=title)
    ax.grid(False)
    return image


def plot_waveform_spectrogram(y: np.ndarray, sr: int, title: str = "") -> Figure:
    """The waveform of one clip above its log-mel spectrogram (64 mel bands, 40 ms windows every 20 ms)."""
    use_style()
    fig, (ax_wave, ax_spec) = plt.subplots(2, 1, figsize=(10, 5), sharex=True, layout="constrained")
    ax_wave.plot(np.arange(len(y)) / sr, y, linewidth=0.5)
    ax_wave.set(ylabel="amplitude", title=f"waveform {title}".strip())
    image = _show_spectrogram(ax_spec, y, sr, "log-mel spectrogram")
    fig.colorbar(image, ax=[ax_wave, ax_spec], label="dB", pad=0.01)  # both axes shrink: time stays aligned
    return fig


def plot_spectrograms(waveforms: Mapping[str, np.ndarray], sr: int, title: str = "") -> Figure:
    """Log-mel spectrograms side by side (e.g. a clip and its augmented copies), one column per waveform."""
    use_style()
    n = len(waveforms)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), sharey=True, squeeze=False, layout="constrained")
    for ax, (name, y) in zip(axes[0], waveforms.items()):
        image = _show_spectrogram(ax, y, sr, name)
    fig.colorbar(image, ax=list(axes[0]), label="dB", pad=0.01)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# --- frame features per emotion -------------------------------------------------------------------------


def valid_frames(X: np.ndarray) -> np.ndarray:
    """Boolean mask (..., T) of real frames: False on the all-zero rows that ``fix_frames`` pads with."""
    return np.any(X != 0, axis=-1)


def plot_clip_features(
    clips: Mapping[str, np.ndarray], feature_names: Sequence[str], frame_rate_hz: float, title: str = ""
) -> Figure:
    """One row per clip (e.g. one per emotion): ZCR and RMS over time (left), its MFCCs as an image (right).

    Each MFCC is z-scored over the clip's frames, so the image shows how it moves, not its level.
    """
    use_style()
    names = list(feature_names)
    zcr, rms = names.index("zcr"), names.index("rms")
    mfcc = [i for i, n in enumerate(names) if n.startswith("mfcc_")]
    fig, axes = plt.subplots(
        len(clips), 2, figsize=(11, 1.5 * len(clips) + 0.6), squeeze=False, gridspec_kw={"width_ratios": [1, 1.6]}
    )
    real = {name: X[valid_frames(X)] for name, X in clips.items()}
    longest = max(len(X) for X in real.values()) / frame_rate_hz
    top = {i: 1.05 * max(float(X[:, i].max(initial=0.0)) for X in real.values()) or 1.0 for i in (zcr, rms)}
    for (ax_curve, ax_mfcc), (name, X) in zip(axes, real.items()):
        t = np.arange(len(X)) / frame_rate_hz
        ax_curve.plot(t, X[:, zcr], color="C0", label="ZCR")
        ax_curve.set(ylabel=name, xlim=(0, longest), ylim=(0, top[zcr]))
        ax_rms = ax_curve.twinx()  # same scales on every row, so rows compare
        ax_rms.plot(t, X[:, rms], color="C1", label="RMS")
        ax_rms.set_ylim(0, top[rms])
        ax_rms.grid(False)
        coefficients = X[:, mfcc[1:]]
        z = (coefficients - coefficients.mean(axis=0)) / np.maximum(coefficients.std(axis=0), 1e-6)
        ax_mfcc.imshow(
            z.T,
            origin="lower",
            aspect="auto",
            cmap="coolwarm",
            vmin=-3,
            vmax=3,
            extent=(0, len(X) / frame_rate_hz, 1, len(mfcc)),
        )
        ax_mfcc.grid(False)
        ax_mfcc.set(ylabel="MFCC", xlim=(0, longest))
    axes[0, 0].set_title("ZCR (blue, left axis) and RMS energy (orange, right axis)")
    axes[0, 1].set_title(f"MFCCs 1-{len(mfcc) - 1}, each z-scored over the clip (MFCC 0, loudness, left out)")
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def mean_curves(X: np.ndarray, labels: Sequence[str], feature: int) -> pd.DataFrame:
    """Mean of one feature over the clips of each label, frame by frame (padded frames ignored).

    Returns a (T, labels) frame indexed by frame number; NaN where no clip of a label is that long.
    """
    labels = np.asarray(labels)
    values = np.where(valid_frames(X), X[:, :, feature], np.nan)
    curves = {}
    for label in _label_order(labels):
        rows = values[labels == label]
        counts = np.sum(~np.isnan(rows), axis=0)
        curves[label] = np.where(counts > 0, np.nansum(rows, axis=0) / np.maximum(counts, 1), np.nan)
    return pd.DataFrame(curves)


def mean_features(X: np.ndarray, labels: Sequence[str], feature_names: Sequence[str]) -> pd.DataFrame:
    """(labels, features): each feature averaged over every real frame of every clip of a label."""
    labels = np.asarray(labels)
    mask = valid_frames(X)
    rows = {label: X[labels == label][mask[labels == label]].mean(axis=0) for label in _label_order(labels)}
    return pd.DataFrame(rows, index=list(feature_names)).T


def plot_feature_curves(
    X: np.ndarray,
    emotions: Sequence[str],
    feature_names: Sequence[str],
    frame_rate_hz: float,
    title: str = "",
    n_mfcc_shown: int = 20,
) -> Figure:
    """Per emotion: mean ZCR and RMS over time, and the mean MFCCs (z-scored across emotions) as a heatmap."""
    use_style()
    names = list(feature_names)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.3]})
    for ax, feature, label in ((axes[0], "zcr", "zero-crossing rate"), (axes[1], "rms", "RMS energy")):
        curves = mean_curves(X, emotions, names.index(feature))
        t = curves.index / frame_rate_hz
        for emotion in curves.columns:
            ax.plot(t, curves[emotion], label=emotion, linewidth=1)
        ax.set(xlabel="time from speech onset (s)", ylabel=label, title=f"mean {label} per emotion")
    axes[1].legend(fontsize=7, ncol=2)
    mfcc = [n for n in names if n.startswith("mfcc_")][1 : n_mfcc_shown + 1]
    means = mean_features(X, emotions, names)[mfcc]
    z = (means - means.mean()) / means.std(ddof=0).replace(0, 1)
    sns.heatmap(
        z.set_axis([m.split("_")[1] for m in mfcc], axis=1),
        cmap="coolwarm",
        center=0,
        ax=axes[2],
        cbar_kws={"label": "z-score across emotions"},
    )
    axes[2].set(xlabel="MFCC coefficient", ylabel="", title="mean MFCCs per emotion")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# --- embeddings in two dimensions -----------------------------------------------------------------------


def project_2d(X: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) projection of standardised ``X`` (N, D): ``"pca"`` or ``"tsne"`` (perplexity fitted to N)."""
    Z = StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(Z)
    if method == "tsne":
        if len(Z) < 5:
            raise ValueError(f"t-SNE needs at least 5 points, got {len(Z)}")
        perplexity = float(min(30.0, (len(Z) - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(Z)
    raise ValueError(f"unknown projection {method!r}; expected 'pca' or 'tsne'")


def plot_projection(points: np.ndarray, colourings: Mapping[str, Sequence[str]], title: str = "") -> Figure:
    """The same 2-D points once per colouring (e.g. ``{"emotion": ..., "actor": ...}``), side by side."""
    use_style()
    n = len(colourings)
    fig, axes = plt.subplots(1, n, figsize=(5.6 * n, 4.6), squeeze=False)
    for ax, (name, labels) in zip(axes[0], colourings.items()):
        labels = np.asarray(labels)
        order = _label_order(labels)
        palette = sns.color_palette("tab10" if len(order) <= 10 else "husl", len(order))
        for colour, label in zip(palette, order):
            chosen = labels == label
            ax.scatter(points[chosen, 0], points[chosen, 1], s=14, color=colour, label=label, alpha=0.8)
        ax.set(title=f"coloured by {name}", xticks=[], yticks=[])
        ax.legend(fontsize=6, ncol=1 + len(order) // 13, loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.2)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def neighbour_agreement(X: np.ndarray, groupings: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """How often each clip's nearest neighbour (standardised Euclidean) shares its label, against chance.

    One row per grouping (e.g. emotion, actor): ``agreement`` (fraction of clips), ``chance`` (the same
    fraction for a random other clip) and ``ratio`` (agreement / chance: 1 means no clustering).
    """
    Z = StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))
    if len(Z) < 2:
        raise ValueError("need at least two clips")
    _, index = NearestNeighbors(n_neighbors=2).fit(Z).kneighbors(Z)
    # the first neighbour is the clip itself unless a duplicate ties with it; take the other one
    nearest = np.where(index[:, 0] == np.arange(len(Z)), index[:, 1], index[:, 0])
    rows = {}
    for name, labels in groupings.items():
        labels = np.asarray(labels)
        sizes = pd.Series(labels).value_counts().to_numpy()
        chance = float(np.sum(sizes * (sizes - 1)) / (len(labels) * (len(labels) - 1)))
        agreement = float(np.mean(labels[nearest] == labels))
        rows[name] = {"agreement": agreement, "chance": chance, "ratio": agreement / chance if chance else np.nan}
    return pd.DataFrame(rows).T


# --- images: frames, faces, crops -----------------------------------------------------------------------


def plot_image_grid(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 11,
    size: float = 1.3,
    title: str = "",
) -> Figure:
    """Images in a grid: (H, W) arrays in grey, (H, W, 3) RGB as they are; ``titles`` label each one."""
    use_style()
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = np.asarray(images[i])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def example_face_frame(manifest: pd.DataFrame, data_root: str | Path | None) -> tuple[np.ndarray, str] | None:
    """One face image and where it comes from: the middle frame of the first video in ``manifest``, else
    the first actor's ``data_root/actor-faces/Actor_XX.png`` (real RAVDESS), else ``None``."""
    videos = manifest.loc[manifest["video_path"] != "", "video_path"]
    if len(videos):
        return sample_frames(videos.iloc[0], 1)[0], f"middle frame of {Path(videos.iloc[0]).name}"
    if data_root is None:
        return None
    for actor in sorted(manifest["actor"].unique()):
        png = Path(data_root) / "actor-faces" / f"Actor_{actor.split('_')[-1]}.png"
        image = cv2.imread(str(png), cv2.IMREAD_COLOR)
        if image is not None:
            return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), f"{png.name}: one real video frame (no emotion label)"
    return None


def check_clips(paths: Mapping[str, str | Path], checks: Mapping[str, Callable[[Path], object]]) -> pd.DataFrame:
    """Run every check on every clip: ``"ok"`` or the message of the :class:`EmoError` it raised.

    One row per clip (``paths``' keys), one column per check; any other exception propagates (a bug).
    """
    table: dict[str, dict[str, str]] = {}
    for kind, path in paths.items():
        row = {}
        for name, check in checks.items():
            try:
                check(Path(path))
                row[name] = "ok"
            except EmoError as exc:
                row[name] = f"{exc.__class__.__name__}: {exc}"
        table[kind] = row
    return pd.DataFrame(table).T


# --- facial action units --------------------------------------------------------------------------------


def au_means_by_emotion(au_table: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Mean AU intensity (``AUxx_r``) per emotion over the manifest's takes (rows of :func:`load_au_means`)."""
    joined = au_table.merge(manifest[["take_id", "emotion"]], on="take_id")
    if joined.empty:
        raise DataError(
            au_table.attrs.get("path", "AU table"),
            "has no row for any take of the manifest",
            "check that the AU table belongs to this dataset",
        )
    means = joined.groupby("emotion")[list(AU_INTENSITY)].mean()
    return means.reindex(_ordered_emotions(means.index))


def plot_au_heatmap(means: pd.DataFrame, title: str = "") -> Figure:
    """Heatmap of mean AU intensity per emotion (from :func:`au_means_by_emotion`), AUs named."""
    use_style()
    fig, ax = plt.subplots(figsize=(12, 3.8))
    labels = [f"{c[:4]} {AU_NAMES[c[:4]]}" for c in means.columns]
    sns.heatmap(
        means.set_axis(labels, axis=1),
        annot=True,
        fmt=".1f",
        cmap="viridis",
        ax=ax,
        annot_kws={"size": 7},
        cbar_kws={"label": "mean intensity (0-5)"},
    )
    ax.set(xlabel="", ylabel="", title=title or "mean AU intensity per emotion")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    return fig


# --- CREMA-D metadata -----------------------------------------------------------------------------------


def load_crema_d_names(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, SkipLog]:
    """Every CREMA-D clip name in ``folder/SentenceFilenames.csv`` parsed, and the actors' demographics.

    Returns (clips: one row per clip with the parsed fields, demographics: ``VideoDemographics.csv``
    indexed by actor, names that do not parse as a :class:`SkipLog`).
    """
    folder = Path(folder)
    names_csv, demo_csv = folder / "SentenceFilenames.csv", folder / "VideoDemographics.csv"
    for path in (names_csv, demo_csv):
        if not path.is_file():
            raise DataError(
                path, "not found", "pass the CREMA-D metadata folder (SentenceFilenames.csv, VideoDemographics.csv)"
            )
    demographics = pd.read_csv(demo_csv).set_index("ActorID")
    genders = {str(actor): str(sex).lower() for actor, sex in demographics["Sex"].items()}
    skipped = SkipLog("crema-d names")
    rows = []
    for name in pd.read_csv(names_csv)["Filename"].astype(str):
        try:
            rows.append(vars(parse_crema_d(name, genders)))
        except FilenameError as exc:
            skipped.add(name, names_csv, str(exc))
    return pd.DataFrame(rows), demographics, skipped


def plot_crema_d_overview(clips: pd.DataFrame, demographics: pd.DataFrame) -> Figure:
    """CREMA-D at a glance: clips per emotion and intensity level, actors by sex, actors' ages."""
    use_style()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), gridspec_kw={"width_ratios": [1.4, 0.7, 1]})
    counts = pd.crosstab(clips["emotion"], clips["intensity"]).reindex(_ordered_emotions(clips["emotion"]))
    counts.plot.bar(stacked=True, ax=axes[0], rot=30)
    axes[0].set(xlabel="", ylabel="clips", title=f"{len(clips)} clips per emotion (by intensity level)")
    axes[0].legend(fontsize=7, title="level", title_fontsize=7)
    sexes = demographics["Sex"].str.lower().value_counts()
    axes[1].bar(sexes.index, sexes.to_numpy(), color=[GENDER_COLOURS.get(s, "C7") for s in sexes.index])
    axes[1].set(ylabel="actors", title=f"{len(demographics)} actors by sex")
    axes[2].hist(demographics["Age"], bins=15, color="C2")
    axes[2].set(xlabel="age (years)", ylabel="actors", title="actors' ages")
    return fig
