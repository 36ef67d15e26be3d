"""The ``tlh`` command line.

What belongs here: argument parsing and friendly error messages; the work
itself is done by the other modules.

Commands:
    tlh run [LESSON ...] [--smoke]   execute lessons headless, write runs/<timestamp>/
    tlh mode                         show the active mode and paths
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tlhelpers import __version__, config

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
    mode.add_argument("--smoke", action="store_true", help="tiny offline data (sets TLH_SMOKE=1)")
    mode.add_argument("--full", action="store_true", help="real data and weights (TLH_SMOKE=0)")
    run.add_argument("--notebooks", type=Path, default=None, help="folder with the lessons")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="output parent folder")

    sub.add_parser("mode", help="show the active mode, cache root and offline assets")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from tlhelpers import runner

    smoke = True if args.smoke else (False if args.full else None)
    try:
        results, out = runner.run_lessons(args.notebooks or _default_notebooks(), args.lessons,
                                          runs_dir=args.runs_dir, smoke=smoke)
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
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tlh`` command line.

    Args:
        argv: Arguments without the program name. Defaults to ``sys.argv[1:]``.

    Returns:
        The exit code.
    """
    args = build_parser().parse_args(argv)
    handlers = {"run": _cmd_run, "mode": _cmd_mode}
    return handlers[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
