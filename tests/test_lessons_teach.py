"""The lessons write their own idea out in their cells: the core calls are visible, not hidden in a helper."""

import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _code(stem: str) -> str:
    """The code cells of a lesson (its jupytext .py, comments and markdown removed)."""
    text = next(NOTEBOOKS.glob(f"{stem}_*.py")).read_text(encoding="utf-8")
    return "\n".join(line.split("#")[0] for line in text.splitlines() if not line.lstrip().startswith("#"))


REFREEZE_BN = r"isinstance\(layer, keras\.layers\.BatchNormalization\):\s*\n\s*layer\.trainable = False"


@pytest.mark.parametrize(("lesson", "patterns"), [
    ("01", [r"keras\.(Sequential|Model)\(", r"\.compile\(", r"\.fit\("]),
    ("03", [r"include_top=False", r"base\.trainable = False", r"training=False", r"keras\.Model\(",
            r"\.trainable = True", REFREEZE_BN, r"initial_epoch="]),
    ("05", [r"\.trainable = False", r"\.trainable = True", REFREEZE_BN, r"class_weight=class_weight",
            r"initial_epoch=", r"splitfolders\.ratio\("]),
])
def test_core_calls_are_in_the_lessons_own_cells(lesson, patterns):
    code = _code(lesson)
    missing = [p for p in patterns if not re.search(p, code)]
    assert not missing, f"lesson {lesson} no longer shows {missing} in its own cells"


@pytest.mark.parametrize("lesson", ["03", "05"])
def test_the_model_is_compiled_again_after_unfreezing(lesson):
    code = _code(lesson)
    unfreeze = code.index(".trainable = True")
    assert re.search(r"\.compile\(", code[unfreeze:]), f"lesson {lesson} unfreezes without compiling again"
