"""Cut a runtime's published package list to what the course touches plus their dependencies.

The one command that refreshes a replica list (the lists change every few weeks):

    python .ci/runtimes/refresh.py colab-gpu  [--source FILE_OR_URL] [--date YYYY-MM-DD]
    python .ci/runtimes/refresh.py kaggle-gpu [--source FILE_OR_URL] [--date YYYY-MM-DD]

It reads the platform's full `pip freeze` (default: the address in RUNTIMES below), asks pip's own resolver,
run by that runtime's Python, which of those pinned packages the course's roots need (`pip install --dry-run
--report` with every published pin as a constraint), and writes `.ci/runtimes/<name>.txt`
with the source, date and Python on top. Needs PyPI (for the packages' metadata), not the runtime itself.

Kaggle's GPU image is built on a Colab image of a given date (Kaggle/docker-python ``Dockerfile.tmpl``): when
Kaggle moves to a newer base, point RUNTIMES["kaggle-gpu"]["source"] at backend-info's list of that date and
carry over Kaggle's own pins (``overrides``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import urllib.request
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent

# What a lesson, the setup cell or the version-dependent tests import from the runtime itself. The course's own
# dependencies that a runtime lacks (split-folders, imagehash, ...) are left out on purpose: the lesson's setup
# cell installs them, as it does on Colab and Kaggle.
ROOTS = [
    "tensorflow", "keras", "keras-hub", "tensorflow-hub", "tensorflow-datasets", "tensorflow-metadata",
    "tensorflow-text", "protobuf", "numpy", "pillow", "matplotlib", "seaborn", "pandas", "psutil", "tqdm",
    "h5py", "gradio", "kagglehub", "importlib_resources", "ipykernel", "nbclient", "nbformat", "nbconvert",
    "jupytext", "pytest", "setuptools", "wheel", "pip",
]

RUNTIMES = {
    "colab-gpu": {
        "python": "3.13",
        "source": "https://raw.githubusercontent.com/googlecolab/backend-info/main/pip-freeze.gpu.txt",
        "about": "Colab GPU/CPU runtime, googlecolab/backend-info pip-freeze.gpu.txt",
    },
    "kaggle-gpu": {
        "python": "3.12",
        # Kaggle's GPU image builds on a Colab image (docker-python Dockerfile.tmpl) and pins protobuf itself.
        "source": "https://raw.githubusercontent.com/googlecolab/backend-info/6f38803/pip-freeze.gpu.txt",
        "about": "Kaggle GPU image: Kaggle/docker-python Dockerfile.tmpl on the Colab image of 2026-05-14 "
                 "(backend-info pip-freeze.gpu.txt at 6f38803) with Kaggle's protobuf==5.29.5 pin",
        "overrides": {"protobuf": "5.29.5"},
    },
}

SKIP = re.compile(r"^(nvidia-|jax-cuda|torch|cupy|triton)", re.I)


def norm(name: str) -> str:
    """PEP 503 name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(source: str) -> dict[str, str]:
    """`name==version` lines of a pip freeze, from a file or an https address."""
    if re.match(r"https?://", source):
        with urllib.request.urlopen(source, timeout=60) as reply:  # noqa: S310 - a fixed, documented address
            text = reply.read().decode()
    else:
        text = Path(source).read_text(encoding="utf-8")
    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not SKIP.match(line):
            name, version = line.split("==", 1)
            pins[norm(name)] = version.strip()
    return pins


def interpreter(python: str) -> str:
    """Pyenv's newest 3.X (where .ci/run installs it), else a `python3.X` on PATH."""
    versions = sorted(Path.home().glob(f".pyenv/versions/{python}.*/bin/python{python}"))
    found = str(versions[-1]) if versions else shutil.which(f"python{python}")
    if not found:
        raise SystemExit(f"refresh.py: no Python {python} here; install it (pyenv install {python}) and run again.")
    return found


def cut(pins: dict[str, str], python: str) -> dict[str, str]:
    """Return the pinned packages pip's resolver installs for ROOTS on Python `python`."""
    roots = [f"{r}=={pins[norm(r)]}" for r in ROOTS if norm(r) in pins]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp, "constraints.txt")
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()), encoding="utf-8")
        report = Path(tmp, "report.json")
        cmd = [interpreter(python), "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
               "--report", str(report), "-c", str(constraints), *roots]
        subprocess.run(cmd, check=True)
        installed = json.loads(report.read_text())["install"]
    return {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in installed}


def main(argv: list[str] | None = None) -> int:
    """Refresh one runtime's list."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runtime", choices=sorted(RUNTIMES))
    parser.add_argument("--source", help="the platform's pip freeze: a file or an address (default: its address)")
    parser.add_argument("--date", default=date.today().isoformat(), help="the date the list was published")
    parser.add_argument("--out", type=Path, help="where to write (default: .ci/runtimes/<runtime>.txt)")
    args = parser.parse_args(argv)
    spec = RUNTIMES[args.runtime]
    source = args.source or spec["source"]
    pins = read_pins(source)
    pins.update(spec.get("overrides", {}))
    kept = cut(pins, spec["python"])
    out = args.out or HERE / f"{args.runtime}.txt"
    read_from = f" (read from {source})" if args.source else ""
    header = [f"# {spec['about']}", f"# source: {spec['source']}{read_from}", f"# published: {args.date}",
              f"# python: {spec['python']}",
              f"# cut to the course's roots and their dependencies by: python .ci/runtimes/refresh.py {args.runtime}",
              f"# {len(kept)} packages, every one at its published version except those the published list lacks"]
    extra = sorted(f"{n}=={v}" for n, v in kept.items() if n not in pins)
    header.append("# not in the published list, chosen by pip for a dependency: " + (", ".join(extra) or "none"))
    out.write_text("\n".join(header + [f"{n}=={v}" for n, v in sorted(kept.items())]) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(kept)} packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
