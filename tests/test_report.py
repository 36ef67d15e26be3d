import json

from tlhelpers.course import report


def test_log_metric_prints_and_records(monkeypatch, tmp_path, capsys):
    target = tmp_path / "m.json"
    monkeypatch.setenv("TLH_METRICS_FILE", str(target))
    report.log_metric("test_accuracy", 0.123456)
    report.log_metric("seconds", 3, unit="s")
    assert "[metric] test_accuracy = 0.1235" in capsys.readouterr().out
    assert json.loads(target.read_text()) == {"test_accuracy": 0.1235, "seconds": 3}
    assert report.read_metrics(tmp_path / "absent.json") == {}


def test_log_metric_without_run_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("TLH_METRICS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    report.log_metric("x", 1.0)
    assert list(tmp_path.iterdir()) == []


def test_metrics_after_generated_data_are_marked_until_the_next_dataset(monkeypatch, tmp_path, capsys):
    target = tmp_path / "m.json"
    monkeypatch.setenv("TLH_METRICS_FILE", str(target))
    report.log_metric("real_before", 0.9)
    report.note_generated("CIFAR-10 (mock)")
    report.log_metric("on_mock", 0.1)
    report.new_data_section()  # the lesson loads real photos next
    report.log_metric("real_after", 0.95)
    report.note_generated("MobileNetV2 weights (random)", kind="weights")
    report.new_data_section()  # random weights keep marking across datasets
    report.log_metric("random_weights", 0.5)
    out = capsys.readouterr().out
    assert "[metric] real_before = 0.9\n" in out and "[metric] real_after = 0.95\n" in out
    assert f"[metric] on_mock = 0.1 ({report.MEANINGLESS})" in out
    assert f"[metric] random_weights = 0.5 ({report.MEANINGLESS})" in out
    stored = json.loads(target.read_text())
    assert stored[report.MEANINGLESS_KEY] == ["on_mock", "random_weights"]
    assert stored[report.GENERATED_KEY] == ["CIFAR-10 (mock)", "MobileNetV2 weights (random)"]


def _assigned_names(lesson: str) -> set[str]:
    """Every name a lesson assigns (targets of =, for, with, and tuple unpacking), read from its jupytext file."""
    import ast
    from pathlib import Path

    path = next((Path(__file__).resolve().parents[1] / "notebooks").glob(f"{lesson}_*.py"))
    code = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith(("%", "!")))
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _headline_variables() -> dict[str, set[str]]:
    """lesson -> the variables its HEADLINES readers look up (``v["name"]``), read from report.py's source."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(report))
    table = next(node.value for node in tree.body if isinstance(node, ast.AnnAssign)
                 and getattr(node.target, "id", "") == "HEADLINES")
    found: dict[str, set[str]] = {}
    for key, readers in zip(table.keys, table.values, strict=True):
        found[key.value] = {n.slice.value for n in ast.walk(readers) if isinstance(n, ast.Subscript)
                            and getattr(n.value, "id", "") == "v" and isinstance(n.slice, ast.Constant)}
    return found


def test_every_headline_reads_a_variable_its_lesson_assigns():
    variables = _headline_variables()
    assert sorted(variables) == ["01", "02", "03", "04", "05", "06", "07"]
    for lesson, names in variables.items():
        missing = names - _assigned_names(lesson)
        assert not missing, f"report.HEADLINES['{lesson}'] reads {sorted(missing)}, which lesson {lesson} never assigns"


def test_headlines_now_takes_what_exists_and_leaves_out_the_rest():
    class History:
        history = {"val_accuracy": [0.5, 0.75]}

    class Preds:
        accuracy = 0.8

    assert report.headlines_now("01", {}) == {}
    assert report.headlines_now("01", {"preds": Preds()}) == {"test_accuracy": 0.8}
    assert report.headlines_now("03", {"history_head": History(), "rows": [("head only", 1, "-", 0.9, 0, 0),
                                                                          ("top 30 %, low rate", 2, "1e-05", 0.95,
                                                                           1.0, 0.0)]}) == {
        "frozen_val_accuracy": 0.75, "experiment_top_30_pct_low_rate": 0.95}
    assert report.headlines_now("02", {"article_acc": None}) == {}  # route 1 did not run: nothing to record


def test_watch_records_each_headline_after_the_cell_that_made_it(monkeypatch, tmp_path):
    """In a real IPython shell: the numbers land after their cell, marked when generated data was in use then."""
    from IPython.core.interactiveshell import InteractiveShell

    target = tmp_path / "m.json"
    monkeypatch.setattr(report, "_active", {})
    monkeypatch.setattr(report, "_generated", [])
    monkeypatch.setattr(report, "_meaningless", [])
    assert report.watch("01") is False  # outside a kernel and without a run collecting: nothing registered
    monkeypatch.setenv("TLH_METRICS_FILE", str(target))
    shell = InteractiveShell.instance()
    try:
        assert report.watch("01") is True
        assert report.watch("01") is True  # the setup cell run twice: still one watcher
        shell.run_cell("class Timer:\n    seconds = [1.0, 2.0, 4.0]\ntimer = Timer()")
        assert report.read_metrics(target) == {"seconds_per_epoch": 2.0}
        shell.run_cell("from tlhelpers.course import report\nreport.note_generated('CIFAR-10 (mock)')")
        shell.run_cell("class P:\n    accuracy = 0.1\npreds = P()")
        shell.run_cell("timer.seconds = [9.0]\npreds.accuracy = 0.2")  # recorded once: later changes are not
        stored = report.read_metrics(target)
        assert stored["test_accuracy"] == 0.1 and stored["seconds_per_epoch"] == 2.0
        assert stored[report.MEANINGLESS_KEY] == ["test_accuracy"]  # made while generated data was in use
        assert sum(type(f).__name__ == "_Watcher" for f in shell.events.callbacks["post_run_cell"]) == 1
    finally:
        InteractiveShell.clear_instance()
