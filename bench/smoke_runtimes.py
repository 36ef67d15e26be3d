"""The laptop tier's measured runtimes, from one `tlh run --smoke` of every lesson, written where they are quoted.

A run of all seven lessons in one go (the laptop tier: the offline assets as a pre-filled cache, no network)
writes ``runs/<time>/summary.json``. This reads it, keeps each lesson's seconds with the run's date and machine in
``bench/results/smoke_runtimes.json``, and rewrites the places that quote them: each lesson's "**Runtime:** smoke
mode N s" line, the teacher's table in ``docs/teaching.md`` and the last column of README's expected-results
table. ``tests/test_lessons_teach.py`` checks that all of them still say what the JSON says.

    TLH_CACHE_DIR=<cache with assets/ linked in> TLH_OFFLINE=1 tlh run --smoke --runs-dir runs
    python -m bench.smoke_runtimes runs/<time>     # writes the JSON and rewrites the quotes
    python -m bench.smoke_runtimes --check         # only says whether the quotes match the JSON
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "smoke_runtimes.json"
LESSONS = ("01", "02", "03", "04", "05", "06", "07")
BUDGET_SECONDS = 12 * 60  # the laptop tier's promise: all seven lessons within 12 minutes


def from_summary(summary: Path) -> dict:
    """Return the runtimes record of one whole smoke run (every lesson passed, or an error naming the others)."""
    data = json.loads(summary.read_text(encoding="utf-8"))
    run = data["run"]
    if run.get("mode") != "smoke":
        raise SystemExit(f"{summary} is a {run.get('mode')} run; the laptop tier's runtimes come from --smoke.")
    seconds = {}
    for row in data["lessons"]:
        lesson = row["lesson"][:2]
        if row["status"] != "passed":
            raise SystemExit(f"{summary}: lesson {row['lesson']} {row['status']}; runtimes come from a passing run.")
        seconds[lesson] = round(float(row["seconds"]))
    missing = [n for n in LESSONS if n not in seconds]
    if missing:
        raise SystemExit(f"{summary} has no lesson {', '.join(missing)}: run all seven in one go (tlh run --smoke).")
    return {"measured": run["date"], "machine": f"{run['machine']}, {run['cpu_count']} CPU cores, no GPU",
            "python": run["python"], "command": "tlh run --smoke (laptop tier: offline assets as the cache)",
            "seconds": seconds, "total_seconds": sum(seconds.values()), "budget_seconds": BUDGET_SECONDS}


def quotes() -> dict[Path, list[tuple[str, str]]]:
    """Where each lesson's runtime is quoted: {file: [(regex with one (\\d+) group, lesson)]}."""
    places: dict[Path, list[tuple[str, str]]] = {}
    for n in LESSONS:
        lesson = next((ROOT / "notebooks").glob(f"{n}_*.py"))
        places[lesson] = [(r"\*\*Runtime:\*\* smoke mode (\d+) s on 2 CPU cores", n)]
    places[ROOT / "docs" / "teaching.md"] = [(rf"\| {n} [^|\n]*\| (\d+) s \|", n) for n in LESSONS]
    places[ROOT / "README.md"] = [(rf"\| {n} [^\n]*\| (\d+) s \|\n", n) for n in LESSONS]
    return places


def mismatches(record: dict) -> list[str]:
    """Every quote that differs from ``record`` (or cannot be found), as one line each."""
    wrong = []
    for path, patterns in quotes().items():
        text = path.read_text(encoding="utf-8")
        for pattern, lesson in patterns:
            found = re.search(pattern, text)
            if not found:
                wrong.append(f"{path.relative_to(ROOT)}: no runtime quoted for lesson {lesson} ({pattern})")
            elif int(found.group(1)) != record["seconds"][lesson]:
                wrong.append(f"{path.relative_to(ROOT)}: lesson {lesson} says {found.group(1)} s, the run measured "
                             f"{record['seconds'][lesson]} s")
    return wrong


def rewrite(record: dict) -> None:
    """Put ``record``'s seconds into every quote."""
    for path, patterns in quotes().items():
        text = path.read_text(encoding="utf-8")
        for pattern, lesson in patterns:
            found = re.search(pattern, text)
            if found is None:
                raise SystemExit(f"{path.relative_to(ROOT)}: no runtime quoted for lesson {lesson}.")
            start, end = found.span(1)
            text = text[:start] + str(record["seconds"][lesson]) + text[end:]
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", help="a runs/<time> folder of `tlh run --smoke` (all seven lessons)")
    parser.add_argument("--check", action="store_true", help="only check the quotes against the JSON")
    args = parser.parse_args(argv)
    if args.check or not args.run:
        wrong = mismatches(json.loads(RESULTS.read_text(encoding="utf-8")))
        print("\n".join(wrong) or "every quoted runtime matches bench/results/smoke_runtimes.json")
        return 1 if wrong else 0
    record = from_summary(Path(args.run) / "summary.json")
    RESULTS.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    rewrite(record)
    over = record["total_seconds"] > BUDGET_SECONDS
    print(f"{record['measured']}: " + ", ".join(f"{n} {s} s" for n, s in record["seconds"].items())
          + f"; total {record['total_seconds']} s against the {BUDGET_SECONDS} s budget" + (" (OVER)" if over else ""))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
