"""wav2vec 2.0 (or HuBERT, WavLM) fine-tuned end to end for emotion, with actors held out, through ``accelerate``.

For every actor fold the pretrained encoder is copied, topped with a pooling head (mean over the clip's
valid frames, dropout, one linear layer) and trained on the other folds' actors, except one actor per
gender held out for **validation**: the epoch with the lowest validation loss is kept (early stopping and
checkpoint choice), so the test fold is never looked at before it is predicted. Options: a frozen CNN
feature encoder (the default, as in the wav2vec 2.0 paper's fine-tuning) and layer-wise learning-rate decay.

The same code runs on one CPU, one GPU, several GPUs or several machines: it goes through Hugging Face
``accelerate`` (``accelerate launch -m emo_utils.cli finetune ...``). Every process sees its shard of each
DataLoader (``accelerator.prepare``); predictions are gathered by ``accelerator.gather_for_metrics``, which
drops the samples repeated to even out the last batch; only the main process writes files. Out-of-fold
probabilities go to ``RUN/branches/audio_wav2vec_finetuned/`` in the common branch format
(:func:`emo_utils.artifacts.write_branch_artifact`), so fusion takes it like any other branch.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from emo_utils.artifacts import write_branch_artifact
from emo_utils.audio.wav2vec import frame_lengths, load_clip, model_inputs
from emo_utils.backbones import DEFAULT_MODELS, load_backbone
from emo_utils.branches import FeatureContext
from emo_utils.data.folds import describe_protocol
from emo_utils.data.manifest import dataset_name
from emo_utils.devices import resolve_device
from emo_utils.errors import DataError, SkipLog
from emo_utils.extraction import safe_call
from emo_utils.labels import emotion_index, run_labels
from emo_utils.predictions import PredictionTable
from emo_utils.provenance import BranchProvenance
from emo_utils.train import FoldPlan, TrainConfig, plan_folds

logger = logging.getLogger(__name__)

BRANCH = "audio_wav2vec_finetuned"
DESCRIPTION = "wav2vec 2.0 fine-tuned end to end (mean pooling over valid frames + linear head)"
MIXED_PRECISION_CHOICES = ("auto", "no", "bf16", "fp16")
MIN_SECONDS = 0.25  # SpecAugment masks spans of 10 frames (0.2 s): shorter clips cannot be masked


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run (saved in the branch's provenance)."""

    model: str = DEFAULT_MODELS["wav2vec2"]
    epochs: int = 10
    batch_size: int = 8  # clips per process and step: with N processes a step sees N x batch_size clips
    lr: float = 5e-5  # the top transformer layer's learning rate
    head_lr: float = 1e-3
    layer_decay: float | None = None  # e.g. 0.8: each layer down learns 0.8x as fast as the one above
    freeze_feature_encoder: bool = True  # the CNN front end keeps its pretrained weights
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    max_grad_norm: float = 1.0
    dropout: float = 0.1
    patience: int = 3  # epochs without a lower validation loss before a fold stops
    val_actors_per_gender: int = 1
    max_seconds: float = 6.0  # longer clips are cropped: at random in training, in the middle otherwise
    top_db: float | None = 30.0  # edge silence trimmed as in the wav2vec feature extraction
    save_models: bool = False  # save every fold's chosen model (encoder + head) under the branch folder
    seed: int = 0


@dataclass
class FinetuneResult:
    """What a run produced (the same on every process; only the main process wrote it to ``folder``)."""

    oof: pd.DataFrame
    history: pd.DataFrame
    provenance: dict[str, Any]
    folder: Path
    skipped: SkipLog = field(default_factory=lambda: SkipLog(BRANCH))


class SpeechClassifier(nn.Module):
    """A wav2vec 2.0-family encoder, mean pooling over each clip's valid frames, dropout and a linear layer."""

    def __init__(self, encoder: nn.Module, n_classes: int, pass_attention_mask: bool, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.pass_attention_mask = pass_attention_mask  # only models trained with a mask get one
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(int(encoder.config.hidden_size), n_classes))

    def pooled(self, input_values: torch.Tensor, sample_lengths: torch.Tensor) -> torch.Tensor:
        """(B, hidden) mean of the last layer over each clip's own frames (padding left out)."""
        positions = torch.arange(input_values.shape[1], device=input_values.device)
        mask = (positions[None] < sample_lengths[:, None]).long() if self.pass_attention_mask else None
        hidden = self.encoder(input_values, attention_mask=mask).last_hidden_state.float()
        n_frames = frame_lengths(self.encoder, sample_lengths).clamp(1, hidden.shape[1])
        valid = torch.arange(hidden.shape[1], device=hidden.device)[None] < n_frames[:, None]
        return (hidden * valid[..., None]).sum(dim=1) / n_frames[:, None]

    def forward(self, input_values: torch.Tensor, sample_lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(input_values, sample_lengths))


def encoder_depth(name: str, n_layers: int, top_layer_norm: bool = False) -> int:
    """Depth of an encoder parameter: 1..n_layers for transformer layer 0..n_layers-1, 0 below them
    (CNN, projection, positional convolution), n_layers for a final layer norm above them."""
    match = re.match(r"encoder\.layers\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    if top_layer_norm and name.startswith("encoder.layer_norm."):
        return n_layers
    return 0


def parameter_groups(model: SpeechClassifier, config: FinetuneConfig) -> list[dict[str, Any]]:
    """AdamW groups: the head at ``head_lr``; the encoder at ``lr``, times ``layer_decay ** (layers above)``
    with layer-wise decay; no weight decay on biases and norms; frozen parameters left out."""
    encoder_config = model.encoder.config
    n_layers = int(encoder_config.num_hidden_layers)
    top_norm = bool(getattr(encoder_config, "do_stable_layer_norm", False))
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith("head."):
            lr = config.head_lr
        else:
            depth = encoder_depth(name.removeprefix("encoder."), n_layers, top_norm)
            lr = config.lr * (config.layer_decay ** (n_layers - depth) if config.layer_decay else 1.0)
        decay = config.weight_decay if param.ndim > 1 else 0.0
        groups.setdefault((lr, decay), []).append(param)
    return [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()]


class ClipDataset(Dataset):
    """Waveforms of some manifest rows with their labels; long clips cropped to ``max_samples``."""

    def __init__(
        self, waveforms: list[np.ndarray], labels: np.ndarray, rows: np.ndarray, max_samples: int, random_crop: bool
    ) -> None:
        self.waveforms, self.labels, self.rows = waveforms, labels, rows
        self.max_samples, self.random_crop = max_samples, random_crop

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int, int]:
        row = int(self.rows[i])
        y = self.waveforms[row]
        excess = len(y) - self.max_samples
        if excess > 0:
            start = int(torch.randint(0, excess + 1, ()).item()) if self.random_crop else excess // 2
            y = y[start : start + self.max_samples]
        return y, int(self.labels[row]), row


@dataclass
class Collate:
    """Zero-pads and normalises a batch with the model's feature extractor."""

    processor: Any

    def __call__(self, items: list[tuple[np.ndarray, int, int]]) -> tuple[torch.Tensor, ...]:
        waveforms, labels, rows = zip(*items)
        input_values, _ = model_inputs(self.processor, waveforms)
        return input_values, torch.tensor([len(w) for w in waveforms]), torch.tensor(labels), torch.tensor(rows)


def make_accelerator(device: str = "auto", mixed_precision: str = "auto") -> Any:
    """An :class:`accelerate.Accelerator` on ``device`` (``auto``/``cpu``/``cuda``, checked by
    :func:`~emo_utils.devices.resolve_device`); ``accelerate launch`` decides how many processes and which GPU
    each gets. ``mixed_precision="auto"`` trains in bf16 (fp16 on GPUs without bf16) on CUDA, float32 on CPU."""
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs

    resolved = resolve_device(device)
    if mixed_precision == "auto":
        on_cuda = resolved.type == "cuda"
        mixed_precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_cuda else "no"
    if mixed_precision not in MIXED_PRECISION_CHOICES:
        raise ValueError(
            f"mixed_precision must be one of {', '.join(MIXED_PRECISION_CHOICES)}, got {mixed_precision!r}"
        )
    # LayerDrop and SpecAugment leave some weights unused in a step; DDP must be told to expect that
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    return Accelerator(
        cpu=resolved.type == "cpu",
        mixed_precision=mixed_precision,
        kwargs_handlers=[ddp],
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )


def _training_clip(path: str, sample_rate: int, top_db: float | None) -> np.ndarray:
    """:func:`~emo_utils.audio.wav2vec.load_clip`, refusing clips too short for SpecAugment's time masks."""
    y = load_clip(path, sample_rate, top_db)
    if len(y) < MIN_SECONDS * sample_rate:
        raise DataError(
            path,
            f"{len(y) / sample_rate:.2f} s of sound; fine-tuning needs at least {MIN_SECONDS} s",
            "check the clip; or keep its edge silence (top_db=None)",
        )
    return y


def _load_clips(
    tasks: list[tuple[str, str]], sample_rate: int, top_db: float | None
) -> tuple[dict[str, np.ndarray], SkipLog]:
    """Every clip as the model hears it; unreadable clips go to the returned log, never silently away."""
    skipped = SkipLog(BRANCH)
    waveforms: dict[str, np.ndarray] = {}
    load = functools.partial(_training_clip, sample_rate=sample_rate, top_db=top_db)
    for clip_id, path, y, error in (safe_call(load, c, p) for c, p in tasks):
        if y is None:
            skipped.add(clip_id, path, error or "unknown error")
        else:
            waveforms[clip_id] = y
    return waveforms, skipped


def _predict(accelerator: Any, model: nn.Module, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and manifest rows of every clip the loader holds, gathered from all processes."""
    model.eval()
    probabilities, rows = [], []
    with torch.no_grad():
        for input_values, sample_lengths, _, batch_rows in loader:
            logits = model(input_values, sample_lengths)
            logits, batch_rows = accelerator.gather_for_metrics((logits.float(), batch_rows))
            probabilities.append(torch.softmax(logits, dim=1).cpu())
            rows.append(batch_rows.cpu())
    return torch.cat(probabilities).numpy(), torch.cat(rows).numpy()


def _nll(proba: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(proba[np.arange(len(labels)), labels] + 1e-9).mean())


@dataclass
class _FoldInputs:
    """What every fold trains from: the loaded clips, their labels, the feature extractor, the settings."""

    waveforms: list[np.ndarray]
    labels: np.ndarray
    label_names: tuple[str, ...]
    processor: Any
    pretrained: nn.Module
    config: FinetuneConfig
    max_samples: int


def _loader(inputs: _FoldInputs, rows: np.ndarray, train: bool) -> DataLoader:
    if not train:  # similar lengths side by side: less padding
        rows = rows[np.argsort([len(inputs.waveforms[r]) for r in rows], kind="stable")]
    dataset = ClipDataset(inputs.waveforms, inputs.labels, rows, inputs.max_samples, random_crop=train)
    return DataLoader(dataset, batch_size=inputs.config.batch_size, shuffle=train, collate_fn=Collate(inputs.processor))


def _train_fold(
    accelerator: Any, inputs: _FoldInputs, plan: FoldPlan, bar: tqdm
) -> tuple[list[dict[str, float]], np.ndarray, np.ndarray, nn.Module]:
    """Fine-tune one fold; return its learning curve, the test rows' probabilities and rows, and the model
    with the weights of the epoch of lowest validation loss."""
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    config = inputs.config
    set_seed(config.seed + plan.outer)
    model = SpeechClassifier(
        copy.deepcopy(inputs.pretrained),
        len(inputs.label_names),
        bool(inputs.processor.return_attention_mask),
        config.dropout,
    )
    if config.freeze_feature_encoder:
        model.encoder.feature_extractor._freeze_parameters()
    optimizer = torch.optim.AdamW(parameter_groups(model, config))
    fit, val, test = (
        _loader(inputs, plan.fit_rows, True),
        _loader(inputs, plan.val_rows, False),
        _loader(inputs, plan.test_rows, False),
    )
    total_steps = config.epochs * len(fit)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    model, optimizer, fit, val, test, scheduler = accelerator.prepare(model, optimizer, fit, val, test, scheduler)
    best_loss, best_state, best_epoch, since_best = np.inf, None, 0, 0
    curve: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        totals = torch.zeros(2, device=accelerator.device)  # summed loss, clips
        for input_values, sample_lengths, labels, _ in fit:
            loss = nn.functional.cross_entropy(model(input_values, sample_lengths), labels)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            totals += torch.tensor([loss.item() * len(labels), len(labels)], device=totals.device)
        loss_sum, n_clips = accelerator.reduce(totals, reduction="sum").tolist()
        train_seconds = time.perf_counter() - started
        proba, rows = _predict(accelerator, model, val)
        val_labels = inputs.labels[rows]
        val_loss = _nll(proba, val_labels)  # identical on every process: the gathered predictions
        curve.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum / max(n_clips, 1),
                "val_loss": val_loss,
                "val_accuracy": float((proba.argmax(1) == val_labels).mean()),
                "train_clips": int(n_clips),
                "train_seconds": train_seconds,  # the training steps (all processes), without validation
            }
        )
        bar.update(1)
        bar.set_postfix(fold=plan.outer, epoch=epoch, val_loss=f"{val_loss:.3f}")
        if best_state is None or val_loss < best_loss - 1e-4:
            best_loss, best_epoch, since_best = val_loss, epoch, 0
            best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in accelerator.unwrap_model(model).state_dict().items()
            }
        else:
            since_best += 1
            if since_best >= config.patience:
                bar.update(config.epochs - epoch)
                break
    chosen = accelerator.unwrap_model(model)
    chosen.load_state_dict(best_state)
    for row in curve:
        row["chosen"] = row["epoch"] == best_epoch
    proba, rows = _predict(accelerator, model, test)
    accelerator.free_memory()
    return curve, proba, rows, chosen


def _save_model(
    folder: Path,
    model: SpeechClassifier,
    processor: Any,
    config: FinetuneConfig,
    test_actors: list[str],
    labels: tuple[str, ...],
) -> None:
    """The fold's chosen model: the encoder as a ``from_pretrained`` folder, the head beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(folder)
    processor.save_pretrained(folder)
    torch.save(
        {
            "head": model.head.state_dict(),
            "labels": list(labels),
            "test_actors": test_actors,
            "pass_attention_mask": model.pass_attention_mask,
            "config": asdict(config),
        },
        folder / "head.pt",
    )


def finetune(
    manifest: pd.DataFrame,
    run_dir: str | Path,
    config: FinetuneConfig | None = None,
    accelerator: Any = None,
    allow_stand_ins: bool = True,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ``config.model`` on every actor fold of ``manifest`` (its ``fold`` column) and write the
    out-of-fold probabilities to ``run_dir/branches/audio_wav2vec_finetuned`` (main process only).

    Without the model's weights a tiny random stand-in is created under ``run_dir/features/stand_in_models``
    (loudly; flagged ``random_weights``) unless ``allow_stand_ins`` is False. Every split is checked for
    actor leaks (:class:`~emo_utils.errors.ActorLeakError`). ``accelerator`` defaults to
    :func:`make_accelerator` (``auto`` device). Unreadable clips are listed in ``skipped.csv``, not predicted.
    """
    started = time.perf_counter()
    config = config or FinetuneConfig()
    accelerator = accelerator or make_accelerator()
    run_dir = Path(run_dir)
    if "fold" not in manifest.columns:
        raise DataError(
            run_dir / "manifest.csv",
            "the manifest has no actor folds (column 'fold')",
            "make it with the workflow or notebook 01 (load_or_prepare_manifest)",
        )
    ctx = FeatureContext(
        manifest,
        run_dir / "features",
        config.model,
        DEFAULT_MODELS["vit"],
        allow_stand_ins,
        None,
        progress,
        config.seed,
    )
    with accelerator.main_process_first():  # the main process creates a stand-in first; the others load it
        backbone = load_backbone("wav2vec2", config.model, ctx.stand_in_dir("wav2vec2"))
    sample_rate = int(backbone.processor.sampling_rate)
    loaded, skipped = _load_clips(ctx.audio_tasks(), sample_rate, config.top_db)
    rows = manifest[manifest["take_id"].isin(loaded)].reset_index(drop=True)
    if rows.empty:
        raise DataError(run_dir, f"none of the {len(manifest)} clips could be read", skipped.report())
    actors, folds = rows["actor"].to_numpy(), rows["fold"].to_numpy()
    plans = plan_folds(
        folds,
        actors,
        rows["gender"].to_numpy(),
        TrainConfig(model=BRANCH, val_actors_per_gender=config.val_actors_per_gender, seed=config.seed),
    )
    for plan in plans:
        if not len(plan.val_rows) or not len(plan.fit_rows):
            raise DataError(
                run_dir / "manifest.csv",
                f"fold {plan.outer} leaves no validation or no training actors "
                f"({len(set(actors[plan.fit_rows]))} training, {len(set(actors[plan.val_rows]))} "
                "validation)",
                "use more actors or fewer folds (each gender needs at least "
                f"{config.val_actors_per_gender + 1} actors outside every test fold)",
            )
    label_names = run_labels(rows["emotion"])
    inputs = _FoldInputs(
        [loaded[c] for c in rows["take_id"]],
        np.array([emotion_index(e, label_names) for e in rows["emotion"]]),
        label_names,
        backbone.processor,
        backbone.model,
        config,
        int(config.max_seconds * sample_rate),
    )
    folder = run_dir / "branches" / BRANCH
    oof = np.full((len(rows), len(label_names)), np.nan, dtype=np.float32)
    history: list[dict[str, Any]] = []
    bar = tqdm(
        total=len(plans) * config.epochs,
        desc="fine-tune",
        unit="epoch",
        disable=not (progress and accelerator.is_main_process),
    )
    for plan in plans:
        curve, proba, test_rows, model = _train_fold(accelerator, inputs, plan, bar)
        oof[test_rows] = proba
        history += [{"fold": plan.outer, **row} for row in curve]
        if config.save_models and accelerator.is_main_process:
            _save_model(
                folder / f"fold{plan.outer}_model",
                model,
                backbone.processor,
                config,
                sorted(set(actors[plan.test_rows])),
                label_names,
            )
    bar.close()

    table = PredictionTable.build(
        oof, rows["take_id"], rows["actor"], rows["emotion"], label_names, rows["fold"]
    ).frame  # NaN rows: clips whose audio could not be loaded
    dataset = dataset_name(manifest)
    provenance = BranchProvenance(
        branch=BRANCH,
        modality="audio",
        description=DESCRIPTION,
        random_weights=backbone.random_weights,
        speaker_norm="none",
        synthetic=bool(manifest["synthetic"].astype(bool).any()),
        dataset=dataset,
        protocol=describe_protocol(folds, actors, dataset),
        labels=label_names,
        n_skipped=len(skipped),
        details={
            "model": backbone.name,
            "requested_model": config.model,
            "checkpoint_choice": "epoch of lowest validation loss; validation actors are training actors "
            f"({config.val_actors_per_gender} per gender per fold), never the test fold",
            "validation_actors": {str(p.outer): sorted(set(actors[p.val_rows])) for p in plans},
            "chosen_epoch": {str(r["fold"]): r["epoch"] for r in history if r["chosen"]},
            "config": asdict(config),
            "processes": accelerator.num_processes,
            "device": accelerator.device.type,
            "mixed_precision": str(accelerator.mixed_precision),
            "wall_time_s": round(time.perf_counter() - started, 1),
        },
    )
    if accelerator.is_main_process:
        write_branch_artifact(folder, table, provenance)
        pd.DataFrame(history).to_csv(folder / "history.csv", index=False)
        logger.info(skipped.report(folder / "skipped.csv"))
    accelerator.wait_for_everyone()
    return FinetuneResult(table, pd.DataFrame(history), provenance.to_dict(), folder, skipped)
