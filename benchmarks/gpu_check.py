#!/usr/bin/env python
"""Throughput of wav2vec 2.0 extraction and fine-tuning on one device (a measurement, not a test).

``benchmarks/gpu_check.sh`` runs it once per device, each in its own process (accelerate keeps one device
per process), and prints the table. Random weights throughout: the numbers are speeds, not accuracies.

    python benchmarks/gpu_check.py prepare --work DIR [--size tiny|base]
    python benchmarks/gpu_check.py measure --work DIR --device cpu|cuda [--epochs 1]
    python benchmarks/gpu_check.py report --work DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import torch

from emo_utils.audio.wav2vec import embed_batch, extract_wav2vec, load_clip
from emo_utils.backbones import create_stand_in, load_backbone
from emo_utils.branches import FeatureContext
from emo_utils.data.manifest import load_manifest
from emo_utils.finetune import FinetuneConfig, finetune, make_accelerator
from emo_utils.synthetic.corpus import generate_demo_corpus
from emo_utils.workflow import WorkflowSettings, prepare_run

BATCH = 16


def prepare(work: Path, size: str) -> None:
    """The demo corpus (6 actors x 8 takes of 2 s, 3 actor folds) and a random model of ``size``."""
    corpus = generate_demo_corpus(
        work / "corpus", n_actors=6, takes_per_emotion=1, duration_s=2.0, fps=4, frame_size=48, progress=False
    )
    prepare_run(WorkflowSettings(data_root=corpus, out=work / "run", folds=3, progress=False))
    model_dir = create_stand_in("wav2vec2", work / f"wav2vec2_{size}", size=size)
    (work / "model.txt").write_text(str(model_dir))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(work: Path, device_name: str, epochs: int) -> dict:
    """Model-only embedding throughput, end-to-end extraction and fine-tuning throughput on one device."""
    model = (work / "model.txt").read_text()
    manifest = load_manifest(work / "run" / "manifest.csv")
    tasks = FeatureContext(manifest, work / "features", model, "", True, None, False).audio_tasks()
    backbone = load_backbone("wav2vec2", model, device=device_name)
    device = backbone.device
    waveforms = [load_clip(path, 16000) for _, path in tasks]
    audio_s = sum(len(y) for y in waveforms) / 16000
    embed_batch(backbone, waveforms[:BATCH])  # warm-up (CUDA context, kernels)
    _sync(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    for first in range(0, len(waveforms), BATCH):
        embed_batch(backbone, waveforms[first : first + BATCH])
    _sync(device)
    embed_s, embed_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started

    for previous in (work / f"features_{device.type}", work / f"run_{device.type}"):
        shutil.rmtree(previous, ignore_errors=True)  # measure the work, not the cache of an earlier run
    started = time.perf_counter()
    extract_wav2vec(
        tasks,
        work / f"features_{device.type}" / "wav2vec.npz",
        model,
        batch_size=BATCH,
        progress=False,
        device=device_name,
    )
    extract_s = time.perf_counter() - started

    accelerator = make_accelerator(device_name)
    config = FinetuneConfig(model=model, epochs=epochs, patience=epochs, batch_size=8)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = finetune(manifest, work / f"run_{device.type}", config, accelerator, progress=False)
    finetune_s, finetune_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    history = result.history
    row = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "precision": result.provenance["mixed_precision"],
        "clips": len(waveforms),
        "embed_audio_s_per_s": audio_s / embed_s,
        "embed_cpu_s_per_audio_s": embed_cpu_s / audio_s,
        "extract_clips_per_s": len(tasks) / extract_s,
        "train_clips_per_s": history["train_clips"].sum() / history["train_seconds"].sum(),
        "finetune_wall_s": finetune_s,
        "finetune_cpu_s": finetune_cpu_s,  # CPU time of this process (all threads): the cost on an idle machine
        "finetune_epochs": len(history),
        "max_gpu_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "load_average": os.getloadavg()[0],  # other work on the machine slows the CPU numbers
    }
    (work / f"measured_{device.type}.json").write_text(json.dumps(row, indent=2))
    return row


def report(work: Path) -> str:
    rows = [json.loads(p.read_text()) for p in sorted(work.glob("measured_*.json"))]
    model = Path((work / "model.txt").read_text()).name
    loads = ", ".join(f"{r['load_average']:.1f}" for r in rows)
    lines = [
        f"model: {model} (random weights; speeds only), synthetic demo corpus, {rows[0]['clips']} clips of ~2 s; "
        f"1-minute load average at the end of each run: {loads}",
        "| device | precision | embedding (audio s / s) | extraction incl. decoding (clips / s) | "
        "fine-tune training (clips / s) | fine-tune wall (s, 3 folds) | fine-tune CPU (s) | peak GPU memory (GiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        memory = "" if r["max_gpu_memory_gib"] is None else f"{r['max_gpu_memory_gib']:.2f}"
        lines.append(
            f"| {r['device']} | {r['precision']} | {r['embed_audio_s_per_s']:.1f} | "
            f"{r['extract_clips_per_s']:.1f} | {r['train_clips_per_s']:.1f} | {r['finetune_wall_s']:.1f} "
            f"({r['finetune_epochs']} fold-epochs) | {r['finetune_cpu_s']:.1f} | {memory} |"
        )
    if len(rows) > 1:
        cpu = next((r for r in rows if r["device"].startswith("cpu")), None)
        gpu = next((r for r in rows if not r["device"].startswith("cpu")), None)
        if cpu and gpu:
            lines.append(
                f"GPU / CPU: embedding x{gpu['embed_audio_s_per_s'] / cpu['embed_audio_s_per_s']:.1f}, "
                f"fine-tune training x{gpu['train_clips_per_s'] / cpu['train_clips_per_s']:.1f}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("prepare", "measure", "report"))
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (corpus, model, results)")
    parser.add_argument("--size", choices=("tiny", "base"), default="tiny", help="model architecture (prepare)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (measure)")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs per fold (measure)")
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.work, args.size)
    elif args.step == "measure":
        print(json.dumps(measure(args.work, args.device, args.epochs)))
    else:
        print(report(args.work))


if __name__ == "__main__":
    main()
