"""The end-to-end workflow: index -> features -> train each branch (actors held out) -> fuse -> report.

Every stage writes under one output folder and is skipped when its inputs and settings are unchanged:

    out/manifest.csv                      takes, actors, labels, paths, fold
    out/features/*.npz                    one feature file per branch (plus caches)
    out/branches/NAME/oof.csv             out-of-fold class probabilities per clip
    out/branches/NAME/fold*.pt            one checkpoint per fold (used by the demo)
    out/fusion/STRATEGY/oof.csv           fused out-of-fold probabilities
    out/fusion/fusion_config.json         the late-fusion config the demo loads
    out/metrics.json, out/report.md, out/figures/*.png
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emo_utils.branches import BRANCHES, BranchSpec, FeatureContext
from emo_utils.data.folds import assign_actor_folds, describe_protocol
from emo_utils.data.manifest import dataset_name, index_dataset, summarize
from emo_utils.errors import EmoError
from emo_utils.evaluate import format_metrics, metrics_from_table
from emo_utils.extraction import default_jobs, start_worker_server
from emo_utils.feature_store import FeatureSet
from emo_utils.fusion import (FusionConfig, fuse_cross_validated, learn_weights, result_table, save_fusion_config,
                              stack_branches)
from emo_utils.labels import EMOTIONS, emotion_index
from emo_utils.plotting import plot_confusions, plot_metric_bars, save_figure
from emo_utils.train import TrainConfig, cross_validate

FUSION_STRATEGIES = ("late_equal", "late_learned", "product", "stacking", "dynamic")


@dataclass
class WorkflowSettings:
    """Everything a run depends on (``emo workflow --help`` documents each)."""

    data_root: Path | None
    out: Path
    branches: tuple[str, ...] | None = None
    n_folds: int = 6
    epochs: int | None = None
    clip_limit: int | None = None
    wav2vec_model: str = "facebook/wav2vec2-base"
    vit_model: str = "google/vit-base-patch16-224-in21k"
    allow_stand_ins: bool = True
    fuse_random_weights: bool = False
    actor_norm: bool = True
    early_fusion: bool = True
    seed: int = 0
    n_jobs: int | None = None
    progress: bool = True
    demo_actors: int = 12


@dataclass
class BranchOutcome:
    """A trained branch: its out-of-fold table, metrics and provenance."""

    name: str
    oof: pd.DataFrame
    metrics: dict[str, Any]
    features: FeatureSet


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _code_version() -> str:
    """Hash of the model and training code, so a code change invalidates cached checkpoints."""
    from emo_utils import models, train
    return _hash([Path(module.__file__).read_text() for module in (models, train)])


def _stage_current(folder: Path, params: dict[str, Any], outputs: tuple[str, ...]) -> bool:
    marker = folder / "params.json"
    return marker.is_file() and json.loads(marker.read_text()).get("hash") == _hash(params) and all(
        (folder / o).exists() for o in outputs)


def _mark_stage(folder: Path, params: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps({"hash": _hash(params), "params": params}, indent=2,
                                                   default=str))


def limit_takes(manifest: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """At most ``n`` takes, dealt round-robin over actors and, within each actor, over emotions."""
    if n is None or n >= len(manifest):
        return manifest
    actor_rank = manifest["actor"].rank(method="dense").astype(int)
    by_emotion = manifest.assign(_e=manifest.groupby(["actor", "emotion"]).cumcount(),
                                 _turn=(manifest["emotion"].map(emotion_index) + actor_rank) % len(EMOTIONS))
    by_emotion = by_emotion.sort_values(["actor", "_e", "_turn"])
    ranked = by_emotion.assign(_r=by_emotion.groupby("actor").cumcount()).sort_values(["_r", "actor"])
    return ranked.head(n).drop(columns=["_e", "_turn", "_r"]).sort_values(["actor", "take_id"]).reset_index(drop=True)


def _manifest_params(settings: WorkflowSettings) -> dict[str, Any]:
    return {"data_root": str(settings.data_root) if settings.data_root else None, "clip_limit": settings.clip_limit,
            "n_folds": settings.n_folds, "demo_actors": settings.demo_actors, "seed": settings.seed}


def prepare_manifest(settings: WorkflowSettings) -> tuple[pd.DataFrame, str]:
    """Generate the demo corpus when no data root is given, index it, add actor folds; save manifest.csv."""
    root = settings.data_root
    if root is None:
        from emo_utils.synthetic.corpus import generate_demo_corpus
        root = generate_demo_corpus(settings.out / "demo_data", n_actors=settings.demo_actors, seed=settings.seed,
                                    progress=settings.progress)
    manifest, log = index_dataset(root)
    manifest = limit_takes(manifest[manifest["vocal_channel"] == "speech"], settings.clip_limit)
    manifest["fold"] = assign_actor_folds(manifest["actor"], manifest["gender"], settings.n_folds)
    settings.out.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(settings.out / "manifest.csv", index=False)
    _mark_stage(settings.out / "manifest_params", _manifest_params(settings))
    print(summarize(manifest))
    print(log.report(settings.out / "index_skipped.csv" if len(log) else None))
    dataset = dataset_name(manifest)
    return manifest, dataset


def _provenance(synthetic: bool, random_weights: bool) -> str:
    data = "SYNTHETIC demo data" if synthetic else "real data"
    weights = "RANDOM stand-in backbone weights (not a result)" if random_weights else "no random stand-ins"
    return f"{data}, {weights}"


def _fold_jobs(settings: WorkflowSettings) -> int:
    """Processes that train folds side by side (``--jobs``; default every core)."""
    return settings.n_jobs or default_jobs()


def branch_config(spec: BranchSpec, settings: WorkflowSettings) -> TrainConfig:
    """The branch's training settings as this run uses them (seed, epoch override, per-actor normalisation)."""
    return replace(spec.train, seed=settings.seed, epochs=settings.epochs or spec.train.epochs,
                   actor_norm=settings.actor_norm and spec.actor_norm_applies)


def _cross_validate_cached(features: FeatureSet, manifest: pd.DataFrame, config: TrainConfig, folder: Path,
                           settings: WorkflowSettings, desc: str) -> pd.DataFrame:
    """Actor-independent cross-validation of ``config`` on ``features``, saved under ``folder`` (out-of-fold
    table, learning curves, fold checkpoints); loaded instead when features, settings and code are unchanged."""
    rows = manifest.set_index("take_id").loc[features.clip_ids]
    params = {"train": asdict(config), "features": features.meta, "clips": _hash(features.clip_ids.tolist()),
              "folds": _hash(rows["fold"].tolist()), "code": _code_version()}
    if _stage_current(folder, params, ("oof.csv", "history.csv")):
        print(f"[{desc}] cached results in {folder}")
        return pd.read_csv(folder / "oof.csv")
    result = cross_validate(features, rows["emotion"].map(emotion_index).to_numpy(), rows["actor"].to_numpy(),
                            rows["gender"].to_numpy(), rows["fold"].to_numpy(), config, out_dir=folder,
                            desc=desc, progress=settings.progress, n_jobs=_fold_jobs(settings))
    result.oof.to_csv(folder / "oof.csv", index=False)
    result.history.to_csv(folder / "history.csv", index=False)
    _mark_stage(folder, params)
    return result.oof


def run_branch(spec: BranchSpec, manifest: pd.DataFrame, ctx: FeatureContext, settings: WorkflowSettings,
               protocol: str) -> BranchOutcome | None:
    """Build features and cross-validate one branch (cached); None when it has no usable clips."""
    started = time.perf_counter()
    features, skipped = spec.build_features(ctx)
    folder = settings.out / "branches" / spec.name
    print(skipped.report(folder / "skipped.csv"))
    if len(features) == 0:
        print(f"[{spec.name}] no usable clips: branch left out")
        return None
    config = branch_config(spec, settings)
    oof = _cross_validate_cached(features, manifest, config, folder, settings, spec.name)
    metrics = metrics_from_table(oof)
    metrics.update(random_weights=features.random_weights, actor_norm=config.actor_norm,
                   wall_time_s=round(time.perf_counter() - started, 1),
                   n_skipped=len(skipped), description=spec.description)
    print(format_metrics(spec.name, metrics, protocol, _provenance(bool(manifest["synthetic"].any()),
                                                                    features.random_weights)))
    return BranchOutcome(spec.name, oof, metrics, features)


def _early_fusion(outcomes: list[BranchOutcome], manifest: pd.DataFrame, settings: WorkflowSettings) -> pd.DataFrame:
    """Joint MLP on the concatenated pooled features of the fused branches (clips having all of them)."""
    usable = [o for o in outcomes if BRANCHES[o.name].pooled is not None]
    common = sorted(set.intersection(*(set(o.features.clip_ids) for o in usable)))
    blocks = [BRANCHES[o.name].pooled(o.features.subset(common).X).reshape(len(common), -1) for o in usable]
    joint = FeatureSet(np.array(common), np.concatenate(blocks, axis=1).astype(np.float32),
                       {"branches": [o.name for o in usable]})
    config = TrainConfig("mlp", {"hidden": (256, 64), "dropout": 0.5}, epochs=settings.epochs or 100, patience=15,
                         batch_size=64, actor_norm=settings.actor_norm, seed=settings.seed)
    oof = _cross_validate_cached(joint, manifest, config, settings.out / "fusion" / "early", settings, "early fusion")
    return oof.assign(fused_from="+".join(o.name for o in usable))


def run_fusion(outcomes: list[BranchOutcome], manifest: pd.DataFrame, settings: WorkflowSettings,
               protocol: str) -> dict[str, dict[str, Any]]:
    """Every fusion strategy over the branches allowed into fusion; tables and config under out/fusion."""
    fused = [o for o in outcomes if settings.fuse_random_weights or not o.metrics["random_weights"]]
    left_out = [o.name for o in outcomes if o not in fused]
    if left_out:
        print(f"[fusion] left out (random stand-in weights; --fuse-random-weights to include): {', '.join(left_out)}")
    if len(fused) < 2:
        print(f"[fusion] needs at least two branches, have {[o.name for o in fused]}: skipped")
        return {}
    folder = settings.out / "fusion"
    stack = stack_branches({o.name: o.oof for o in fused})
    tables = {s: result_table(stack, fuse_cross_validated(stack, s)) for s in FUSION_STRATEGIES}
    if settings.early_fusion:
        tables["early"] = _early_fusion(fused, manifest, settings)
    results: dict[str, dict[str, Any]] = {}
    synthetic = bool(manifest["synthetic"].any())
    for strategy, table in tables.items():
        (folder / strategy).mkdir(parents=True, exist_ok=True)
        table.to_csv(folder / strategy / "oof.csv", index=False)
        results[strategy] = {**metrics_from_table(table), "branches": stack.branches}
        print(format_metrics(f"fusion {strategy}", results[strategy], protocol, _provenance(synthetic, False)))
    deploy = learn_weights(stack.P, stack.y)
    save_fusion_config(FusionConfig(stack.branches, deploy.tolist(), note=(
        "weights learned on all actors' out-of-fold predictions, for the demo; the evaluation in metrics.json "
        "learned them per test fold on training actors only")), folder / "fusion_config.json")
    return results


def write_report(metrics: dict[str, Any], outcomes: list[BranchOutcome], out: Path) -> None:
    """Figures (confusion matrices side by side, metric bars) and a Markdown summary."""
    tables = {o.name: o.oof for o in outcomes}
    tables.update({f"fusion {s}": pd.read_csv(out / "fusion" / s / "oof.csv") for s in metrics["fusion"]})
    title = f"{metrics['protocol']} | {metrics['dataset']}" + (" | SYNTHETIC" if metrics["synthetic"] else "")
    save_figure(plot_confusions(tables, title), out / "figures" / "confusion_matrices.png")
    bars = {**metrics["branches"], **{f"fusion {s}": m for s, m in metrics["fusion"].items()}}
    save_figure(plot_metric_bars(bars, title), out / "figures" / "metrics.png")
    lines = [f"# Results: {metrics['dataset']}", "", f"Protocol: {metrics['protocol']}.",
             f"Data: {'SYNTHETIC demo corpus (not RAVDESS; numbers only show the pipeline works)' if metrics['synthetic'] else 'real'}.",
             "", "| model | accuracy | macro-F1 | UAR | clips | note |", "|---|---|---|---|---|---|"]
    fused = {b for m in metrics["fusion"].values() for b in m["branches"]}
    for name, m in bars.items():
        if "branches" in m:
            note = "fuses " + " + ".join(m["branches"])
        elif m.get("random_weights"):
            note = "RANDOM stand-in weights: not a result" + ("" if name in fused else "; left out of fusion")
        else:
            note = ""
        lines.append(f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['uar']:.3f} | {m['n_clips']} | {note} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")


def load_or_prepare_manifest(settings: WorkflowSettings) -> tuple[pd.DataFrame, str, str]:
    """The run's manifest (made by notebook 01 / the workflow, or made now), its dataset name and protocol."""
    from emo_utils.data.manifest import load_manifest
    path = settings.out / "manifest.csv"
    if path.is_file() and _stage_current(settings.out / "manifest_params", _manifest_params(settings), ()):
        manifest = load_manifest(path)
        dataset = dataset_name(manifest)
    else:
        why = "was made with other settings" if path.is_file() else "not found"
        print(f"{path} {why} (notebook 01_explore_dataset makes it): indexing the data now ...")
        manifest, dataset = prepare_manifest(settings)
    protocol = describe_protocol(manifest["fold"].to_numpy(), manifest["actor"].to_numpy(), dataset,
                                 actor_norm=settings.actor_norm)
    return manifest, dataset, protocol


def feature_context(settings: WorkflowSettings, manifest: pd.DataFrame) -> FeatureContext:
    """What the feature builders need for this run."""
    return FeatureContext(manifest, settings.out / "features", settings.wav2vec_model, settings.vit_model,
                          settings.allow_stand_ins, settings.n_jobs, settings.progress, settings.seed)


def train_branch(name: str, settings: WorkflowSettings) -> BranchOutcome | None:
    """Features + actor-independent cross-validation of one branch (what notebooks 05 and 06 call)."""
    manifest, _, protocol = load_or_prepare_manifest(settings)
    spec = BRANCHES[name]
    if not spec.has_inputs(manifest):
        print(f"[{name}] skipped: the data has no {' or '.join(spec.needs)}")
        return None
    return run_branch(spec, manifest, feature_context(settings, manifest), settings, protocol)


def run_workflow(settings: WorkflowSettings) -> dict[str, Any]:
    """Run every stage (cached) and write ``metrics.json``; returns the metrics."""
    torch.set_num_threads(1)  # small models train fastest on one thread; feature extraction uses processes
    started = time.perf_counter()
    if _fold_jobs(settings) > 1:
        start_worker_server()  # imports in the background while the data is indexed
    settings.out.mkdir(parents=True, exist_ok=True)
    manifest, dataset = prepare_manifest(settings)
    protocol = describe_protocol(manifest["fold"].to_numpy(), manifest["actor"].to_numpy(), dataset,
                                 actor_norm=settings.actor_norm)
    ctx = feature_context(settings, manifest)
    names = settings.branches or tuple(BRANCHES)
    outcomes: list[BranchOutcome] = []
    for name in names:
        spec = BRANCHES[name]
        if not spec.has_inputs(manifest):
            print(f"[{name}] skipped: the data has no {' or '.join(spec.needs)} (e.g. no videos)")
            continue
        try:
            outcome = run_branch(spec, manifest, ctx, settings, protocol)
        except EmoError as exc:
            print(f"[{name}] skipped: {exc}")
            continue
        if outcome is not None:
            outcomes.append(outcome)
    fusion = run_fusion(outcomes, manifest, settings, protocol)
    metrics = {"protocol": protocol, "dataset": dataset, "synthetic": bool(manifest["synthetic"].any()),
               "n_takes": int(len(manifest)), "labels": list(EMOTIONS),
               "branches": {o.name: o.metrics for o in outcomes}, "fusion": fusion,
               "wall_time_s": round(time.perf_counter() - started, 1)}
    (settings.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if outcomes:
        write_report(metrics, outcomes, settings.out)
    return metrics
