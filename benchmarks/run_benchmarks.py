#!/usr/bin/env python
"""Speed and memory of the pipeline's stages (a benchmark, not a test): prints a Markdown table, writes it with
the machine description to ``benchmarks/latest.md`` and quotes it in README.md between its ``benchmark`` markers
(``tests/test_readme.py`` checks that the README quotes it as it is). The accuracy results come from
``benchmarks/protocol_results.py``.

    .venv/bin/python benchmarks/run_benchmarks.py [--data-root ../shared/data/ravdess] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from emo_utils.audio.features import extract_dataset_features
from emo_utils.data.manifest import index_dataset
from emo_utils.errors import MissingWeightsError
from emo_utils.extraction import default_jobs
from emo_utils.media import probe

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def peak_memory_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, torch {torch.__version__}, no GPU used"
    )


def bench_worker_start() -> list[tuple[str, str]]:
    """The fork server importing torch and the feature code: paid once per Python process."""
    from emo_utils.extraction import process_pool

    secs, _ = timed(lambda: list(process_pool(default_jobs()).map(abs, range(default_jobs()))))
    return [
        (
            f"worker start-up ({default_jobs()} processes; the fork server imports torch and librosa once "
            "per Python process, the workflow overlaps it with indexing)",
            f"{secs:.1f} s",
        )
    ]


def bench_mfcc(tasks: list[tuple[str, str]], tmp: Path) -> list[tuple[str, str]]:
    rows = []
    for augment in ((), ("noise", "pitch")):
        secs, _ = timed(
            lambda: extract_dataset_features(
                tasks, tmp / f"mfcc{len(augment)}.npz", tmp / f"cache{len(augment)}", augment=augment, progress=False
            )
        )
        label = "+".join(augment) or "none"
        rows.append(
            (
                f"ZCR/RMS/MFCC extraction, augmentation {label}, {len(tasks)} clips, {default_jobs()} processes",
                f"{len(tasks) / secs:.0f} clips/s ({secs:.1f} s)",
            )
        )
    return rows


def bench_faces(clips: list[Path]) -> list[tuple[str, str]]:
    from emo_utils.video.faces import clip_face_crops

    n_frames = 22
    secs, _ = timed(lambda: [clip_face_crops(str(c), n_frames) for c in clips])
    return [
        (
            f"frame sampling + Haar face detection + crops, {len(clips)} clips x {n_frames} frames, 1 process",
            f"{len(clips) * n_frames / secs:.0f} frames/s",
        )
    ]


def bench_backbones(tmp: Path, tasks: list[tuple[str, str]], clips: list[Path]) -> list[tuple[str, str]]:
    from emo_utils.audio.features import trim_silence
    from emo_utils.audio.io import load_audio
    from emo_utils.audio.wav2vec import embed_batch
    from emo_utils.backbones import load_backbone
    from emo_utils.video.faces import clip_face_crops
    from emo_utils.video.vit import embed_faces

    rows = []
    waves = [trim_silence(load_audio(p)) for _, p in tasks[:32]]
    crops = np.concatenate([clip_face_crops(str(c))["rgb"] for c in clips[:2]])
    for kind, real in (("wav2vec2", True), ("wav2vec2", False), ("vit", True), ("vit", False)):
        try:
            backbone = load_backbone(kind, None if real else "stand-in", None if real else tmp / f"si_{kind}")
        except MissingWeightsError:
            rows.append((f"{kind} embeddings, real weights", "weights not on this machine"))
            continue
        label = "real weights" if not backbone.random_weights else "tiny random stand-in"
        if kind == "wav2vec2":
            secs, _ = timed(lambda: [embed_batch(backbone, waves[i : i + 8]) for i in range(0, len(waves), 8)])
            rows.append(
                (f"wav2vec 2.0 embeddings ({label}), batches of 8, 1 thread", f"{len(waves) / secs:.1f} clips/s")
            )
        else:
            secs, _ = timed(lambda: embed_faces(backbone, crops))
            rows.append((f"ViT face embeddings ({label}), 1 thread", f"{len(crops) / secs:.1f} crops/s"))
    return rows


def bench_workflow(data_root: Path, out: Path) -> list[tuple[str, str]]:
    """``emo workflow`` as a user runs it (a new Python process), cold and then with warm caches."""
    command = [
        sys.executable,
        "-m",
        "emo_utils.cli",
        "workflow",
        "--data-root",
        str(data_root),
        "--out",
        str(out),
        "--quiet",
    ]
    rows = []
    secs, _ = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))
    metrics = json.loads((out / "metrics.json").read_text())
    rows.append(
        (
            f"whole workflow `emo workflow --data-root {data_root.name}`, cold caches ({metrics['n_takes']} "
            f"takes; branches {', '.join(metrics['branches'])}; all fusion strategies; report)",
            f"{secs:.0f} s",
        )
    )
    for name, m in metrics["branches"].items():
        rows.append(
            (f"  {name}: features + 6-fold training ({default_jobs()} folds at a time)", f"{m['wall_time_s']:.0f} s")
        )
    secs, _ = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))
    rows.append(("whole workflow again, warm caches (same command)", f"{secs:.1f} s"))
    return rows


def bench_demo(tmp: Path, clip: Path) -> list[tuple[str, str]]:
    from emo_utils.inference import predict_file
    from emo_utils.workflow import WorkflowSettings, run_workflow

    run = tmp / "demo_run"
    run_workflow(
        WorkflowSettings(data_root=None, out=run, demo_actors=6, epochs=3, progress=False, fuse_random_weights=True)
    )
    first, _ = timed(lambda: predict_file(clip, run_dir=run))
    again = [timed(lambda: predict_file(clip, run_dir=run))[0] for _ in range(3)]
    result = predict_file(clip, run_dir=run)
    what = (
        f"demo on {clip.name} ({probe(clip).duration_s:.1f} s, real face + real speech), branches "
        f"{', '.join(result['fused_from'])}, stand-in backbones"
    )
    return [
        (
            f"{what}: first prediction (loads each branch's 6 fold models and the backbones; libraries "
            "already imported)",
            f"{first:.2f} s",
        ),
        (f"{what}: next calls (models kept loaded; median of 3)", f"{float(np.median(again)):.2f} s"),
    ]


def quote_in_readme(readme: Path, marker: str, text: str) -> None:
    """Replace what lies between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` in ``readme`` by ``text``."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    content = readme.read_text()
    if start not in content or end not in content:
        raise SystemExit(f"{readme} lacks the markers {start} ... {end}")
    head, rest = content.split(start, 1)
    readme.write_text(f"{head}{start}\n{text.strip()}\n{end}{rest.split(end, 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess")
    parser.add_argument("--quick", action="store_true", help="skip the whole-workflow runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="emo-bench-"))
    rows: list[tuple[str, str]] = []
    try:
        rows += bench_worker_start()
        manifest, _ = index_dataset(args.data_root)
        tasks = [(t, p) for t, p in zip(manifest["take_id"], manifest["audio_path"]) if p]
        rows += bench_mfcc(tasks, tmp)
        from emo_utils.video.assemble import assemble_real_face_clips

        clips = assemble_real_face_clips(args.data_root, tmp / "faces", actors=(1, 2), takes_per_actor=2)
        rows += bench_faces(clips)
        rows += bench_backbones(tmp, tasks, clips)
        four_s = min(clips, key=lambda c: abs(probe(c).duration_s - 4.0))
        rows += bench_demo(tmp, four_s)
        if not args.quick:
            rows += bench_workflow(args.data_root, tmp / "workflow")
        rows.append(("peak memory (resident, largest process)", f"{peak_memory_mb():.0f} MiB"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = "\n".join(["| measurement | result |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]])
    text = f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}.\n\n{table}\n"
    print(text)
    (ROOT / "benchmarks" / "latest.md").write_text(text)
    (ROOT / "benchmarks" / "latest.json").write_text(json.dumps(rows, indent=1) + "\n")
    quote_in_readme(ROOT / "README.md", "benchmark", text)


if __name__ == "__main__":
    main()
