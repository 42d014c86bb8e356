"""The demo: predict the emotion of one video (and/or audio) file with a workflow run's trained branches.

Each branch applies its fold models (an ensemble of the 6 actor-held-out models) to the clip; the
branches are fused with the run's late-fusion config. A missing modality (no audio track, no face) is
reported with its reason and the clip is fused from what it has.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emo_utils.branches import BRANCHES
from emo_utils.errors import DataError, EmoError
from emo_utils.fusion import load_fusion_config
from emo_utils.labels import EMOTIONS
from emo_utils.train import Standardizer, load_checkpoint, predict_proba

DEFAULT_RUNS_DIR = Path("runs")


def latest_run(runs_dir: str | Path = DEFAULT_RUNS_DIR) -> Path:
    """The most recently finished workflow run (a folder with metrics.json) under ``runs_dir``."""
    runs = sorted(Path(runs_dir).glob("**/metrics.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise DataError(runs_dir, "no finished workflow run found",
                        "run ./run_fusion_workflow.sh first, or pass --run DIR")
    return runs[-1].parent


FoldModel = tuple[torch.nn.Module, Standardizer, dict[str, Any]]


class BranchPredictor:
    """A branch's fold models, applied to new clips (probabilities averaged over folds)."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = Path(folder)
        self.spec = BRANCHES[name]
        checkpoints = sorted(self.folder.glob("fold*.pt"))
        if not checkpoints:
            raise DataError(folder, f"no trained models for branch {name}", "re-run the workflow for this branch")
        self.models: list[FoldModel] = [load_checkpoint(path) for path in checkpoints]
        self.meta: dict[str, Any] = self.models[0][2]["feature_meta"]
        self.actor_norm = bool(self.models[0][2]["config"].get("actor_norm"))

    @property
    def random_weights(self) -> bool:
        return bool(self.meta.get("random_weights", False))

    def clip_input(self, video: str | None, audio: str | None) -> np.ndarray:
        """The model input (1, ...) of one clip, computed as the branch's training features were."""
        return np.asarray(self.spec.clip_input(video, audio, self.meta), dtype=np.float32)[None]

    def held_out_model(self, actor: str) -> FoldModel:
        """The fold model that never saw ``actor`` (its test fold held the actor out)."""
        for fold_model in self.models:
            if actor in fold_model[2]["test_actors"]:
                return fold_model
        raise DataError(self.folder, f"no fold model of branch {self.name} held out actor {actor}",
                        "evaluate only clips of the run's own actors, or predict with the fold ensemble")

    def _apply(self, fold_model: FoldModel, x: np.ndarray) -> np.ndarray:
        model, scaler, ckpt = fold_model
        if self.actor_norm and ckpt.get("population_mean") is not None:
            x = Standardizer(ckpt["population_mean"], ckpt["population_std"])(x).numpy()
        return predict_proba(model, x, scaler)

    def predict_inputs(self, x: np.ndarray, actor: str | None = None) -> np.ndarray:
        """Probabilities (N, 8) for model inputs ``x``: the mean over the fold models, or, with ``actor``,
        only the fold model that held that actor out (honest evaluation on the run's own clips).

        A model trained with per-actor normalisation gets the new clips normalised with its training
        population's statistics (one clip of a new person has no per-person statistics).
        """
        models = self.models if actor is None else [self.held_out_model(actor)]
        return np.mean([self._apply(fold_model, x) for fold_model in models], axis=0)

    def predict(self, video: str | None, audio: str | None) -> np.ndarray:
        """Class probabilities (8,) for one clip; raises an :class:`EmoError` when its input is missing."""
        return self.predict_inputs(self.clip_input(video, audio))[0]


@functools.lru_cache(maxsize=16)
def _cached_predictor(name: str, folder: str, signature: tuple[tuple[str, int], ...]) -> BranchPredictor:
    return BranchPredictor(name, Path(folder))


def load_predictor(name: str, folder: str | Path) -> BranchPredictor:
    """A branch's fold models, loaded once per process (and again when its checkpoints change), so
    repeated predictions in a notebook or a service skip the loading."""
    signature = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(Path(folder).glob("fold*.pt")))
    return _cached_predictor(name, str(Path(folder).resolve()), signature)


def predict_file(video: str | Path | None, audio: str | Path | None = None, run_dir: str | Path | None = None,
                 config_path: str | Path | None = None) -> dict[str, Any]:
    """Fused prediction for one clip, with every modality's probabilities and contribution (JSON-ready)."""
    for path in (video, audio):
        if path is not None and not Path(path).is_file():
            raise DataError(path, "file not found", "check the path")
    run = Path(run_dir) if run_dir else latest_run()
    config = load_fusion_config(config_path or run / "fusion" / "fusion_config.json")
    video_s, audio_s = (str(video) if video else None), (str(audio) if audio else None)
    modalities: dict[str, dict[str, Any]] = {}
    available: dict[str, np.ndarray] = {}
    notes: list[str] = []
    torch.set_num_threads(1)
    for branch in config.branches:
        entry: dict[str, Any] = {"weight": config.weight_of(branch)}
        if entry["weight"] == 0:
            entry["missing"] = "weight 0 in the fusion config: not used"
            modalities[branch] = entry
            continue
        try:
            predictor = load_predictor(branch, run / "branches" / branch)
            available[branch] = predictor.predict(video_s, audio_s)
            entry["probabilities"] = dict(zip(EMOTIONS, available[branch].round(4).tolist()))
            entry["random_weights"] = predictor.random_weights
            if predictor.actor_norm:
                notes.append(f"{branch}: trained with per-actor normalisation; one clip of a new person is "
                             "normalised with the training population's statistics instead (less accurate)")
        except EmoError as exc:
            entry["missing"] = str(exc)
        modalities[branch] = entry
    if not available:
        raise DataError(video or audio or "input", "no modality could be used: " + "; ".join(
            f"{b}: {m['missing']}" for b, m in modalities.items()), "check that the clip has a face and sound")
    total = sum(config.weight_of(b) for b in available)
    fused = np.zeros(len(EMOTIONS))
    for branch, proba in available.items():
        share = config.weight_of(branch) / total if total > 0 else 1 / len(available)
        modalities[branch]["contribution"] = dict(zip(EMOTIONS, (share * proba).round(4).tolist()))
        fused += share * proba
    return {"video": video_s, "audio": audio_s, "run": str(run), "prediction": EMOTIONS[int(fused.argmax())],
            "probabilities": dict(zip(EMOTIONS, fused.round(4).tolist())), "modalities": modalities,
            "fused_from": sorted(available), "notes": notes}


def render_text(result: dict[str, Any]) -> str:
    """A human-readable summary of :func:`predict_file`'s result."""
    lines = [f"input: {result['video'] or ''} {result['audio'] or ''}".rstrip(), f"run: {result['run']}"]
    for branch, entry in result["modalities"].items():
        if "missing" in entry:
            lines.append(f"  {branch:<20} MISSING: {entry['missing']}")
            continue
        top = max(entry["probabilities"], key=entry["probabilities"].get)
        flag = "  [RANDOM stand-in weights]" if entry.get("random_weights") else ""
        lines.append(f"  {branch:<20} weight {entry['weight']:.2f}  top: {top} "
                     f"({entry['probabilities'][top]:.2f}){flag}")
    probs = result["probabilities"]
    lines.append("fused: " + ", ".join(f"{e} {p:.2f}" for e, p in sorted(probs.items(), key=lambda kv: -kv[1])[:3]))
    lines.append(f"PREDICTION: {result['prediction']} (fused from {', '.join(result['fused_from'])})")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def plot_prediction(result: dict[str, Any]) -> Any:
    """Bars of each modality's probabilities, its weighted contribution and the fused result."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from emo_utils.plotting import use_style
    use_style()
    rows = {b: e["probabilities"] for b, e in result["modalities"].items() if "probabilities" in e}
    contrib = pd.DataFrame({b: e["contribution"] for b, e in result["modalities"].items() if "contribution" in e})
    fig, (ax_p, ax_c) = plt.subplots(1, 2, figsize=(11, 3.6))
    pd.DataFrame({**rows, "fused": result["probabilities"]}).plot.bar(ax=ax_p, rot=30)
    ax_p.set(title="probabilities per modality and fused", ylim=(0, 1))
    contrib.plot.bar(stacked=True, ax=ax_c, rot=30)
    ax_c.set(title=f"contributions to the fused result -> {result['prediction']}", ylim=(0, 1))
    return fig
