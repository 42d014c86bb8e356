"""The end-to-end workflow: index -> features -> train each branch (actors held out) -> fuse -> report.

Every stage writes under one output folder and is skipped when its key (settings, code, inputs: see
:mod:`emo_utils.stage_cache`) is unchanged:

    out/manifest.csv                      takes, actors, labels, paths, fold
    out/features/STAGE-KEY/               one folder per feature stage and version
    out/branches/NAME/                    the branch artifact (emo_utils.artifacts): oof.csv, inner_oof.csv,
                                          provenance.json, fold*.pt, pooled.npz, history.csv
    out/baselines/NAME/                   the same for the branch's untuned SVM baseline
    out/fusion/STRATEGY/oof.csv           fused out-of-fold probabilities (early/ is a trained artifact)
    out/fusion/fusion_config.json         the late-fusion config the demo loads
    out/metrics.json, out/report.md, out/figures/*.png
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emo_utils.artifacts import BranchArtifact, fusable, load_artifact, write_branch_artifact
from emo_utils.baselines import BASELINE, svm_cross_validate
from emo_utils.branches import BRANCHES, BranchSpec, FeatureContext
from emo_utils.data.folds import describe_protocol, make_folds
from emo_utils.data.manifest import dataset_name, excerpt_note, index_dataset, load_manifest, summarize
from emo_utils.devices import resolve_device
from emo_utils.errors import DataError, EmoError, SettingsError
from emo_utils.evaluate import format_metrics, metrics_from_table
from emo_utils.extraction import default_jobs, start_worker_server
from emo_utils.feature_store import FeatureSet
from emo_utils.fusion import (
    DEFAULT_STRATEGIES,
    EARLY,
    STRATEGIES,
    deployment_config,
    fuse_cross_validated,
    joint_features,
    result_table,
    save_fusion_config,
    stack_branches,
    stack_with_inner,
)
from emo_utils.labels import emotion_index, run_labels
from emo_utils.report import provenance_line, write_report
from emo_utils.speaker_norm import SpeakerNorm
from emo_utils.stage_cache import is_current, mark_done, stable_hash, stage_key, stage_key_of
from emo_utils.train import TrainConfig, cross_validate
from emo_utils.tuning import choose_per_fold, combine, inner_scores

log = logging.getLogger(__name__)

TRAIN_CODE = (
    "emo_utils.models",
    "emo_utils.train",
    "emo_utils.stacked",
    "emo_utils.speaker_norm",
    "emo_utils.data.folds",
)
MODEL_CODE = {"slowfast": ("emo_utils.video.slowfast",)}
MANIFEST_CODE = ("emo_utils.data.manifest", "emo_utils.data.naming", "emo_utils.data.folds")
# Speaker-independent folds by corpus: RAVDESS 6 folds of 4 actors (2 male, 2 female); EmoDB 5 folds of one male
# and one female speaker, its usual protocol; anything else 6.
DEFAULT_FOLDS = {"emodb": 5}
EARLY_CONFIG = TrainConfig("mlp", {"hidden": (256, 64), "dropout": 0.5}, epochs=100, patience=15, batch_size=64)


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
    speaker_norm: str = "none"
    early_fusion: bool = True
    baselines: bool = True
    seed: int = 0
    n_jobs: int | None = None
    progress: bool = True
    demo_actors: int = 12
    features_dir: Path | None = None  # default out/features; runs of the same data may share one
    device: str = "cpu"  # where backbones extract features and models train: cpu, cuda or auto (emo_utils.devices)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.data_root = Path(self.data_root) if self.data_root is not None else None
        self.speaker_norm = str(SpeakerNorm.parse(self.speaker_norm))
        resolve_device(self.device)  # fail now, not after the corpus is indexed and features are extracted

    @property
    def norm(self) -> SpeakerNorm:
        return SpeakerNorm.parse(self.speaker_norm)

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


def _manifest_key(settings: WorkflowSettings) -> str:
    return stage_key(
        {
            "data_root": str(settings.data_root) if settings.data_root else None,
            "clip_limit": settings.clip_limit,
            "folds": str(settings.folds),
            "fold_seed": settings.fold_seed,
            "demo_actors": settings.demo_actors,
            "seed": settings.seed,
        },
        code=MANIFEST_CODE,
    )


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
    path, stage = settings.out / "manifest.csv", settings.out / "manifest_stage"
    key = _manifest_key(settings)
    if path.is_file() and is_current(stage, key):
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
    mark_done(stage, key, {"data_root": str(root)})
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


def _labels(run: Run, clip_ids: np.ndarray) -> np.ndarray:
    return np.array([emotion_index(e, run.labels) for e in run.rows(clip_ids)["emotion"]])


def cross_validated_stage(
    run: Run,
    features: FeatureSet,
    config: TrainConfig,
    folder: Path,
    inputs: list[str],
    provenance: dict[str, Any],
    pooled: FeatureSet | None = None,
    nested: bool = True,
    desc: str = "train",
) -> BranchArtifact:
    """Actor-independent cross-validation of ``config`` on ``features``, saved as an artifact in ``folder``;
    loaded instead when its key (settings, training code, the feature stages it read) is unchanged."""
    rows = run.rows(features.clip_ids)
    settings = {
        "train": asdict(config),
        "labels": run.labels,
        "nested": nested,
        "clips": stable_hash(features.clip_ids.tolist()),
        "folds": stable_hash(rows["fold"].tolist()),
    }
    key = stage_key(settings, code=(*TRAIN_CODE, *MODEL_CODE.get(config.model, ())), inputs=inputs)
    if is_current(folder, key, ("oof.csv", "provenance.json")):
        log.info("[%s] cached results in %s", desc, folder)
        return load_artifact(folder)
    log.info(
        "[%s] training: %s holds no results for these settings, code and features (%d clips, %d folds%s)",
        desc,
        folder,
        len(features),
        rows["fold"].nunique(),
        ", nested" if nested else "",
    )
    result = cross_validate(
        features,
        _labels(run, features.clip_ids),
        rows["actor"].to_numpy(),
        rows["gender"].to_numpy(),
        rows["fold"].to_numpy(),
        config,
        out_dir=folder,
        desc=desc,
        progress=run.settings.progress,
        n_jobs=run.settings.jobs,
        nested=nested,
        label_names=run.labels,
        enrol_seed=run.settings.seed,
        device=str(resolve_device(run.settings.device)),
    )
    write_branch_artifact(folder, result.oof, {**provenance, "train": asdict(config)}, pooled, result.inner_oof)
    result.history.to_csv(folder / "history.csv", index=False)
    mark_done(folder, key, settings)
    return load_artifact(folder)


def branch_provenance(
    run: Run, spec: BranchSpec, features: FeatureSet, config: TrainConfig, n_skipped: int
) -> dict[str, Any]:
    return {
        "branch": spec.name,
        "modality": spec.modality,
        "description": spec.description,
        "random_weights": features.random_weights,
        "speaker_norm": config.speaker_norm,
        "synthetic": run.synthetic,
        "dataset": run.dataset,
        "protocol": run.protocol,
        "labels": run.labels,
        "n_skipped": n_skipped,
    }


def run_branch(spec: BranchSpec, run: Run, ctx: FeatureContext) -> BranchArtifact | None:
    """Build features and cross-validate one branch (cached), and its SVM baseline; None without usable clips."""
    started = time.perf_counter()
    ctx.stages_used.clear()
    features, skipped = spec.build_features(ctx)
    folder = run.settings.out / "branches" / spec.name
    log.info(skipped.report(folder / "skipped.csv"))
    if len(features) == 0:
        log.warning("[%s] no usable clips: branch left out", spec.name)
        return None
    config = branch_config(spec, run.settings)
    pooled = FeatureSet(features.clip_ids, spec.pooled(features.X), {"pooled_from": spec.name}) if spec.pooled else None
    provenance = branch_provenance(run, spec, features, config, len(skipped))
    # nested predictions only serve fusion, which leaves random stand-in branches out unless asked
    nested = not features.random_weights or run.settings.fuse_random_weights
    if spec.candidates:
        artifact = tuned_stage(run, spec, features, config, folder, list(ctx.stages_used), provenance, pooled)
    else:
        artifact = cross_validated_stage(
            run, features, config, folder, list(ctx.stages_used), provenance, pooled, nested=nested, desc=spec.name
        )
    log.info(
        format_metrics(
            spec.name,
            metrics_from_table(artifact.oof),
            run.protocol,
            provenance_line(run.synthetic, artifact.random_weights),
        )
    )
    if pooled is not None and run.settings.baselines:
        try:
            _run_baseline(run, spec, pooled, config, list(ctx.stages_used), provenance)
        except SettingsError as exc:
            log.warning("[%s] no SVM baseline: %s", spec.name, exc)
    log.info("[%s] done in %.0f s", spec.name, time.perf_counter() - started)
    return artifact


def tuned_stage(
    run: Run,
    spec: BranchSpec,
    features: FeatureSet,
    config: TrainConfig,
    folder: Path,
    inputs: list[str],
    provenance: dict[str, Any],
    pooled: FeatureSet | None,
) -> BranchArtifact:
    """The branch with its setting chosen per test fold among ``spec.candidates`` on inner folds (cached)."""
    candidates = {
        name: cross_validated_stage(
            run,
            features,
            replace(config, **changes),
            folder / "candidates" / name,
            inputs,
            provenance,
            desc=f"{spec.name} [{name}]",
        )
        for name, changes in spec.candidates.items()
    }
    key = stage_key(
        {"candidates": sorted(spec.candidates)},
        code=("emo_utils.tuning",),
        inputs=[f"{name}:{stage_key_of(a.folder)}" for name, a in candidates.items()],
    )
    if is_current(folder, key, ("oof.csv", "provenance.json")):
        return load_artifact(folder)
    inner = {name: a.inner_oof() for name, a in candidates.items()}
    choice = choose_per_fold(inner)  # type: ignore[arg-type]
    oof, inner_oof = combine({name: a.oof for name, a in candidates.items()}, inner, choice)  # type: ignore[arg-type]
    for fold, name in choice.items():
        shutil.copy(candidates[name].folder / f"fold{fold}.pt", folder / f"fold{fold}.pt")
    shutil.copy(candidates[choice[min(choice)]].folder / "history.csv", folder / "history.csv")
    scores = inner_scores(inner).round(4)  # type: ignore[arg-type]
    write_branch_artifact(
        folder,
        oof,
        {
            **provenance,
            "train": asdict(config),
            "candidates": spec.candidates,
            "chosen_per_fold": choice,
            "inner_accuracy": scores.to_dict(),
        },
        pooled,
        inner_oof,
    )
    log.info(
        "[%s] setting chosen per test fold on inner folds: %s",
        spec.name,
        ", ".join(f"fold {k}: {v}" for k, v in choice.items()),
    )
    mark_done(folder, key, {"candidates": spec.candidates})
    return load_artifact(folder)


def _run_baseline(
    run: Run, spec: BranchSpec, pooled: FeatureSet, config: TrainConfig, inputs: list[str], provenance: dict[str, Any]
) -> None:
    """The branch's untuned SVM on its pooled features, same folds and speaker normalisation (cached)."""
    folder = run.settings.out / "baselines" / spec.name
    rows = run.rows(pooled.clip_ids)
    settings = {
        "speaker_norm": config.speaker_norm,
        "seed": run.settings.seed,
        "labels": run.labels,
        "folds": stable_hash(rows["fold"].tolist()),
    }
    key = stage_key(settings, code=("emo_utils.baselines", "emo_utils.speaker_norm"), inputs=inputs)
    if not is_current(folder, key, ("oof.csv",)):
        oof = svm_cross_validate(
            pooled,
            _labels(run, pooled.clip_ids),
            rows["actor"].to_numpy(),
            rows["fold"].to_numpy(),
            config.speaker_norm,
            run.labels,
            run.settings.seed,
            run.settings.seed,
        )
        write_branch_artifact(
            folder, oof, {**provenance, "description": f"{BASELINE} of {spec.name}", "baseline_of": spec.name}
        )
        mark_done(folder, key, settings)
    log.info(
        format_metrics(
            f"baseline SVM {spec.name}",
            metrics_from_table(load_artifact(folder).oof),
            run.protocol,
            provenance_line(run.synthetic, provenance["random_weights"]),
        )
    )


def fuse_artifacts(
    artifacts: dict[str, BranchArtifact], strategies: tuple[str, ...] = DEFAULT_STRATEGIES[:-1]
) -> dict[str, pd.DataFrame]:
    """Out-of-fold tables of each late strategy over the artifacts; learned ones fitted on nested predictions."""
    stack, inner = stack_with_inner(
        {n: a.oof for n, a in artifacts.items()}, {n: a.inner_oof() for n, a in artifacts.items()}
    )
    return {
        s: result_table(stack, fuse_cross_validated(stack, s, inner=inner if STRATEGIES[s].fit else None))
        for s in strategies
    }


def early_fusion(run: Run, artifacts: dict[str, BranchArtifact]) -> BranchArtifact | None:
    """One MLP on the fused branches' concatenated pooled features, cross-validated like a branch (cached)."""
    pooled = {name: a.pooled() for name, a in artifacts.items()}
    usable = {name: p for name, p in pooled.items() if p is not None}
    if len(usable) < 2:
        return None
    joint = joint_features(usable)
    config = replace(
        EARLY_CONFIG,
        seed=run.settings.seed,
        epochs=run.settings.epochs or EARLY_CONFIG.epochs,
        speaker_norm=run.settings.speaker_norm,
    )
    inputs = [f"{name}:{stage_key_of(a.folder)}" for name, a in artifacts.items() if name in usable]
    provenance = {
        "branch": EARLY,
        "modality": "audio+video",
        "description": "one MLP on " + " + ".join(usable) + " pooled features",
        "random_weights": False,
        "speaker_norm": config.speaker_norm,
        "synthetic": run.synthetic,
        "dataset": run.dataset,
        "protocol": run.protocol,
        "labels": run.labels,
        "fuses": list(usable),
    }
    return cross_validated_stage(
        run, joint, config, run.settings.out / "fusion" / EARLY, inputs, provenance, nested=False, desc="early fusion"
    )


def run_fusion(run: Run, artifacts: dict[str, BranchArtifact]) -> dict[str, dict[str, Any]]:
    """Every fusion strategy over the branches allowed into fusion; tables and the demo config under out/fusion."""
    fused = fusable(artifacts, run.settings.fuse_random_weights)
    if len(fused) < 2:
        log.warning("[fusion] needs at least two branches, have %s: skipped", list(fused))
        return {}
    tables = fuse_artifacts(fused)
    if run.settings.early_fusion:
        early = early_fusion(run, fused)
        if early is not None:
            tables[EARLY] = early.oof.assign(fused_from="+".join(early.provenance["fuses"]))
    folder = run.settings.out / "fusion"
    results: dict[str, dict[str, Any]] = {}
    for strategy, table in tables.items():
        (folder / strategy).mkdir(parents=True, exist_ok=True)
        table.to_csv(folder / strategy / "oof.csv", index=False)
        results[strategy] = {**metrics_from_table(table), "branches": list(fused)}
        log.info(
            format_metrics(
                f"fusion {strategy}",
                results[strategy],
                run.protocol,
                provenance_line(run.synthetic, any(a.random_weights for a in fused.values())),
            )
        )
    config = deployment_config(
        {name: a.oof for name, a in fused.items()},
        not_in_demo={name: BRANCHES[name].demo_limit for name in fused if BRANCHES[name].demo_limit},
        note=(
            "weights learned on all actors' out-of-fold predictions, for the demo; the evaluation in metrics.json "
            f"fitted them per test fold on nested predictions of training actors only ({run.protocol})"
        ),
    )
    save_fusion_config(config, folder / "fusion_config.json")
    for name, why in config.reasons.items():
        log.info("[demo config] %s: %s", name, why)
    return results


def baseline_metrics(run: Run, names: list[str]) -> dict[str, dict[str, Any]]:
    """Metrics of the SVM baselines of ``names`` and of their equal-weight late fusion."""
    folder = run.settings.out / "baselines"
    tables = {n: load_artifact(folder / n).oof for n in names if (folder / n / "oof.csv").is_file()}
    results = {f"SVM {n}": {**metrics_from_table(t), "baseline_of": n} for n, t in tables.items()}
    if len(tables) > 1:
        stack = stack_branches(tables)
        fused = result_table(stack, fuse_cross_validated(stack, "late_equal"))
        results["SVM fusion late_equal"] = {**metrics_from_table(fused), "branches": list(tables)}
    return results


def train_branch(name: str, settings: WorkflowSettings) -> BranchArtifact | None:
    """Features + actor-independent cross-validation of one branch (cached): what notebooks 05 and 06 call."""
    run = prepare_run(settings)
    spec = BRANCHES[name]
    if not spec.has_inputs(run.manifest):
        log.warning("[%s] skipped: the data has no %s", name, " or ".join(spec.needs))
        return None
    return run_branch(spec, run, feature_context(run))


def ensure_branches(settings: WorkflowSettings, names: tuple[str, ...]) -> dict[str, BranchArtifact]:
    """The named branches' artifacts for these settings: loaded when current, trained when missing or made with
    other settings (the log says why; the progress bar shows the time left)."""
    run = prepare_run(settings)
    artifacts = {}
    for name in names:
        if not BRANCHES[name].has_inputs(run.manifest):
            continue
        artifact = train_branch(name, settings)  # cached stages load in seconds
        if artifact is not None:
            artifacts[name] = artifact
    if not artifacts:
        raise DataError(settings.out / "branches", "no branch could be trained or loaded", "check data_root")
    return artifacts


def run_workflow(settings: WorkflowSettings) -> dict[str, Any]:
    """Run every stage (cached) and write ``metrics.json``; returns the metrics."""
    torch.set_num_threads(1)  # small models train fastest on one thread; folds and extraction use processes
    started = time.perf_counter()
    if settings.jobs > 1:
        start_worker_server()  # imports in the background while the data is indexed
    run = prepare_run(settings)
    log.info("protocol: %s", run.protocol)
    ctx = feature_context(run)
    artifacts: dict[str, BranchArtifact] = {}
    timings: dict[str, float] = {}
    for name in settings.branches or tuple(BRANCHES):
        spec = BRANCHES[name]
        if not spec.has_inputs(run.manifest):
            log.info("[%s] skipped: the data has no %s (e.g. no videos)", name, " or ".join(spec.needs))
            continue
        branch_started = time.perf_counter()
        try:
            artifact = run_branch(spec, run, ctx)
        except EmoError as exc:
            log.warning("[%s] skipped: %s", name, exc)
            continue
        if artifact is not None:
            artifacts[name] = artifact
            timings[name] = round(time.perf_counter() - branch_started, 1)
    fusion = run_fusion(run, artifacts)
    metrics = {
        "protocol": run.protocol,
        "speaker_norm": settings.speaker_norm,
        "folds": str(settings.folds),
        "fold_seed": settings.fold_seed,
        "seed": settings.seed,
        "dataset": run.dataset,
        "synthetic": run.synthetic,
        "n_takes": int(len(run.manifest)),
        "labels": list(run.labels),
        "branches": {
            n: {
                **metrics_from_table(a.oof),
                "random_weights": a.random_weights,
                "speaker_norm": a.provenance.get("speaker_norm"),
                "description": a.provenance.get("description", ""),
                "wall_time_s": timings[n],
                "n_skipped": a.provenance.get("n_skipped", 0),
            }
            for n, a in artifacts.items()
        },
        "baselines": baseline_metrics(run, list(artifacts)) if settings.baselines else {},
        "fusion": fusion,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    (settings.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if artifacts:
        write_report(metrics, settings.out)
    return metrics
