"""The ``tlh`` command line.

What belongs here: argument parsing and friendly error messages; the work
itself is done by the other modules.

Commands:
    tlh run [LESSON ...] [--smoke|--rehearse 1gpu|2gpu]  execute lessons headless, write runs/<timestamp>/
    tlh mode                                show the active mode and paths
    tlh compare --data DIR --backbones a,b  train candidates the same way; table and charts
    tlh train DIR --backbone NAME           fine-tune on a class-per-folder dataset; .keras + report
    tlh predict MODEL IMAGE ...             top-k labels for image files (--json)
    tlh export MODEL [--format litert]      SavedModel / LiteRT file, checked against the .keras model
    tlh demo MODEL [--share]                a web page: upload a photo, see top labels and Grad-CAM
    tlh prefetch [--lesson N | --all] [--smoke]  download what the lessons need (--dry-run lists it)
    tlh doctor                              versions, hardware, caches, what is missing per lesson
    tlh backbones                           list the registered backbones
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tlhelpers import __version__
from tlhelpers.course import config

__all__ = ["main", "build_parser"]


def _default_notebooks() -> Path:
    root = config.repo_root()
    if root is not None and (root / "notebooks").is_dir():
        return root / "notebooks"
    return Path("notebooks")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``tlh``.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(prog="tlh", description="Transfer-learning course helper.")
    parser.add_argument("--version", action="version", version=f"tlhelpers {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute lessons headless and write a summary under runs/")
    run.add_argument("lessons", nargs="*", help="lesson numbers or name parts (default: all)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true",
                      help="the laptop tier: small real data, 2 CPU cores (sets TLH_SMOKE=1)")
    mode.add_argument("--rehearse", choices=sorted(config.REHEARSAL_SHAPES), default=None,
                      help="GPU-shaped rehearsal: full-mode configuration on tiny offline data, on the CPU "
                           "as one GPU (XLA, mixed precision) or two (MirroredStrategy); sets TLH_REHEARSE")
    mode.add_argument("--full", action="store_true", help="real data and weights (TLH_SMOKE=0)")
    run.add_argument("--notebooks", type=Path, default=None, help="folder with the lessons")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="output parent folder")
    run.add_argument("--verbose", action="store_true",
                     help="show the kernels' own output (TensorFlow C++ logs); default: <lesson>.kernel.log")

    sub.add_parser("mode", help="show the active mode, cache root and offline assets")

    cmp_ = sub.add_parser("compare", help="compare backbones trained the same way on a folder of images")
    cmp_.add_argument("--data", type=Path, required=True,
                      help="class-per-folder images (or a folder with train/ and validation/)")
    cmp_.add_argument("--backbones", required=True,
                      help="comma-separated: registry names (MobileNetV2@0.35), hub:<name>, "
                           "kerashub:<preset or folder>, scratch")
    cmp_.add_argument("--image-size", type=int, default=160)
    cmp_.add_argument("--batch-size", type=int, default=32)
    cmp_.add_argument("--epochs", type=int, default=5)
    cmp_.add_argument("--fine-tune-epochs", type=int, default=0)
    cmp_.add_argument("--out", type=Path, default=None, help="output folder (default runs/compare-<time>)")

    train = sub.add_parser("train", help="fine-tune a backbone on a folder of images and export .keras")
    train.add_argument("data", type=Path, help="class-per-folder images (or a folder with train/ and validation/)")
    train.add_argument("--backbone", default="MobileNetV2",
                       help="registry name, or kerashub:<preset or preset folder> (see tlh backbones)")
    train.add_argument("--alpha", type=float, default=None, help="width multiplier for MobileNets")
    train.add_argument("--image-size", type=int, default=224)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--epochs", type=int, default=10, help="head epochs (base frozen)")
    train.add_argument("--fine-tune-epochs", type=int, default=3)
    train.add_argument("--unfreeze-from", default="100", help="layer index, layer name or fraction")
    train.add_argument("--out", type=Path, default=Path("model.keras"), help="the .keras file to write")

    pred = sub.add_parser("predict", help="top-k labels for image files")
    pred.add_argument("model", type=Path, help="a .keras file written by tlh train")
    pred.add_argument("images", type=Path, nargs="+", help="image files")
    pred.add_argument("--top-k", type=int, default=3)
    pred.add_argument("--json", action="store_true", help="print JSON instead of text")

    exp = sub.add_parser("export", help="export a .keras model as a SavedModel or LiteRT file, checked against it")
    exp.add_argument("model", type=Path, help="a .keras file written by tlh train (or saved by a lesson)")
    exp.add_argument("--format", choices=["saved_model", "litert"], default="saved_model")
    exp.add_argument("--quantize", choices=["dynamic", "float16"], default=None, help="LiteRT only")
    exp.add_argument("--out", type=Path, default=None,
                     help="where to write (default: beside the model, <name>_saved_model or <name>.tflite)")
    exp.add_argument("--images", type=Path, default=None,
                     help="a folder of photos to check on (class sub-folders or files; up to --check of them); "
                          "default: random images, which check the plumbing, not the accuracy")
    exp.add_argument("--check", type=int, default=200, help="how many photos to compare on (default 200)")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing artifact")

    demo = sub.add_parser("demo", help="serve a web page: upload a photo, see the top labels and a Grad-CAM map")
    demo.add_argument("model", type=Path, help="a .keras file written by tlh train (or saved by a lesson)")
    demo.add_argument("--top-k", type=int, default=3)
    demo.add_argument("--host", default="127.0.0.1",
                      help="interface to listen on (default 127.0.0.1: this computer only; 0.0.0.0: your network)")
    demo.add_argument("--port", type=int, default=None, help="port (default: the first free one from 7860)")
    demo.add_argument("--share", action="store_true",
                      help="also ask Gradio for a temporary public link (needs internet; anyone with it can use it)")

    sub.add_parser("backbones", help="list the registered backbones")

    pf = sub.add_parser("prefetch", help="download every dataset, weight file and TF-Hub module the lessons use")
    which = pf.add_mutually_exclusive_group()
    which.add_argument("--lesson", action="append", default=None, help="lesson number (repeatable)")
    which.add_argument("--all", action="store_true", help="every lesson (the default)")
    pf.add_argument("--dir", type=Path, default=None, help="cache root (sets TLH_CACHE_DIR and the caches under it)")
    pf.add_argument("--dry-run", action="store_true", help="list the assets with source and size; download nothing")
    pf.add_argument("--smoke", action="store_true",
                    help="only the small real files smoke mode (the laptop tier) reads, about 240 MB with CIFAR-10")

    sub.add_parser("doctor", help="versions, hardware, caches and what each lesson is missing offline")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from tlhelpers.cli import runner

    smoke = True if args.smoke else (False if args.full else None)
    try:
        results, out = runner.run_lessons(args.notebooks or _default_notebooks(), args.lessons,
                                          runs_dir=args.runs_dir, smoke=smoke, rehearse=args.rehearse,
                                          verbose=args.verbose)
    except FileNotFoundError as exc:
        print(f"tlh run: {exc}", file=sys.stderr)
        return 2
    failed = [r for r in results if r.status != "passed"]
    for r in failed:
        print(f"tlh run: lesson {r.lesson} failed at code cell {r.failed_cell}: {r.error}\n"
              f"         open {r.executed} to see the traceback.", file=sys.stderr)
    return 1 if failed else 0


def _cmd_mode(args: argparse.Namespace) -> int:
    print(config.describe_mode())
    print(f"cache root:     {config.cache_root()}")
    print(f"offline assets: {config.assets_dir() or 'not found (set TLH_ASSETS_DIR)'}")
    print(f"real files:     {', '.join(str(r) for r in _real_roots())}")
    return 0


def _real_roots() -> list[Path]:
    from tlhelpers.course import realfiles

    return realfiles.roots()


def _fail(command: str, message: str) -> int:
    print(f"tlh {command}: {message}", file=sys.stderr)
    return 2


def _timestamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _cmd_compare(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from tlhelpers import compare, folders, plots, training

    if not args.data.is_dir():
        return _fail("compare", f"{args.data} is not a folder. Pass --data with one subfolder per class.")
    names = [b.strip() for b in args.backbones.split(",") if b.strip()]
    if not names:
        return _fail("compare", "--backbones is empty; e.g. --backbones MobileNetV2@0.35,SqueezeNet,scratch")
    out = args.out or Path("runs") / f"compare-{_timestamp()}"
    strategy = training.setup_accelerator()
    try:
        train, val, classes, text = folders.train_val_datasets(
            args.data, out / "data", image_size=args.image_size,
            batch_size=args.batch_size * strategy.num_replicas_in_sync)
    except (FileNotFoundError, NotADirectoryError, folders.FolderError) as exc:
        return _fail("compare", str(exc))
    print(text)
    table = compare.compare(names, train, val, num_classes=len(classes), image_size=args.image_size,
                            epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs, out_dir=out,
                            strategy=strategy)
    ok = table[table["status"] == "ok"]
    if len(ok):
        plots.plot_comparison_bars(table).savefig(out / "bars.png", dpi=120)
        plots.plot_accuracy_vs_speed(table)[0].savefig(out / "accuracy_vs_speed.png", dpi=120)
        plots.plot_history(table.attrs["histories"])[0].savefig(out / "learning_curves.png", dpi=120)
    cols = ["name", "status", "val_accuracy", "params_total", "saved_mb", "throughput_img_s", "latency_ms"]
    print(table[cols].to_string(index=False))
    for _, row in table[table["status"] != "ok"].iterrows():
        print(f"tlh compare: {row['name']} failed: {row['error']}", file=sys.stderr)
    print(f"wrote {out / 'comparison.csv'}, comparison.json and charts (PNG)")
    return 0 if len(ok) else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from tlhelpers import folders, recipes

    unfreeze: int | float | str = args.unfreeze_from
    for cast in (int, float):
        try:
            unfreeze = cast(args.unfreeze_from)
            break
        except ValueError:
            continue
    try:
        report = recipes.train_folder(args.data, args.out, backbone=args.backbone, alpha=args.alpha,
                                      image_size=args.image_size, batch_size=args.batch_size, epochs=args.epochs,
                                      fine_tune_epochs=args.fine_tune_epochs, unfreeze_from=unfreeze)
    except KeyboardInterrupt:
        print(f"\ntlh train: interrupted. Every finished epoch is kept; to continue from there, run the same "
              f"command again:\n  {_same_command()}", file=sys.stderr)
        return 130
    except KeyError as exc:
        return _fail("train", str(exc.args[0]))
    except (FileNotFoundError, NotADirectoryError, ValueError, RuntimeError, folders.FolderError) as exc:
        return _fail("train", str(exc))
    print(f"validation accuracy {report.val_accuracy:.4f} on {report.val_images} images (they also chose the "
          "epoch: optimistic)")
    if report.test_accuracy is not None:
        print(f"held-out accuracy {report.test_accuracy:.4f} on {report.test_images} images no training decision "
              "saw: the figure to quote")
    if report.resumed:
        print(f"resumed an interrupted run at epoch {(report.resumed_at or 0) + 1}: this run trained "
              f"{report.epochs_run} epochs")
    print(f"wrote {report.model} and {Path(report.model).with_suffix('.report.json')}")
    return 0


def _same_command() -> str:
    """Return the command line this process was started with, as a learner would type it again."""
    import shlex

    args = sys.argv[1:]
    prog = "tlh" if Path(sys.argv[0]).name in ("tlh", "cli.py", "__main__.py") else Path(sys.argv[0]).name
    return " ".join([prog, *(shlex.quote(a) for a in args)])


def _cmd_predict(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        return _fail("predict", f"{args.model} does not exist. Train one with: tlh train DIR --out {args.model}")
    from tlhelpers import evaluate, models

    try:
        model = models.load_model(args.model)
    except Exception as exc:  # noqa: BLE001 - any loading problem becomes a message
        return _fail("predict", f"cannot load {args.model}: {exc}")
    results = evaluate.predict_image_files(model, args.images, top_k=args.top_k)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['path']}: ERROR {r['error']}")
            else:
                print(f"{r['path']}: " + ", ".join(f"{label} {p:.1%}" for label, p in r["top"]))
    errors = sum("error" in r for r in results)
    if errors:
        print(f"tlh predict: {errors} of {len(results)} files could not be read (see above).", file=sys.stderr)
    return 1 if errors == len(results) else 0


def _check_images(folder: Path, limit: int) -> list[Path]:
    """Image files under ``folder`` (sorted, recursive, tool droppings skipped), at most ``limit``, spread evenly."""
    from tlhelpers import data

    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(data.ignored_reason(part) for part in p.relative_to(folder).parts)
                   and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
    step = max(1, len(files) // max(1, limit))
    return files[::step][:limit]


def _cmd_demo(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        return _fail("demo", f"{args.model} does not exist. Train one with: tlh train DIR --out {args.model}")
    if args.top_k < 1:
        return _fail("demo", "--top-k must be at least 1.")
    try:
        import gradio  # noqa: F401
    except ImportError:
        return _fail("demo", 'needs Gradio: pip install "tlhelpers[demo]"  (or: pip install gradio)')
    from tlhelpers import demo, models

    try:
        model = models.load_model(args.model)
    except Exception as exc:  # noqa: BLE001 - any loading problem becomes a message
        return _fail("demo", f"cannot load {args.model}: {exc}")
    try:
        demo.launch(model, host=args.host, port=args.port, share=args.share or None, top_k=args.top_k)
    except OSError as exc:
        return _fail("demo", f"cannot serve on {args.host}:{args.port or '7860+'}: {exc}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        return _fail("export", f"{args.model} does not exist. Train one with: tlh train DIR --out {args.model}")
    if args.quantize and args.format != "litert":
        return _fail("export", "--quantize applies to LiteRT files only: add --format litert.")
    if args.images is not None and not args.images.is_dir():
        return _fail("export", f"--images {args.images} is not a folder.")
    import numpy as np

    from tlhelpers import evaluate, export, models

    try:
        model = models.load_model(args.model)
    except Exception as exc:  # noqa: BLE001 - any loading problem becomes a message
        return _fail("export", f"cannot load {args.model}: {exc}")
    size = int(model.input_shape[1])
    images = None
    if args.images is not None:
        files = _check_images(args.images, args.check)
        rows = []
        for f in files:
            try:
                rows.append(evaluate.load_image_file(f, size))
            except ValueError as exc:
                print(f"skipped: {exc}")
        if not rows:
            return _fail("export", f"no readable image under {args.images} to check the export on.")
        images = np.stack(rows)
    default = (args.model.with_name(args.model.stem + "_saved_model") if args.format == "saved_model"
               else args.model.with_suffix(".tflite"))
    try:
        report = export.export_model(model, args.out or default, format=args.format, quantize=args.quantize,
                                     images=images, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as exc:
        return _fail("export", str(exc))
    print(report.summary())
    if images is None:
        print("checked on random images: pass --images FOLDER to check the agreement on real photos.")
    return 0


def _cmd_backbones(args: argparse.Namespace) -> int:
    from tlhelpers import backbones

    for name in backbones.names():
        spec = backbones.get(name)
        print(f"{name:18s} {spec.input_size:4d}px  {spec.preprocess:6s} {spec.note}")
    from tlhelpers import kerashub

    print("\nKerasHub presets (any ImageClassifier preset works as kerashub:<preset>, or kerashub:<preset folder>):")
    for known in kerashub.KNOWN.values():
        print(f"kerashub:{known.name:22s} {known.image_size:4d}px  {known.params / 1e6:.1f} M params  {known.handle}")
    return 0


def _cmd_prefetch(args: argparse.Namespace) -> int:
    from tlhelpers.cli import prefetch

    root = prefetch.point_env_at_cache(args.dir)  # before Keras is imported
    if args.smoke:
        return _prefetch_smoke(prefetch, args, root)
    try:
        assets = prefetch.manifest(args.lesson)
    except KeyError as exc:
        return _fail("prefetch", str(exc.args[0]))
    if args.dry_run:
        print(f"cache root: {root}")
        for a in assets:
            where = prefetch.is_cached(a)
            state = f"cached ({prefetch.size_on_disk(where)}) at {where}" if where else f"to download, {a.size}"
            print(f"[{a.kind:7s}] {a.name}   {a.key}\n          source: {a.source}\n          lessons "
                  f"{', '.join(a.lessons)}; {state}")
        print(f"{len(assets)} assets")
        return 0
    failed = 0
    for i, a in enumerate(assets, 1):
        print(f"[{i}/{len(assets)}] {a.name} ...", flush=True)
        try:
            print(f"          -> {prefetch.fetch(a)}")
        except RuntimeError as exc:
            failed += 1
            print(f"tlh prefetch: {exc}", file=sys.stderr)
    print(f"cache root {root}: {len(assets) - failed} of {len(assets)} assets ready. Use the same cache with "
          f"TLH_CACHE_DIR={root} (then the lessons run in full mode without network).")
    return 1 if failed else 0


def _prefetch_smoke(prefetch: object, args: argparse.Namespace, root: Path) -> int:
    from tlhelpers.course import realfiles

    selection = args.lesson
    if args.dry_run:
        keys = dict.fromkeys(k for lesson in (selection or prefetch.lessons())
                             for k in realfiles.LESSON_FILES[config.lesson_key(lesson)])
        for k in keys:
            where = realfiles.locate(k)
            todo = f"to download, about {realfiles.FILES[k].size / 1e6:,.0f} MB from {realfiles.url_of(k)}"
            print(f"{k}: {where or todo}")
        return 0
    got = prefetch.fetch_smoke(selection)
    for k, where in got.items():
        print(f"{k}: {where or 'NOT available'}")
    missing = [k for k, where in got.items() if where is None]
    print(f"cache root {root}: {len(got) - len(missing)} of {len(got)} real files ready for smoke mode.")
    return 1 if missing else 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from tlhelpers.cli import prefetch

    prefetch.doctor()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tlh`` command line.

    Args:
        argv: Arguments without the program name. Defaults to ``sys.argv[1:]``.

    Returns:
        The exit code.
    """
    args = build_parser().parse_args(argv)
    handlers = {"run": _cmd_run, "mode": _cmd_mode, "compare": _cmd_compare, "train": _cmd_train,
                "predict": _cmd_predict, "export": _cmd_export, "demo": _cmd_demo, "backbones": _cmd_backbones,
                "prefetch": _cmd_prefetch, "doctor": _cmd_doctor}
    return handlers[args.command](args)
