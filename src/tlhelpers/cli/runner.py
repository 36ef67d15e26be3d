"""Headless execution of the lessons: what ``tlh run`` does.

What belongs here: finding the lesson notebooks, executing them one by one
with a fresh kernel, and writing the executed notebooks plus a summary
(pass/fail, duration, headline metrics, the failing cell) under
``runs/<timestamp>/``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tlhelpers.course import config, report

__all__ = ["LessonResult", "GPUMemoryPeak", "find_lessons", "run_lesson", "run_lessons", "write_summary"]


@dataclasses.dataclass
class LessonResult:
    """Outcome of executing one lesson.

    Attributes:
        lesson: Lesson file stem, e.g. ``"01_scratch_cnn_cifar10"``.
        status: ``"passed"`` or ``"failed"``.
        seconds: Wall time of the execution.
        metrics: Headline metrics the lesson logged with
            :func:`tlhelpers.course.report.log_metric`.
        failed_cell: 1-based index of the code cell that failed (None if passed).
        error: The error name and message (None if passed).
        executed: Path of the executed notebook.
        html: Path of its HTML export (None without nbconvert).
        gpu: The GPU it ran on, as ``nvidia-smi`` names it (None without one).
        gpu_peak_mib: Highest GPU memory in use while it ran, sampled every
            second with ``nvidia-smi`` (None without a GPU). Full-mode runs on
            a T4 fill the lessons' runtime and memory estimates with this.
        generated: What the lesson replaced by generated data or random
            weights (see :func:`tlhelpers.course.report.note_generated`).
        meaningless: The metrics logged after generated data came in.
    """

    lesson: str
    status: str
    seconds: float
    metrics: dict[str, object]
    failed_cell: int | None = None
    error: str | None = None
    executed: str | None = None
    html: str | None = None
    gpu: str | None = None
    gpu_peak_mib: float | None = None
    generated: list[str] = dataclasses.field(default_factory=list)
    meaningless: list[str] = dataclasses.field(default_factory=list)

    def shown_metrics(self) -> str:
        """Return the metrics as ``name=value`` text, those from generated data marked meaningless."""
        return ", ".join(f"{k}={v}" + (f" ({report.MEANINGLESS})" if k in self.meaningless else "")
                         for k, v in self.metrics.items()) or "-"


class GPUMemoryPeak:
    """Sample the GPU memory in use with ``nvidia-smi`` once a second, keep the peak (a no-op without a GPU)."""

    def __init__(self, interval: float = 1.0) -> None:
        import shutil

        self.interval = interval
        self.smi = shutil.which("nvidia-smi")
        self.name: str | None = None
        self.peak_mib: float | None = None
        self._stop = None
        self._thread = None

    def _query(self, field: str) -> list[str]:
        import subprocess

        try:
            out = subprocess.run([self.smi, f"--query-gpu={field}", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return [line.strip() for line in out.splitlines() if line.strip()]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            used = [float(v) for v in self._query("memory.used") if v.replace(".", "", 1).isdigit()]
            if used:
                self.peak_mib = max(self.peak_mib or 0.0, sum(used))

    def __enter__(self) -> GPUMemoryPeak:
        import threading

        if self.smi:
            names = self._query("name")
            self.name = " + ".join(names) or None
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()


def find_lessons(notebooks_dir: str | os.PathLike, selection: Sequence[str] = ()) -> list[Path]:
    """Find the lesson notebooks, optionally only some of them.

    Args:
        notebooks_dir: Folder holding ``NN_name.ipynb`` files.
        selection: Lesson numbers or name fragments (``"1"``, ``"01"``,
            ``"scratch"``); empty selects every lesson.

    Returns:
        Sorted notebook paths.

    Raises:
        FileNotFoundError: The folder has no lessons, or a selection matches
            none; the message lists the lessons there are.
    """
    folder = Path(notebooks_dir)
    lessons = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not lessons:
        raise FileNotFoundError(f"No lesson notebooks (NN_name.ipynb) in {folder}. Run from the repository "
                                "root or pass --notebooks DIR.")
    if not selection:
        return lessons
    chosen: list[Path] = []
    for sel in selection:
        key = f"{int(sel):02d}_" if sel.isdigit() else sel
        hits = [p for p in lessons if p.name.startswith(key) or (not sel.isdigit() and sel in p.stem)]
        if not hits:
            names = ", ".join(p.stem for p in lessons)
            raise FileNotFoundError(f"No lesson matches {sel!r}. Lessons: {names}.")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _failed_cell(nb: object) -> int | None:
    code_index = 0
    for cell in nb.cells:  # type: ignore[attr-defined]
        if cell.cell_type != "code":
            continue
        code_index += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return code_index
    return None


def run_lesson(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    smoke: bool | None = None,
    rehearse: str | None = None,
    timeout: int = 1800,
    on_cell: Callable[[int, int], None] | None = None,
    verbose: bool = False,
) -> LessonResult:
    """Execute one lesson notebook in a fresh kernel and save the executed copy.

    Args:
        path: The ``.ipynb`` to execute.
        out_dir: Where the executed notebook and its metrics go.
        smoke: Force smoke (True) or full (False) mode; None keeps the
            current environment. Defaults to None.
        rehearse: Run the GPU-shaped rehearsal of that shape (``"1gpu"`` or
            ``"2gpu"``); None keeps the current environment. Defaults to None.
        timeout: Seconds a single cell may take. Defaults to 1800.
        on_cell: Called as ``on_cell(done, total)`` after each code cell.
        verbose: Let the kernel's own output (TensorFlow's C++ start-up lines,
            the kernel's transport warning) through to this terminal. Defaults
            to False: it goes to ``<lesson>.kernel.log`` in ``out_dir``.

    Returns:
        A :class:`LessonResult`.
    """
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as exc:
        raise ImportError(f"tlh run needs the notebook tooling ({exc.name} is missing): "
                          "pip install 'tlhelpers[run]' (or -e '.[run]' in a checkout).") from exc

    path = Path(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics_file = out / f"{path.stem}.metrics.json"
    metrics_file.unlink(missing_ok=True)
    nb = nbformat.read(path, as_version=4)
    total = sum(c.cell_type == "code" for c in nb.cells)

    env: dict[str, str | None] = {report.METRICS_ENV: str(metrics_file.resolve())}
    if smoke is not None:
        env[config.SMOKE_ENV] = "1" if smoke else "0"
    if rehearse is not None:
        env[config.REHEARSE_ENV] = rehearse
    elif smoke is not None:
        env[config.REHEARSE_ENV] = None

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    done = 0

    def _hook(cell: object, cell_index: int, execute_reply: object) -> None:
        nonlocal done
        done += 1
        if on_cell:
            on_cell(done, total)

    client.on_cell_executed = _hook
    start = time.perf_counter()
    error = None
    gpu = GPUMemoryPeak()
    kernel_log = None if verbose else open(out / f"{path.stem}.kernel.log", "w", encoding="utf-8")  # noqa: SIM115
    try:
        with gpu, config.environment(env):
            client.execute(**({} if kernel_log is None else {"stdout": kernel_log, "stderr": kernel_log}))
    except CellExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 - a kernel that dies or times out fails its lesson, not the whole run
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if kernel_log is not None:
            kernel_log.close()
    seconds = time.perf_counter() - start
    executed = out / path.name
    nbformat.write(nb, executed)
    html = _write_html(nb, out / f"{path.stem}.html")
    failed = _failed_cell(nb) if error else None
    metrics = report.read_metrics(metrics_file)
    generated = list(metrics.pop(report.GENERATED_KEY, []))
    meaningless = list(metrics.pop(report.MEANINGLESS_KEY, []))
    return LessonResult(
        lesson=path.stem,
        status="failed" if error else "passed",
        seconds=round(seconds, 1),
        metrics=metrics,
        generated=generated,
        meaningless=meaningless,
        failed_cell=failed,
        error=error,
        executed=str(executed),
        html=str(html) if html else None,
        gpu=gpu.name,
        gpu_peak_mib=gpu.peak_mib,
    )


def _write_html(nb: object, target: Path) -> Path | None:
    """Export an executed notebook to HTML (None when nbconvert is not installed or fails)."""
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        return None
    try:
        body, _ = HTMLExporter().from_notebook_node(nb)
    except Exception:  # noqa: BLE001 - HTML is a convenience; the executed .ipynb is the record
        return None
    target.write_text(body, encoding="utf-8")
    return target


def write_summary(results: Sequence[LessonResult], out_dir: str | os.PathLike, *, mode: str) -> Path:
    """Write ``summary.json`` and ``summary.md`` for a run.

    Args:
        results: One result per lesson.
        out_dir: The run folder.
        mode: ``"smoke"`` or ``"full"``.

    Returns:
        The path of ``summary.md``.
    """
    import platform

    out = Path(out_dir)
    meta = {
        "mode": mode,
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    (out / "summary.json").write_text(json.dumps(
        {"run": meta, "lessons": [dataclasses.asdict(r) for r in results]}, indent=2))
    lines = [f"# Run summary ({mode} mode, {meta['date']}, {meta['cpu_count']} CPU cores)", "",
             "| lesson | status | seconds | GPU, peak memory | headline metrics | failure |",
             "|---|---|---|---|---|---|"]
    for r in results:
        metrics = r.shown_metrics()
        failure = f"code cell {r.failed_cell}: {r.error}" if r.error else ""
        failure = re.sub(r"\s+", " ", failure)[:200]
        gpu = f"{r.gpu}, {r.gpu_peak_mib:.0f} MiB" if r.gpu and r.gpu_peak_mib is not None else (r.gpu or "none")
        lines.append(f"| {r.lesson} | {r.status} | {r.seconds} | {gpu} | {metrics} | {failure} |")
    flagged = [r for r in results if r.generated]
    if flagged:
        lines += ["", "Generated data (no network and no cached copy) came into these lessons; every metric "
                  "logged after it is marked meaningless:"]
        lines += [f"- {r.lesson}: {'; '.join(r.generated)}" for r in flagged]
    md = out / "summary.md"
    md.write_text("\n".join(lines) + "\n")
    return md


def run_lessons(
    notebooks_dir: str | os.PathLike,
    selection: Sequence[str] = (),
    *,
    runs_dir: str | os.PathLike = "runs",
    smoke: bool | None = None,
    rehearse: str | None = None,
    log: Callable[[str], None] = print,
    verbose: bool = False,
) -> tuple[list[LessonResult], Path]:
    """Execute the selected lessons one after another and write the summary.

    Args:
        notebooks_dir: Folder holding the lessons.
        selection: Lessons to run (see :func:`find_lessons`); empty runs all.
        runs_dir: Parent folder of the timestamped run folder. Defaults to ``runs``.
        smoke: Force smoke or full mode; None keeps the environment.
        rehearse: Run the GPU-shaped rehearsal of that shape (``"1gpu"``, ``"2gpu"``).
        log: Where progress lines go. Defaults to ``print``.
        verbose: Show the kernels' own output (see :func:`run_lesson`). Defaults to False.

    Returns:
        ``(results, run folder)``.
    """
    lessons = find_lessons(notebooks_dir, selection)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(runs_dir) / stamp
    n = 1
    while out.exists():
        n += 1
        out = Path(runs_dir) / f"{stamp}-{n}"
    if rehearse is not None:
        mode = f"rehearsal-{rehearse}"
    else:
        mode = "smoke" if (smoke if smoke is not None else config.smoke_mode()) else "full"
        if smoke is None and config.rehearsal() is not None:
            mode = f"rehearsal-{config.rehearsal()}"
    log(f"Running {len(lessons)} lesson(s) in {mode} mode; output in {out}")
    results = []
    for i, path in enumerate(lessons, 1):
        log(f"[{i}/{len(lessons)}] {path.stem} ...")

        def progress(done: int, total: int, _name: str = path.stem) -> None:
            log(f"    cell {done}/{total}")

        r = run_lesson(path, out, smoke=smoke, rehearse=rehearse, on_cell=progress, verbose=verbose)
        results.append(r)
        extra = f" failed at code cell {r.failed_cell}: {r.error}" if r.error else ""
        log(f"[{i}/{len(lessons)}] {path.stem}: {r.status} in {r.seconds}s {r.shown_metrics()}{extra}")
    summary = write_summary(results, out, mode=mode)
    log(f"Summary: {summary}")
    return results, out
