"""Run the benchmarks and regenerate docs/benchmarks.md.

Usage:
    python -m bench all       run every benchmark (about 25 minutes on 2 CPU cores), then the report
    python -m bench report    regenerate docs/benchmarks.md from bench/results/*.json
    python -m bench list      show the benchmarks and their commands
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench import report

#: (module, arguments used by "all"): repeats chosen so the whole run stays under 30 minutes on 2 cores.
BENCHMARKS = [
    ("folder_pipeline_vs_imagedatagenerator", ["--repeats", "2"]),
    ("memory_resize", []),
    ("cached_vs_recompute", ["--repeats", "2"]),
    ("finetune_vs_tutorial", ["--repeats", "1"]),
    ("backbones", []),
    ("folder_memory", []),
    ("export_artifacts", []),
]


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "list"
    if command == "list":
        for name, args in BENCHMARKS:
            print(f"python -m bench.{name} {' '.join(args)}".rstrip())
        return 0
    if command == "report":
        report.main()
        return 0
    if command != "all":
        print(__doc__, file=sys.stderr)
        return 2
    failed = []
    for name, args in BENCHMARKS:
        start = time.perf_counter()
        print(f"=== bench.{name} {' '.join(args)}", flush=True)
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *args])
        print(f"=== bench.{name}: exit {code} in {time.perf_counter() - start:.0f}s", flush=True)
        if code:
            failed.append(name)
    report.main()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
