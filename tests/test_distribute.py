"""tf.distribute: MirroredStrategy over two logical CPU devices trains a transfer model.

Runs in a subprocess, because logical devices must be configured before TensorFlow initialises them.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os
    os.environ["TLH_SMOKE"] = "1"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tlhelpers import backbones, models, training

    def tiny_base(input_shape, weights=None, pooling=None, **_):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(inputs)
        x = keras.layers.BatchNormalization()(x)
        return keras.Model(inputs, keras.layers.Conv2D(32, 3, activation="relu")(x))

    backbones.register(backbones.Backbone("TinyBase", "", "imagenet_utils", "tf", 64, 32, "test base",
                                          factory=tiny_base), replace=True)
    real = backbones.resolve_weights("MobileNetV2", alpha=0.35, image_size=64) is not None
    name, alpha = ("MobileNetV2", 0.35) if real else ("TinyBase", None)  # random MobileNetV2 features are flat
    print("base", name)

    training.set_seed(0)
    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    print("replicas", strategy.num_replicas_in_sync)
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    x = rng.uniform(0, 80, (64, 64, 64, 3)).astype("float32")
    x[y == 1, ..., 2] += 150
    global_batch = 8 * strategy.num_replicas_in_sync
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch)
    with strategy.scope():
        tm = models.build_transfer_model(name, 2, image_size=64, alpha=alpha)
        tm.model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = tm.model.fit(ds, epochs=4, verbose=0)
    print("losses", " ".join(f"{v:.4f}" for v in hist.history["loss"]))
""")


def test_mirrored_strategy_on_two_logical_cpus_trains():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("replicas", "losses")))
    assert lines["replicas"] == "2"
    losses = [float(v) for v in lines["losses"].split()]
    assert losses[-1] < losses[0], losses


HUB_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tlhelpers import layers

    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    with strategy.scope():  # built where a learner builds it on two GPUs: the module is loaded in the scope
        hub_layer = layers.HubLayer(sys.argv[1])
        extractor = keras.Sequential([keras.Input((224, 224, 3)), hub_layer])
        x = np.random.default_rng(0).uniform(0, 1, (4, 224, 224, 3)).astype("float32")
        by_hand = extractor(x, training=False).numpy()  # lesson 02's by-hand loop: a direct call, cross-replica
    print("max difference", float(np.abs(by_hand - extractor.predict(x, verbose=0)).max()), by_hand.shape)
""")


def test_a_hub_layer_loaded_in_the_strategy_scope_can_be_called_directly():
    """On two GPUs: TensorFlow restores a module loaded in a MirroredStrategy's scope for replicas only, so a direct
    call in that scope raised "a graph generated from the cross-replica context in an in-replica context"."""
    from conftest import real_asset

    module = real_asset("tfhub/mobilenet_v2_035_224_feature_vector")
    proc = subprocess.run([sys.executable, "-c", HUB_SCRIPT, str(module)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TLH_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("max difference"))
    assert float(line.split()[2]) < 1e-5 and line.endswith("(4, 1280)"), line


SCOPE_SCRIPT = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int32")

    def head():
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])

    def compile_(model):
        model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])

    def fit(model):
        try:
            losses = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
        except Exception as exc:  # what a learner sees
            return f"{type(exc).__name__}: {str(exc)[:60]}"
        return f"trains {type(model.distribute_strategy).__name__} {losses[-1] < losses[0]}"

    keras.utils.set_random_seed(0)
    with strategy.scope():
        inside = head()
        compile_(inside)
    print("built and compiled in the scope:", fit(inside))
    with strategy.scope():
        mixed = head()
    compile_(mixed)
    print("built in the scope, compiled outside:", fit(mixed))
    outside = head()
    compile_(outside)
    print("built and compiled outside:", fit(outside))
""")


def test_a_model_is_compiled_in_the_strategy_it_was_built_in():
    """The rule lessons 01, 02 and 04 teach: on two GPUs a model built and compiled in `strategy.scope()` trains on
    both; one built there and compiled outside fails; a head on cached features, built and compiled outside the
    scope, trains on one device while the strategy exists. Run on each replica's Keras (3.13 and the newest)."""
    proc = subprocess.run([sys.executable, "-c", SCOPE_SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if line.startswith("built"))
    assert said["built and compiled in the scope"] == "trains MirroredStrategy True", said
    assert said["built in the scope, compiled outside"].startswith("RuntimeError: Mixing different tf.distribute"), said
    assert said["built and compiled outside"] == "trains _DefaultDistributionStrategy True", said
