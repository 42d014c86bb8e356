"""Run a per-clip extraction over a whole dataset: parallel, with a progress bar, resumable, and
never stopped by one bad clip (each failure is logged with the file and the reason)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from emo_utils.errors import DataError, EmoError, SkipLog
from emo_utils.feature_store import FeatureSet, save_features, saved_features

ClipOutput = np.ndarray | dict[str, np.ndarray]
ClipFunction = Callable[[str], ClipOutput]
_KEY_SEP = "::"


_PRELOADED = ["emo_utils.train", "emo_utils.audio.features"]


def start_worker_server() -> multiprocessing.context.BaseContext:
    """Start the fork server that worker processes are forked from, if not yet running; returns its context.

    Workers start clean ("forkserver"): forking a parent that already runs torch, tqdm or BLAS threads can
    deadlock the children. The server imports torch and the feature code once (a few seconds, in the
    background: call this early), so every later worker starts in milliseconds.
    """
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOADED)
    forkserver.ensure_running()
    return context


def process_pool(n_workers: int, **kwargs: object) -> ProcessPoolExecutor:
    """A pool of ``n_workers`` processes forked from the worker server (:func:`start_worker_server`)."""
    return ProcessPoolExecutor(max_workers=n_workers, mp_context=start_worker_server(), **kwargs)


def default_jobs() -> int:
    """Worker processes to use: every core the process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def safe_call(fn: ClipFunction, clip_id: str, path: str) -> tuple[str, str, ClipOutput | None, str | None]:
    try:
        return clip_id, path, fn(path), None
    except EmoError as exc:
        return clip_id, path, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one clip must never stop the run; the reason is logged
        return clip_id, path, None, f"{path}: {exc.__class__.__name__}: {exc}"


class ShardCache:
    """Per-clip outputs saved in numbered ``.npz`` shards, so an interrupted extraction resumes."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob("shard-*.tmp.npz"):
            stale.unlink()

    def load(self) -> dict[str, ClipOutput]:
        """Every clip output saved so far."""
        done: dict[str, ClipOutput] = {}
        for shard in sorted(self.dir.glob("shard-*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                for key in data.files:
                    clip_id, _, name = key.partition(_KEY_SEP)
                    if name:
                        entry = done.setdefault(clip_id, {})
                        assert isinstance(entry, dict)
                        entry[name] = data[key]
                    else:
                        done[clip_id] = data[key]
        return done

    def save(self, results: dict[str, ClipOutput]) -> None:
        """Append one shard holding ``results`` (written atomically)."""
        arrays: dict[str, np.ndarray] = {}
        for clip_id, out in results.items():
            if isinstance(out, dict):
                arrays.update({f"{clip_id}{_KEY_SEP}{name}": value for name, value in out.items()})
            else:
                arrays[clip_id] = out
        index = len(list(self.dir.glob("shard-*.npz")))
        tmp = self.dir / f"shard-{index:05d}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.rename(self.dir / f"shard-{index:05d}.npz")


def run_per_clip(
    tasks: Sequence[tuple[str, str]],
    fn: ClipFunction,
    cache_dir: str | Path,
    stage: str,
    n_jobs: int | None = None,
    shard_size: int = 64,
    progress: bool = True,
) -> tuple[dict[str, ClipOutput], SkipLog]:
    """Apply ``fn(path)`` to each ``(clip_id, path)`` task and cache the outputs under ``cache_dir``.

    Finished clips are saved in shards as they complete, so an interrupted run resumes where it
    stopped. Clips that fail are logged in the returned :class:`SkipLog` (and retried on the next run).
    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one).
    """
    cache = ShardCache(cache_dir)
    done = cache.load()
    todo = [(clip_id, str(path)) for clip_id, path in tasks if clip_id not in done]
    skipped = SkipLog(stage)
    pending: dict[str, ClipOutput] = {}
    n_jobs = n_jobs or default_jobs()
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=stage, unit="clip", disable=not progress)

    def collect(result: tuple[str, str, ClipOutput | None, str | None]) -> None:
        clip_id, path, out, error = result
        if out is None:
            skipped.add(clip_id, path, error or "unknown error")
        else:
            pending[clip_id] = out
            if len(pending) >= shard_size:
                cache.save(pending)
                done.update(pending)
                pending.clear()
        bar.update(1)

    if n_jobs == 1 or len(todo) < 2:
        for clip_id, path in todo:
            collect(safe_call(fn, clip_id, path))
    else:
        with process_pool(n_jobs) as pool:
            chunk = max(1, min(16, len(todo) // (4 * n_jobs)))
            for result in pool.map(safe_call, [fn] * len(todo), *zip(*todo), chunksize=chunk):
                collect(result)
    if pending:
        cache.save(pending)
        done.update(pending)
    bar.close()
    wanted = {clip_id for clip_id, _ in tasks}
    return {k: v for k, v in done.items() if k in wanted}, skipped


def extract_feature_set(
    tasks: Sequence[tuple[str, str | Path]],
    fn: ClipFunction,
    out_npz: str | Path,
    cache_dir: str | Path,
    stage: str,
    settings: dict[str, Any],
    meta: dict[str, Any],
    n_jobs: int | None = None,
    progress: bool = True,
) -> tuple[FeatureSet, SkipLog]:
    """Per-clip features of every ``(clip_id, path)`` task stacked into a :class:`FeatureSet` at ``out_npz``.

    ``fn(path)`` returns ``{"X": ...}`` (plus ``"X_aug"`` for augmented copies). An existing ``out_npz``
    made with the same ``settings`` (saved in its meta beside ``meta``) and holding every clip is loaded as
    is; otherwise :func:`run_per_clip` computes what its shard cache (one folder per ``settings``) lacks.
    Unreadable clips are left out and listed in the returned :class:`SkipLog`.
    """
    settings = json.loads(json.dumps(settings))  # as the meta reads back from disk (tuples become lists)
    wanted = [clip_id for clip_id, _ in tasks]
    out_npz = Path(out_npz)
    saved = saved_features(out_npz, settings, wanted)
    if saved is not None:
        return saved, SkipLog(stage)
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    outputs, skipped = run_per_clip(
        tasks, fn, Path(cache_dir) / f"{stage}-{key}", stage, n_jobs=n_jobs, progress=progress
    )
    clip_ids = [clip_id for clip_id in wanted if clip_id in outputs]
    if not clip_ids:
        raise DataError(out_npz, f"none of the {len(tasks)} clips could be read", skipped.report())
    rows = [outputs[clip_id] for clip_id in clip_ids]
    X_aug = np.stack([row["X_aug"] for row in rows]) if "X_aug" in rows[0] else None
    features = FeatureSet(clip_ids, np.stack([row["X"] for row in rows]), {**meta, **settings}, X_aug)
    save_features(out_npz, features)
    return features, skipped
