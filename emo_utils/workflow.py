"""The end-to-end workflow: index -> features -> train each branch (actors held out) -> fuse -> report.

The run it works on (settings, manifest with actor folds, labels, protocol) is prepared by
:mod:`emo_utils.run_setup`; this module holds the stages that train, tune, fuse and report.

Every stage writes under one output folder and is skipped when its fingerprint (parameters, code version,
inputs: see :mod:`emo_utils.stages`) is unchanged:

    out/manifest.csv                      takes, actors, labels, paths, fold
    out/features/STAGE-FINGERPRINT/       one folder per feature stage and version
    out/branches/NAME/                    the branch artifact (emo_utils.artifacts): oof.csv, inner_oof.csv,
                                          provenance.json, fold*.pt, pooled.npz, history.csv
    out/baselines/NAME/                   the same for the branch's untuned SVM baseline
    out/baselines/lr/NAME/                ... and for its untuned logistic-regression baseline
    out/fusion/STRATEGY/oof.csv           fused out-of-fold probabilities (early/ is a trained artifact)
    out/fusion/fusion_config.json         the late-fusion config the demo loads
    out/fusion/distilled/NAME/            with --distill: the audio branch's student distilled from the audio-visual
                                          teacher (emo_utils.distill), an artifact like a branch's
    out/metrics.json, out/report.md, out/figures/*.png
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emo_utils.artifacts import (
    OOF_FILE,
    BranchArtifact,
    fusable,
    load_artifact,
    read_oof,
    write_branch_artifact,
)
from emo_utils.baselines import BASELINES, baseline_cross_validate
from emo_utils.baselines import STAGE_VERSION as BASELINE_VERSION
from emo_utils.branches import BRANCHES, BranchSpec, FeatureContext
from emo_utils.devices import resolve_device
from emo_utils.distill import run_distillation
from emo_utils.errors import DataError, EmoError, MissingWeightsError, SettingsError
from emo_utils.evaluate import format_metrics, metrics_from_table
from emo_utils.extraction import start_worker_server
from emo_utils.feature_store import FeatureSet
from emo_utils.fusion import (
    DEFAULT_STRATEGIES,
    EARLY,
    STRATEGIES,
    deployment_config,
    fuse_cross_validated,
    joint_features,
    kept_per_fold,
    result_table,
    save_fusion_config,
    stack_branches,
    stack_with_inner,
)
from emo_utils.fusion import STAGE_VERSION as FUSION_VERSION
from emo_utils.labels import emotion_index
from emo_utils.provenance import METRICS_FILE, BranchProvenance, WorkflowMetrics, workflow_record
from emo_utils.report import provenance_line, write_report
from emo_utils.run_setup import Run, WorkflowSettings, branch_config, feature_context, prepare_run
from emo_utils.stages import Stage, recorded_fingerprint, stable_hash
from emo_utils.train import STAGE_VERSION as TRAINING_VERSION
from emo_utils.train import TrainConfig, cross_validate
from emo_utils.tuning import STAGE_VERSION as TUNING_VERSION
from emo_utils.tuning import choose_per_fold, combine, inner_scores

log = logging.getLogger(__name__)

EARLY_CONFIG = TrainConfig("mlp", {"hidden": (256, 64), "dropout": 0.5}, epochs=100, patience=15, batch_size=64)


def _labels(run: Run, clip_ids: np.ndarray) -> np.ndarray:
    return np.array([emotion_index(e, run.labels) for e in run.rows(clip_ids)["emotion"]])


def training_stage(
    run: Run, features: FeatureSet, config: TrainConfig, inputs: Sequence[Stage | str], nested: bool
) -> Stage:
    """The stage that cross-validates ``config`` on ``features``: the training settings, labels, clips and folds,
    reading the feature stages (or finished stages' fingerprints) ``inputs``."""
    params = {
        "train": asdict(config),
        "labels": run.labels,
        "nested": nested,
        "clips": stable_hash(features.clip_ids.tolist()),
        "folds": stable_hash(run.rows(features.clip_ids)["fold"].tolist()),
    }
    return Stage("train", TRAINING_VERSION, params, tuple(inputs))


def cross_validated_stage(
    run: Run,
    features: FeatureSet,
    config: TrainConfig,
    folder: Path,
    inputs: Sequence[Stage | str],
    provenance: BranchProvenance,
    pooled: FeatureSet | None = None,
    nested: bool = True,
    desc: str = "train",
) -> BranchArtifact:
    """Actor-independent cross-validation of ``config`` on ``features``, saved as an artifact in ``folder``;
    loaded instead when its fingerprint (settings, training version, the feature stages it read) is unchanged."""
    rows = run.rows(features.clip_ids)
    stage = training_stage(run, features, config, inputs, nested)
    if stage.is_current(folder, ("oof.csv", "provenance.json")):
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
    write_branch_artifact(folder, result.oof, provenance.with_details(train=asdict(config)), pooled, result.inner_oof)
    result.history.to_csv(folder / "history.csv", index=False)
    stage.mark_done(folder)
    return load_artifact(folder)


def branch_provenance(
    run: Run, spec: BranchSpec, features: FeatureSet, config: TrainConfig, n_skipped: int
) -> BranchProvenance:
    return BranchProvenance(
        branch=spec.name,
        modality=spec.modality,
        description=spec.description,
        random_weights=features.random_weights,
        speaker_norm=config.speaker_norm,
        synthetic=run.synthetic,
        dataset=run.dataset,
        protocol=run.protocol,
        labels=run.labels,
        n_skipped=n_skipped,
    )


def run_branch(spec: BranchSpec, run: Run, ctx: FeatureContext) -> BranchArtifact | None:
    """Build features and cross-validate one branch (cached), and its SVM baseline; None without usable clips."""
    started = time.perf_counter()
    ctx.stages.clear()
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
        artifact = tuned_stage(run, spec, features, config, folder, list(ctx.stages), provenance, pooled)
    else:
        artifact = cross_validated_stage(
            run, features, config, folder, list(ctx.stages), provenance, pooled, nested=nested, desc=spec.name
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
            _run_baseline(run, spec, pooled, config, list(ctx.stages), provenance)
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
    inputs: Sequence[Stage | str],
    provenance: BranchProvenance,
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
    return chosen_per_fold_stage(
        spec.name, candidates, spec.candidates, folder, provenance.with_details(train=asdict(config)), pooled
    )


def chosen_per_fold_stage(
    name: str,
    candidates: dict[str, BranchArtifact],
    settings: dict[str, dict[str, Any]],
    folder: Path,
    provenance: BranchProvenance,
    pooled: FeatureSet | None = None,
) -> BranchArtifact:
    """The trained ``candidates`` (name -> artifact, made with the changes ``settings[name]``) combined into one
    artifact in ``folder``: per test fold the candidate chosen on the inner folds of its training actors, with its
    checkpoint and its predictions (cached by the candidates' fingerprints)."""
    upstream = tuple(f"{c}:{recorded_fingerprint(a.folder)}" for c, a in candidates.items())
    stage = Stage("tuned", TUNING_VERSION, {"candidates": sorted(candidates)}, upstream)
    if stage.is_current(folder, ("oof.csv", "provenance.json")):
        log.info("[%s] cached results in %s", name, folder)
        return load_artifact(folder)
    inner = {c: a.inner_oof() for c, a in candidates.items()}
    choice = choose_per_fold(inner)  # type: ignore[arg-type]
    oof, inner_oof = combine({c: a.oof for c, a in candidates.items()}, inner, choice)  # type: ignore[arg-type]
    folder.mkdir(parents=True, exist_ok=True)
    for fold, chosen in choice.items():
        shutil.copy(candidates[chosen].folder / f"fold{fold}.pt", folder / f"fold{fold}.pt")
    shutil.copy(candidates[choice[min(choice)]].folder / "history.csv", folder / "history.csv")
    scores = inner_scores(inner).round(4).to_dict()  # type: ignore[arg-type]
    details = provenance.with_details(candidates=settings, chosen_per_fold=choice, inner_accuracy=scores)
    write_branch_artifact(folder, oof, details, pooled, inner_oof)
    log.info(
        "[%s] setting chosen per test fold on inner folds: %s",
        name,
        ", ".join(f"fold {k}: {v}" for k, v in choice.items()),
    )
    stage.mark_done(folder)
    return load_artifact(folder)


def _baseline_folder(run: Run, baseline: str, branch: str) -> Path:
    """Where a branch's baseline is saved: ``baselines/NAME`` for the SVM, ``baselines/lr/NAME`` for the others."""
    folder = run.settings.out / "baselines"
    return folder / branch if baseline == "SVM" else folder / baseline.lower() / branch


def _run_baseline(
    run: Run,
    spec: BranchSpec,
    pooled: FeatureSet,
    config: TrainConfig,
    inputs: Sequence[Stage | str],
    provenance: BranchProvenance,
) -> None:
    """The branch's untuned baselines (SVM, logistic regression) on its pooled features, same folds and speaker
    normalisation (cached)."""
    rows = run.rows(pooled.clip_ids)
    for baseline in BASELINES.values():
        folder = _baseline_folder(run, baseline.name, spec.name)
        params = {
            "model": baseline.name,
            "speaker_norm": config.speaker_norm,
            "seed": run.settings.seed,
            "labels": run.labels,
            "folds": stable_hash(rows["fold"].tolist()),
        }
        stage = Stage("baseline", BASELINE_VERSION, params, tuple(inputs))
        if not stage.is_current(folder, ("oof.csv",)):
            oof = baseline_cross_validate(
                baseline.name,
                pooled,
                _labels(run, pooled.clip_ids),
                rows["actor"].to_numpy(),
                rows["fold"].to_numpy(),
                config.speaker_norm,
                run.labels,
                run.settings.seed,
                run.settings.seed,
            )
            described = replace(provenance, description=f"{baseline.description} of {spec.name}")
            write_branch_artifact(folder, oof, described.with_details(baseline_of=spec.name))
            stage.mark_done(folder)
        log.info(
            format_metrics(
                f"baseline {baseline.name} {spec.name}",
                metrics_from_table(load_artifact(folder).oof),
                run.protocol,
                provenance_line(run.synthetic, provenance.random_weights),
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


def late_fusion(run: Run, fused: dict[str, BranchArtifact]) -> dict[str, pd.DataFrame]:
    """:func:`fuse_artifacts` of the fused branches, saved as ``out/fusion/STRATEGY/oof.csv``; loaded instead
    when the branches' stages and the fusion code's version are unchanged (always fitted when a branch was made
    outside a stage, without a fingerprint)."""
    folder = run.settings.out / "fusion"
    strategies = DEFAULT_STRATEGIES[:-1]
    fingerprints = {name: recorded_fingerprint(a.folder) for name, a in fused.items()}
    inputs = tuple(f"{name}:{fingerprint}" for name, fingerprint in fingerprints.items())
    stage = Stage("late_fusion", FUSION_VERSION, {"strategies": list(strategies)}, inputs)
    outputs = [Path(strategy) / OOF_FILE for strategy in strategies]
    if None not in fingerprints.values() and stage.is_current(folder, outputs):
        log.info("[fusion] cached late-fusion tables in %s", folder)
        return {strategy: read_oof(folder / strategy / OOF_FILE) for strategy in strategies}
    tables = fuse_artifacts(fused, strategies)
    for strategy, table in tables.items():
        (folder / strategy).mkdir(parents=True, exist_ok=True)
        table.to_csv(folder / strategy / OOF_FILE, index=False)
    stage.mark_done(folder)
    return tables


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
    inputs = [f"{name}:{recorded_fingerprint(a.folder)}" for name, a in artifacts.items() if name in usable]
    provenance = BranchProvenance(
        branch=EARLY,
        modality="audio+video",
        description="one MLP on " + " + ".join(usable) + " pooled features",
        random_weights=False,
        speaker_norm=config.speaker_norm,
        synthetic=run.synthetic,
        dataset=run.dataset,
        protocol=run.protocol,
        labels=run.labels,
        details={"fuses": list(usable)},
    )
    return cross_validated_stage(
        run, joint, config, run.settings.out / "fusion" / EARLY, inputs, provenance, nested=False, desc="early fusion"
    )


def run_fusion(run: Run, artifacts: dict[str, BranchArtifact]) -> dict[str, dict[str, Any]]:
    """Every fusion strategy over the branches allowed into fusion; tables and the demo config under out/fusion."""
    fused = fusable(artifacts, run.settings.fuse_random_weights)
    if len(fused) < 2:
        log.warning("[fusion] needs at least two branches, have %s: skipped", list(fused))
        return {}
    late = late_fusion(run, fused)
    tables = dict(late)
    if run.settings.early_fusion:
        early = early_fusion(run, fused)
        if early is not None:
            tables[EARLY] = early.oof.assign(fused_from="+".join(early.provenance["fuses"]))
    attention = None
    if run.settings.attention_fusion:
        from emo_utils.intermediate_fusion import ATTENTION, attention_fusion  # it builds on this module's stages

        attention = attention_fusion(run, fused)
        if attention is not None:
            tables[ATTENTION] = attention.table
    folder = run.settings.out / "fusion"
    results: dict[str, dict[str, Any]] = {}
    for strategy, table in tables.items():
        if strategy not in late:  # late_fusion saved its own tables
            (folder / strategy).mkdir(parents=True, exist_ok=True)
            table.to_csv(folder / strategy / "oof.csv", index=False)
        results[strategy] = {**metrics_from_table(table), "branches": list(fused)}
        if kept := kept_per_fold(table):
            results[strategy]["kept_per_fold"] = kept
        log.info(
            format_metrics(
                f"fusion {strategy}",
                results[strategy],
                run.protocol,
                provenance_line(run.synthetic, any(a.random_weights for a in fused.values())),
            )
        )
    if attention is not None:
        results[ATTENTION].update(attention.summary)  # its own inputs and the late fusions of the same inputs
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
    """Metrics of each untuned baseline (``SVM``, ``LR``) of ``names``, and of its equal-weight late fusion and
    product rule (e.g. ``LR face_au``, ``LR fusion product``)."""
    results: dict[str, dict[str, Any]] = {}
    for baseline in BASELINES:
        folders = {n: _baseline_folder(run, baseline, n) for n in names}
        tables = {n: load_artifact(f).oof for n, f in folders.items() if (f / "oof.csv").is_file()}
        results.update({f"{baseline} {n}": {**metrics_from_table(t), "baseline_of": n} for n, t in tables.items()})
        if len(tables) > 1:
            stack = stack_branches(tables)
            for strategy in ("late_equal", "product"):
                fused = result_table(stack, fuse_cross_validated(stack, strategy))
                results[f"{baseline} fusion {strategy}"] = {**metrics_from_table(fused), "branches": list(tables)}
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
            if isinstance(exc, MissingWeightsError) and not settings.allow_stand_ins:  # real weights or no run
                raise MissingWeightsError(f"[{name}] --no-stand-ins, and its weights are missing: {exc}") from exc
            log.warning("[%s] skipped: %s", name, exc)
            continue
        if artifact is not None:
            artifacts[name] = artifact
            timings[name] = round(time.perf_counter() - branch_started, 1)
    fusion = run_fusion(run, artifacts)
    distillation = run_distillation(run, artifacts, ctx) if settings.distill else {}
    metrics = WorkflowMetrics(
        protocol=run.protocol,
        speaker_norm=settings.speaker_norm,
        folds=str(settings.folds),
        fold_seed=settings.fold_seed,
        seed=settings.seed,
        dataset=run.dataset,
        synthetic=run.synthetic,
        n_takes=int(len(run.manifest)),
        labels=run.labels,
        branches={
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
        baselines=baseline_metrics(run, list(artifacts)) if settings.baselines else {},
        fusion=fusion,
        wall_time_s=round(time.perf_counter() - started, 1),
        distillation=distillation,
    ).to_dict()
    (settings.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    if artifacts:
        write_report(metrics, settings.out)
    workflow_record(settings).write(settings.out)  # last: marks a finished workflow run (emo demo --run latest)
    return metrics
