"""The feature pack: real per-clip features of RAVDESS and EmoDB, small enough to ship in ``data/feature_pack/``.

A fresh clone has no corpus, yet the lessons that need real voices (speakers cluster, the leakage gap, the
enrolment curve, cross-corpus) need real data. The pack holds, for every take, the features this project's
own code computes from the raw corpora, with the take's actor, gender, emotion and fold:

- ``egemaps``: the 88 eGeMAPS v02 functionals (openSMILE, :mod:`emo_utils.audio.opensmile_features`);
- ``mfcc_stats``: mean and standard deviation over time of the 42 frame features of the MFCC branch (ZCR,
  RMS, 40 MFCCs; :mod:`emo_utils.audio.features`, no augmentation), as the branch's SVM baseline pools them;
- ``au`` (RAVDESS only): the 35 OpenFace 2.1 facial action-unit means per clip (:mod:`emo_utils.video.openface`).

One compressed ``.npz`` per corpus (no pickles): ``row_<column>`` arrays, ``X_<kind>`` float32 matrices,
``names_<kind>`` feature names and a JSON ``meta`` (licence, source, settings). RAVDESS-derived data is
CC BY-NC-SA 4.0 and EmoDB-derived data CC0-1.0, as the corpora (``data/README.md``). ``emo build-feature-pack``
rebuilds it from the raw corpora with :func:`build_feature_pack`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emo_utils.errors import DataError
from emo_utils.feature_store import FeatureSet

log = logging.getLogger(__name__)

PACK_DIR = Path(__file__).resolve().parents[1] / "data" / "feature_pack"
PACK_CORPORA = ("ravdess", "emodb")
ROW_COLUMNS = ("dataset", "take_id", "actor", "gender", "emotion", "intensity", "statement", "repetition", "fold")
FEATURE_KINDS = {
    "egemaps": "88 eGeMAPS v02 functionals (openSMILE)",
    "mfcc_stats": "mean and standard deviation over time of ZCR, RMS and 40 MFCCs (the MFCC branch's frames)",
    "au": "35 OpenFace 2.1 facial action-unit means per clip (17 intensities, 18 presences)",
}
LICENCES = {
    "ravdess": "CC BY-NC-SA 4.0 (derived from RAVDESS, Livingstone & Russo 2018, PLoS ONE 13(5): e0196391)",
    "emodb": "CC0-1.0 (derived from EmoDB, Burkhardt et al. 2005, Interspeech; first 2 s of each utterance)",
}
REBUILD = "emo build-feature-pack --ravdess ../shared/data/ravdess --emodb ../shared/data/emodb --out data/feature_pack"
PACK_HINT = f"the pack ships in data/feature_pack/ of the repository; rebuild it with `{REBUILD}`"


@dataclass
class CorpusPack:
    """One corpus of the pack: a row per take (``ROW_COLUMNS``) and, per feature kind, a :class:`FeatureSet` in the
    same row order (``clip_ids`` are the take ids)."""

    name: str
    rows: pd.DataFrame
    features: dict[str, FeatureSet]
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        for kind, features in self.features.items():
            if list(features.clip_ids) != list(self.rows["take_id"]):
                raise ValueError(f"{self.name} pack: the {kind} rows are not in the order of the take rows")

    @property
    def note(self) -> str:
        """How results name these data, e.g. ``real RAVDESS, feature pack (eGeMAPS, MFCC stats, AUs)``."""
        return f"real {self.meta['corpus']}, shipped feature pack"

    def feature_names(self, kind: str) -> list[str]:
        return list(self.features[kind].meta["feature_names"])


def _mfcc_stats(ctx: Any) -> FeatureSet:
    """Mean and standard deviation over time of the MFCC branch's frame features (no augmented copies)."""
    from emo_utils.audio.features import STAGE_VERSION, FeatureParams, extract_dataset_features
    from emo_utils.branches import BRANCHES

    folder = ctx.stage("audio_mfcc_clean", STAGE_VERSION, {"augment": []}).folder(ctx.features_dir)
    frames, skipped = extract_dataset_features(
        ctx.audio_tasks(),
        folder / "features.npz",
        folder / "cache",
        augment=(),
        n_jobs=ctx.n_jobs,
        progress=ctx.progress,
    )
    log.info(skipped.report())
    names = FeatureParams().feature_names
    meta = {"feature_names": [f"{stat}_{n}" for stat in ("mean", "std") for n in names]}
    return FeatureSet(frames.clip_ids, BRANCHES["audio_mfcc_cnn"].pooled(frames.X).astype(np.float32), meta)


def _names(features: FeatureSet) -> list[str]:
    """The column names of a feature set (the AU table calls them ``columns``)."""
    return list(features.meta.get("feature_names") or features.meta["columns"])


def build_corpus_pack(
    root: str | Path, cache_dir: str | Path, n_jobs: int | None = None, progress: bool = True
) -> CorpusPack:
    """The pack of one corpus folder (RAVDESS or EmoDB layout), computed by the branches' own feature code.

    Heavy stages are cached under ``cache_dir`` (a rerun only loads them). Takes for which any feature is
    missing are left out and logged.
    """
    from emo_utils.audio.features import FeatureParams
    from emo_utils.branches import BRANCHES
    from emo_utils.cross_corpus import corpus_context, load_corpus
    from emo_utils.data.manifest import excerpt_note

    corpus = load_corpus(root, cache_dir)
    ctx = corpus_context(corpus, n_jobs, progress)
    egemaps, skipped = BRANCHES["audio_egemaps"].build_features(ctx)
    log.info(skipped.report())
    features = {"egemaps": egemaps, "mfcc_stats": _mfcc_stats(ctx)}
    if (corpus.manifest["au_path"] != "").any():
        features["au"], skipped = BRANCHES["face_au"].build_features(ctx)
        log.info(skipped.report())
    kept = [t for t in corpus.manifest["take_id"] if all(t in set(f.clip_ids) for f in features.values())]
    if not kept:
        raise DataError(
            root, "no take has every feature of the pack", "check the folder holds the corpus's speech audio"
        )
    rows = corpus.manifest.set_index("take_id").loc[kept].reset_index()[list(ROW_COLUMNS)]
    features = {
        kind: FeatureSet(np.array(kept), f.subset(kept).X.astype(np.float32), {"feature_names": _names(f)})
        for kind, f in features.items()
    }
    meta = {
        "corpus": corpus.name,
        "note": excerpt_note(corpus.manifest),  # ", first 2 s of each utterance" for the shared EmoDB copy
        "licence": LICENCES.get(corpus.name, "as the source corpus"),
        "source": str(root),
        "n_takes": len(kept),
        "n_left_out": int(len(corpus.manifest) - len(kept)),
        "kinds": {kind: FEATURE_KINDS[kind] for kind in features},
        "settings": {"egemaps": egemaps.meta.get("feature_set"), "mfcc": asdict(FeatureParams())},
        "rebuild": REBUILD,
    }
    return CorpusPack(corpus.name, rows, features, meta)


def save_corpus_pack(pack: CorpusPack, path: str | Path) -> Path:
    """Write ``pack`` to one compressed ``.npz`` (no pickled objects)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {f"row_{c}": np.asarray(pack.rows[c].astype(str), dtype=str) for c in ROW_COLUMNS}
    for kind, features in pack.features.items():
        arrays[f"X_{kind}"] = features.X.astype(np.float32)
        arrays[f"names_{kind}"] = np.array(features.meta["feature_names"], dtype=str)
    arrays["meta"] = np.array(json.dumps(pack.meta, sort_keys=True))
    np.savez_compressed(path, **arrays)
    return path


def load_corpus_pack(path: str | Path) -> CorpusPack:
    """One corpus pack written by :func:`save_corpus_pack`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "feature pack not found", PACK_HINT)
    with np.load(path, allow_pickle=False) as npz:
        rows = pd.DataFrame({c: npz[f"row_{c}"] for c in ROW_COLUMNS})
        kinds = [k[2:] for k in npz.files if k.startswith("X_")]
        take_ids = rows["take_id"].to_numpy()
        features = {
            kind: FeatureSet(take_ids, npz[f"X_{kind}"], {"feature_names": list(npz[f"names_{kind}"])})
            for kind in kinds
        }
        meta = json.loads(str(npz["meta"]))
    rows["repetition"] = rows["repetition"].astype(int)
    rows["fold"] = rows["fold"].astype(int)
    rows["synthetic"] = False
    return CorpusPack(meta["corpus"], rows, features, meta)


def load_feature_pack(corpus: str = "ravdess", folder: str | Path = PACK_DIR) -> CorpusPack:
    """The shipped pack of ``corpus`` (``ravdess`` or ``emodb``) from ``folder`` (default: the repository's
    ``data/feature_pack``)."""
    if corpus not in PACK_CORPORA:
        raise ValueError(f"corpus must be one of {', '.join(PACK_CORPORA)}, got {corpus!r}")
    return load_corpus_pack(Path(folder) / f"{corpus}.npz")


def build_feature_pack(
    ravdess_root: str | Path,
    emodb_root: str | Path,
    out_dir: str | Path = PACK_DIR,
    cache_dir: str | Path = "runs/feature_pack_cache",
    n_jobs: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Build both corpora's packs from their raw folders into ``out_dir`` (``ravdess.npz``, ``emodb.npz``)."""
    paths = []
    for name, root in (("ravdess", ravdess_root), ("emodb", emodb_root)):
        pack = build_corpus_pack(root, Path(cache_dir) / name, n_jobs=n_jobs, progress=progress)
        if pack.name != name:
            raise DataError(root, f"holds {pack.name}, not {name}", f"pass the {name} folder (see data/README.md)")
        paths.append(save_corpus_pack(pack, Path(out_dir) / f"{name}.npz"))
        log.info("feature pack %s: %d takes, %s", name, len(pack.rows), ", ".join(pack.features))
    return paths
