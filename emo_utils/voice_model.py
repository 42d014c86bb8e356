"""A voice model for strangers: openSMILE functionals into a small MLP, trained on RAVDESS only, with
per-utterance loudness normalisation and training-time augmentation (noise, reverberation, speed, pitch),
the recipe chosen among a small set of variants fixed in advance (:data:`VARIANTS`) on RAVDESS inner folds.

Protocol (every number the benchmark ``benchmarks/voice_strangers.py`` reports names it):

- *actors held out*: 6 folds of 4 RAVDESS actors, no test-speaker statistics (``speaker_norm="none"``). Each
  variant is cross-validated with nested folds (:func:`emo_utils.train.cross_validate` with ``nested=True``);
  for test fold k the variant whose inner predictions of fold k's training actors are the most accurate is
  chosen (:mod:`emo_utils.tuning`), and its fold-k model predicts the test actors;
- *the final model* (fitted on all 24 actors, one per gender held out for early stopping) uses the variant
  with the best out-of-fold accuracy over the 24 actors: the same rule, one level up (its training data are
  every actor, so the 6 outer folds are its inner folds);
- *cross-corpus*: the model trained on RAVDESS is tested on every EmoDB speaker, its probabilities restricted
  to the six emotions both corpora label (:func:`emo_utils.cross_corpus.restrict_to`). EmoDB is never trained
  on and never used to choose anything here.

Augmented copies are computed once per clip (one per chain of kinds, seeded by the file name) and cached; each training
epoch shows every clip as itself or one of its copies (:func:`emo_utils.train.fit_model`). Test clips are
always the clean recording, prepared as the demo prepares a stranger's clip (the branch's ``clip_input``).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from emo_utils.audio.opensmile_features import FEATURE_SETS, SmileParams
from emo_utils.errors import DataError, SkipLog
from emo_utils.feature_store import FeatureSet
from emo_utils.train import TrainConfig

if TYPE_CHECKING:
    from emo_utils.cross_corpus import Corpus
    from emo_utils.train import CVResult

log = logging.getLogger(__name__)

LOUDNESS_DBFS = -25.0  # the level every utterance is scaled to (a common speech level; fixed a priori)
# Two training copies per clip, each a chain of augmentation kinds applied in turn: a room (reverberation, then
# noise) and another voice (speed, then pitch). Two copies, not four, for the compute of the 2-core machine.
STRANGER_AUGMENT = ("reverb+noise", "speed+pitch")
STAGE = "voice"


@dataclass(frozen=True)
class VoiceRecipe:
    """One candidate voice model: which functionals, whether each utterance's level is normalised, which
    augmented copies training sees (one per entry; ``"reverb+noise"`` chains kinds of
    ``emo_utils.audio.augment.augment``) and the MLP head (a key of ``emo_utils.branches.MLP_CANDIDATES``)."""

    feature_set: str = "egemaps"
    loudness_dbfs: float | None = None
    augment: tuple[str, ...] = ()
    head: str = "small"

    def __post_init__(self) -> None:
        from emo_utils.audio.augment import AUGMENT_KINDS
        from emo_utils.branches import MLP_CANDIDATES

        if self.feature_set not in FEATURE_SETS:
            raise ValueError(f"feature_set must be one of {', '.join(FEATURE_SETS)}, got {self.feature_set!r}")
        unknown = sorted({kind for chain in self.augment for kind in chain.split("+")} - set(AUGMENT_KINDS))
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; expected some of {AUGMENT_KINDS}")
        if self.head not in MLP_CANDIDATES:
            raise ValueError(f"head must be one of {', '.join(MLP_CANDIDATES)}, got {self.head!r}")

    @property
    def params(self) -> SmileParams:
        """How a clip becomes features (the same for training clips and a stranger's clip)."""
        return SmileParams(self.feature_set, loudness_dbfs=self.loudness_dbfs)

    @property
    def branch(self) -> str:
        """The branch whose ``clip_input`` computes this recipe's features from one clip (``emo_utils.branches``)."""
        return f"audio_{self.feature_set}"

    def train_config(self, seed: int = 0) -> TrainConfig:
        """The branch's MLP training settings with this recipe's head; no test-speaker statistics."""
        from emo_utils.branches import BRANCHES, MLP_CANDIDATES

        base = replace(BRANCHES[self.branch].train, seed=seed, speaker_norm="none")
        return replace(base, **MLP_CANDIDATES[self.head])


# The a-priori set of variants (nothing below was chosen by looking at an EmoDB score). eGeMAPS (88 functionals,
# designed to generalise across corpora, Eyben et al. 2016) as recorded, loudness-normalised, and loudness-normalised
# with augmentation; ComParE (6373 brute-force functionals, the shipped model's input) loudness-normalised. ComParE
# with augmentation is left out for compute: its functionals of three versions of every clip cost about three times
# the whole eGeMAPS extraction on the project's 2-core machine. The shipped recipe (ComParE as recorded, no
# augmentation) is the benchmark's BEFORE.
VARIANTS: dict[str, VoiceRecipe] = {
    "egemaps": VoiceRecipe("egemaps"),
    "egemaps +loudness": VoiceRecipe("egemaps", LOUDNESS_DBFS),
    "egemaps +loudness +augment": VoiceRecipe("egemaps", LOUDNESS_DBFS, STRANGER_AUGMENT),
    "compare +loudness": VoiceRecipe("compare", LOUDNESS_DBFS),
}


def clip_voice_features(
    path: str | Path, params: SmileParams, augment_kinds: Sequence[str] = (), seed: int = 0
) -> dict[str, np.ndarray]:
    """``{"X": clean features}`` of one file, plus ``"X_aug"`` (K, F): one augmented copy per entry of
    ``augment_kinds`` (a kind, or kinds chained with ``+``, applied in turn).

    Each copy is made from the trimmed waveform (so noise and reverberation cover speech, not the trimmed
    silence), then normalised and measured like the clean clip; its random draws are seeded by ``(seed, file
    name, entry)``, the same whatever the worker or order. Module-level, hence picklable.
    """
    from emo_utils.audio.features import clip_rng, trim_silence
    from emo_utils.audio.io import load_audio
    from emo_utils.audio.opensmile_features import waveform_smile_features

    y = load_audio(path, params.sample_rate)
    out = {"X": waveform_smile_features(y, params, str(path))}
    if augment_kinds:
        trimmed = trim_silence(y, params.top_db) if params.top_db is not None else y
        untrimmed = replace(params, top_db=None)
        name = Path(path).name
        copies = [augmented(trimmed, params.sample_rate, chain, clip_rng(seed, name, chain)) for chain in augment_kinds]
        out["X_aug"] = np.stack(
            [waveform_smile_features(c, untrimmed, f"{path} ({k})") for c, k in zip(copies, augment_kinds)]
        )
    return out


def augmented(y: np.ndarray, sr: int, chain: str, rng: np.random.Generator) -> np.ndarray:
    """``y`` through every augmentation kind of ``chain`` (``"reverb+noise"``: reverberation, then noise)."""
    from emo_utils.audio.augment import augment

    for kind in chain.split("+"):
        y = augment(y, sr, kind, rng)  # type: ignore[arg-type]
    return y


def extract_voice_features(
    tasks: Sequence[tuple[str, str | Path]],
    params: SmileParams,
    cache_dir: str | Path,
    augment_kinds: Sequence[str] = (),
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = True,
) -> tuple[FeatureSet, SkipLog]:
    """Features of every ``(clip_id, path)`` task (clean, plus one augmented copy per kind), cached under
    ``cache_dir`` in a file named by the settings (a rerun loads it; an interrupted one resumes). The meta holds
    ``params`` as the branch's ``clip_input`` reads them."""
    import opensmile

    from emo_utils.audio.opensmile_features import feature_names
    from emo_utils.extraction import extract_feature_set
    from emo_utils.stages import stable_hash

    settings = {
        "params": asdict(params),
        "augment": list(augment_kinds),
        "seed": seed,
        "opensmile_version": opensmile.__version__,
    }
    meta = {
        "kind": f"opensmile_{params.level}",
        "feature_set": FEATURE_SETS[params.feature_set].name,
        "feature_names": feature_names(params),
        "sample_rate": params.sample_rate,
    }
    name = f"{params.feature_set}-{stable_hash([settings, sorted(c for c, _ in tasks)])}"
    fn = partial(clip_voice_features, params=params, augment_kinds=tuple(augment_kinds), seed=seed)
    return extract_feature_set(
        tasks, fn, Path(cache_dir) / f"{name}.npz", Path(cache_dir) / "shards", STAGE, settings, meta, n_jobs, progress
    )


@dataclass
class Corpora:
    """The training corpus (RAVDESS) and, optionally, the cross-corpus test corpus (EmoDB), indexed with
    speaker-independent folds (``emo_utils.cross_corpus.load_corpus``)."""

    train: Corpus
    test: Corpus | None = None


def load_corpora(train_root: str | Path, test_root: str | Path | None = None) -> Corpora:
    """Index the training corpus (6 actor folds for RAVDESS) and the test corpus, speech only."""
    from emo_utils.cross_corpus import load_corpus

    return Corpora(
        load_corpus(train_root, Path(".")),
        load_corpus(test_root, Path(".")) if test_root is not None else None,
    )


def corpus_features(
    corpus: Corpus,
    params: SmileParams,
    cache_dir: str | Path,
    augment_kinds: Sequence[str] = (),
    n_jobs: int | None = None,
    progress: bool = True,
) -> FeatureSet:
    """Features of every speech clip of ``corpus`` prepared as ``params`` say, with one augmented copy per kind
    in ``augment_kinds``; clips that cannot be read are logged and left out."""
    tasks = list(zip(corpus.manifest["take_id"], corpus.manifest["audio_path"]))
    features, skipped = extract_voice_features(
        tasks, params, cache_dir, augment_kinds, n_jobs=n_jobs, progress=progress
    )
    if len(skipped):
        log.warning(skipped.report())
    return features


def recipe_features(features: FeatureSet, recipe: VoiceRecipe) -> FeatureSet:
    """The features a recipe trains on: the clean clips plus the copies of the recipe's augmentation kinds
    (``features.meta["augment"]`` names the copies ``features.X_aug`` holds)."""
    held = list(features.meta.get("augment", []))
    missing = [kind for kind in recipe.augment if kind not in held]
    if missing:
        raise ValueError(f"the features hold no {missing} copies (they hold {held or 'none'})")
    if not recipe.augment:
        return FeatureSet(features.clip_ids, features.X, dict(features.meta), None)
    assert features.X_aug is not None
    copies = [held.index(kind) for kind in recipe.augment]
    return FeatureSet(
        features.clip_ids, features.X, {**features.meta, "augment": list(recipe.augment)}, features.X_aug[:, copies]
    )


def training_features(
    corpus: Corpus, variants: dict[str, VoiceRecipe], cache_dir: str | Path, n_jobs: int | None, progress: bool = True
) -> dict[str, FeatureSet]:
    """Each variant's training features; recipes that prepare clips alike share one extraction (with every
    augmentation kind any of them uses)."""
    kinds: dict[SmileParams, list[str]] = {}
    for recipe in variants.values():
        kinds.setdefault(recipe.params, [])
        kinds[recipe.params] += [k for k in recipe.augment if k not in kinds[recipe.params]]
    extracted = {
        params: corpus_features(corpus, params, cache_dir, augment, n_jobs, progress)
        for params, augment in kinds.items()
    }
    return {name: recipe_features(extracted[recipe.params], recipe) for name, recipe in variants.items()}


def _rows(corpus: Corpus, features: FeatureSet) -> pd.DataFrame:
    """The manifest rows of the feature rows, in their order."""
    return corpus.manifest.set_index("take_id").loc[features.clip_ids].reset_index()


def _labels(corpus: Corpus, features: FeatureSet) -> tuple[pd.DataFrame, np.ndarray]:
    from emo_utils.labels import emotion_index

    rows = _rows(corpus, features)
    return rows, rows["emotion"].map(emotion_index).to_numpy()


def cross_validate_variant(
    features: FeatureSet, corpus: Corpus, recipe: VoiceRecipe, seed: int, n_jobs: int = 1, progress: bool = False
) -> CVResult:
    """Nested 6-fold cross-validation of one recipe on the training corpus (actors held out, no test-speaker
    statistics): its ``oof`` and ``inner_oof``."""
    from emo_utils.train import cross_validate

    rows, y = _labels(corpus, features)
    return cross_validate(
        features,
        y,
        rows["actor"].to_numpy(),
        rows["gender"].to_numpy(),
        rows["fold"].to_numpy(),
        recipe.train_config(seed),
        desc=f"voice CV seed {seed}",
        progress=progress,
        n_jobs=n_jobs,
        nested=True,
    )


@dataclass
class NestedChoice:
    """The nested choice among variants: each variant's inner accuracy per test fold, the variant chosen per
    test fold, and the out-of-fold predictions of the chosen variants (the tuned recipe's held-out estimate)."""

    inner_scores: pd.DataFrame
    choice: dict[int, str]
    oof: pd.DataFrame


def choose_on_inner_folds(oofs: dict[str, pd.DataFrame], inner_oofs: dict[str, pd.DataFrame]) -> NestedChoice:
    """Per test fold, the variant with the best inner accuracy on that fold's training actors (first listed
    wins a tie); its out-of-fold rows predict the fold's test actors."""
    from emo_utils.tuning import choose_per_fold, combine, inner_scores

    choice = choose_per_fold(inner_oofs)
    oof, _ = combine(oofs, inner_oofs, choice)
    return NestedChoice(inner_scores(inner_oofs), choice, oof)


def choose_final(oofs: dict[str, pd.DataFrame]) -> str:
    """The variant for the model fitted on every training actor: best out-of-fold accuracy over them (the
    outer folds are that model's inner folds); the first listed wins a tie."""
    from emo_utils.evaluate import metrics_from_table

    scores = {name: metrics_from_table(oof)["accuracy"] for name, oof in oofs.items()}
    best = max(scores.values())
    return next(name for name, score in scores.items() if score == best)


def fit_on_all_actors(
    features: FeatureSet, corpus: Corpus, recipe: VoiceRecipe, out_dir: str | Path, seed: int = 0
) -> tuple[Path, pd.DataFrame]:
    """The recipe's model fitted on every actor of ``corpus`` (one per gender held out for early stopping),
    saved as ``out_dir/final.pt``; returns the checkpoint and the learning curve."""
    from emo_utils.labels import EMOTIONS
    from emo_utils.train import fit_final

    rows, y = _labels(corpus, features)
    return fit_final(
        features, y, rows["actor"].to_numpy(), rows["gender"].to_numpy(), recipe.train_config(seed), out_dir, EMOTIONS
    )


def predict_corpus(checkpoint: str | Path, features: FeatureSet, corpus: Corpus, emotions: list[str]) -> pd.DataFrame:
    """A saved model's predictions of every clip of ``corpus`` in ``emotions``, restricted to those emotions
    (the out-of-fold table layout; ``fold`` is ``emo_utils.cross_corpus.CROSS_FOLD``)."""
    from emo_utils.checkpoints import load_checkpoint
    from emo_utils.cross_corpus import CROSS_FOLD, prediction_table, restrict_to
    from emo_utils.train import predict_proba

    rows = _rows(corpus, features)
    keep = rows["emotion"].isin(emotions).to_numpy()
    model = load_checkpoint(checkpoint)
    proba = predict_proba(model.model, features.X[keep], model.scaler)
    table = prediction_table(features.clip_ids[keep], rows[keep].reset_index(drop=True), proba, CROSS_FOLD)
    return restrict_to(table, emotions)


def cross_corpus_table(
    train_features: FeatureSet, test_features: FeatureSet, corpora: Corpora, recipe: VoiceRecipe, seed: int
) -> pd.DataFrame:
    """Train the recipe on every training-corpus actor (all its emotions, as the shipped model) and predict the
    test corpus over the shared emotions."""
    from emo_utils.cross_corpus import shared_emotions

    if corpora.test is None:
        raise ValueError("cross_corpus_table needs a test corpus: load_corpora(train_root, test_root)")
    emotions = shared_emotions(corpora.train, corpora.test)
    with tempfile.TemporaryDirectory(prefix="voice-final-") as folder:
        checkpoint, _ = fit_on_all_actors(train_features, corpora.train, recipe, folder, seed)
        return predict_corpus(checkpoint, test_features, corpora.test, emotions)


def write_voice_branch(
    out_dir: str | Path,
    features: FeatureSet,
    corpus: Corpus,
    recipe: VoiceRecipe,
    variant: str,
    oof: pd.DataFrame,
    measured: dict[str, Any],
    seed: int = 0,
) -> Path:
    """Fit the recipe on every actor and write a branch folder as ``emo_utils.shipped_models`` holds it:
    ``final.pt`` (the model the demo applies), ``oof.csv`` (the held-out predictions that measure the recipe)
    and ``provenance.json``. The folder is named after the branch whose ``clip_input`` reads the recipe's
    features from one clip (``audio_egemaps`` or ``audio_compare``). Returns the folder."""
    from emo_utils.branches import BRANCHES

    folder = Path(out_dir) / "branches" / recipe.branch
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    _, curve = fit_on_all_actors(features, corpus, recipe, folder, seed)
    rows = corpus.manifest
    spec = BRANCHES[recipe.branch]
    provenance = {
        "branch": recipe.branch,
        "modality": "audio",
        "description": f"{spec.description}; voice model for strangers ({variant}: {recipe_text(recipe)})",
        "random_weights": False,
        "speaker_norm": "none",
        "synthetic": bool(rows["synthetic"].any()),
        "dataset": corpus.name,
        "protocol": measured.get("protocol", ""),
        "labels": [c.removeprefix("p_") for c in oof.columns if c.startswith("p_")],
        "recipe": {"variant": variant, **asdict(recipe)},
        "train": asdict(recipe.train_config(seed)),
        "shipped": {**measured, "final_epochs": len(curve), "n_clips": len(features), "head": recipe.head},
    }
    oof.to_csv(folder / "oof.csv", index=False)
    (folder / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    return folder


def recipe_text(recipe: VoiceRecipe) -> str:
    """One line saying what the recipe does."""
    level = (
        f"loudness normalised to {recipe.loudness_dbfs:g} dBFS" if recipe.loudness_dbfs is not None else "as recorded"
    )
    augment = f"trained with {', '.join(recipe.augment)} copies" if recipe.augment else "no augmentation"
    return f"{recipe.feature_set} functionals, {level}, {augment}, MLP head {recipe.head}"


def measure(oof: pd.DataFrame, corpus: Corpus) -> dict[str, Any]:
    """What the shipped model card reports of a held-out prediction table (the keys of
    ``emo_utils.pretrained.model_card``)."""
    from emo_utils.evaluate import classification_report_frame, metrics_from_table

    overall = metrics_from_table(oof)
    per_fold = [metrics_from_table(rows)["accuracy"] for _, rows in oof.groupby("fold")]
    return {
        "oof_accuracy": round(overall["accuracy"], 4),
        "oof_uar": round(overall["uar"], 4),
        "oof_macro_f1": round(overall["macro_f1"], 4),
        "fold_accuracy_mean": round(float(np.mean(per_fold)), 4),
        "fold_accuracy_sd": round(float(np.std(per_fold, ddof=1)), 4),
        "per_class_recall": classification_report_frame(oof)["recall"].round(3).to_dict(),
        "n_actors": int(corpus.manifest["actor"].nunique()),
        "protocol": f"{len(per_fold)} actor folds of {corpus.name} (actors held out; speaker norm none: no "
        "test-speaker statistics); the variant chosen per test fold on the nested predictions of its training actors",
    }


def ship(
    out: str | Path,
    features: dict[str, FeatureSet],
    corpus: Corpus,
    oofs: dict[str, pd.DataFrame],
    inner_oofs: dict[str, pd.DataFrame],
    variants: dict[str, VoiceRecipe] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """From the variants' nested cross-validation: the held-out estimate of the tuned recipe (the variant chosen
    per test fold on inner folds; its table is the branch's ``oof.csv``), the variant of the final model (best
    out-of-fold accuracy over every actor), that model fitted on every actor and its branch folder written under
    ``out``. Returns what was measured and chosen (with ``folder``)."""
    from emo_utils.evaluate import metrics_from_table

    variants = variants or VARIANTS
    nested = choose_on_inner_folds(oofs, inner_oofs)
    final = choose_final(oofs)
    measured = {
        **measure(nested.oof, corpus),
        "oof_accuracy_per_variant": {n: round(metrics_from_table(t)["accuracy"], 4) for n, t in oofs.items()},
        "choice_per_fold": nested.choice,
        "final_variant": final,
        "final_variant_rule": "best out-of-fold accuracy over every training actor (no other corpus used)",
    }
    folder = write_voice_branch(out, features[final], corpus, variants[final], final, nested.oof, measured, seed)
    log.info("voice model (%s) written to %s", final, folder)
    return {**measured, "folder": str(folder)}


def build_voice_model(
    train_root: str | Path,
    out: str | Path,
    cache_dir: str | Path,
    variants: dict[str, VoiceRecipe] | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The whole recipe on the training corpus (real recordings): features of every variant (cached under
    ``cache_dir``), each variant cross-validated with nested actor folds, then :func:`ship` to ``out``."""
    variants = variants or VARIANTS
    corpus = load_corpora(train_root).train
    if corpus.manifest["synthetic"].any():
        raise DataError(train_root, "is a synthetic corpus", "the voice model is trained on real recordings")
    features = training_features(corpus, variants, cache_dir, n_jobs, progress)
    results = {
        name: cross_validate_variant(features[name], corpus, recipe, seed, n_jobs or 1, progress)
        for name, recipe in variants.items()
    }
    oofs = {name: result.oof for name, result in results.items()}
    return ship(out, features, corpus, oofs, {n: r.inner_oof for n, r in results.items()}, variants, seed)
