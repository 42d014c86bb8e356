"""A fold's trained model on disk: everything needed to rebuild it and apply it to new clips."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emo_utils.fitting import Standardizer, TrainConfig
from emo_utils.labels import EMOTIONS
from emo_utils.models import build_model


def save_checkpoint(
    path: Path,
    model: nn.Module,
    scaler: Standardizer,
    config: TrainConfig,
    input_shape: tuple[int, ...],
    feature_meta: dict[str, Any],
    test_actors: list[str],
    label_names: tuple[str, ...] = EMOTIONS,
    population: Standardizer | None = None,
    within_actor_variance: np.ndarray | None = None,
) -> Path:
    """Save everything needed to rebuild and apply the model to new clips.

    With per-actor normalisation, ``population`` holds the raw training features' statistics (a single
    clip of a stranger is normalised with them) and ``within_actor_variance`` the typical spread within a
    training speaker (enrolment clips of a new speaker are shrunk towards it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "mean": scaler.mean,
            "std": scaler.std,
            "config": asdict(config),
            "input_shape": list(input_shape),
            "feature_meta": feature_meta,
            "test_actors": test_actors,
            "labels": list(label_names),
            "population_mean": None if population is None else population.mean,
            "population_std": None if population is None else population.std,
            "within_actor_variance": within_actor_variance,
        },
        path,
    )
    return path


@dataclass
class FoldModel:
    """A fold's trained model as loaded from its checkpoint."""

    model: nn.Module
    scaler: Standardizer
    config: TrainConfig
    labels: tuple[str, ...]
    test_actors: list[str]
    feature_meta: dict[str, Any]
    population: Standardizer | None
    within_actor_variance: np.ndarray | None


def load_checkpoint(path: str | Path) -> FoldModel:
    """Rebuild a model saved by :func:`save_checkpoint`."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    config = TrainConfig(**ckpt["config"])
    labels = tuple(ckpt["labels"])
    model = build_model(config.model, ckpt["input_shape"], n_classes=len(labels), **config.model_kwargs)
    model.load_state_dict(ckpt["state_dict"])
    model.n_classes = len(labels)
    model.eval()
    population = None
    if ckpt.get("population_mean") is not None:
        population = Standardizer(ckpt["population_mean"], ckpt["population_std"])
    return FoldModel(
        model,
        Standardizer(ckpt["mean"], ckpt["std"]),
        config,
        labels,
        list(ckpt["test_actors"]),
        ckpt["feature_meta"],
        population,
        ckpt.get("within_actor_variance"),
    )
