"""wav2vec 2.0 fine-tuned end to end on a tiny random stand-in and the synthetic demo corpus, through accelerate:
in this process, and launched as 2 CPU processes (gloo) that shard the data and gather the predictions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT

from emo_utils.artifacts import load_branch
from emo_utils.backbones import TINY_WAV2VEC, create_stand_in, load_backbone
from emo_utils.cli import build_parser
from emo_utils.errors import ActorLeakError
from emo_utils.finetune import (
    BRANCH,
    FinetuneConfig,
    SpeechClassifier,
    encoder_depth,
    finetune,
    parameter_groups,
)
from emo_utils.labels import PROBA_COLUMNS
from emo_utils.synthetic.corpus import generate_demo_corpus
from emo_utils.workflow import WorkflowSettings, prepare_run

pytestmark = pytest.mark.filterwarnings("ignore::emo_utils.backbones.RandomWeightsWarning")
QUICK = {"batch_size": 4, "lr": 1e-3, "head_lr": 1e-2, "seed": 0}


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, Path]:
    """6 synthetic actors x 8 one-second takes in 3 actor folds, and a tiny random wav2vec 2.0 on disk."""
    root = tmp_path_factory.mktemp("finetune")
    corpus = generate_demo_corpus(
        root / "corpus",
        n_actors=6,
        takes_per_emotion=1,
        duration_s=1.0,
        fps=4,
        frame_size=48,
        progress=False,
        workers=1,
    )
    settings = WorkflowSettings(data_root=corpus, out=root / "run", folds=3, progress=False)
    manifest = prepare_run(settings).manifest
    return settings.out, manifest, create_stand_in("wav2vec2", root / "tiny_wav2vec2")


def check_every_clip_once(run: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    branch = load_branch(run, BRANCH)
    oof = branch.oof
    assert oof["clip_id"].is_unique and sorted(oof["clip_id"]) == sorted(manifest["take_id"])
    expected = manifest.set_index("take_id").loc[oof["clip_id"]]
    assert (oof["fold"].to_numpy() == expected["fold"].to_numpy()).all()
    assert (oof["actor"].to_numpy() == expected["actor"].to_numpy()).all()
    proba = oof[list(PROBA_COLUMNS)].to_numpy()
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    provenance = branch.provenance
    assert provenance["branch"] == BRANCH and provenance["modality"] == "audio" and provenance["speaker_norm"] == "none"
    assert provenance["random_weights"] is True and provenance["synthetic"] is True
    assert provenance["dataset"] == "synthetic demo corpus" and "3-fold actor-independent" in provenance["protocol"]
    return oof


def test_finetunes_with_validation_actors_and_writes_the_branch(setting: tuple[Path, pd.DataFrame, Path]) -> None:
    run, manifest, tiny = setting
    config = FinetuneConfig(model=str(tiny), epochs=2, save_models=True, **QUICK)
    result = finetune(manifest, run, config, progress=False)
    check_every_clip_once(run, manifest)
    history = result.history
    first, last = history[history["epoch"] == 1], history[history["epoch"] == 2]
    assert last["train_loss"].mean() < first["train_loss"].mean()  # it learns
    for fold, curve in history.groupby("fold"):  # the chosen epoch is the one of lowest validation loss
        assert curve.loc[curve["chosen"], "epoch"].item() == curve.loc[curve["val_loss"].idxmin(), "epoch"]
        test_actors = set(manifest.loc[manifest["fold"] == fold, "actor"])
        val_actors = set(result.provenance["validation_actors"][str(fold)])
        assert val_actors and not val_actors & test_actors and val_actors <= set(manifest["actor"])
    assert result.provenance["processes"] == 1 and result.provenance["mixed_precision"] == "no"

    # the frozen CNN front end kept its pretrained weights; the transformer did not
    pretrained = load_backbone("wav2vec2", tiny).model.state_dict()
    tuned = load_backbone("wav2vec2", result.folder / "fold0_model").model.state_dict()
    cnn = [k for k in pretrained if k.startswith("feature_extractor.")]
    top = [k for k in pretrained if k.startswith("encoder.layers.1.")]
    assert cnn and all(torch.equal(pretrained[k], tuned[k]) for k in cnn)
    assert any(not torch.equal(pretrained[k], tuned[k]) for k in top)
    assert (result.folder / "fold0_model" / "head.pt").is_file() and not load_branch(run, BRANCH).checkpoints


def test_a_planted_actor_leak_stops_the_run(setting: tuple[Path, pd.DataFrame, Path], tmp_path: Path) -> None:
    _, manifest, tiny = setting
    leaky = manifest.copy()
    moved = leaky.index[leaky["fold"] == 0][0]
    leaky.loc[moved, "fold"] = 1  # one take of a fold-0 actor now sits in fold 1
    with pytest.raises(ActorLeakError, match="appear in both training and"):
        finetune(leaky, tmp_path, FinetuneConfig(model=str(tiny), epochs=1, **QUICK), progress=False)
    assert not (tmp_path / "branches").exists()


def test_layer_wise_decay_and_the_frozen_cnn(setting: tuple[Path, pd.DataFrame, Path]) -> None:
    _, _, tiny = setting
    encoder = load_backbone("wav2vec2", tiny).model
    model = SpeechClassifier(encoder, 8, pass_attention_mask=False)
    model.encoder.feature_extractor._freeze_parameters()
    groups = parameter_groups(model, FinetuneConfig(lr=1.0, head_lr=10.0, layer_decay=0.5))
    assert {g["lr"] for g in groups} == {10.0, 1.0, 0.5, 0.25}  # head; layer 2; layer 1; below the layers
    grouped = {id(p) for g in groups for p in g["params"]}
    assert not any(id(p) in grouped for p in model.encoder.feature_extractor.parameters())
    assert all(g["weight_decay"] == 0.0 for g in groups if all(p.ndim == 1 for p in g["params"]))
    assert encoder_depth("encoder.layers.0.attention.k_proj.weight", 2) == 1
    assert (
        encoder_depth("encoder.layer_norm.weight", 2) == 0 and encoder_depth("encoder.layer_norm.weight", 2, True) == 2
    )
    no_decay = parameter_groups(model, FinetuneConfig(lr=1.0, head_lr=10.0))
    assert {g["lr"] for g in no_decay} == {10.0, 1.0}


def test_pooling_averages_each_clips_own_frames(tmp_path: Path) -> None:
    """With a model that takes an attention mask, a clip's prediction does not depend on its batch's padding."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        **TINY_WAV2VEC,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )
    model = SpeechClassifier(Wav2Vec2Model(config), 8, pass_attention_mask=True).eval()
    short, long = torch.randn(1, 8000), torch.randn(1, 16000)
    batch = torch.cat([torch.nn.functional.pad(short, (0, 8000)), long])
    with torch.no_grad():
        together = model(batch, torch.tensor([8000, 16000]))
        alone = model(short, torch.tensor([8000]))
    torch.testing.assert_close(together[0], alone[0], atol=1e-4, rtol=1e-4)


def test_cli_defaults_are_the_config_defaults() -> None:
    args = build_parser().parse_args(["finetune"])
    defaults = FinetuneConfig()
    names = {f.name for f in fields(FinetuneConfig)} & set(vars(args))
    assert names >= {"model", "epochs", "lr", "head_lr", "freeze_feature_encoder", "save_models", "seed"}
    assert {n: getattr(args, n) for n in names} == {n: getattr(defaults, n) for n in names}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_shard_the_data_and_gather_every_prediction(
    setting: tuple[Path, pd.DataFrame, Path], tmp_path: Path
) -> None:
    run, manifest, tiny = setting
    out = tmp_path / "two_processes"
    # --multi_gpu picks the torch.distributed launcher; with --device cpu each process trains on the CPU (gloo)
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "emo_utils.cli",
        "finetune",
        "--run",
        str(run),
        "--out",
        str(out),
        "--model",
        str(tiny),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--quiet",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 process(es) on cpu" in done.stdout
    check_every_clip_once(out, manifest)
    assert load_branch(out, BRANCH).provenance["processes"] == 2
