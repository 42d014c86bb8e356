"""The branches of the pipeline: for each, which manifest column it needs, how its features are built
(cached under ``out/features``) and how it trains through the one routine in ``emo_utils.train``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emo_utils.errors import SkipLog
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


@dataclass
class BranchSpec:
    """One branch: its modality, the manifest column it needs, its features and its training settings."""

    name: str
    modality: str
    needs: tuple[str, ...]
    build_features: FeatureBuilder
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
    from emo_utils.video.slowfast import extract_clip_tensors
    return extract_clip_tensors(ctx.tasks("video_path"), ctx.features_dir / "slowfast_clips.npz",
                                ctx.features_dir / "cache" / "slowfast", n_jobs=ctx.n_jobs, progress=ctx.progress)


def _au_features(ctx: FeatureContext) -> tuple[FeatureSet, SkipLog]:
    from emo_utils.video.openface import au_feature_matrix, load_au_means
    rows = ctx.manifest[ctx.manifest["au_path"] != ""]
    tables = [load_au_means(path) for path in rows["au_path"].unique()]
    return au_feature_matrix(pd.concat(tables), rows["take_id"].tolist())


def _mean_std_over_time(X: np.ndarray) -> np.ndarray:
    return np.concatenate([X.mean(axis=1), X.std(axis=1)], axis=1)


def _mean_over_time(X: np.ndarray) -> np.ndarray:
    return X.astype(np.float32).mean(axis=1)


BRANCHES: dict[str, BranchSpec] = {spec.name: spec for spec in [
    BranchSpec("audio_mfcc_cnn", "audio", ("audio_path", "video_path"), _mfcc_features,
               TrainConfig("audio_cnn1d", epochs=40, lr=1e-3, patience=8), _mean_std_over_time,
               "ZCR + RMS + MFCC frames (noise/pitch augmentation) into a 1-D CNN"),
    BranchSpec("audio_wav2vec_lstm", "audio", ("audio_path", "video_path"), _wav2vec_features,
               TrainConfig("sequence_lstm", epochs=30, lr=1e-3, patience=6), _mean_over_time,
               "wav2vec 2.0 frame embeddings into a bidirectional LSTM"),
    BranchSpec("video_vit_cnn", "video", ("video_path",), _vit_features,
               TrainConfig("frame_cnn2d", epochs=30, lr=3e-4, patience=6), _mean_over_time,
               "22 Haar face crops -> ViT embeddings -> small 2-D CNN"),
    BranchSpec("video_slowfast", "video", ("video_path",), _slowfast_features,
               TrainConfig("slowfast", epochs=20, lr=1e-3, patience=5, batch_size=16, standardize=False),
               None, "SlowFast 3-D CNN on the frames", actor_norm_applies=False),
    BranchSpec("face_au", "video", ("au_path",), _au_features,
               TrainConfig("mlp", epochs=150, lr=1e-3, patience=20, batch_size=64), lambda X: X,
               "OpenFace facial action units (per-clip means) into an MLP"),
]}
