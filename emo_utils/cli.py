"""The ``emo`` command: index a dataset, run the workflow, create a fusion config, run the demo."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emo_utils.errors import EmoError


def _index(args: argparse.Namespace) -> int:
    from emo_utils.data.manifest import index_dataset, summarize
    manifest, log = index_dataset(args.root, strict=args.strict)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out, index=False)
    print(summarize(manifest))
    print(log.report(out.with_name(out.stem + "_skipped.csv") if len(log) else None))
    print(f"manifest written to {out}")
    return 0


def _workflow(args: argparse.Namespace) -> int:
    from emo_utils.workflow import WorkflowSettings, run_workflow
    settings = WorkflowSettings(
        data_root=Path(args.data_root) if args.data_root else None, out=Path(args.out),
        branches=tuple(args.branches) if args.branches else None, n_folds=args.folds, epochs=args.epochs,
        clip_limit=args.clip_limit, wav2vec_model=args.wav2vec_model, vit_model=args.vit_model,
        allow_stand_ins=not args.no_stand_ins, fuse_random_weights=args.fuse_random_weights,
        actor_norm=not args.no_actor_norm, seed=args.seed, n_jobs=args.jobs,
        progress=not args.quiet)
    metrics = run_workflow(settings)
    print(f"metrics written to {Path(args.out) / 'metrics.json'} ({metrics['protocol']})")
    return 0


def _fusion_config(args: argparse.Namespace) -> int:
    from emo_utils.fusion import FusionConfig, save_fusion_config
    weights = dict(args.weight or [])
    if args.video_weight is not None:
        weights.setdefault(args.video_branch, args.video_weight)
    if args.audio_weight is not None:
        weights.setdefault(args.audio_branch, args.audio_weight)
    if not weights:
        raise SystemExit("give weights: --video_weight 0.7 --audio_weight 0.3, or --weight BRANCH=W ...")
    config = FusionConfig(branches=list(weights), weights=[float(w) for w in weights.values()], strategy="late",
                          note=args.note)
    path = save_fusion_config(config, args.out)
    print(f"fusion config written to {path}: " + ", ".join(f"{b} {w:.2f}" for b, w in zip(config.branches,
                                                                                          config.weights)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from emo_utils.inference import predict_file, render_text
    result = predict_file(args.video, audio=args.audio, run_dir=args.run, config_path=args.config)
    print(json.dumps(result, indent=2) if args.json else render_text(result))
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from emo_utils.synthetic.corpus import generate_demo_corpus
    root = generate_demo_corpus(Path(args.out), n_actors=args.actors, seed=args.seed)
    print(f"synthetic demo corpus in {root}")
    return 0


def _cross_corpus(args: argparse.Namespace) -> int:
    from emo_utils.cross_corpus import CrossCorpusSettings, run_cross_corpus, summary_frame
    settings = CrossCorpusSettings(
        train_root=Path(args.train_root), test_root=Path(args.test_root), out=Path(args.out),
        branches=tuple(args.branches), normalisations=tuple(args.normalisation), both_directions=not args.one_way,
        within=not args.no_within, clips_per_class=args.clips_per_class, epochs=args.epochs, seed=args.seed,
        n_seeds=args.seeds, n_jobs=args.jobs, progress=not args.quiet)
    results = run_cross_corpus(settings)
    for metrics in results.values():
        print(metrics["protocol"])
    print(summary_frame(results).to_string(index=False, float_format="%.3f"))
    print(f"metrics written to {', '.join(str(Path(args.out) / d / 'metrics.json') for d in results)}")
    return 0


def _weight(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BRANCH=WEIGHT, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``emo`` (also used by the scripts/ wrappers)."""
    parser = argparse.ArgumentParser(prog="emo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index a dataset folder into a manifest CSV")
    p.add_argument("root", help="folder holding Actor_XX/ (RAVDESS) or CREMA-D clips")
    p.add_argument("--out", default="runs/manifest.csv", help="manifest CSV to write")
    p.add_argument("--strict", action="store_true", help="fail on any misnamed file instead of skipping it")
    p.set_defaults(func=_index)

    p = sub.add_parser("workflow", help="index -> features -> train each branch (actors held out) -> fuse -> report")
    p.add_argument("--data-root", help="dataset folder; without it a synthetic demo corpus is generated")
    p.add_argument("--out", default="runs/latest", help="output folder (stages cache here)")
    p.add_argument("--branches", nargs="+", help="branches to run (default: every one whose inputs exist)")
    p.add_argument("--folds", type=int, default=6, help="number of actor folds")
    p.add_argument("--epochs", type=int, help="override every branch's maximum epochs")
    p.add_argument("--clip-limit", type=int, help="use at most this many takes (balanced), for quick runs")
    p.add_argument("--wav2vec-model", default="facebook/wav2vec2-base", help="hub name or local folder")
    p.add_argument("--vit-model", default="google/vit-base-patch16-224-in21k", help="hub name or local folder")
    p.add_argument("--no-stand-ins", action="store_true",
                   help="fail when pretrained weights are missing instead of using random stand-ins")
    p.add_argument("--fuse-random-weights", action="store_true",
                   help="include branches built on random stand-in weights in fusion")
    p.add_argument("--no-actor-norm", action="store_true",
                   help="do not z-score features per actor (speaker normalisation; uses no labels)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, help="processes for feature extraction and fold training (default: every "
                   "core; the results do not depend on it)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_workflow)

    p = sub.add_parser("cross-corpus", help="train each audio branch on one corpus, test on another (shared "
                       "emotions), both directions, beside within-corpus accuracy")
    p.add_argument("--train-root", required=True, help="corpus A (e.g. ../shared/data/ravdess)")
    p.add_argument("--test-root", required=True, help="corpus B (e.g. ../shared/data/emodb)")
    p.add_argument("--out", default="runs/cross_corpus", help="output folder (features cache here)")
    p.add_argument("--branches", nargs="+", default=["audio_mfcc_cnn", "audio_egemaps", "audio_compare"],
                   help="audio branches")
    p.add_argument("--normalisation", nargs="+", default=["none", "corpus"], choices=["none", "corpus"],
                   help="none: training-corpus statistics only; corpus: each corpus z-scored with its own "
                   "unlabelled feature statistics (transductive for the test corpus)")
    p.add_argument("--one-way", action="store_true", help="only train on --train-root and test on --test-root")
    p.add_argument("--no-within", action="store_true", help="skip the within-corpus cross-validation yardstick")
    p.add_argument("--clips-per-class", type=int, help="use at most this many clips of each emotion per corpus")
    p.add_argument("--epochs", type=int, help="override every branch's maximum epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1, help="cross-corpus models per branch, seeds SEED, SEED+1, ... "
                   "(each with other early-stopping speakers); their mean prediction is scored, each one listed")
    p.add_argument("--jobs", type=int, help="processes for feature extraction and folds (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cross_corpus)

    p = sub.add_parser("fusion-config", help="write a late-fusion config with chosen weights")
    p.add_argument("--video_weight", "--video-weight", type=float)
    p.add_argument("--audio_weight", "--audio-weight", type=float)
    p.add_argument("--video-branch", default="video_slowfast", help="branch the video weight applies to")
    p.add_argument("--audio-branch", default="audio_wav2vec_lstm", help="branch the audio weight applies to")
    p.add_argument("--weight", type=_weight, action="append", help="BRANCH=WEIGHT (repeatable)")
    p.add_argument("--note", default="", help="free text saved in the config")
    p.add_argument("--out", default="runs/latest/fusion/fusion_config.json")
    p.set_defaults(func=_fusion_config)

    p = sub.add_parser("demo", help="predict the emotion of a video file with the trained branches")
    p.add_argument("--video", required=True, help="an .mp4 (with an audio track, or give --audio)")
    p.add_argument("--audio", help="a separate audio file")
    p.add_argument("--run", help="workflow output folder whose trained branches to use (default: newest)")
    p.add_argument("--config", help="fusion config JSON (default: the run's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_demo)

    p = sub.add_parser("demo-data", help="generate the synthetic demo corpus")
    p.add_argument("--out", default="runs/demo_data")
    p.add_argument("--actors", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors we raise on purpose print as one clear line, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EmoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
