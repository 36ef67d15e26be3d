"""The GPU-shaped rehearsal: the full-mode configuration under what GPU runtimes bring, on the CPU.

Each check runs in a fresh Python process with ``TLH_REHEARSE`` set, because
the rehearsal changes process-wide state (the mixed-precision policy, Keras's
XLA decision, the CPU split into two logical devices) that must not leak into
the other tests. Every test here failed on the code before the rehearsal
existed (see the issue notes); the lessons themselves run in this tier in
``test_rehearsal_lessons.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.rehearsal, pytest.mark.slow]


def run_py(code: str, shape: str | None, *, timeout: int = 900, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env_extra}
    env.pop("TLH_REHEARSE", None)
    if shape:
        env["TLH_REHEARSE"] = shape
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    return result.stdout


def test_one_gpu_xla_decision_and_augmentation_trains():
    """Defect 2: on one GPU Keras turns XLA on; RandomAffine has no XLA kernel and must opt out."""
    out = ok(run_py("""
        import numpy as np, keras
        from tlhelpers import models, training
        training.setup_accelerator()
        assert keras.mixed_precision.global_policy().name == "mixed_float16"

        def make(augment):
            inputs = keras.Input((32, 32, 3))
            x = models.build_augmentation(seed=1)(inputs) if augment else inputs
            x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
            m = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", dtype="float32")(x))
            m.compile("adam", "sparse_categorical_crossentropy")
            return m

        x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
        y = np.arange(8) % 2
        plain, augmented = make(False), make(True)
        plain.fit(x, y, epochs=1, verbose=0)
        augmented.fit(x, y, epochs=1, verbose=0)
        print("JIT", plain.jit_compile, augmented.jit_compile)
        print(training.xla_decision(augmented))
        from tlhelpers.course import rehearsal
        print("SLOW", rehearsal.cpu_xla_is_slow())
    """, "1gpu"))
    if "SLOW False" in out:
        assert "JIT True False" in out  # XLA really on for the plain model: the rehearsal decides as one GPU does
    else:  # TensorFlow 2.20's CPU XLA: decided, then compiled without it (rehearsal.SLOW_CPU_XLA), and said so
        assert "JIT False False" in out
        assert "compiled without XLA" in out
    assert "RandomAffine" in out


@pytest.mark.parametrize(("version", "slow"), [("2.20.0", True), ("2.19.1", True), ("2.21.0", False),
                                               ("2.22.0rc1", False), ("3.0.0", False)])
def test_the_slow_cpu_xla_is_told_by_the_tensorflow_version(version, slow, monkeypatch):
    import tensorflow as tf

    from tlhelpers.course import rehearsal

    monkeypatch.setattr(tf, "__version__", version)
    assert rehearsal.cpu_xla_is_slow() is slow


def test_two_replicas_fit_two_phase_builds_and_compiles_in_scope():
    """Defect 3: fit_two_phase compiled outside the strategy scope ('Mixing different tf.distribute.Strategy')."""
    out = ok(run_py("""
        import numpy as np, tensorflow as tf
        from tlhelpers import models, training
        strategy = training.setup_accelerator()
        assert strategy.num_replicas_in_sync == 2, strategy
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 255, (16, 96, 96, 3)).astype("float32")
        y = (np.arange(16) % 2).astype("int64")
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        with strategy.scope():
            tm = models.build_transfer_model("MobileNetV2", 2, image_size=96, alpha=0.35,
                                             augmentation=models.build_augmentation(seed=0))
        result = training.fit_two_phase(tm, ds, ds, head_epochs=1, fine_tune_epochs=1, unfreeze_from=100,
                                        verbose=0)
        kernel = tm.head.trainable_weights[0]
        print("MIRRORED", strategy.extended.variable_created_in_scope(kernel.value), len(result.history["loss"]))
    """, "2gpu"))
    assert "MIRRORED True 2" in out


def test_two_replicas_hub_model_builds_in_scope():
    """Defect 3: build_hub_model's output-dimension probe failed inside a MirroredStrategy scope."""
    out = ok(run_py("""
        import numpy as np
        import keras
        from tlhelpers import models, training
        strategy = training.setup_accelerator()
        with strategy.scope():
            hm = models.build_hub_model("resnet_v2_50", 2, image_size=96)
            hm.model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        x = np.random.default_rng(0).uniform(0, 255, (8, 96, 96, 3)).astype("float32")
        hm.model.fit(x, np.arange(8) % 2, batch_size=4, epochs=1, verbose=0)
        print("OUT", hm.model.output_shape, hm.features.output_shape)
    """, "2gpu"))
    assert "OUT (None, 2)" in out


def test_compare_builds_every_candidate_in_the_strategy():
    """Defect 3: compare never used the strategy; candidates were built on one device."""
    out = ok(run_py("""
        import numpy as np, tensorflow as tf
        from tlhelpers import compare, models, training
        strategy = training.setup_accelerator()
        seen = []

        def build(num_classes, image_size):
            seen.append(tf.distribute.get_strategy().num_replicas_in_sync)
            return models.build_scratch_cnn((image_size, image_size, 3), num_classes)

        x = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x, np.arange(16) % 2)).batch(8)
        table = compare.compare([("probe", build)], ds, ds, num_classes=2, image_size=32, epochs=1,
                                strategy=strategy)
        print("STATUS", list(table.status), "REPLICAS", seen)
    """, "2gpu"))
    assert "STATUS ['ok'] REPLICAS [2]" in out


def test_lesson04_bring_your_own_backbone_downloads_in_full_mode(tmp_path, monkeypatch):
    """Defect 4: lesson 04 registered SqueezeNet without a weights URL, so full mode raised 'has no weights URL'."""
    import keras

    from tlhelpers import backbones, squeezenet

    text = (ROOT / "notebooks" / "04_which_backbone.py").read_text(encoding="utf-8")
    cell = re.search(r"^my_backbone = backbones\.Backbone\(.*?^\)\n", text, re.S | re.M)
    assert cell, "lesson 04 no longer registers its own backbone with backbones.Backbone(...)"
    for name, value in {"TLH_SMOKE": "0", "TLH_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path),
                        "TLH_ASSETS_DIR": str(tmp_path / "no-assets")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TLH_REHEARSE", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    asked = []

    def offline_get_file(fname, origin, **kwargs):
        asked.append(origin)
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline_get_file)
    namespace = {"backbones": backbones, "squeezenet": squeezenet}
    exec(cell.group(0), namespace)  # noqa: S102 - the lesson's own registration cell
    spec = namespace["my_backbone"]
    backbones.register(spec, replace=True)
    try:
        with pytest.raises(RuntimeError, match="Could not download the MySqueezeNet weights"):
            backbones.build_base("MySqueezeNet", image_size=64)
    finally:
        backbones.REGISTRY.pop("MySqueezeNet", None)
    assert asked == [squeezenet.WEIGHTS_URL]


def test_rehearsal_settings_keep_the_full_mode_program():
    from tlhelpers.course import config

    os.environ.pop("TLH_REHEARSE", None)
    for key in config.lesson_keys():
        full, rehearsal = config.full_settings(key), config.rehearsal_settings(key)
        assert rehearsal.image_size == full.image_size and rehearsal.batch_size == full.batch_size, key
        for name, value in full.extra:
            if name not in ("aug_passes", "sweep_per_class", "sweep_epochs", "sweep_fine_tune_epochs",
                            "experiment_epochs", "legacy_steps", "legacy_epochs"):  # amounts of data and steps
                assert rehearsal.get(name) == value, (key, name)
        assert rehearsal.epochs == 1 and rehearsal.fine_tune_epochs == min(full.fine_tune_epochs, 1), key
    assert config.rehearsal_settings(4).get("candidates") == config.full_settings(4).get("candidates")


def test_unknown_rehearsal_shape_is_a_clear_error(monkeypatch):
    from tlhelpers.course import config

    monkeypatch.setenv("TLH_REHEARSE", "3gpu")
    with pytest.raises(ValueError, match="1gpu, 2gpu"):
        config.mode()


def test_standin_weights_live_apart_from_the_real_cache(tmp_path, monkeypatch):
    from tlhelpers import backbones
    from tlhelpers.course import config

    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "no-assets"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TLH_REHEARSE", "1gpu")
    path = Path(backbones.resolve_weights("MobileNetV2", alpha=0.35, image_size=96))
    assert path.name == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert path.parent == tmp_path / "rehearsal" / "keras" / "models"
    from tlhelpers.course import report

    assert report.generated() == ["MobileNetV2 ImageNet weights (rehearsal stand-in, random)"]
    monkeypatch.setattr(report, "_generated", [])  # a second run finds the stand-in laid out by the first:
    assert backbones.resolve_weights("MobileNetV2", alpha=0.35, image_size=96) == str(path)
    assert report.generated() == ["MobileNetV2 ImageNet weights (rehearsal stand-in, random)"]  # still said
    base = backbones.build_base("MobileNetV2", alpha=0.35, image_size=96)  # loads through the full-mode path
    assert base.output_shape == (None, 3, 3, 1280)
    monkeypatch.delenv("TLH_REHEARSE")
    monkeypatch.setenv("TLH_SMOKE", "0")
    assert backbones.resolve_weights("MobileNetV2", alpha=0.35, image_size=96) == "imagenet"  # never a stand-in
    assert config.cache_root() == tmp_path
