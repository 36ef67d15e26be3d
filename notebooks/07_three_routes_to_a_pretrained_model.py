# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %%

# %% [markdown]
# # Lesson 07: Three routes to a pretrained model
#
# Lessons 02 and 03 built transfer models two ways: a TF-Hub module inside the course's Keras 3 layer, and
# `keras.applications`. The code a learner finds on the web takes two more: the TF-Hub articles'
# `hub.KerasLayer` on `tf_keras` (Keras 2), and KerasHub presets. This lesson runs the three routes on the same
# photos, with what lesson 03 taught (fine-tuning, BatchNorm kept frozen, a low learning rate), and shows the
# traps of each in numbers. Take it after lesson 03.
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tl-course/transfer-learning-course/blob/main/notebooks/07_three_routes_to_a_pretrained_model.ipynb)
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/tl-course/transfer-learning-course/blob/main/notebooks/07_three_routes_to_a_pretrained_model.ipynb)

# %% [markdown]
# ## Overview
#
# In this lesson you will:
#
# - see where pretrained models live in 2026 (TF-Hub handles now served by Kaggle Models, KerasHub presets);
# - run the TF-Hub articles' code unchanged, on `tf_keras`, in a process of its own;
# - fine-tune the same TF-Hub module on Keras 3 with the course's `HubLayer`;
# - use KerasHub presets two ways (an `ImageClassifier`, and a `Backbone` with your own head) and meet their three
#   traps: logits, preprocessing inside `fit`/`predict`, BatchNorm left training.
#
# **Data:** `cats_and_dogs_filtered` (3,000 photos, 68 MB), the photos of lessons 02 and 03.
#
# **Runtime:** smoke mode 61 s on 2 CPU cores (measured in one `tlh run --smoke` of all seven lessons, 2026-12-04; docs/teaching.md). Full mode on a Colab T4 has not been timed yet.
# Estimate: at least 1.0 min of GPU compute and about 2.6 GB of GPU memory (a compute-bound lower bound from FLOP counts and an assumed T4 throughput,
# `python -m bench.t4_estimate`; downloads, decoding, XLA compilation and route 1, which runs on the CPU, add to
# it). `tlh run --full` on a T4 records the real time and peak GPU memory in `runs/<time>/summary.md`.

# %% [markdown]
# ## Setup
#
# On Colab or Kaggle, this cell installs the course's helper package `tlhelpers` and keeps the runtime's own
# TensorFlow and Keras when they are in the supported range (it tells you if a restart is needed); elsewhere
# it does nothing (install with `pip install -e ".[dev]"` from the repository). Colab shows only the cell's
# title; double-click it to read the code:

# %% cellView="form"
# @title Install the course's helpers (`tlhelpers`) on Colab or Kaggle { display-mode: "form" }
import os
import re
import subprocess
import sys
from importlib import metadata

COURSE_REPO = "https://github.com/tl-course/transfer-learning-course"  # the one place that names it (tested)
TPU = any(os.environ.get(v) for v in ("TPU_ACCELERATOR_TYPE", "COLAB_TPU_ADDR", "TPU_NAME")) or os.path.exists("/dev/accel0")
if "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ or os.environ.get("TLH_INSTALL_FROM"):
    if TPU:
        raise SystemExit("This is a TPU runtime. The course runs on TensorFlow, which cannot use this TPU (Colab's "
                         "TPU runtime has no TensorFlow, Kaggle's has a CPU-only build): switch to a GPU runtime "
                         "(Colab: Runtime > Change runtime type > T4 GPU; Kaggle: Settings > Accelerator > GPU T4 x2).")
    source = os.environ.get("TLH_INSTALL_FROM") or f"git+{COURSE_REPO}"
    WATCH = {"tensorflow": "tensorflow", "keras": "keras", "keras-hub": "keras_hub", "numpy": "numpy",
             "protobuf": "google.protobuf"}  # package: the module a running kernel may have imported

    def versions() -> dict:
        found = {}
        for pkg in WATCH:
            try:
                found[pkg] = metadata.version(pkg)
            except metadata.PackageNotFoundError:
                found[pkg] = None
        return found

    def pip(*args: str) -> None:
        run = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], capture_output=True, text=True)
        out = run.stdout + run.stderr
        if run.returncode == 0:
            clashes = [line for line in out.splitlines() if "but you have" in line]
            if clashes:
                print("pip says these packages of this runtime declare other versions:", *clashes[:6], sep="\n    ")
            return
        said = [line for line in out.splitlines() if line.strip() and line.split()[0] not in ("note:", "hint:", "│", "╰─>", "×")]
        print("pip:", *said[-10:], sep="\n    ")
        causes = [  # (what pip or git printed, the cause in one sentence)
            ("requires a different Python", f"this runtime's Python {sys.version.split()[0]} is outside the versions "
             "tlhelpers supports (README, Supported versions)."),
            ("Repository not found|not a git repository|No such file or directory: '"
             + re.escape(source.removeprefix("file://")),
             f"{source} is not a repository or folder that exists: check TLH_INSTALL_FROM or the address."),
            ("ResolutionImpossible|conflicting dependencies", "the versions tlhelpers needs conflict with packages "
             "installed here; pip names them above."),
            (r"NewConnectionError|Name or service not known|Temporary failure in name resolution|Could not resolve "
             r"host|Network is unreachable|Connection refused|timed out|ProxyError", "there is no network: switch the "
             "notebook's Internet on (Kaggle: Settings > Internet), then run this cell again."),
        ]
        cause = next((c for pattern, c in causes if re.search(pattern, out)), "pip failed for a reason this cell "
                     "does not recognise; read pip's lines above.")
        raise SystemExit(f"Could not install tlhelpers from {source}: {cause}")

    before = versions()
    pip(f"tlhelpers[kerashub] @ {source}")
    # tensorflow-metadata 1.21 is generated for protobuf >= 6.31.1 but declares >= 4.25.2 (tensorflow/metadata#68):
    # with an older protobuf, `import tensorflow_datasets` half-fails. Install the protobuf its files need.
    probe = subprocess.run([sys.executable, "-c", "import tensorflow_metadata.proto.v0.schema_pb2"],
                           capture_output=True, text=True)
    needed = re.search(r"gencode (\d+)\.(\d+)\.(\d+) runtime", probe.stderr)
    if needed:
        major = int(needed.group(1))
        keep = [f"tensorflow=={before['tensorflow']}"] if before["tensorflow"] else []
        pip(f"protobuf>={'.'.join(needed.groups())},<{major + 1}", *keep)
    after = versions()
    changed = [f"{k} {before[k]} -> {after[k]}" for k in WATCH if after[k] != before[k]]
    if changed:
        print("Changed:", ", ".join(changed) + (" (tensorflow-metadata needs it)." if needed else "."))
    if any(after[k] != before[k] and module in sys.modules for k, module in WATCH.items()):
        print("Restart the session (Colab: Runtime > Restart session), then run the notebook from the top.")
    print(f"tlhelpers installed; TensorFlow {after['tensorflow']}, Keras {after['keras']}.")

# %% [markdown]
# Import what the lesson uses; `course.start` says where the data comes from, picks the hardware strategy,
# fixes the seed and returns this mode's settings (lesson 01 explains it):

# %%
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from tlhelpers import course, data, datasets, features, kerashub, models, plots, tfhub, training

cfg, strategy = course.start(7)  # real or generated data, versions, hardware; seed 42
HANDLE = cfg.get("handle")

# %% [markdown]
# ## Load the photos
#
# The photos of lessons 02 and 03, at the TF-Hub module's own size. The model of route 2 is built first (raw
# images, scaling to `[0, 1]`, the module, a new head, as in lesson 02) because it knows that size (Inception v3:
# 299 px; smoke mode's stand-in module: 224 px):

# %%
root = datasets.get_cats_and_dogs()
with strategy.scope():
    hub_tm = models.build_hub_model(HANDLE, 2)
SIZE = hub_tm.image_size
batch_size = cfg.batch_size * strategy.num_replicas_in_sync
train_ds, class_names = data.image_folder(root / "train", image_size=SIZE, batch_size=batch_size, shuffle=True,
                                          limit_per_class=cfg.train_examples)
val_ds, _ = data.image_folder(root / "validation", image_size=SIZE, batch_size=batch_size,
                              limit_per_class=cfg.val_examples)
print("classes:", class_names)

# %% [markdown]
# ## Where pretrained models live in 2026
#
# The TF-Hub articles were written when `https://tfhub.dev/...` served the modules. Since November 2023 tfhub.dev
# handles redirect to **Kaggle Models** (`https://www.kaggle.com/models/...`), where the same SavedModels now live;
# the redirect has failed now and then (tensorflow/hub#932), so the course's registry keeps both forms and
# downloads the Kaggle one. The `tensorflow-hub` library has had no release since 0.16.1 (January 2024), and its
# `hub.KerasLayer` is a layer of `tf_keras` (Keras 2), as you saw at the start.
#
# A TF-Hub image model comes in two variations. A **classification** module ends in ImageNet's 1,001 logits
# (class 0 is "background"): it answers "which of 1,000 things is this?". A **feature_vector** module stops one
# step earlier, at the pooled features (2,048 numbers for ResNet-50 and Inception v3): that is the one transfer
# learning wants, because you put your own head on it. The handles say which one they are:

# %%
m = tfhub.get(HANDLE)
print(f"{HANDLE}: {m.output_dim} features\n  classic handle: {m.tfhub}\n  Kaggle Models:  {m.kaggle}")
classification = m.tfhub.replace("/feature_vector/", "/classification/")
print("the classification variation of the same network:", classification)

# %% [markdown]
# Three routes lead from such a pretrained network to your classifier, and this lesson runs all three on the same
# photos:
#
# 1. **The articles' code as written**, on `tf_keras` with `TF_USE_LEGACY_KERAS=1`;
# 2. **the course's `layers.HubLayer`** on Keras 3 (lesson 02), now fine-tuned as lesson 03 taught;
# 3. **KerasHub** (`keras-hub`), the maintained library of pretrained Keras 3 models, whose presets live on
#    Kaggle Models too: `ImageClassifier.from_preset(...)` and `Backbone.from_preset(...)` with your own head.
#
# ### Route 1: the articles' code, run as written on `tf_keras`
#
# `TF_USE_LEGACY_KERAS=1` makes `tf.keras` mean `tf_keras` (Keras 2), but only if it is set **before TensorFlow
# is imported**, and then for the whole process: set in this notebook it would change every later cell (or
# nothing, since TensorFlow is already imported). So the articles' code runs in a **separate Python process**
# that gets the variable; this notebook's Keras stays Keras 3. The script is the articles' recipe:
# `ImageDataGenerator` reading the folder, `hub.KerasLayer`, a one-unit sigmoid head:

# %%
ARTICLE_CODE = """
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow is imported: tf.keras is now tf_keras (Keras 2)
import tensorflow as tf
import tensorflow_hub as hub

module, folder, size, steps, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
steps = int(steps) if steps != "all" else None
gen = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1.0 / 255)  # TF-Hub wants [0, 1]
train = gen.flow_from_directory(f"{folder}/train", target_size=(size, size), batch_size=32, class_mode="binary")
val = gen.flow_from_directory(f"{folder}/validation", target_size=(size, size), batch_size=32,
                              class_mode="binary")
model = tf.keras.Sequential([
    hub.KerasLayer(module, input_shape=(size, size, 3), trainable=False),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(train, validation_data=val, epochs=epochs, steps_per_epoch=steps, validation_steps=steps,
                    verbose=2)
import tf_keras
print("tf.keras is tf_keras here:", tf.keras.layers.Dense is tf_keras.layers.Dense, "| tf_keras", tf_keras.__version__)
print(f"ARTICLE val_accuracy {history.history['val_accuracy'][-1]:.4f}")
"""
script = Path(tempfile.mkdtemp()) / "article_route.py"
script.write_text(ARTICLE_CODE, encoding="utf-8")
steps = cfg.get("legacy_steps")
# The child runs on the CPU: this notebook's TensorFlow holds the GPU's memory already (its default), and a
# second process on the same GPU would run out of it.
child_env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "CUDA_VISIBLE_DEVICES": ""}
start = time.perf_counter()
if importlib.util.find_spec("tf_keras") is None:
    article_acc = None
    print('tf_keras is not installed, so route 1 cannot run here: pip install "tlhelpers[legacy]" (or tf-keras).')
else:
    child = subprocess.run([sys.executable, str(script), str(tfhub.resolve(HANDLE)), str(root),
                            str(SIZE), str(steps or "all"), str(cfg.get("legacy_epochs"))],
                           env=child_env, capture_output=True, text=True, timeout=3600)
    if child.returncode != 0:
        raise RuntimeError(f"The articles' script failed:\n{child.stderr[-3000:]}")
    lines = [line for line in child.stdout.splitlines() if line.strip()]
    print("\n".join(lines[-4:]))
    article_acc = float(lines[-1].split()[-1])
print(f"route 1 took {time.perf_counter() - start:.0f} s (a fresh process on the CPU, {steps or 'all'} batches "
      f"per epoch); this notebook still runs Keras {keras.__version__}")

# %% [markdown]
# It runs, unchanged, in its own process. What it costs you: Keras 2 for good (no Keras 3 features, no
# `.keras` files for Keras 3), the frozen module recomputed in every epoch, and a library that no longer
# gets releases. Use it to reproduce an article; build new work on route 2 or 3.
#
# ### Route 2: the course's `HubLayer` on Keras 3
#
# That is lesson 02's model: the same SavedModel inside a Keras 3 model, features computed once. Here it goes one
# step further, with what lesson 03 taught: after the head, the module is fine-tuned at a low learning rate. A
# TF-Hub module is one Keras layer, so it unfreezes as a whole, and its BatchNorm statistics stay frozen
# (`HubLayer(train_batchnorm=False)`, the default). `training.fit_two_phase` runs both phases, features computed
# once for the first:

# %%
hub_result = training.fit_two_phase(hub_tm, train_ds, val_ds, head_epochs=cfg.epochs,
                                    fine_tune_epochs=cfg.fine_tune_epochs, unfreeze_from=0,
                                    head_lr=cfg.get("head_lr"), fine_tune_lr=cfg.get("fine_tune_lr"), verbose=2)
print(models.trainable_summary(hub_tm.model))
hub_acc = hub_result.history["val_accuracy"][-1]
print(f"route 2, HubLayer fine-tuned: val accuracy {hub_acc:.3f}; seconds {hub_result.seconds}")
fig, axes = plots.plot_history({HANDLE: hub_result.history}, fine_tune_at=hub_result.fine_tune_at)
plt.show()

# %% [markdown]
#
# ### Route 3: KerasHub
#
# KerasHub names its pretrained models **presets** (e.g. `resnet_50_imagenet`) and downloads them from Kaggle
# Models with `kagglehub`, into `~/.cache/kagglehub` (or `$KAGGLEHUB_CACHE`); a folder written by
# `save_to_preset` loads the same way, which is how you use a preset offline. `kerashub.resolve` says which one
# this run uses (smoke mode: a small stand-in preset with random weights, generated here, because this machine
# cannot download; full mode: the real preset). The setup cell installed KerasHub with the course (`tlhelpers[kerashub]`;
# Colab and Kaggle already have it, and keep their version):

# %%
if importlib.util.find_spec("keras_hub") is None:
    raise ImportError('Route 3 needs KerasHub: pip install "tlhelpers[kerashub]" (the setup cell does it on Colab '
                      "and Kaggle), restart the kernel, then run the notebook again.")
import keras_hub

PRESET = cfg.get("kerashub_preset")
where = kerashub.resolve(PRESET)  # a preset folder, the kagglehub cache, or the name KerasHub downloads
print("KerasHub", keras_hub.__version__, "| preset", PRESET, "| loaded from", where)
print("kagglehub cache:", kerashub.kagglehub_cache())
with strategy.scope():
    kh_classifier = keras_hub.models.ImageClassifier.from_preset(where, num_classes=2)
converter = kh_classifier.preprocessor.image_converter
KH_SIZE = (converter.image_size or (224, 224))[0]  # a converter without a size keeps the input size
print(f"{type(kh_classifier).__name__}: {kh_classifier.backbone.count_params():,} backbone parameters, "
      f"input {KH_SIZE} px, activation={kh_classifier.activation!r}")
scale, offset = kerashub.converter_scale_offset(converter)  # (1.0, 0.0) when the preset normalises inside
print("its converter: x * scale + offset with scale", np.round(scale, 4), "offset", np.round(offset, 3))
kh_train, _ = data.image_folder(root / "train", image_size=KH_SIZE, batch_size=batch_size, shuffle=True,
                                limit_per_class=cfg.train_examples)
kh_val, _ = data.image_folder(root / "validation", image_size=KH_SIZE, batch_size=batch_size,
                              limit_per_class=cfg.val_examples)

# %% [markdown]
# **Trap 1: the classifier outputs logits.** `activation=None` above: its outputs are not probabilities (they
# can be negative and do not sum to 1). A loss that assumes probabilities, as the "Classification with KerasHub"
# guide on keras.io compiles it, then computes something else (numbers below, after training).
# The correct line is `loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)`, or a softmax at the
# end, which is what the course's wrapper adds:

# %%
x_check, y_check = next(iter(kh_val))
logits = kh_classifier.predict(x_check, verbose=0)
print("first outputs:", np.array2string(logits[:3], precision=3).replace("\n", ""),
      "| row sums:", np.array2string(logits[:3].sum(axis=1), precision=3))

# %% [markdown]
# **Trap 2: the preprocessing runs inside `fit` and `predict`.** The classifier's `preprocessor` resizes and
# normalises whatever you pass in, so pass raw 0..255 pixels. Normalising yourself first (with `/ 255`,
# `Rescaling`, or a `keras.applications` `preprocess_input`) normalises twice; the numbers after training show
# what that costs.
#
# **Trap 3: `backbone.trainable = True` leaves BatchNorm training.** KerasHub's classifier calls its backbone
# without `training=False`, so once the backbone is trainable its BatchNorm layers replace the ImageNet
# statistics with those of your batches ([`tests/test_kerashub.py`](https://github.com/tl-course/transfer-learning-course/blob/main/tests/test_kerashub.py) measures it). The course's `models.unfreeze`
# keeps every BatchNorm layer frozen:

# %%
def count_bn(model, trainable):
    return sum(1 for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
               and layer.trainable == trainable)


kh_classifier.backbone.trainable = True  # what tutorials write
print("backbone.trainable = True: BatchNorm layers training:", count_bn(kh_classifier.backbone, True),
      "of", count_bn(kh_classifier.backbone, True) + count_bn(kh_classifier.backbone, False))
models.unfreeze(kh_classifier.backbone, 0)  # every layer trains, except BatchNorm
print("models.unfreeze: BatchNorm layers training:", count_bn(kh_classifier.backbone, True))

# %% [markdown]
# **The course's way with a KerasHub classifier.** `models.from_kerashub_classifier` wraps it without copying:
# raw images, the preset's normalisation once (a `Rescaling` layer holding the converter's scale and offset),
# the backbone (frozen, BatchNorm frozen), the classifier's own pooling and dense layer, then a softmax. The
# wrapper is a `TransferModel`, so `training.fit_two_phase` trains it like any backbone of the course: features
# computed once, then the top of the backbone fine-tuned:

# %%
with strategy.scope():
    kh_tm = models.from_kerashub_classifier(kh_classifier, image_size=KH_SIZE)
kh_result = training.fit_two_phase(kh_tm, kh_train, kh_val, head_epochs=cfg.epochs,
                                   fine_tune_epochs=cfg.fine_tune_epochs, unfreeze_from=0.3,
                                   head_lr=cfg.get("head_lr"), fine_tune_lr=cfg.get("fine_tune_lr"), verbose=2)
kh_acc = max(kh_result.history["val_accuracy"])
print(f"KerasHub classifier through fit_two_phase: val accuracy {kh_acc:.3f}; seconds {kh_result.seconds}")

# %% [markdown]
# Now the traps in numbers, on the trained model. The classifier still outputs logits (the wrapper shares its
# weights); read as probabilities, the loss is wrong, and double normalisation costs accuracy:

# %%
logits = kh_classifier.predict(x_check, verbose=0)
right = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y_check, logits))
wrong = float(keras.losses.SparseCategoricalCrossentropy()(y_check, logits))  # logits read as probabilities
print(f"loss on one validation batch: {right:.3f} with from_logits=True, {wrong:.3f} without (wrong)")
course_probs = kh_tm.model.predict(x_check, verbose=0)
print("course wrapper == softmax(classifier logits):",
      np.allclose(course_probs, keras.ops.softmax(logits).numpy(), atol=1e-3))
val_labels = np.concatenate([y.numpy() for _, y in kh_val])
once = kh_classifier.predict(kh_val, verbose=0).argmax(axis=1)
twice = kh_classifier.predict(kh_val.map(lambda x, y: (converter(x), y)), verbose=0).argmax(axis=1)  # by hand, then again
print(f"validation accuracy: raw pixels in {np.mean(once == val_labels):.3f}, "
      f"normalised by hand and then by the preprocessor {np.mean(twice == val_labels):.3f}")

# %% [markdown]
# **`Backbone.from_preset` with your own head.** A preset's backbone is a plain functional Keras model: its
# output is a feature map, so the rest is what Lesson 03 does with `keras.applications`. Some presets are
# backbones only: DINOv2 and DINOv3 (self-supervised, trained without labels) have no classifier task in
# KerasHub, so this is their route; they output a sequence of tokens instead of a feature map, which the course's
# builder averages ([`tests/test_kerashub.py`](https://github.com/tl-course/transfer-learning-course/blob/main/tests/test_kerashub.py) builds a tiny DINOv2 that way). Written out for this preset:

# %%
kh_backbone = keras_hub.models.Backbone.from_preset(where)
kh_backbone.trainable = False
models.freeze_batchnorm(kh_backbone)
scale, offset = kerashub.converter_scale_offset(keras_hub.layers.ImageConverter.from_preset(where))
inputs = keras.Input((KH_SIZE, KH_SIZE, 3))  # raw 0..255 pixels
x = keras.layers.Rescaling(scale, offset, name="preprocess")(inputs)  # the preset's normalisation, once
pooled = keras.layers.GlobalAveragePooling2D()(kh_backbone(x, training=False))
own_head = models.build_head(pooled.shape[-1], 2)  # trains on cached features only: no strategy scope (lesson 02)
own_model = keras.Model(inputs, own_head(pooled))
own_features = keras.Model(inputs, pooled)
own_train = features.extract_features(own_features, kh_train, desc="KerasHub train features")
own_val = features.extract_features(own_features, kh_val, desc="KerasHub validation features")
own_head.compile(keras.optimizers.Adam(cfg.get("head_lr")), "sparse_categorical_crossentropy", metrics=["accuracy"])
own_history = own_head.fit(own_train.features, own_train.labels, epochs=cfg.epochs, batch_size=batch_size,
                           validation_data=(own_val.features, own_val.labels), verbose=0)
own_acc = own_history.history["val_accuracy"][-1]
print(f"KerasHub backbone + own head (frozen): val accuracy {own_acc:.3f}")

# %% [markdown]
# `models.build_transfer_model("kerashub:" + PRESET, 2)` builds exactly this model (and `tlh train DIR
# --backbone kerashub:resnet_50_imagenet`, `tlh compare --backbones kerashub:...` and `compare.compare` take the
# same spec), so a preset is one more backbone of the course's registry:

# %%
packaged = models.build_transfer_model(f"kerashub:{where}", 2, image_size=KH_SIZE)  # to compare, not to train
packaged.head.set_weights(own_head.get_weights())
np.testing.assert_allclose(packaged.model.predict(x_check, verbose=0), own_model.predict(x_check, verbose=0),
                           atol=1e-3)
print("build_transfer_model('kerashub:...') predicts what the model written out above predicts")

# %% [markdown]
# The three routes side by side (this run's numbers; in smoke mode the KerasHub preset has random weights,
# so its accuracies mean nothing):

# %%
routes = [
    ("1. articles' code, tf_keras, separate process", article_acc, f"{steps or 'all'} batches/epoch, CPU"),
    ("2. course HubLayer, Keras 3, fine-tuned", hub_acc, HANDLE),
    ("3a. KerasHub ImageClassifier via fit_two_phase", kh_acc, PRESET),
    ("3b. KerasHub Backbone + own head (frozen)", own_acc, PRESET),
]
for label, acc, what in routes:
    print(f"{label:50s} {'n/a' if acc is None else f'{acc:.3f}':>6s}  {what}")

# %% [markdown]
# ## Summary
#
# Pretrained image models reach a Keras 3 program three ways. The articles' code runs unchanged on `tf_keras`
# in a process of its own, at the price of Keras 2 for good and a frozen module recomputed every epoch. The
# course's `HubLayer` puts the same SavedModel into a Keras 3 model, where lesson 02's cached features and lesson
# 03's fine-tuning apply. KerasHub presets are maintained Keras 3 models, used as an `ImageClassifier` (through
# `fit_two_phase`, after the course's wrapper) or as a `Backbone` with your own head; their traps in numbers:
# logits read as probabilities, normalisation applied twice, BatchNorm left training by `backbone.trainable = True`.
#
# ## Exercises
#
# 1. Run route 1 with every batch (`legacy_steps` None in the settings). How long does one epoch take, and why
#    is it so much slower than route 2's head?
# 2. Swap the KerasHub preset for `efficientnet_b0_ra_imagenet` (or any name in
#    `keras_hub.models.ImageClassifier.presets`). What does its converter's scale and offset say about the
#    preprocessing it expects? Does `models.build_transfer_model("kerashub:...")` need any change?
# 3. Compile `kh_classifier` the way the keras.io guide does (a probability loss on its logits) and train one
#    epoch. Compare the loss curve with the course's.

# %% [markdown]
# ## Sources
#
# - *Transfer learning with TensorFlow Hub*, TensorFlow tutorials (tensorflow.org): https://www.tensorflow.org/tutorials/images/transfer_learning_with_hub
# - *Classification with KerasHub*, Gowtham Paimagam and lukewood (keras.io guide, 2024): https://keras.io/guides/keras_hub/classification_with_keras_hub/
# - *Transfer learning & fine-tuning*, François Chollet (keras.io developer guide, 2020): https://keras.io/guides/transfer_learning/
# - Kaiming He et al., *Deep Residual Learning for Image Recognition* (arXiv:1512.03385, 2015): https://arxiv.org/abs/1512.03385
# - Christian Szegedy et al., *Rethinking the Inception Architecture for Computer Vision* (Inception v3, arXiv:1512.00567, 2015): https://arxiv.org/abs/1512.00567
# - The classic articles this lesson quotes (the TF-Hub articles whose `hub.KerasLayer` recipe route 1 runs) are not named here: the course has not identified them by title and author yet. Their numbers are quoted as theirs, on their hardware.
