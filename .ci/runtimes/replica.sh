#!/usr/bin/env bash
# Build one runtime replica from its checked-in list and prove the course on it, as a learner meets it:
#   bash .ci/runtimes/replica.sh colab-gpu smoke,1gpu
#   bash .ci/runtimes/replica.sh kaggle-gpu smoke,2gpu
# 1. a virtual env on that runtime's Python holding exactly the packages of .ci/runtimes/<name>.txt (no others);
# 2. the lessons' own setup cell, run as Colab/Kaggle run it, with TLH_INSTALL_FROM pointing at this checkout;
# 3. TensorFlow and Keras are still the runtime's; TFDS imports whole and loads a prepared dataset offline;
# 4. the version-dependent tests (private Keras internals, layers and .keras loading, KerasHub, export, demo, the
#    strategy-scope rule the lessons teach) and every lesson in the given shapes (tests/test_rehearsal_lessons.py,
#    TLH_TEST_SHAPES).
# Env: REPLICA_ROOT (default /tmp/tlh-replicas) holds the venvs. Any skipped test fails the replica.
set -euo pipefail
name=$1; shapes=$2
cd "$(dirname "$0")/../.."
list=.ci/runtimes/$name.txt
want=$(sed -n 's/^# python: //p' "$list")
root=${REPLICA_ROOT:-/tmp/tlh-replicas}
mkdir -p "$root"
log() { echo "[$name $(date +%T)] $*"; }

# The runtime's Python: pyenv's, installed when missing.
py=$(ls -d "$HOME"/.pyenv/versions/"$want".*/bin/python"$want" 2>/dev/null | tail -n 1 || true)
if [ -z "$py" ]; then
  if ! command -v pyenv >/dev/null 2>&1 && [ ! -x "$HOME/.pyenv/bin/pyenv" ]; then
    curl -fsSL https://pyenv.run | bash
  fi
  PYENV=$(command -v pyenv || echo "$HOME/.pyenv/bin/pyenv")
  "$PYENV" install -s "$("$PYENV" install --list | tr -d ' ' | grep -E "^$want\.[0-9]+$" | tail -n 1)"
  py=$(ls -d "$HOME"/.pyenv/versions/"$want".*/bin/python"$want" | tail -n 1)
fi
venv=$root/$name
rm -rf "$venv"
"$py" -m venv "$venv"
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"  # notebook kernels ("python3": argv "python") start from here
log "Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'); installing $list"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$list" 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -m pip check >/dev/null 2>&1 || log "pip check (the runtime as published): $("$venv/bin/python" -m pip check | head -n 3)"
pinned() { sed -n "s/^$1==//p" "$list"; }

# The setup cell, as the lessons hold it (tests/test_install_cell.py keeps the six identical).
cell=$("$venv/bin/python" - <<'PY'
from pathlib import Path
text = Path("notebooks/01_scratch_cnn_cifar10.py").read_text(encoding="utf-8")
(cell,) = [c.split("\n", 1)[1] for c in text.split("\n# %%") if "COURSE_REPO = " in c and not c.startswith(" [markdown]")]
print(cell)
PY
)
# The install source: a copy of what pip builds from (setuptools builds in the source tree). Its folder name has no
# hyphen: pip caches the wheel it builds from a folder whose name looks like "<name>-<version>" (as "colab-gpu-source"
# does) and would install that stale wheel on the next run; PIP_NO_CACHE_DIR below makes sure of it.
source=$root/source_${name//-/_}
rm -rf "$source"; mkdir -p "$source"
cp -a pyproject.toml README.md src "$source"/
rm -rf "$source"/src/*.egg-info
log "setup cell:"
PIP_NO_CACHE_DIR=1 TLH_INSTALL_FROM="file://$source" "$venv/bin/python" -c "$cell" | sed "s/^/    /"
"$venv/bin/python" - "$(pinned tensorflow)" "$(pinned keras)" <<'PY'
import sys
from importlib import metadata
tf, keras = sys.argv[1:]
got = metadata.version("tensorflow"), metadata.version("keras")
assert got == (tf, keras), f"the setup cell changed the runtime's TensorFlow/Keras {tf}/{keras} to {got[0]}/{got[1]}"
print(f"    kept TensorFlow {tf}, Keras {keras}")
PY
# The course the setup cell installed is this checkout's, file by file (a stale cached wheel would pass unnoticed).
"$venv/bin/python" - "$PWD/src/tlhelpers" <<'PY'
import filecmp
import sys
from pathlib import Path

import tlhelpers

ours, installed = Path(sys.argv[1]), Path(tlhelpers.__file__).parent
names = sorted(str(p.relative_to(ours)) for p in ours.rglob("*.py") if "__pycache__" not in p.parts)
differ = [n for n in names if not (installed / n).is_file() or not filecmp.cmp(ours / n, installed / n, shallow=False)]
assert not differ, f"the installed tlhelpers ({installed}) is not this checkout's: {differ} differ"
print(f"    installed tlhelpers is this checkout's ({len(names)} modules)")
PY
# Test tooling only (the runtime's own versions pinned): selenium drives tlh demo's page.
"$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$list" selenium 2>&1 | grep -v "^WARNING: Location" || true

log "tests, shapes $shapes ($(python -c 'import sys; print(sys.executable)') on PATH)"
xml=$root/$name-junit.xml
rm -rf "$root/$name-tmp"
TLH_TEST_SHAPES=$shapes "$venv/bin/python" -m pytest -p no:cacheprovider -o addopts="" -ra --durations=15 \
  --basetemp="$root/$name-tmp" \
  --junitxml="$xml" tests/test_kerascompat.py tests/test_runtime_tfds.py tests/test_layers.py \
  tests/test_kerashub.py tests/test_export.py tests/test_demo.py tests/test_rehearsal_lessons.py \
  tests/test_distribute.py::test_a_model_is_compiled_in_the_strategy_it_was_built_in
"$venv/bin/python" - "$xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot().iter("testsuite").__next__()
skipped = int(suite.get("skipped", 0))
assert skipped == 0, f"{skipped} tests were skipped in the replica: every one must run there"
print(f"replica: {suite.get('tests')} tests, none skipped")
PY
log "passed"
