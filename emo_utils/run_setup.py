"""A prepared run: the settings a workflow run depends on, its manifest with actor folds (a cached stage), its
labels and the protocol line every number carries; what every stage of :mod:`emo_utils.workflow` reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from emo_utils.branches import BranchSpec, FeatureContext
from emo_utils.data.folds import describe_protocol, make_folds
from emo_utils.data.manifest import STAGE_VERSION as MANIFEST_VERSION
from emo_utils.data.manifest import dataset_name, excerpt_note, index_dataset, load_manifest, summarize
from emo_utils.devices import resolve_device
from emo_utils.extraction import default_jobs
from emo_utils.labels import run_labels
from emo_utils.speaker_norm import SpeakerNorm
from emo_utils.stages import Stage
from emo_utils.train import TrainConfig

log = logging.getLogger(__name__)

# Speaker-independent folds by corpus: RAVDESS 6 folds of 4 actors (2 male, 2 female); EmoDB 5 folds of one male
# and one female speaker, its usual protocol; anything else 6.
DEFAULT_FOLDS = {"emodb": 5}


@dataclass
class WorkflowSettings:
    """Everything a run depends on (``emo workflow --help`` documents each)."""

    data_root: Path | None
    out: Path
    branches: tuple[str, ...] | None = None
    folds: int | str | None = None  # None: the corpus's usual scheme (DEFAULT_FOLDS)
    fold_seed: int | None = None
    epochs: int | None = None
    clip_limit: int | None = None
    wav2vec_model: str = "facebook/wav2vec2-base"
    vit_model: str = "google/vit-base-patch16-224-in21k"
    allow_stand_ins: bool = True
    fuse_random_weights: bool = False
    speaker_norm: str | SpeakerNorm = "none"  # a SpeakerNorm or its name ("none", "enrol:K", "all"); kept as the name
    early_fusion: bool = True
    attention_fusion: bool = False  # cross-modal attention over audio frames and face tokens (intermediate_fusion)
    baselines: bool = True
    distill: bool = False  # cross-modal distillation of each audio MLP branch (emo_utils.distill)
    seed: int = 0
    n_jobs: int | None = None
    progress: bool = True
    demo_actors: int = 12
    features_dir: Path | None = None  # default out/features; runs of the same data may share one
    device: str = "cpu"  # where backbones extract features and models train: cpu, cuda or auto (emo_utils.devices)
    norm: SpeakerNorm = field(init=False, repr=False, compare=False)  # speaker_norm, parsed once

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.data_root = Path(self.data_root) if self.data_root is not None else None
        self.norm = SpeakerNorm.parse(self.speaker_norm)
        self.speaker_norm = str(self.norm)
        resolve_device(self.device)  # fail now, not after the corpus is indexed and features are extracted

    @property
    def jobs(self) -> int:
        """Processes that extract features and train folds side by side (``--jobs``; default every core)."""
        return self.n_jobs or default_jobs()


@dataclass
class Run:
    """A prepared run: its settings, manifest, labels and the protocol line every number carries."""

    settings: WorkflowSettings
    manifest: pd.DataFrame
    dataset: str
    labels: tuple[str, ...]
    protocol: str

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest["synthetic"].any())

    def rows(self, clip_ids: np.ndarray) -> pd.DataFrame:
        """The manifest rows of ``clip_ids``, in that order."""
        return self.manifest.set_index("take_id").loc[clip_ids].reset_index()


def limit_takes(manifest: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """At most ``n`` takes, dealt round-robin over actors and, within each actor, over emotions."""
    if n is None or n >= len(manifest):
        return manifest
    actor_rank = manifest["actor"].rank(method="dense").astype(int)
    code = {e: i for i, e in enumerate(sorted(manifest["emotion"].unique()))}
    by_emotion = manifest.assign(
        _e=manifest.groupby(["actor", "emotion"]).cumcount(),
        _turn=(manifest["emotion"].map(code) + actor_rank) % len(code),
    )
    by_emotion = by_emotion.sort_values(["actor", "_e", "_turn"])
    ranked = by_emotion.assign(_r=by_emotion.groupby("actor").cumcount()).sort_values(["_r", "actor"])
    return ranked.head(n).drop(columns=["_e", "_turn", "_r"]).sort_values(["actor", "take_id"]).reset_index(drop=True)


def _manifest_stage(settings: WorkflowSettings) -> Stage:
    params = {
        "data_root": str(settings.data_root) if settings.data_root else None,
        "clip_limit": settings.clip_limit,
        "folds": str(settings.folds),
        "fold_seed": settings.fold_seed,
        "demo_actors": settings.demo_actors,
        "seed": settings.seed,
    }
    return Stage("manifest", MANIFEST_VERSION, params)


def _describe(manifest: pd.DataFrame, settings: WorkflowSettings) -> Run:
    dataset = dataset_name(manifest)
    scheme = (
        "EmoBox folds"
        if settings.folds == "emobox"
        else (f"folds redrawn with seed {settings.fold_seed}" if settings.fold_seed is not None else "")
    )
    protocol = describe_protocol(
        manifest["fold"].to_numpy(),
        manifest["actor"].to_numpy(),
        dataset + excerpt_note(manifest),
        speaker_norm=settings.norm.description,
        scheme=scheme,
    )
    return Run(settings, manifest, dataset, run_labels(manifest["emotion"]), protocol)


def prepare_run(settings: WorkflowSettings) -> Run:
    """The run's manifest with actor folds: loaded when current, else made now (the demo corpus is generated
    when no data root is given)."""
    path, stage_dir, stage = settings.out / "manifest.csv", settings.out / "manifest_stage", _manifest_stage(settings)
    if path.is_file() and stage.is_current(stage_dir):
        return _describe(load_manifest(path), settings)
    root = settings.data_root
    if root is None:
        from emo_utils.synthetic.corpus import generate_demo_corpus

        root = generate_demo_corpus(
            settings.out / "demo_data", n_actors=settings.demo_actors, seed=settings.seed, progress=settings.progress
        )
    log.info("indexing %s ...", root)
    manifest, skipped = index_dataset(root)
    manifest = limit_takes(manifest[manifest["vocal_channel"] == "speech"], settings.clip_limit)
    folds = settings.folds or DEFAULT_FOLDS.get(dataset_name(manifest), 6)
    manifest["fold"] = make_folds(manifest["actor"], manifest["gender"], folds, settings.fold_seed)
    settings.out.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(path, index=False)
    log.info(summarize(manifest))
    log.info(skipped.report(settings.out / "index_skipped.csv" if len(skipped) else None))
    stage.mark_done(stage_dir)
    return _describe(manifest, settings)


def feature_context(run: Run) -> FeatureContext:
    """What the feature builders need for this run."""
    s = run.settings
    return FeatureContext(
        run.manifest,
        s.features_dir or s.out / "features",
        s.wav2vec_model,
        s.vit_model,
        s.allow_stand_ins,
        s.n_jobs,
        s.progress,
        s.seed,
        str(resolve_device(s.device)),
    )


def branch_config(spec: BranchSpec, settings: WorkflowSettings) -> TrainConfig:
    """The branch's training settings as this run uses them (seed, epoch override, speaker normalisation)."""
    norm = settings.speaker_norm if spec.speaker_norm_applies else "none"
    return replace(spec.train, seed=settings.seed, epochs=settings.epochs or spec.train.epochs, speaker_norm=norm)
