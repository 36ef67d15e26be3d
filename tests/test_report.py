import json

from tlhelpers import report


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
