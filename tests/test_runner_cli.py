import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from tlhelpers import cli
from tlhelpers.cli import runner

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A lesson")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_find_lessons_selects_by_number_and_name(tmp_path):
    for name in ("01_alpha", "02_beta", "10_gamma"):
        _notebook(tmp_path / f"{name}.ipynb", ["1"])
    (tmp_path / "scratch.ipynb").write_text("{}")
    assert [p.stem for p in runner.find_lessons(tmp_path)] == ["01_alpha", "02_beta", "10_gamma"]
    assert [p.stem for p in runner.find_lessons(tmp_path, ["2", "gamma"])] == ["02_beta", "10_gamma"]
    with pytest.raises(FileNotFoundError, match="01_alpha, 02_beta"):
        runner.find_lessons(tmp_path, ["7"])
    with pytest.raises(FileNotFoundError, match="No lesson notebooks"):
        runner.find_lessons(tmp_path / "scratch.ipynb")


def test_run_passes_records_metrics_and_fails_naming_the_cell(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_good.ipynb", [
        "import os\nfrom tlhelpers.course import report",
        "report.log_metric('answer', 42)\nassert os.environ['TLH_SMOKE'] == '1'",
    ])
    _notebook(nbs / "02_broken.ipynb", ["x = 1", "y = 2", "raise RuntimeError('deliberately broken')", "z = 3"])
    code = cli.main(["run", "--smoke", "--notebooks", str(nbs), "--runs-dir", str(tmp_path / "runs")])
    assert code == 1
    err = capsys.readouterr().err
    assert "02_broken failed at code cell 3" in err and "deliberately broken" in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    by_name = {r["lesson"]: r for r in summary["lessons"]}
    assert by_name["01_good"]["status"] == "passed" and by_name["01_good"]["metrics"] == {"answer": 42}
    assert by_name["02_broken"]["status"] == "failed" and by_name["02_broken"]["failed_cell"] == 3
    assert summary["run"]["mode"] == "smoke"
    assert (run_dir / "01_good.ipynb").is_file() and (run_dir / "summary.md").is_file()
    html = (run_dir / "01_good.html").read_text()
    assert "answer" in html and by_name["01_good"]["html"].endswith("01_good.html")
    assert "| 02_broken | failed |" in (run_dir / "summary.md").read_text()


def test_cli_errors_are_friendly(tmp_path, capsys):
    assert cli.main(["run", "--notebooks", str(tmp_path)]) == 2
    assert "No lesson notebooks" in capsys.readouterr().err
    assert cli.main(["mode"]) == 0
    assert "cache root" in capsys.readouterr().out


def test_console_script_is_installed():
    scripts = Path(sys.executable).parent
    assert (scripts / "tlh").exists(), "pip install -e . should install the tlh command"


def test_gpu_memory_peak_reads_nvidia_smi(tmp_path, monkeypatch):
    from tlhelpers.cli import runner

    fake = tmp_path / "nvidia-smi"
    fake.write_text('#!/bin/sh\ncase "$1" in *name*) echo "Tesla T4";; *) echo $(( $(date +%N) % 5 + 1000 ));; esac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with runner.GPUMemoryPeak(interval=0.05) as gpu:
        import time

        time.sleep(0.4)
    assert gpu.name == "Tesla T4" and 1000 <= gpu.peak_mib <= 1004


def test_gpu_memory_peak_without_a_gpu(monkeypatch, tmp_path):
    from tlhelpers.cli import runner

    monkeypatch.setenv("PATH", str(tmp_path))
    with runner.GPUMemoryPeak() as gpu:
        pass
    assert gpu.name is None and gpu.peak_mib is None


def test_tlh_run_is_quiet_and_keeps_the_kernel_noise_in_a_log(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "tlhelpers.cli", "run", "1", "--smoke", "--runs-dir",
                             str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = result.stdout + result.stderr
    noise = re.compile(r"^[IWE]\d{4} |cuda|absl::InitializeLog|running over TCP", re.M)
    assert not noise.search(shown), shown
    (log,) = tmp_path.glob("*/01_scratch_cnn_cifar10.kernel.log")
    assert noise.search(log.read_text()), "the kernel printed nothing this test could have caught"
