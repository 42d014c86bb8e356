"""The ``emo`` command: index a dataset, run the workflow, create a fusion config, run the demo."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any, TypeVar

from emo_utils import options
from emo_utils.errors import EmoError
from emo_utils.workshop import WORKSHOP_TRACKS

T = TypeVar("T")


def _settings(cls: type[T], args: argparse.Namespace, **given: Any) -> T:
    """The dataclass ``cls`` from the parsed arguments named like its fields (each option's ``dest`` is the
    field it sets), with ``given`` taking precedence."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{**{k: v for k, v in vars(args).items() if k in names}, **given})


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

    settings = _settings(WorkflowSettings, args, branches=tuple(args.branches) if args.branches else None)
    metrics = run_workflow(settings)
    print(f"metrics written to {args.out / 'metrics.json'} ({metrics['protocol']})")
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
    config = FusionConfig(
        branches=list(weights), weights=[float(w) for w in weights.values()], strategy="late", note=args.note
    )
    path = save_fusion_config(config, args.out)
    print(
        f"fusion config written to {path}: "
        + ", ".join(f"{b} {w:.2f}" for b, w in zip(config.branches, config.weights))
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.camera is not None or args.timeline:
        return _demo_timeline(args)
    from emo_utils.inference import predict_file, render_text

    result = predict_file(
        args.video, audio=args.audio, run_dir=args.run, config_path=args.config, enroll=args.enroll, device=args.device
    )
    print(json.dumps(result, indent=2) if args.json else render_text(result))
    return 0


def _build_shipped_models(args: argparse.Namespace) -> int:
    from emo_utils.pretrained import SHIPPED_DIR, build_shipped_models

    out = args.out or SHIPPED_DIR
    measured = build_shipped_models(args.data_root, args.work_dir, out, seed=args.seed, n_jobs=args.n_jobs)
    print(
        f"shipped models written to {out}: voice {measured['oof_accuracy']:.3f} out-of-fold "
        f"({measured['protocol']}); model card {out / 'MODEL_CARD.md'}"
    )
    return 0


def _build_feature_pack(args: argparse.Namespace) -> int:
    from emo_utils.feature_pack import build_feature_pack

    paths = build_feature_pack(args.ravdess, args.emodb, args.out, args.cache, n_jobs=args.n_jobs)
    print("feature pack written:", ", ".join(str(p) for p in paths))
    return 0


def _demo_timeline(args: argparse.Namespace) -> int:
    """``emo demo --timeline`` (windows of a video file) or ``--camera N`` (a webcam's faces, live)."""
    from emo_utils.fusion import load_fusion_config
    from emo_utils.inference import enrolment_media, resolve_run
    from emo_utils.plotting import save_figure
    from emo_utils.timeline import (
        camera_name,
        camera_timeline,
        plot_timeline,
        predict_timeline,
        smooth_timeline,
        write_timeline,
    )

    run = resolve_run(args.run)
    config = load_fusion_config(args.config or run / "fusion" / "fusion_config.json")
    settings = {
        "window_s": args.window,
        "hop_s": args.hop,
        "fps": args.fps,
        "progress": not args.quiet,
        "device": args.device,
    }
    if args.camera is not None:
        if args.audio or args.enroll:
            raise SystemExit("--camera reads faces only: --audio and --enroll do not apply to it")
        stem = f"camera{args.camera}" if isinstance(args.camera, int) else Path(args.camera).stem
        timeline = camera_timeline(args.camera, run, config, seconds=args.seconds, **settings)
        print(f"{camera_name(args.camera)}: faces only (no microphone library is installed with emo-fusion)")
    else:
        stem = Path(args.video).stem
        enrolment = enrolment_media(args.enroll or [])
        timeline = predict_timeline(
            args.video, args.audio, run=run, config=config, enrolment=enrolment or None, **settings
        )
    timeline = smooth_timeline(timeline, args.smooth)
    out = Path(args.out) if args.out else Path("runs") / "timeline" / stem
    paths = write_timeline(timeline, out)
    paths["png"] = save_figure(plot_timeline(timeline), out / "timeline.png")
    print(json.dumps(timeline.to_json(), indent=2) if args.json else timeline.summary())
    print(f"timeline written to {paths['json']}, {paths['csv'].name} and {paths['png'].name}")
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from emo_utils.synthetic.corpus import generate_demo_corpus

    root = generate_demo_corpus(Path(args.out), n_actors=args.actors, seed=args.seed)
    print(f"synthetic demo corpus in {root}")
    return 0


def _course(args: argparse.Namespace) -> int:
    from emo_utils.course import render_course

    logging.getLogger("papermill").setLevel(logging.ERROR)  # its paths, kernel and parameter-parsing notes
    if args.workshop:  # the track's notebooks, with its settings unless given (docs/workshop.md)
        track = WORKSHOP_TRACKS[args.workshop]
        args.notebooks = args.notebooks or track.notebooks()
        for name, value in track.parameters.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
    course = render_course(
        args.out,
        notebooks=args.notebooks,
        data_root=args.data_root,
        clip_limit=args.clip_limit,
        epochs=args.epochs,
        n_actors=args.n_actors,
        extra=dict(args.parameter or []),
        summarize=not args.no_summary,
    )
    for r in course.notebooks:
        print(f"{r.source.name:32s} {'ok' if r.ok else 'FAILED':6s} {r.seconds:7.1f} s  {r.error}")
    print(f"course index: {course.index}")
    return 1 if course.failed else 0


def _finetune(args: argparse.Namespace) -> int:
    from emo_utils.data.manifest import dataset_name, load_manifest
    from emo_utils.evaluate import format_metrics, metrics_from_table
    from emo_utils.finetune import FinetuneConfig, finetune, make_accelerator

    out = args.out or (Path(args.run) if args.run else Path("runs/latest"))
    config = _settings(FinetuneConfig, args)
    accelerator = make_accelerator(args.device, args.mixed_precision)
    with accelerator.main_process_first():  # the main process indexes (or generates) the data first
        if args.run:
            manifest = load_manifest(Path(args.run) / "manifest.csv")
        else:
            from emo_utils.workflow import WorkflowSettings, prepare_run

            settings = _settings(WorkflowSettings, args, out=out)
            manifest = prepare_run(settings).manifest
    result = finetune(manifest, out, config, accelerator, allow_stand_ins=args.allow_stand_ins, progress=args.progress)
    if accelerator.is_main_process:
        provenance = result.provenance
        data = "SYNTHETIC demo data" if provenance["synthetic"] else f"real data ({dataset_name(manifest)})"
        weights = "RANDOM stand-in weights (not a result)" if provenance["random_weights"] else provenance["model"]
        print(result.skipped.report())
        print(
            format_metrics(
                provenance["branch"],
                metrics_from_table(result.oof),
                provenance["protocol"],
                f"{data}, {weights}; {provenance['processes']} process(es) on {provenance['device']}",
            )
        )
        print(f"out-of-fold probabilities written to {result.folder}")
    return 0


def _cross_corpus(args: argparse.Namespace) -> int:
    from emo_utils.cross_corpus import CrossCorpusSettings, run_cross_corpus, summary_frame

    settings = _settings(
        CrossCorpusSettings, args, branches=tuple(args.branches), normalisations=tuple(args.normalisations)
    )
    results = run_cross_corpus(settings)
    for metrics in results.values():
        print(metrics["protocol"])
    print(summary_frame(results).to_string(index=False, float_format="%.3f"))
    print(f"metrics written to {', '.join(str(args.out / d / 'metrics.json') for d in results)}")
    return 0


def _faces_eval(args: argparse.Namespace) -> int:
    from emo_utils.video.face_eval import evaluate_face_folder

    out = Path(args.out) if args.out else Path("runs") / "faces_eval" / Path(args.dir).resolve().name
    assume_crops = {"auto": None, "yes": True, "no": False}[args.crops]
    result = evaluate_face_folder(
        args.dir,
        out,
        detector=args.detector,
        device=args.device,
        calm_weight=args.calm_weight,
        assume_crops=assume_crops,
    )
    m = result.metrics
    print(f"{m['model']}, {m['weights']} weights; {m['protocol']}")
    print(
        f"accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, UAR {m['uar']:.3f} (n={m['n_clips']} of "
        f"{m['n_images']} images; faces detected in {m['n_detected']}, detector {m['detector']})"
    )
    print("recall: " + ", ".join(f"{e} {r:.2f}" for e, r in m["per_class_recall"].items()))
    print(result.skipped.report(out / "skipped.csv" if len(result.skipped) else None))
    print(f"predictions.csv, metrics.json and confusion.png written to {out}")
    return 0


def _device_option(parser: argparse.ArgumentParser, default: str, help: str) -> None:
    parser.add_argument("--device", type=options.device, default=default, metavar="{auto,cpu,cuda,cuda:N}", help=help)


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
    p.add_argument("--data-root", type=Path, help="dataset folder; without it a synthetic demo corpus is generated")
    p.add_argument("--out", type=Path, default=Path("runs/latest"), help="output folder (stages cache here)")
    p.add_argument("--branches", nargs="+", help="branches to run (default: every one whose inputs exist)")
    p.add_argument(
        "--folds",
        type=options.folds,
        help="number of gender-balanced actor folds (default: 6 of consecutive actors; EmoDB 5 of one "
        "male + one female speaker), or 'emobox' for the 6 RAVDESS folds the EmoBox benchmark publishes",
    )
    p.add_argument("--fold-seed", type=int, help="redraw which actors share a fold (default: consecutive)")
    p.add_argument("--epochs", type=int, help="override every branch's maximum epochs")
    p.add_argument("--clip-limit", type=int, help="use at most this many takes (balanced), for quick runs")
    p.add_argument("--wav2vec-model", default="facebook/wav2vec2-base", help="hub name or local folder")
    p.add_argument("--vit-model", default="google/vit-base-patch16-224-in21k", help="hub name or local folder")
    p.add_argument(
        "--no-stand-ins",
        dest="allow_stand_ins",
        action="store_false",
        help="fail when pretrained weights are missing instead of using random stand-ins",
    )
    p.add_argument(
        "--fuse-random-weights", action="store_true", help="include branches built on random stand-in weights in fusion"
    )
    p.add_argument(
        "--speaker-norm",
        type=options.speaker_norm,
        default="none",
        help="none (default: no statistic of any test speaker), enrol:K (each test speaker normalised "
        "with K of its unlabelled clips, scored on the others) or all (TRANSDUCTIVE: every test "
        "speaker z-scored over all its clips; a lesson, not a result)",
    )
    p.add_argument(
        "--no-baselines", dest="baselines", action="store_false", help="skip the untuned SVM baseline of each branch"
    )
    p.add_argument(
        "--attention-fusion",
        action="store_true",
        help="also fuse an audio branch's frames and a face branch's tokens with cross-modal attention (its width "
        "chosen on inner folds), beside the late fusions of the same two branches",
    )
    p.add_argument(
        "--distill",
        action="store_true",
        help="also train each audio MLP branch's student with soft targets of the audio-visual teacher (nested, "
        "temperature and weight chosen on inner folds), beside the same student on labels alone",
    )
    _device_option(
        p,
        "cpu",
        "where the backbones extract features and the models train (auto: CUDA when available; on CUDA "
        "the folds train one after another)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--jobs",
        dest="n_jobs",
        type=int,
        help="processes for feature extraction and fold training (default: every "
        "core; the results do not depend on it)",
    )
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=_workflow)

    p = sub.add_parser(
        "cross-corpus",
        help="train each audio branch on one corpus, test on another (shared "
        "emotions), both directions, beside within-corpus accuracy",
    )
    p.add_argument("--train-root", type=Path, required=True, help="corpus A (e.g. ../shared/data/ravdess)")
    p.add_argument("--test-root", type=Path, required=True, help="corpus B (e.g. ../shared/data/emodb)")
    p.add_argument("--out", type=Path, default=Path("runs/cross_corpus"), help="output folder (features cache here)")
    p.add_argument(
        "--branches", nargs="+", default=["audio_mfcc_cnn", "audio_egemaps", "audio_compare"], help="audio branches"
    )
    p.add_argument(
        "--normalisation",
        dest="normalisations",
        nargs="+",
        default=["none", "corpus"],
        choices=["none", "corpus"],
        help="none: training-corpus statistics only; corpus: each corpus z-scored with its own "
        "unlabelled feature statistics (transductive for the test corpus)",
    )
    p.add_argument(
        "--one-way",
        dest="both_directions",
        action="store_false",
        help="only train on --train-root and test on --test-root",
    )
    p.add_argument(
        "--no-within", dest="within", action="store_false", help="skip the within-corpus cross-validation yardstick"
    )
    p.add_argument("--clips-per-class", type=int, help="use at most this many clips of each emotion per corpus")
    p.add_argument("--epochs", type=int, help="override every branch's maximum epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        dest="n_seeds",
        type=int,
        default=1,
        help="cross-corpus models per branch, seeds SEED, SEED+1, ... "
        "(each with other early-stopping speakers); their mean prediction is scored, each one listed",
    )
    p.add_argument(
        "--jobs", dest="n_jobs", type=int, help="processes for feature extraction and folds (default: every core)"
    )
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=_cross_corpus)

    p = sub.add_parser("fusion-config", help="write a late-fusion config with chosen weights")
    p.add_argument("--video_weight", "--video-weight", type=float)
    p.add_argument("--audio_weight", "--audio-weight", type=float)
    p.add_argument("--video-branch", default="video_slowfast", help="branch the video weight applies to")
    p.add_argument("--audio-branch", default="audio_wav2vec_lstm", help="branch the audio weight applies to")
    p.add_argument("--weight", type=options.branch_weight, action="append", help="BRANCH=WEIGHT (repeatable)")
    p.add_argument("--note", default="", help="free text saved in the config")
    p.add_argument("--out", default="runs/latest/fusion/fusion_config.json")
    p.set_defaults(func=_fusion_config)

    p = sub.add_parser(
        "demo",
        help="predict the emotion of a video file with the trained branches (or over time: --timeline, --camera)",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", help="an .mp4 (with an audio track, or give --audio)")
    source.add_argument(
        "--camera",
        type=options.camera,
        metavar="N",
        help="webcam index N (or a video file standing in for one): predict its faces window by window as frames "
        "arrive, for --seconds. Faces only: no microphone library is a dependency, so no sound is read",
    )
    p.add_argument("--audio", help="a separate audio file")
    p.add_argument(
        "--run",
        help="workflow output folder whose trained branches to use, or 'latest' for the newest under runs/ "
        "(default: the models shipped in emo_utils/shipped_models, see its MODEL_CARD.md)",
    )
    p.add_argument("--config", help="fusion config JSON (default: the run's)")
    p.add_argument(
        "--enroll",
        nargs="+",
        metavar="FILE",
        help="other unlabelled clips of the same person: branches trained with per-speaker "
        "normalisation normalise with them",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _device_option(p, "cpu", "where backbones run (auto: CUDA if available)")
    p.add_argument(
        "--timeline",
        action="store_true",
        help="emotion over time: predict windows of --window s every --hop s; writes timeline.json, timeline.csv "
        "and timeline.png to --out and prints the stretches of one fused label",
    )
    p.add_argument("--window", type=options.positive, default=2.0, help="timeline window length in seconds (default 2)")
    p.add_argument(
        "--smooth",
        choices=("none", "ema", "viterbi"),
        default="none",
        help="timeline: smooth the fused label over time: ema (causal moving average, time constant 1 s) or viterbi "
        "(sticky hidden-Markov decoding, expected stretch 4 s); both fixed a priori (emo_utils.smoothing)",
    )
    p.add_argument(
        "--hop", type=options.positive, default=0.5, help="timeline step between windows in seconds (default 0.5)"
    )
    p.add_argument("--fps", type=options.positive, default=10.0, help="timeline frames decoded per second (default 10)")
    p.add_argument(
        "--seconds", type=options.positive, default=30.0, help="--camera: stop after this many seconds (default 30)"
    )
    p.add_argument(
        "--out", help="timeline output folder (default: runs/timeline/<video stem> or runs/timeline/cameraN)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "build-shipped-models",
        help="rebuild the models the demo uses out of the box (voice model trained on real RAVDESS, model card)",
    )
    p.add_argument("--data-root", type=Path, required=True, help="real RAVDESS (e.g. ../shared/data/ravdess)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/shipped_models"), help="run folder (features, folds)")
    p.add_argument("--out", type=Path, help="where to write them (default: emo_utils/shipped_models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", dest="n_jobs", type=int, help="processes (default: every core)")
    p.set_defaults(func=_build_shipped_models)

    p = sub.add_parser("build-feature-pack", help="rebuild data/feature_pack (real RAVDESS + EmoDB features)")
    p.add_argument("--ravdess", type=Path, required=True, help="real RAVDESS (e.g. ../shared/data/ravdess)")
    p.add_argument("--emodb", type=Path, required=True, help="EmoDB (e.g. ../shared/data/emodb)")
    p.add_argument("--out", type=Path, default=Path("data/feature_pack"), help="default: data/feature_pack")
    p.add_argument("--cache", type=Path, default=Path("runs/feature_pack_cache"), help="feature stages (cached)")
    p.add_argument("--jobs", dest="n_jobs", type=int, help="processes (default: every core)")
    p.set_defaults(func=_build_feature_pack)

    p = sub.add_parser("demo-data", help="generate the synthetic demo corpus")
    p.add_argument("--out", default="runs/demo_data")
    p.add_argument("--actors", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo_data)

    p = sub.add_parser("course", help="execute the notebooks in order and render them, with an index.html, to a folder")
    p.add_argument("--out", required=True, help="folder for index.html, one HTML page per notebook and run/")
    p.add_argument("--data-root", help="dataset folder; without it the notebooks use the synthetic demo corpus")
    p.add_argument("--notebooks", nargs="+", help="notebooks to run, in this order (default: notebooks/NN_*.ipynb)")
    p.add_argument(
        "--workshop",
        type=int,
        choices=sorted(WORKSHOP_TRACKS),
        help="the notebooks of a 90-minute or 3-hour workshop with its small settings (docs/workshop.md)",
    )
    p.add_argument("--clip-limit", type=int, help="use at most this many takes (default: each notebook's)")
    p.add_argument("--epochs", type=int, help="override every branch's maximum epochs")
    p.add_argument("--n-actors", type=int, help="size of the synthetic demo corpus (default: each notebook's)")
    p.add_argument(
        "-p",
        "--parameter",
        type=options.notebook_parameter,
        action="append",
        metavar="NAME=VALUE",
        help="another notebook parameter (repeatable), passed to the notebooks that declare it",
    )
    p.add_argument(
        "--no-summary",
        action="store_true",
        help="do not write the run's metrics.json/report.md (the index's results table) after the notebooks",
    )
    p.set_defaults(func=_course)

    p = sub.add_parser(
        "finetune",
        help="fine-tune wav2vec 2.0 / HuBERT / WavLM end to end, actors held out "
        "(runs under `accelerate launch` on several GPUs too)",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data-root", type=Path, help="dataset folder; without it (and without --run) the demo corpus")
    source.add_argument("--run", help="a workflow output folder: fine-tune on its manifest.csv and actor folds")
    p.add_argument("--out", type=Path, help="run folder the branch is written to (default: --run, else runs/latest)")
    p.add_argument("--model", default="facebook/wav2vec2-base", help="hub name or local folder")
    p.add_argument(
        "--epochs", type=int, default=10, help="maximum epochs per fold (early stopping on validation actors)"
    )
    p.add_argument("--batch-size", type=int, default=8, help="clips per process and step")
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate of the top transformer layer")
    p.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the classification head")
    p.add_argument("--layer-decay", type=float, help="layer-wise learning-rate decay, e.g. 0.8 (default: none)")
    p.add_argument(
        "--train-feature-encoder",
        dest="freeze_feature_encoder",
        action="store_false",
        help="also train the CNN feature encoder (frozen by default)",
    )
    p.add_argument("--patience", type=int, default=3, help="epochs without a lower validation loss before stopping")
    p.add_argument("--max-seconds", type=float, default=6.0, help="longer clips are cropped to this length")
    p.add_argument(
        "--device",
        default="auto",
        choices=options.DEVICE_CHOICES,
        help="auto: CUDA when available (accelerate launch gives each process its GPU)",
    )
    p.add_argument(
        "--mixed-precision",
        default="auto",
        choices=("auto", "no", "bf16", "fp16"),
        help="auto: bf16 (or fp16) on CUDA, none on CPU",
    )
    p.add_argument(
        "--folds", type=options.folds, default=6, help="actor folds (a number or 'emobox'; when indexing here)"
    )
    p.add_argument("--clip-limit", type=int, help="use at most this many takes (when indexing the data here)")
    p.add_argument("--actors", dest="demo_actors", type=int, default=12, help="actors of the generated demo corpus")
    p.add_argument(
        "--no-stand-ins",
        dest="allow_stand_ins",
        action="store_false",
        help="fail when the weights are missing instead of using a random stand-in",
    )
    p.add_argument("--save-models", action="store_true", help="save every fold's chosen model (encoder + head)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=_finetune)

    p = sub.add_parser("faces-eval", help="score the pretrained face-expression model on a folder of labelled faces")
    p.add_argument("dir", help="folder with one sub-folder of images per class (FER2013 or RAVDESS emotion names)")
    p.add_argument("--out", help="output folder (default: runs/faces_eval/DIRNAME)")
    p.add_argument(
        "--detector",
        default="auto",
        choices=["auto", "mtcnn", "haar"],
        help="face detector for images that are not crops (auto: mtcnn where installed, else haar)",
    )
    p.add_argument(
        "--crops",
        default="auto",
        choices=["auto", "yes", "no"],
        help="are the images face crops? auto: small square images are, others are searched for a face",
    )
    _device_option(p, "cpu", "cpu, or cuda where a GPU is available")
    p.add_argument(
        "--calm-weight",
        type=float,
        default=1.0,
        help="calm's score as a multiple of neutral's (FER has no calm; 0 gives calm nothing)",
    )
    p.set_defaults(func=_faces_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors we raise on purpose print as one clear line, not a traceback."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except EmoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
