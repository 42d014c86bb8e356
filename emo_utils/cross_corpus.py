"""Cross-corpus evaluation: train each audio branch on every speaker of one corpus and test it on every
speaker of another, over the emotions both corpora share, beside the within-corpus (speaker-independent
cross-validation) accuracy on the same classes, and with per-corpus normalisation as one measured remedy.

Protocol of one direction A -> B:

- the classes are the emotions both corpora label (RAVDESS x EmoDB: neutral, happy, sad, angry, fearful,
  disgust); clips of other emotions are neither trained on nor tested;
- the model trains on all of A's speakers but one male and one female, who are held out for early stopping
  (no clip of B is seen in training, validation or early stopping);
- it is tested on every clip of B's speakers in the shared classes; its predictions are restricted to the
  shared classes (the probabilities of the others are set to zero and the rest renormalised);
- normalisation ``"none"``: features as extracted (the model's training standardisation only, fitted on A).
  ``"corpus"``: every feature z-scored within each corpus with that corpus's own mean and standard deviation
  over all of its clips (every emotion, no labels used; sequence padding left out). For the test corpus this
  uses the unlabelled statistics of all its speakers' clips together (transductive), which a deployed model
  meeting one new recording does not have; it is reported as a remedy, never as the headline number.

Every table has the out-of-fold layout of ``emo_utils.train.cross_validate`` (``clip_id``, ``actor``,
``fold``, ``emotion``, one probability column per emotion), so ``emo_utils.evaluate`` and
``emo_utils.plotting`` apply unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emo_utils.branches import BRANCHES, BranchSpec, FeatureContext
from emo_utils.data.folds import assign_actor_folds, check_no_actor_leak, pick_validation_actors
from emo_utils.data.manifest import dataset_name, excerpt_note, index_dataset
from emo_utils.errors import DataError, SkipLog
from emo_utils.evaluate import metrics_from_table
from emo_utils.extraction import default_jobs
from emo_utils.feature_pack import CorpusPack
from emo_utils.feature_store import FeatureSet
from emo_utils.labels import EMOTIONS, PROBA_COLUMNS, emotion_index
from emo_utils.plotting import plot_confusions, plot_metric_bars, save_figure
from emo_utils.predictions import PredictionTable
from emo_utils.train import Standardizer, TrainConfig, cross_validate, fit_model, predict_proba

logger = logging.getLogger(__name__)

CROSS_CORPUS_BRANCHES = ("audio_mfcc_cnn", "audio_egemaps", "audio_compare")
NORMALISATIONS = {
    "none": "features as extracted (standardised with training-corpus statistics only)",
    "corpus": "each corpus z-scored with its own feature statistics over all its clips (no labels; for the test "
    "corpus, its unlabelled clips together: transductive)",
}
CROSS_FOLD = -1  # the ``fold`` of a cross-corpus prediction: tested by a model trained on another corpus
# Below this many clips, within-corpus folds train in this process: starting the parallel fold workers took
# about 15 s per cross-validation on the 2-core machine, longer than training the folds of a small subset.
PARALLEL_FOLDS_MIN_CLIPS = 400


@dataclass
class Corpus:
    """One corpus: its speech takes (with speaker-independent folds) and where its features are cached."""

    name: str
    root: Path
    manifest: pd.DataFrame
    features_dir: Path
    note: str = ""  # what results must say about the data when the manifest holds no audio paths to read it from

    @property
    def emotions(self) -> set[str]:
        return set(self.manifest["emotion"])


def limit_per_class(manifest: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """At most ``n`` takes of each emotion, dealt round-robin over speakers (for quick runs and tests)."""
    if n is None:
        return manifest
    turn = manifest.groupby(["actor", "emotion"]).cumcount()
    dealt = manifest.assign(_turn=turn).sort_values(["_turn", "actor", "take_id"])
    kept = dealt.groupby("emotion").head(n).drop(columns="_turn")
    return kept.sort_values(["actor", "take_id"]).reset_index(drop=True)


def speaker_folds(manifest: pd.DataFrame, root: str | Path) -> np.ndarray:
    """``min(6, speakers // 2)`` gender-balanced actor folds of the takes (``root``: the corpus, for errors)."""
    n_folds = min(6, manifest["actor"].nunique() // 2)
    if n_folds < 2:
        raise DataError(
            root,
            f"{manifest['actor'].nunique()} speaker(s): too few for speaker-independent folds",
            "use a corpus (or clip limit) with at least two speakers of each gender",
        )
    return assign_actor_folds(manifest["actor"], manifest["gender"], n_folds)


def load_corpus(root: str | Path, features_dir: str | Path, clips_per_class: int | None = None) -> Corpus:
    """Index a corpus folder (RAVDESS, CREMA-D or EmoDB), keep its speech, add speaker-independent folds.

    Folds: ``min(6, speakers // 2)`` gender-balanced actor folds (RAVDESS: 6 of 4 actors, as ``emo workflow``;
    EmoDB: 5 of one male + one female speaker). Files the index skipped are logged.
    """
    root = Path(root)
    manifest, skipped = index_dataset(root)
    logger.info(skipped.report())
    manifest = limit_per_class(manifest[manifest["vocal_channel"] == "speech"], clips_per_class)
    manifest["fold"] = speaker_folds(manifest, root)
    name = dataset_name(manifest)
    return Corpus(name, root, manifest, Path(features_dir) / name.replace(", ", "+").replace(" ", "_"))


def shared_emotions(a: Corpus, b: Corpus) -> list[str]:
    """The emotions both corpora label, in the canonical label order."""
    shared = [e for e in EMOTIONS if e in a.emotions and e in b.emotions]
    if len(shared) < 2:
        raise DataError(
            b.root,
            f"shares {len(shared)} emotion(s) with {a.root} ({', '.join(shared) or 'none'})",
            "cross-corpus evaluation needs at least two emotions labelled in both corpora",
        )
    return shared


def corpus_context(corpus: Corpus, n_jobs: int | None, progress: bool, seed: int = 0) -> FeatureContext:
    """What the branches' feature builders need to compute features of every take of the corpus (cached under
    the corpus's features folder)."""
    return FeatureContext(
        corpus.manifest,
        corpus.features_dir,
        wav2vec_model="facebook/wav2vec2-base",
        vit_model="google/vit-base-patch16-224-in21k",
        allow_stand_ins=True,
        n_jobs=n_jobs,
        progress=progress,
        seed=seed,
    )


def corpus_features(
    spec: BranchSpec, corpus: Corpus, n_jobs: int | None, progress: bool, seed: int = 0
) -> tuple[FeatureSet, SkipLog]:
    """The branch's features of every take of the corpus (cached under the corpus's features folder)."""
    return spec.build_features(corpus_context(corpus, n_jobs, progress, seed))


def normalise_per_corpus(features: FeatureSet) -> FeatureSet:
    """Every feature z-scored with the corpus's own mean and standard deviation over all its clips.

    Uses no labels; padded (all-zero) frames of sequences are left out of the statistics and stay zero;
    augmented training copies get the same transform as the clips they come from.
    """
    stats = Standardizer.fit(features.X)
    X_aug = features.X_aug
    if X_aug is not None:
        X_aug = np.stack([stats(X_aug[:, k]).numpy() for k in range(X_aug.shape[1])], axis=1)
    meta = {**features.meta, "normalisation": "corpus"}
    return FeatureSet(features.clip_ids, stats(features.X).numpy(), meta, X_aug)


def _rows(features: FeatureSet, corpus: Corpus, emotions: list[str]) -> tuple[FeatureSet, pd.DataFrame]:
    """The clips of ``features`` in the shared classes, and their manifest rows in the same order."""
    rows = corpus.manifest.set_index("take_id").loc[features.clip_ids]
    keep = rows["emotion"].isin(emotions).to_numpy()
    return features.subset(features.clip_ids[keep]), rows[keep].reset_index()


def restrict_to(table: pd.DataFrame, emotions: list[str]) -> pd.DataFrame:
    """Probabilities restricted to ``emotions``: the other columns zeroed, each row renormalised."""
    out = table.copy()
    others = [f"p_{e}" for e in EMOTIONS if e not in emotions]
    out[others] = 0.0
    kept = list(PROBA_COLUMNS)
    out[kept] = out[kept].to_numpy() / np.maximum(out[kept].to_numpy().sum(axis=1, keepdims=True), 1e-12)
    return out


def prediction_table(
    clip_ids: np.ndarray, rows: pd.DataFrame, proba: np.ndarray, fold: np.ndarray | int
) -> pd.DataFrame:
    """Predictions in the out-of-fold table layout of ``cross_validate``."""
    return PredictionTable.build(
        proba, clip_ids, rows["actor"].to_numpy(), rows["emotion"].to_numpy(), EMOTIONS, fold
    ).frame


def within_corpus(
    features: FeatureSet,
    corpus: Corpus,
    emotions: list[str],
    config: TrainConfig,
    n_jobs: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Speaker-independent cross-validation within one corpus over ``emotions`` (the yardstick); folds train
    in ``n_jobs`` processes when the subset holds at least ``PARALLEL_FOLDS_MIN_CLIPS`` clips."""
    subset, rows = _rows(features, corpus, emotions)
    n_jobs = n_jobs if len(subset) >= PARALLEL_FOLDS_MIN_CLIPS else 1
    result = cross_validate(
        subset,
        rows["emotion"].map(emotion_index).to_numpy(),
        rows["actor"].to_numpy(),
        rows["gender"].to_numpy(),
        rows["fold"].to_numpy(),
        config,
        desc=f"{corpus.name} CV",
        progress=progress,
        n_jobs=n_jobs,
    )
    return restrict_to(result.oof, emotions)


def varying_features(X: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Mask of the features (last axis) whose standard deviation over the rows (non-padded frames of
    sequences) exceeds ``floor``, the standardiser's epsilon.

    A feature constant in the training corpus teaches the model nothing, and standardising another corpus's
    variation in it by a near-zero spread would blow it up a millionfold (ComParE's ``logHNR_sma_percentile1.0``
    is -100 in every EmoDB clip and varies in RAVDESS). Decided on training data only.
    """
    flat = X.reshape(-1, X.shape[-1])
    if X.ndim >= 3:
        flat = flat[np.abs(flat).sum(axis=1) > 0]
    return flat.astype(np.float64).std(axis=0) > floor


@dataclass
class CrossResult:
    """One trained-on-A, tested-on-B run: the predictions, the learning curve, the speakers used."""

    table: pd.DataFrame
    curve: list[dict[str, float]]
    n_train_clips: int
    validation_actors: list[str]


def train_and_test(
    train_features: FeatureSet,
    train: Corpus,
    test_features: FeatureSet,
    test: Corpus,
    emotions: list[str],
    config: TrainConfig,
) -> CrossResult:
    """Train on ``train``'s speakers (one male and one female held out for early stopping), test on all of
    ``test``'s speakers; both restricted to ``emotions``. Speakers are checked never to cross."""
    fit_set, fit_rows = _rows(train_features, train, emotions)
    test_set, test_rows = _rows(test_features, test, emotions)
    actors, y = fit_rows["actor"].to_numpy(), fit_rows["emotion"].map(emotion_index).to_numpy()
    validation = sorted(
        pick_validation_actors(actors, fit_rows["gender"].to_numpy(), config.val_actors_per_gender, seed=config.seed)
    )
    val = np.isin(actors, validation)
    if not val.any() or val.all():
        raise DataError(
            train.root,
            "cannot hold out one speaker per gender for early stopping",
            "use a training corpus (or clip limit) with at least two speakers of each gender",
        )
    check_no_actor_leak(actors[~val], actors[val], "validation")
    check_no_actor_leak(actors, test_rows["actor"].to_numpy(), f"{test.name} test")
    keep = varying_features(fit_set.X[~val])
    X, X_aug, X_test = fit_set.X[..., keep], fit_set.X_aug, test_set.X[..., keep]
    scaler = Standardizer.fit(X[~val], config.standardize)
    model, curve = fit_model(
        X[~val], y[~val], X[val], y[val], config, scaler, X_train_aug=None if X_aug is None else X_aug[~val][..., keep]
    )
    proba = predict_proba(model, X_test, scaler, config.batch_size)
    table = restrict_to(prediction_table(test_set.clip_ids, test_rows, proba, CROSS_FOLD), emotions)
    return CrossResult(table, curve, int((~val).sum()), validation)


@dataclass
class CrossCorpusSettings:
    """Everything a cross-corpus run depends on (``emo cross-corpus --help`` documents each)."""

    train_root: Path
    test_root: Path
    out: Path
    branches: tuple[str, ...] = CROSS_CORPUS_BRANCHES
    normalisations: tuple[str, ...] = tuple(NORMALISATIONS)
    both_directions: bool = True
    within: bool = True
    clips_per_class: int | None = None
    epochs: int | None = None
    seed: int = 0
    n_seeds: int = 1  # cross-corpus models per cell, seeds seed .. seed + n_seeds - 1 (their mean prediction is scored)
    n_jobs: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = [b for b in self.branches if b not in BRANCHES or BRANCHES[b].modality != "audio"]
        if unknown:
            audio = [name for name, spec in BRANCHES.items() if spec.modality == "audio"]
            raise ValueError(f"cross-corpus branches must be audio branches ({', '.join(audio)}); got {unknown}")
        if self.n_seeds < 1:
            raise ValueError(f"n_seeds must be at least 1, got {self.n_seeds}")
        bad = [n for n in self.normalisations if n not in NORMALISATIONS]
        if bad:
            raise ValueError(f"normalisations must be among {', '.join(NORMALISATIONS)}; got {bad}")


def mean_prediction(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The mean of several models' probability tables over the same clips (an ensemble of seeds)."""
    out = tables[0].copy()
    out[list(PROBA_COLUMNS)] = np.mean([t[list(PROBA_COLUMNS)].to_numpy() for t in tables], axis=0)
    return out


def _config(spec: BranchSpec, settings: CrossCorpusSettings) -> TrainConfig:
    return replace(spec.train, seed=settings.seed, epochs=settings.epochs or spec.train.epochs, speaker_norm="none")


def _entry(name: str, normalisation: str) -> str:
    return name if normalisation == "none" else f"{name} +{normalisation}-norm"


def chance_levels(table: pd.DataFrame, emotions: list[str]) -> dict[str, float]:
    """Accuracy of guessing: uniformly over the shared classes (also the UAR of any constant guess), and
    always the test set's most frequent class."""
    counts = table["emotion"].value_counts()
    return {
        "uniform": 1 / len(emotions),
        "majority_class": float(counts.max() / counts.sum()),
        "majority_class_label": str(counts.idxmax()),
    }


def cross_corpus_protocol(train: Corpus, test: Corpus, emotions: list[str]) -> str:
    """One line naming the protocol, printed and saved with every number."""
    notes = {c.name: c.note or excerpt_note(c.manifest) for c in (train, test)}  # reads every file's header once
    excerpts = "".join(f"; {name}{note}" for name, note in notes.items() if note)
    return (
        f"cross-corpus {train.name} -> {test.name} (trained on {train.manifest['actor'].nunique()} {train.name} "
        f"speakers, one male and one female of them held out for early stopping; tested on all "
        f"{test.manifest['actor'].nunique()} {test.name} speakers; {len(emotions)} shared emotions: "
        f"{', '.join(emotions)}{excerpts})"
    )


def run_cross_corpus(settings: CrossCorpusSettings) -> dict[str, dict[str, Any]]:
    """Every direction (A -> B, and B -> A unless one-way): per branch and normalisation, train on one corpus
    and test on the other; writes ``DIR/A_to_B/metrics.json`` (the workflow's schema), the prediction
    tables, confusion matrices and ``DIR/summary.md``; returns the metrics per direction."""
    started = time.perf_counter()
    n_jobs = settings.n_jobs or default_jobs()
    features_dir = settings.out / "features"
    corpora = [
        load_corpus(root, features_dir, settings.clips_per_class) for root in (settings.train_root, settings.test_root)
    ]
    shared_emotions(*corpora)  # fails here, before any extraction, when the corpora share too few classes
    specs = [BRANCHES[name] for name in settings.branches]
    raw: dict[tuple[str, str], FeatureSet] = {}
    skipped: dict[tuple[str, str], int] = {}
    for corpus in corpora:
        for spec in specs:
            raw[corpus.name, spec.name], log = corpus_features(spec, corpus, n_jobs, settings.progress, settings.seed)
            skipped[corpus.name, spec.name] = len(log)
            logger.info(log.report())
    results = cross_corpus_from_features(corpora, raw, specs, settings, skipped)
    logger.info("cross-corpus run done in %.1f s", time.perf_counter() - started)
    return results


def cross_corpus_from_features(
    corpora: list[Corpus],
    raw: dict[tuple[str, str], FeatureSet],
    specs: list[BranchSpec],
    settings: CrossCorpusSettings,
    skipped: dict[tuple[str, str], int] | None = None,
) -> dict[str, dict[str, Any]]:
    """The cross-corpus protocol on features already at hand (``raw[corpus name, spec name]``), e.g. the shipped
    feature pack's: within-corpus yardsticks, both directions, the normalisations; writes and returns what
    :func:`run_cross_corpus` does."""
    torch.set_num_threads(1)  # small models train fastest on one thread; extraction and folds use processes
    n_jobs = settings.n_jobs or default_jobs()
    skipped = skipped or {key: 0 for key in raw}
    emotions = shared_emotions(*corpora)
    features = {
        (corpus, branch, normalisation): X if normalisation == "none" else normalise_per_corpus(X)
        for (corpus, branch), X in raw.items()
        for normalisation in settings.normalisations
    }
    within: dict[tuple[str, str], dict[str, Any]] = {}
    if settings.within:
        for corpus in corpora:
            for spec in specs:
                table = within_corpus(
                    raw[corpus.name, spec.name], corpus, emotions, _config(spec, settings), n_jobs, settings.progress
                )
                within[corpus.name, spec.name] = {
                    **metrics_from_table(table),
                    "protocol": (
                        f"{table['fold'].nunique()}-fold speaker-independent within {corpus.name}, "
                        f"{len(emotions)} shared emotions"
                    ),
                }
    directions = [(corpora[0], corpora[1])] + ([(corpora[1], corpora[0])] if settings.both_directions else [])
    results: dict[str, dict[str, Any]] = {}
    for train, test in directions:
        results[f"{train.name}_to_{test.name}"] = _run_direction(
            train, test, emotions, specs, features, skipped, within, settings
        )
    _write_summary(results, settings.out)
    return results


# The shipped feature pack's kinds as cross-corpus models: the eGeMAPS branch itself, and the same MLP on the
# MFCC statistics (the pack holds no MFCC frames for the CNN).
PACK_SPECS: dict[str, tuple[str, BranchSpec]] = {
    "audio_egemaps": ("egemaps", BRANCHES["audio_egemaps"]),
    "audio_mfcc_stats": (
        "mfcc_stats",
        replace(
            BRANCHES["audio_egemaps"],
            name="audio_mfcc_stats",
            description="mean and standard deviation over time of ZCR, RMS and 40 MFCCs into an MLP",
        ),
    ),
}


def pack_cross_corpus(
    train: CorpusPack, test: CorpusPack, out: str | Path, **settings: Any
) -> dict[str, dict[str, Any]]:
    """Cross-corpus evaluation on the shipped feature pack (:mod:`emo_utils.feature_pack`), the models of
    ``PACK_SPECS``; ``settings``: fields of :class:`CrossCorpusSettings` (clips_per_class, epochs, seed, ...).
    Writes under ``out`` and returns what :func:`run_cross_corpus` does."""
    config = CrossCorpusSettings(
        Path(train.meta["source"]), Path(test.meta["source"]), Path(out), branches=("audio_egemaps",), **settings
    )
    corpora, raw = [], {}
    for pack in (train, test):
        rows = limit_per_class(pack.rows, config.clips_per_class)
        if config.clips_per_class is not None:  # the pack's folds were dealt over every take
            rows = rows.assign(fold=speaker_folds(rows, pack.meta["source"]))
        corpus = Corpus(pack.name, Path(pack.meta["source"]), rows, config.out / "features", pack.meta.get("note", ""))
        corpora.append(corpus)
        for name, (kind, _) in PACK_SPECS.items():
            raw[pack.name, name] = pack.features[kind].subset(rows["take_id"].to_numpy())
    return cross_corpus_from_features(corpora, raw, [spec for _, spec in PACK_SPECS.values()], config)


def _run_direction(
    train: Corpus,
    test: Corpus,
    emotions: list[str],
    specs: list[BranchSpec],
    features: dict[tuple[str, str, str], FeatureSet],
    skipped: dict[tuple[str, str], int],
    within: dict[tuple[str, str], dict[str, Any]],
    settings: CrossCorpusSettings,
) -> dict[str, Any]:
    started = time.perf_counter()
    folder = settings.out / f"{train.name}_to_{test.name}"
    protocol = cross_corpus_protocol(train, test, emotions)
    branches: dict[str, dict[str, Any]] = {}
    tables: dict[str, pd.DataFrame] = {}
    for spec in specs:
        for normalisation in settings.normalisations:
            t0 = time.perf_counter()
            key = (spec.name, normalisation)
            runs = [
                train_and_test(
                    features[(train.name, *key)],
                    train,
                    features[(test.name, *key)],
                    test,
                    emotions,
                    replace(_config(spec, settings), seed=settings.seed + k),
                )
                for k in range(settings.n_seeds)
            ]
            name = _entry(spec.name, normalisation)
            tables[name] = mean_prediction([run.table for run in runs])
            tables[name].to_csv(_path(folder / name.replace(" ", "_") / "predictions.csv"), index=False)
            curves = [pd.DataFrame(run.curve).assign(seed=settings.seed + k) for k, run in enumerate(runs)]
            pd.concat(curves).to_csv(folder / name.replace(" ", "_") / "history.csv", index=False)
            branches[name] = {
                **metrics_from_table(tables[name]),
                "random_weights": features[(train.name, *key)].random_weights,
                "speaker_norm": "none",
                "normalisation": NORMALISATIONS[normalisation],
                "n_seeds": settings.n_seeds,
                "accuracy_per_seed": [round(metrics_from_table(run.table)["accuracy"], 4) for run in runs],
                "wall_time_s": round(time.perf_counter() - t0, 1),
                "n_skipped": skipped[train.name, spec.name] + skipped[test.name, spec.name],
                "n_train_clips": runs[0].n_train_clips,
                "validation_actors": [run.validation_actors for run in runs],
                "description": spec.description,
            }
    chance = chance_levels(next(iter(tables.values())), emotions)
    metrics = {
        "protocol": protocol,
        "dataset": f"{train.name} -> {test.name}",
        "synthetic": bool(train.manifest["synthetic"].any() or test.manifest["synthetic"].any()),
        "n_takes": int(len(next(iter(tables.values())))),
        "labels": emotions,
        "shared_emotions": emotions,
        "chance": chance,
        "branches": branches,
        "fusion": {},
        "within_corpus": {
            f"{name} within {corpus}": m for (corpus, name), m in within.items() if corpus in (train.name, test.name)
        },
        "normalisations": {n: NORMALISATIONS[n] for n in settings.normalisations},
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    title = f"{protocol}" + (" | SYNTHETIC" if metrics["synthetic"] else "")
    save_figure(plot_confusions(tables, title), folder / "figures" / "confusion_matrices.png")
    bars = plot_metric_bars({**metrics["within_corpus"], **branches}, title)
    bars.axes[0].axhline(chance["uniform"], color="grey", linestyle=":", label="chance (uniform)")
    save_figure(bars, folder / "figures" / "metrics.png")
    return metrics


def _path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def summary_frame(results: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per direction and model: the test corpus's within-corpus accuracy (its own speakers held out
    in turn) beside the cross-corpus accuracy, UAR and macro-F1, and the chance levels."""
    rows = []
    for metrics in results.values():
        test = metrics["dataset"].split(" -> ")[1]
        for name, m in metrics["branches"].items():
            yardstick = metrics["within_corpus"].get(f"{name.split(' ')[0]} within {test}", {})
            rows.append(
                {
                    "train -> test": metrics["dataset"],
                    "model": name,
                    "within test corpus": yardstick.get("accuracy", np.nan),
                    "cross-corpus": m["accuracy"],
                    "cross-corpus UAR": m["uar"],
                    "cross-corpus macro-F1": m["macro_f1"],
                    "chance": metrics["chance"]["uniform"],
                    "majority class": metrics["chance"]["majority_class"],
                    "clips": m["n_clips"],
                }
            )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> list[str]:
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    return ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)] + [
        "| " + " | ".join(row) + " |" for row in cells
    ]


def _write_summary(results: dict[str, dict[str, Any]], out: Path) -> None:
    first = next(iter(results.values()))
    lines = [
        "# Cross-corpus results",
        "",
        *(f"- {m['protocol']}" for m in results.values()),
        "",
        "Normalisation: " + "; ".join(f"`{k}`: {v}" for k, v in first["normalisations"].items()) + ".",
        "Accuracy within the test corpus: speaker-independent cross-validation on its own speakers, same classes.",
        "",
        *_markdown(summary_frame(results)),
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
