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
