"""The branches of the pipeline: for each, which manifest column it needs, how its features are built
(cached under ``out/features``) and how it trains through the one routine in ``emo_utils.train``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.errors import MissingModalityError, SkipLog
from emo_utils.feature_store import FeatureSet
from emo_utils.train import TrainConfig


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
ClipInput = Callable[[str | None, str | None, dict[str, Any]], np.ndarray]


@dataclass
class BranchSpec:
    """One branch: its modality, the manifest column it needs, its features and its training settings."""

    name: str
    modality: str
    needs: tuple[str, ...]
    build_features: FeatureBuilder
    clip_input: ClipInput
    train: TrainConfig
    pooled: Callable[[np.ndarray], np.ndarray] | None = None
    description: str = ""
    actor_norm_applies: bool = True

    def has_inputs(self, manifest: pd.DataFrame) -> bool:
        return any((manifest[column] != "").any() for column in self.needs)


def _mfcc_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.audio.features import extract_dataset_features
    return extract_dataset_features(ctx.audio_tasks(), ctx.features_dir / "audio_mfcc.npz",
                                    ctx.features_dir / "cache" / "audio_mfcc", n_jobs=ctx.n_jobs,
                                    progress=ctx.progress, seed=ctx.seed)


def _wav2vec_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.audio.wav2vec import extract_wav2vec
    return extract_wav2vec(ctx.audio_tasks(), ctx.features_dir / "wav2vec.npz", ctx.wav2vec_model,
                           stand_in_dir=ctx.stand_in_dir("wav2vec2"), progress=ctx.progress)


def _face_crops(ctx: FeatureContext) -> tuple[FeatureSet, FeatureSet, SkipLog]:
    from emo_utils.video.faces import extract_face_crops
    return extract_face_crops(ctx.tasks("video_path"), ctx.features_dir / "faces", n_jobs=ctx.n_jobs,
                              progress=ctx.progress)


def _vit_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.video.vit import extract_vit_embeddings
    _, rgb, skipped = _face_crops(ctx)
    return extract_vit_embeddings(rgb, ctx.features_dir / "vit.npz", ctx.vit_model,
                                  stand_in_dir=ctx.stand_in_dir("vit"), progress=ctx.progress), skipped


def _slowfast_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.video.slowfast import ClipSettings, extract_clip_tensors
    return extract_clip_tensors(ctx.tasks("video_path"), ctx.features_dir / "slowfast_clips.npz",
                                ctx.features_dir / "cache" / "slowfast", ClipSettings(), n_jobs=ctx.n_jobs,
                                progress=ctx.progress)


def _au_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.video.openface import au_feature_matrix, load_au_means
    rows = ctx.manifest[ctx.manifest["au_path"] != ""]
    tables = [load_au_means(path) for path in rows["au_path"].unique()]
    return au_feature_matrix(pd.concat(tables), rows["take_id"].tolist())


# One clip's model input, computed exactly as the dataset features were (settings from the feature meta).
# Arguments: the video file, the audio file (either may be None), and the branch's feature meta.

def _need(path: str | None, what: str) -> str:
    if not path:
        raise MissingModalityError(what, f"no {what} given", f"pass a file with {what}")
    return path


def _mfcc_clip(video: str | None, audio: str | None, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.audio.features import FeatureParams, clip_features
    return clip_features(_need(audio or video, "audio"), FeatureParams(**meta["params"]))["X"]


def _wav2vec_clip(video: str | None, audio: str | None, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.audio.features import fix_frames, trim_silence
    from emo_utils.audio.io import load_audio
    from emo_utils.audio.wav2vec import embed_batch
    from emo_utils.backbones import cached_backbone
    backbone = cached_backbone("wav2vec2", meta["model"])
    y = load_audio(_need(audio or video, "audio"), meta["sample_rate"])
    if meta.get("top_db") is not None:
        y = trim_silence(y, meta["top_db"])
    return fix_frames(embed_batch(backbone, [y], meta["layer"])[0], meta["max_frames"])


def _vit_clip(video: str | None, audio: str | None, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.backbones import cached_backbone
    from emo_utils.video.faces import clip_face_crops
    from emo_utils.video.vit import embed_faces
    crops = meta["crops"]
    faces = clip_face_crops(_need(video, "video"), crops["n_frames"], crops["detector"], crops["size"])
    return embed_faces(cached_backbone("vit", meta["model"]), faces["rgb"])


def _slowfast_clip(video: str | None, audio: str | None, meta: dict[str, Any]) -> np.ndarray:
    from emo_utils.video.slowfast import ClipSettings, slowfast_clip
    return slowfast_clip(_need(video, "video"), ClipSettings(**meta["clip"]))


def _au_clip(video: str | None, audio: str | None, meta: dict[str, Any]) -> np.ndarray:
    raise MissingModalityError(video or "input", "facial action units come from OpenFace, which this demo does "
                               "not run on raw video", "use the video branches, or add the clip's OpenFace AU row")


def _mean_std_over_time(X: np.ndarray) -> np.ndarray:
    return np.concatenate([X.mean(axis=1), X.std(axis=1)], axis=1)


def _mean_over_time(X: np.ndarray) -> np.ndarray:
    return X.astype(np.float32).mean(axis=1)


BRANCHES: dict[str, BranchSpec] = {spec.name: spec for spec in [
    BranchSpec("audio_mfcc_cnn", "audio", ("audio_path", "video_path"), _mfcc_features, _mfcc_clip,
               TrainConfig("audio_cnn1d", epochs=50, lr=3e-3, patience=10, weight_decay=1e-2,
                           label_smoothing=0.1), _mean_std_over_time,
               "ZCR + RMS + MFCC frames (noise/pitch augmentation) into a 1-D CNN"),
    BranchSpec("audio_wav2vec_lstm", "audio", ("audio_path", "video_path"), _wav2vec_features, _wav2vec_clip,
               TrainConfig("sequence_lstm", epochs=30, lr=1e-3, patience=6), _mean_over_time,
               "wav2vec 2.0 frame embeddings into a bidirectional LSTM"),
    BranchSpec("video_vit_cnn", "video", ("video_path",), _vit_features, _vit_clip,
               TrainConfig("frame_cnn2d", epochs=30, lr=3e-4, patience=6), _mean_over_time,
               "22 Haar face crops -> ViT embeddings -> small 2-D CNN"),
    BranchSpec("video_slowfast", "video", ("video_path",), _slowfast_features, _slowfast_clip,
               TrainConfig("slowfast", {"dropout_rate": 0.0, "augment_shift": 0}, epochs=15, lr=3e-3, patience=15,
                           batch_size=8, standardize=False),
               None, "small SlowFast 3-D CNN on tracked 64x64 face-crop clips (8 frames)", actor_norm_applies=False),
    BranchSpec("face_au", "video", ("au_path",), _au_features, _au_clip,
               TrainConfig("mlp", epochs=100, lr=1e-3, patience=15, batch_size=64), lambda X: X,
               "OpenFace facial action units (per-clip means) into an MLP"),
]}
