"""Intermediate fusion as a workflow stage: cross-modal attention (:mod:`emo_utils.attention_fusion`) over one audio
branch's frames and one face branch's tokens, trained like a branch (actors held out, nested folds, early stopping
on validation actors) with its size chosen per test fold on inner folds, and compared with the late fusions of the
same two branches.

Its inputs are the first fused audio branch whose features are frames (``AUDIO_SEQUENCES``) and the first fused face
branch (``FACE_INPUTS``): on real RAVDESS the MFCC frames and the facial-AU vector of each take (one token); on the
demo corpus, without action units, the per-frame FER2013 embeddings of the face crops. Results go to
``out/fusion/cross_attention/`` (candidates under ``candidates/``), cached by their stage fingerprints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from emo_utils.artifacts import BranchArtifact
from emo_utils.attention_fusion import pack_modalities
from emo_utils.branches import BRANCHES
from emo_utils.evaluate import metrics_from_table
from emo_utils.provenance import BranchProvenance
from emo_utils.run_setup import Run, feature_context
from emo_utils.train import TrainConfig
from emo_utils.workflow import chosen_per_fold_stage, cross_validated_stage, fuse_artifacts

log = logging.getLogger(__name__)

ATTENTION = "cross_attention"

AUDIO_SEQUENCES = ("audio_mfcc_cnn", "audio_wav2vec_lstm")  # branches whose features are frames (N, T, F)
FACE_INPUTS = ("face_au", "video_fer", "video_vit_cnn")  # a vector or frames per clip, in order of preference

# Fixed a priori, as the MFCC CNN's training (AdamW, weight decay 1e-2, label smoothing 0.1, early stopping on the
# validation actors); the width is chosen per test fold on inner folds among ATTENTION_CANDIDATES.
ATTENTION_CONFIG = TrainConfig(
    "cross_attention",
    {"heads": 4, "dropout": 0.3, "stride": 3},
    epochs=30,
    batch_size=64,
    lr=1e-3,
    weight_decay=1e-2,
    patience=6,
    label_smoothing=0.1,
)
ATTENTION_CANDIDATES: dict[str, dict[str, Any]] = {"d32": {"d_model": 32}, "d64": {"d_model": 64}}


@dataclass
class AttentionFusion:
    """The stage's out-of-fold table and what ``metrics.json`` records beside its metrics."""

    table: pd.DataFrame
    summary: dict[str, Any]


def attention_inputs(artifacts: dict[str, BranchArtifact]) -> tuple[str, str] | None:
    """The audio-sequence and face branch the attention reads among ``artifacts``, or None without both."""
    audio = next((name for name in AUDIO_SEQUENCES if name in artifacts), None)
    face = next((name for name in FACE_INPUTS if name in artifacts), None)
    return (audio, face) if audio and face else None


def _provenance(run: Run, audio: str, face: str, random_weights: bool) -> BranchProvenance:
    return BranchProvenance(
        branch=ATTENTION,
        modality="audio+video",
        description=f"cross-modal attention: {audio} frames <-> {face} tokens",
        random_weights=random_weights,
        speaker_norm=run.settings.speaker_norm,
        synthetic=run.synthetic,
        dataset=run.dataset,
        protocol=run.protocol,
        labels=run.labels,
        details={"fuses": [audio, face]},
    )


def _train_candidates(run: Run, audio: str, face: str) -> dict[str, BranchArtifact]:
    """Each candidate width cross-validated with nested folds on the packed features (each cached)."""
    ctx = feature_context(run)
    audio_features, _ = BRANCHES[audio].build_features(ctx)
    face_features, _ = BRANCHES[face].build_features(ctx)
    packed = pack_modalities(audio_features, face_features)
    config = replace(
        ATTENTION_CONFIG,
        model_kwargs={**ATTENTION_CONFIG.model_kwargs, "n_audio": packed.meta["n_audio"]},
        seed=run.settings.seed,
        epochs=run.settings.epochs or ATTENTION_CONFIG.epochs,
        speaker_norm=run.settings.speaker_norm,
    )
    provenance = _provenance(run, audio, face, audio_features.random_weights or face_features.random_weights)
    folder = run.settings.out / "fusion" / ATTENTION / "candidates"
    return {
        name: cross_validated_stage(
            run,
            packed,
            replace(config, model_kwargs={**config.model_kwargs, **changes}),
            folder / name,
            list(ctx.stages),
            provenance,
            desc=f"{ATTENTION} [{name}]",
        )
        for name, changes in ATTENTION_CANDIDATES.items()
    }


def _tuned(run: Run, audio: str, face: str) -> BranchArtifact:
    """The attention model with its width chosen per test fold on the inner folds of its training actors."""
    started = time.perf_counter()
    candidates = _train_candidates(run, audio, face)
    first = next(iter(candidates.values()))
    provenance = _provenance(run, audio, face, first.random_weights).with_details(
        train=first.provenance["train"], train_time_s=round(time.perf_counter() - started, 1)
    )
    folder = run.settings.out / "fusion" / ATTENTION
    return chosen_per_fold_stage(ATTENTION, candidates, ATTENTION_CANDIDATES, folder, provenance)


def attention_fusion(run: Run, artifacts: dict[str, BranchArtifact]) -> AttentionFusion | None:
    """Cross-modal attention over the fused branches' audio frames and face tokens (cached), with the late fusions
    of the same two branches beside it; None when the run has no audio-sequence or no face branch."""
    inputs = attention_inputs(artifacts)
    if inputs is None:
        log.warning("[%s] skipped: needs one of %s and one of %s", ATTENTION, AUDIO_SEQUENCES, FACE_INPUTS)
        return None
    audio, face = inputs
    artifact = _tuned(run, audio, face)
    late = {
        strategy: round(metrics_from_table(table)["accuracy"], 4)
        for strategy, table in fuse_artifacts({audio: artifacts[audio], face: artifacts[face]}).items()
    }
    best = max(late, key=late.__getitem__)
    details = artifact.provenance
    summary = {
        "branches": [audio, face],
        "description": details["description"],
        "chosen_per_fold": details["chosen_per_fold"],
        "inner_accuracy": details["inner_accuracy"],
        "train": details["train"],
        "candidates": ATTENTION_CANDIDATES,
        "train_time_s": details["train_time_s"],
        "late_same_inputs": late,
        "best_late_same_inputs": best,
    }
    return AttentionFusion(artifact.oof.assign(fused_from=f"{audio}+{face}"), summary)
