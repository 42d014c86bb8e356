"""The branches of the pipeline: for each, which manifest column it needs, how its features are built
(cached under ``out/features``, one keyed folder per stage) and how it trains through the one routine in
``emo_utils.train``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.clip_media import ClipMedia
from emo_utils.errors import MissingModalityError, SkipLog
from emo_utils.feature_store import FeatureSet
from emo_utils.stages import Stage, stable_hash
from emo_utils.train import TrainConfig

AUDIO_INPUTS = ("audio_path", "video_path")  # a separate audio file, else the video's sound track


@dataclass
class FeatureContext:
    """What a feature builder needs: the manifest rows to use, the output folder and model choices."""

    manifest: pd.DataFrame
    features_dir: Path
    wav2vec_model: str
    vit_model: str
    allow_stand_ins: bool
    n_jobs: int | None
    progress: bool
    seed: int = 0
    device: str = "cpu"
    stages: list[Stage] = field(default_factory=list)  # the feature stages built since the list was cleared

    def stage(self, name: str, version: int, params: dict[str, Any], inputs: tuple[Stage, ...] = ()) -> Stage:
        """A feature stage over this context's clips (their ids are one of its parameters), recorded in
        :attr:`stages`; its outputs go to ``stage.folder(self.features_dir)``."""
        stage = Stage(name, version, {**params, "takes": stable_hash(sorted(self.manifest["take_id"]))}, inputs)
        self.stages.append(stage)
        return stage

    @property
    def stages_used(self) -> list[str]:
        """The folder names (under ``features_dir``) of :attr:`stages`."""
        return [stage.folder_name for stage in self.stages]

    def stand_in_dir(self, kind: str) -> Path | None:
        return self.features_dir / "stand_in_models" / kind if self.allow_stand_ins else None

    def tasks(self, column: str) -> list[tuple[str, str]]:
        rows = self.manifest[self.manifest[column] != ""]
        return list(zip(rows["take_id"], rows[column]))

    def audio_tasks(self) -> list[tuple[str, str]]:
        """Audio file per take, or the audio track of its video when there is no separate audio."""
        source = self.manifest["audio_path"].where(self.manifest["audio_path"] != "", self.manifest["video_path"])
        rows = self.manifest.assign(source=source)
        rows = rows[rows["source"] != ""]
        return list(zip(rows["take_id"], rows["source"]))


FeatureBuilder = Callable[[FeatureContext], tuple[FeatureSet, SkipLog]]
ClipInput = Callable[[ClipMedia, dict[str, Any]], np.ndarray]


@dataclass
class BranchSpec:
    """One branch: its modality, the manifest column it needs, its features and its training settings.

    ``candidates`` (name -> TrainConfig fields to change) are alternatives chosen between per test fold on the
    nested predictions of its training actors (:mod:`emo_utils.tuning`); without them ``train`` is fixed a priori.
    ``pooled`` turns the branch's features into one vector per clip (early fusion and the SVM baseline use
    it); ``speaker_norm_applies`` is False where per-speaker z-scoring makes no sense (raw pixels);
    ``demo_limit`` says why the demo cannot compute the input (the demo's fusion config gives the branch weight 0).
    """

    name: str
    modality: str
    needs: tuple[str, ...]
    build_features: FeatureBuilder
    clip_input: ClipInput
    train: TrainConfig
    pooled: Callable[[np.ndarray], np.ndarray] | None = None
    description: str = ""
    speaker_norm_applies: bool = True
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    demo_limit: str = ""  # why the demo cannot compute this branch's input from a clip ("" when it can)

    def has_inputs(self, manifest: pd.DataFrame) -> bool:
        return any((manifest[column] != "").any() for column in self.needs)


def _mfcc_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.audio.features import STAGE_VERSION, extract_dataset_features

    folder = ctx.stage("audio_mfcc", STAGE_VERSION, {"seed": ctx.seed}).folder(ctx.features_dir)
    return extract_dataset_features(
        ctx.audio_tasks(),
        folder / "features.npz",
        folder / "cache",
        n_jobs=ctx.n_jobs,
        progress=ctx.progress,
        seed=ctx.seed,
    )


def _wav2vec_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.audio.wav2vec import STAGE_VERSION, extract_wav2vec

    params = {"model": ctx.wav2vec_model, "stand_ins": ctx.allow_stand_ins, "device": ctx.device}
    folder = ctx.stage("wav2vec", STAGE_VERSION, params).folder(ctx.features_dir)
    return extract_wav2vec(
        ctx.audio_tasks(),
        folder / "wav2vec.npz",
        ctx.wav2vec_model,
        stand_in_dir=ctx.stand_in_dir("wav2vec2"),
        progress=ctx.progress,
        device=ctx.device,
    )


def face_crops_stage(ctx: FeatureContext) -> Stage:
    """The face-crop stage the video branches read (its folder holds the crops of every video clip)."""
    from emo_utils.video.faces import STAGE_VERSION, default_detector

    return ctx.stage("faces", STAGE_VERSION, {"detector": default_detector()})


def _face_crops(ctx: FeatureContext) -> tuple[Stage, FeatureSet, SkipLog]:
    """The face-crop stage and its RGB crops (what the ViT and FER stages read)."""
    from emo_utils.video.faces import extract_face_crops

    stage = face_crops_stage(ctx)
    _, rgb, skipped = extract_face_crops(
        ctx.tasks("video_path"), stage.folder(ctx.features_dir), n_jobs=ctx.n_jobs, progress=ctx.progress
    )
    return stage, rgb, skipped


def _vit_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.video.vit import STAGE_VERSION, extract_vit_embeddings

    faces, rgb, skipped = _face_crops(ctx)
    params = {"model": ctx.vit_model, "stand_ins": ctx.allow_stand_ins, "crops": rgb.meta, "device": ctx.device}
    folder = ctx.stage("vit", STAGE_VERSION, params, (faces,)).folder(ctx.features_dir)
    return extract_vit_embeddings(
        rgb,
        folder / "vit.npz",
        ctx.vit_model,
        stand_in_dir=ctx.stand_in_dir("vit"),
        progress=ctx.progress,
        device=ctx.device,
    ), skipped


def _slowfast_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.video.faces import STAGE_VERSION as FACES_VERSION
    from emo_utils.video.slowfast import STAGE_VERSION, ClipSettings, extract_clip_tensors

    # its clips are tracked face crops, so the face-crop code's version is one of its parameters
    folder = ctx.stage("slowfast", STAGE_VERSION, {"clip": ClipSettings(), "faces_version": FACES_VERSION}).folder(
        ctx.features_dir
    )
    return extract_clip_tensors(
        ctx.tasks("video_path"),
        folder / "clips.npz",
        folder / "cache",
        ClipSettings(),
        n_jobs=ctx.n_jobs,
        progress=ctx.progress,
    )


def _au_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.video.openface import STAGE_VERSION, au_feature_matrix, load_au_means

    rows = ctx.manifest[ctx.manifest["au_path"] != ""]
    ctx.stage("face_au", STAGE_VERSION, {"tables": sorted(rows["au_path"].unique())})
    tables = [load_au_means(path) for path in rows["au_path"].unique()]
    return au_feature_matrix(pd.concat(tables), rows["take_id"].tolist())


# One clip's model input, computed exactly as the dataset features were (settings from the feature meta; the
# demo adds "device": where the backbone runs).


def _mfcc_clip(media: ClipMedia, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.audio.features import FeatureParams, waveform_features

    params = FeatureParams(**meta["params"])
    return waveform_features(media.waveform_at(params.sample_rate), params)


def _wav2vec_clip(media: ClipMedia, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.audio.features import fix_frames, trim_silence
    from emo_utils.audio.wav2vec import embed_batch
    from emo_utils.backbones import cached_backbone

    backbone = cached_backbone("wav2vec2", meta["model"], meta.get("device", "cpu"))
    y = media.waveform_at(meta["sample_rate"])
    if meta.get("top_db") is not None:
        y = trim_silence(y, meta["top_db"])
    return fix_frames(embed_batch(backbone, [y], meta["layer"])[0], meta["max_frames"])


def _vit_clip(media: ClipMedia, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.backbones import cached_backbone
    from emo_utils.video.faces import frames_face_crops
    from emo_utils.video.vit import embed_faces

    crops = meta["crops"]
    faces = frames_face_crops(media.sampled_frames(crops["n_frames"]), media.name, crops["detector"], crops["size"])
    return embed_faces(cached_backbone("vit", meta["model"], meta.get("device", "cpu")), faces["rgb"])


def _slowfast_clip(media: ClipMedia, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.video.slowfast import ClipSettings, frames_slowfast_clip

    settings = ClipSettings(**meta["clip"])
    return frames_slowfast_clip(media.sampled_frames(settings.n_frames), media.name, settings)


def _au_clip(media: ClipMedia, meta: dict[str, Any]) -> np.ndarray:
    raise MissingModalityError(
        media.name,
        "facial action units come from OpenFace, which this demo does not run on raw video",
        "use the face branches, or add the clip's OpenFace AU row",
    )


# The frame CNN sized for a CPU: each frame's embedding projected to 32 dimensions before the convolutions, and half
# the reference design's filters (emo_utils.models.FrameEmbeddingCNN2D), chosen a priori for their cost.
FRAME_CNN_CPU: dict[str, Any] = {"project": 32, "filters": (16, 32)}

# Sizes and regularisation of the MLP heads, chosen per test fold on inner folds (not by looking at test folds).
MLP_CANDIDATES: dict[str, dict[str, Any]] = {
    "small": {"model_kwargs": {"hidden": (64,), "dropout": 0.3}},
    "medium": {"model_kwargs": {"hidden": (128, 64), "dropout": 0.3}},
    "wide": {"model_kwargs": {"hidden": (256, 128), "dropout": 0.5}, "weight_decay": 1e-2},
}


def _mlp_branch(
    name: str,
    modality: str,
    needs: tuple[str, ...],
    features: FeatureBuilder,
    clip_input: ClipInput,
    description: str,
    demo_limit: str = "",
) -> BranchSpec:
    """A branch of one feature vector per clip into an MLP whose size is chosen per fold among MLP_CANDIDATES."""
    return BranchSpec(
        name,
        modality,
        needs,
        features,
        clip_input,
        TrainConfig("mlp", epochs=100, lr=1e-3, patience=15, batch_size=64),
        lambda X: X,
        description,
        candidates=MLP_CANDIDATES,
        demo_limit=demo_limit,
    )


def _mean_std_over_time(X: np.ndarray) -> np.ndarray:
    return np.concatenate([X.mean(axis=1), X.std(axis=1)], axis=1)


def _mean_over_time(X: np.ndarray) -> np.ndarray:
    return X.astype(np.float32).mean(axis=1)


def _smile_features(ctx: FeatureContext, feature_set: str) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.audio.opensmile_features import STAGE_VERSION, SmileParams, extract_smile_features

    folder = ctx.stage(f"audio_{feature_set}", STAGE_VERSION, {}).folder(ctx.features_dir)
    return extract_smile_features(
        ctx.audio_tasks(),
        folder / "features.npz",
        folder / "cache",
        SmileParams(feature_set),
        n_jobs=ctx.n_jobs,
        progress=ctx.progress,
    )


def _smile_clip(media: ClipMedia, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.audio.opensmile_features import SmileParams, waveform_smile_features

    params = SmileParams(**meta["params"])
    return waveform_smile_features(media.waveform_at(params.sample_rate), params, media.name)


def fer_stage(ctx: FeatureContext) -> tuple[FeatureSet, FeatureSet, SkipLog]:
    """The ``video_fer`` feature stage (cached): per-frame embeddings (N, T, 128), per-frame FER2013
    probabilities (N, T, 7) (what the zero-shot predictions average) and the clips the face crops skipped."""
    from emo_utils.video.expression import STAGE_VERSION, extract_expression_features

    faces, rgb, skipped = _face_crops(ctx)
    folder = ctx.stage("fer", STAGE_VERSION, {"crops": rgb.meta, "device": ctx.device}, (faces,)).folder(
        ctx.features_dir
    )
    embeddings, proba = extract_expression_features(rgb, folder, device=ctx.device, progress=ctx.progress)
    return embeddings, proba, skipped


def _fer_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    embeddings, _, skipped = fer_stage(ctx)
    return embeddings, skipped


def _fer_clip(media: ClipMedia, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.video.expression import load_expression_model
    from emo_utils.video.faces import frames_face_crops

    crops = meta["crops"]
    faces = frames_face_crops(media.sampled_frames(crops["n_frames"]), media.name, crops["detector"], crops["size"])
    return load_expression_model(meta.get("device", "cpu")).predict(faces["rgb"]).embedding


BRANCHES: dict[str, BranchSpec] = {
    spec.name: spec
    for spec in [
        BranchSpec(
            "audio_mfcc_cnn",
            "audio",
            AUDIO_INPUTS,
            _mfcc_features,
            _mfcc_clip,
            TrainConfig("audio_cnn1d", epochs=50, lr=1e-3, patience=10, weight_decay=1e-2, label_smoothing=0.1),
            _mean_std_over_time,
            "ZCR + RMS + MFCC frames (noise/pitch augmentation) into a 1-D CNN",
        ),
        BranchSpec(
            "audio_wav2vec_lstm",
            "audio",
            AUDIO_INPUTS,
            _wav2vec_features,
            _wav2vec_clip,
            TrainConfig("sequence_lstm", epochs=30, lr=1e-3, patience=6),
            _mean_over_time,
            "wav2vec 2.0 frame embeddings into a bidirectional LSTM",
        ),
        BranchSpec(
            "video_vit_cnn",
            "video",
            ("video_path",),
            _vit_features,
            _vit_clip,
            TrainConfig("frame_cnn2d", FRAME_CNN_CPU, epochs=30, lr=3e-4, patience=6),
            _mean_over_time,
            "22 face crops (MTCNN, else Haar) -> ViT embeddings -> small 2-D CNN",
        ),
        BranchSpec(
            "video_slowfast",
            "video",
            ("video_path",),
            _slowfast_features,
            _slowfast_clip,
            TrainConfig(
                "slowfast",
                {"dropout_rate": 0.0, "augment_shift": 0},
                epochs=15,
                lr=3e-3,
                patience=15,
                batch_size=8,
                standardize=False,
            ),
            None,
            "small SlowFast 3-D CNN on tracked 64x64 face-crop clips (8 frames)",
            speaker_norm_applies=False,
        ),
        _mlp_branch(
            "face_au",
            "video",
            ("au_path",),
            _au_features,
            _au_clip,
            "OpenFace facial action units (per-clip means) into an MLP",
            demo_limit="its action units come precomputed from OpenFace, which the demo does not run",
        ),
        _mlp_branch(
            "audio_egemaps",
            "audio",
            AUDIO_INPUTS,
            partial(_smile_features, feature_set="egemaps"),
            _smile_clip,
            "eGeMAPS v02 functionals (88 per utterance, openSMILE) into an MLP",
        ),
        _mlp_branch(
            "audio_compare",
            "audio",
            AUDIO_INPUTS,
            partial(_smile_features, feature_set="compare"),
            _smile_clip,
            "ComParE 2016 functionals (6373 per utterance, openSMILE) into an MLP",
        ),
        BranchSpec(
            "video_fer",
            "video",
            ("video_path",),
            _fer_features,
            _fer_clip,
            TrainConfig("frame_cnn2d", FRAME_CNN_CPU, epochs=30, lr=3e-4, patience=6),
            _mean_over_time,
            "22 face crops -> pretrained FER2013 mini-Xception embeddings (128-d, real weights) -> small 2-D CNN",
        ),
    ]
}
