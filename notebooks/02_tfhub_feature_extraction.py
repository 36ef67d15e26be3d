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

# %% [markdown]
# # Lesson 02: Feature extraction with TF-Hub models on Keras 3
#
# You use a network pre-trained on ImageNet, published on TF-Hub, as a frozen feature extractor, train a
# small classifier on its features, and make that training several times faster by computing the features once
# (measured in [benchmarks section 3](https://github.com/tl-course/transfer-learning-course/blob/main/docs/benchmarks.md#3-feature-extraction-cached-features-versus-recompute-every-epoch):
# 18.0 s instead of 142.8 s for 10 epochs on 1,999 photos, the same accuracy, 2 CPU cores).
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tl-course/transfer-learning-course/blob/main/notebooks/02_tfhub_feature_extraction.ipynb)
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/tl-course/transfer-learning-course/blob/main/notebooks/02_tfhub_feature_extraction.ipynb)

# %% [markdown]
# ## Overview
#
# In this lesson you will:
#
# - see why the classic `hub.KerasLayer` code fails on today's TensorFlow, and use a Keras 3 layer instead;
# - feed a TF-Hub module what it expects: float images in `[0, 1]`, at the size it needs;
# - train a classifier on frozen ResNet-50 features of CIFAR-10, first the classic way (every image goes
#   through the frozen network in every epoch), then on features computed **once**, and compare time and accuracy;
# - repeat it on a folder of photos with Inception v3, fine-tune the module, save, export and reload the model;
# - take the three routes to a pretrained model a learner meets in 2026 on the same photos: the articles' code
#   run as written on `tf_keras`, the course's `HubLayer`, and KerasHub presets (with their three traps: logits,
#   preprocessing inside `fit`/`predict`, BatchNorm left training).
#
# **Data:** CIFAR-10 (60,000 32x32 photos, 10 classes, 163 MB) and `cats_and_dogs_filtered` (3,000 photos, 68 MB).
# The classic CIFAR-10 article reports 79.3 % test accuracy with ResNet-50 features at 96 px versus 67.4 % for
# its scratch CNN (their numbers, their hardware).
#
# **Runtime:** smoke mode 132 s on 2 CPU cores (measured, `tlh run 2 --smoke`; docs/teaching.md). Full mode on a Colab T4 has not been timed yet.
# Estimate: at least 3.6 min of GPU compute and about 2.6 GB of GPU memory (a
# compute-bound lower bound from FLOP counts and an assumed T4 throughput, `python -m bench.t4_estimate`;
# downloads, decoding, XLA compilation and Part 3's route 1, which runs on the CPU, add to it). `tlh run --full` on a T4 records the real time and
# peak GPU memory in `runs/<time>/summary.md`.
#
# Measured in this course (2 CPU cores, real photos, [`tests/test_real_transfer.py`](https://github.com/tl-course/transfer-learning-course/blob/main/tests/test_real_transfer.py)): a head trained on cached
# features of a TF-Hub MobileNetV2-0.35 module reaches 96.8 % validation accuracy on the 1,000 validation
# photos of `cats_and_dogs_filtered`.

# %% [markdown]
# ## Setup
#
# On Colab or Kaggle, this cell installs the course's helper package `tlhelpers` and keeps the runtime's own
# TensorFlow and Keras when they are in the supported range (it tells you if a restart is needed); elsewhere
# it does nothing (install with `pip install -e ".[dev]"` from the repository):

# %%
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
# Import what the lesson uses, pick the hardware strategy, fix the seed and read this mode's settings:

# %%
import importlib.util
import tempfile
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub

from tlhelpers import (
    config,
    data,
    datasets,
    evaluate,
    features,
    kerashub,
    layers,
    models,
    plots,
    realfiles,
    report,
    tfhub,
    training,
)

print(realfiles.prepare(2))  # real files (cached, or downloaded once), or generated: then meaningless
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| TF-Hub", hub.__version__)
strategy = training.setup_accelerator()
training.set_seed(42)
cfg = config.settings(2)
HANDLE = cfg.get("handle")
print("TF-Hub model:", tfhub.get(HANDLE))
print("TF-Hub cache:", tfhub.cache_dir())

# %% [markdown]
# ## See why the classic code fails on Keras 3
#
# The well-known articles build their model like this. `tfhub.resolve` downloads the module once into the
# cache and gives its local folder (smoke mode stands in the real MobileNetV2-0.35 feature vector, 5 MB, for
# every handle):

# %%
module_path = tfhub.resolve(HANDLE)
try:
    classic = keras.Sequential([
        keras.Input((224, 224, 3)),
        hub.KerasLayer(module_path, trainable=False),
        keras.layers.Dense(10, activation="softmax"),
    ])
except ValueError as err:
    print("ValueError:", str(err).splitlines()[0][:160])

# %% [markdown]
# `hub.KerasLayer` is a layer of `tf_keras` (Keras 2). Since TensorFlow 2.16, `keras` means Keras 3, which only
# accepts its own layers. `layers.HubLayer` loads the same SavedModel and registers the module's own weights as
# Keras weights, so freezing, `summary()`, training and saving behave as for any Keras layer:

# %%
hub_layer = layers.HubLayer(HANDLE)  # frozen by default (trainable=False)
IMAGE_SIZE = layers.expected_image_size(hub_layer, cfg.image_size)
print("module needs a fixed size:", hub_layer.expected_size, "| lesson uses", IMAGE_SIZE, "px")
print(f"weights: {len(hub_layer.weights)} variables, {len(hub_layer.trainable_weights)} trainable")

# %% [markdown]
# Note: TF-Hub image modules expect **float images in `[0, 1]`** and do their own scaling from there. Never
# apply a `keras.applications` `preprocess_input` before them. The layer checks its inputs and says how to fix them.
#
# Note: the hub module always computes in float32, also under mixed precision on a T4: a SavedModel's functions
# were traced for float32 inputs, so `HubLayer` casts its inputs to float32 and its features back to the
# layer's compute dtype. Only the Keras layers around it use float16:

# %%
try:
    hub_layer(tf.fill([1, IMAGE_SIZE, IMAGE_SIZE, 3], 200.0))  # raw 0..255 pixels
except tf.errors.InvalidArgumentError as err:
    text = err.message
    start = text.find(f"{hub_layer.name}: inputs")
    print("InvalidArgumentError:", text[start:text.find("layer.", start) + len("layer.")])

# %% [markdown]
# ## Load CIFAR-10 and resize per batch
#
# `datasets.load_tfds` returns the small 32x32 originals; `data.make_pipeline` caches them, batches, and resizes
# each batch on the fly to the module's size (resizing all 50,000 training images up front to float32 would need
# 50,000 x 96 x 96 x 3 x 4 bytes = about 5.5 GB at the 96 px used here, and 30 GB at 224 px):

# %%
train_raw, val_raw, test_raw, class_names = datasets.load_tfds("cifar10", cfg)
batch_size = cfg.batch_size * strategy.num_replicas_in_sync
train_ds = data.make_pipeline(train_raw, image_size=IMAGE_SIZE, batch_size=batch_size, training=True)
val_ds = data.make_pipeline(val_raw, image_size=IMAGE_SIZE, batch_size=batch_size)
test_ds = data.make_pipeline(test_raw, image_size=IMAGE_SIZE, batch_size=batch_size)
images, labels = next(iter(train_ds))
print("batch:", images.shape, images.dtype, f"values {images.numpy().min():.0f}..{images.numpy().max():.0f}")
fig = plots.plot_image_grid(images.numpy()[:8], labels.numpy()[:8], class_names, ncols=8)
plt.show()

# %% [markdown]
# ## Train the classic way: features recomputed every epoch
#
# Put the scaling to `[0, 1]` inside the model, then the frozen hub layer, then a new head. Only the head's
# weights train, yet every epoch pushes every image through the whole frozen network again:

# %%
with strategy.scope():
    recompute_model = keras.Sequential([
        keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
        keras.layers.Rescaling(1 / 255),
        hub_layer,
        keras.layers.Dropout(0.2),
        keras.layers.Dense(len(class_names), activation="softmax", dtype="float32"),
    ])
    recompute_model.compile(keras.optimizers.Adam(cfg.get("head_lr")), "sparse_categorical_crossentropy",
                            metrics=["accuracy"])
recompute_model.summary(line_length=90)
start = time.perf_counter()
history_recompute = recompute_model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, verbose=2)
seconds_recompute = time.perf_counter() - start
_, test_acc_recompute = recompute_model.evaluate(test_ds, verbose=0)
print(f"recompute every epoch: {seconds_recompute:.1f}s, test accuracy {test_acc_recompute:.3f}")

# %% [markdown]
# ## Train on features computed once
#
# The frozen network gives the same features for an image in every epoch, so compute them once.
# `features.extract_features` runs a model over a dataset batch by batch and keeps only the feature vectors
# (45,000 x 2,048 floats are 369 MB). Look at what it returns for the training set:

# %%
with strategy.scope():
    extractor = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)), keras.layers.Rescaling(1 / 255),
                                  hub_layer])
start = time.perf_counter()
train_f = features.extract_features(extractor, train_ds, desc="train")
val_f = features.extract_features(extractor, val_ds, desc="validation")
test_f = features.extract_features(extractor, test_ds, desc="test")
print("train features:", train_f.features.shape, train_f.features.dtype, "| labels:", train_f.labels[:8])

# %% [markdown]
# Now train a fresh head of the same shape on the cached features, for the same number of epochs:

# %%
with strategy.scope():
    head = models.build_head(train_f.features.shape[1], len(class_names))
    head.compile(keras.optimizers.Adam(cfg.get("head_lr")), "sparse_categorical_crossentropy", metrics=["accuracy"])
history_cached = head.fit(train_f.features, train_f.labels, validation_data=(val_f.features, val_f.labels),
                          epochs=cfg.epochs, batch_size=batch_size, verbose=2)
seconds_cached = time.perf_counter() - start
_, test_acc_cached = head.evaluate(test_f.features, test_f.labels, verbose=0)
print(f"cached features: {seconds_cached:.1f}s including extraction, test accuracy {test_acc_cached:.3f}")

# %% [markdown]
# ## Compare the two side by side
#
# Same module, same head, same epochs; the second run includes the time it took to compute the features:

# %%
print(f"{'recipe':28s} {'seconds':>8s} {'test accuracy':>14s}")
print(f"{'recompute every epoch':28s} {seconds_recompute:8.1f} {test_acc_recompute:14.3f}")
print(f"{'features computed once':28s} {seconds_cached:8.1f} {test_acc_cached:14.3f}")
print(f"time ratio cached / recompute: {seconds_cached / seconds_recompute:.2f}")
report.log_metric("recompute_seconds", round(seconds_recompute, 1), unit="s")
report.log_metric("cached_seconds", round(seconds_cached, 1), unit="s")
report.log_metric("test_accuracy_recompute", test_acc_recompute)
report.log_metric("test_accuracy_cached", test_acc_cached)
fig, axes = plots.plot_history({"recompute every epoch": history_recompute, "cached features": history_cached})
plt.show()

# %% [markdown]
# The trade-off: with cached features, the images are the same in every epoch, so random augmentation
# (flips, crops) cannot help the head. A middle way is to cache K augmented copies of the training set,
# K passes instead of one per epoch:

# %%
augmentation = models.build_augmentation(seed=42)
train_aug = features.extract_features(extractor, train_ds, desc="train, augmented passes",
                                      augmentation=augmentation, passes=cfg.get("aug_passes"))
with strategy.scope():
    head_aug = models.build_head(train_aug.features.shape[1], len(class_names))
    head_aug.compile(keras.optimizers.Adam(cfg.get("head_lr")), "sparse_categorical_crossentropy",
                     metrics=["accuracy"])
head_aug.fit(train_aug.features, train_aug.labels, epochs=cfg.epochs, batch_size=batch_size, verbose=0)
_, test_acc_aug = head_aug.evaluate(test_f.features, test_f.labels, verbose=0)
print(f"{cfg.get('aug_passes')} passes ({len(train_aug.labels)} feature rows): test accuracy {test_acc_aug:.3f}")

# %% [markdown]
# ## Attach the trained head to the module
#
# The head trained on cached features is an ordinary Keras model, so it plugs in behind the hub layer. The
# result takes raw images and predicts exactly what the head predicted from the cached features:

# %%
with strategy.scope():
    classifier = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)), keras.layers.Rescaling(1 / 255),
                                   hub_layer, head])
preds = evaluate.predict_dataset(classifier, test_ds, keep_images=16)
print(f"end-to-end test accuracy {preds.accuracy:.3f} (head on cached features: {test_acc_cached:.3f})")
fig = plots.plot_image_grid(preds.images[:16], preds.labels[:16], class_names, predicted=preds.predicted[:16],
                            probs=preds.probs[:16], ncols=8)
plt.show()

# %% [markdown]
# ## Part 2: a folder of photos with Inception v3
#
# The folder-dataset articles use Inception v3 feature vectors (they resize to 300 px; the module's native size
# is 299 px, which is what this lesson feeds it). `models.build_hub_model`
# packages the pieces you assembled above: raw images, scaling to `[0, 1]` inside the model, the hub layer and a
# new head. With `cache_file`, features survive a kernel restart:

# %%
fcfg = config.settings("02-folder")
root = datasets.get_cats_and_dogs()
with strategy.scope():
    folder_tm = models.build_hub_model(fcfg.get("handle"), 2)  # at the module's size
SIZE = folder_tm.image_size
folder_batch = fcfg.batch_size * strategy.num_replicas_in_sync
folder_train, folder_classes = data.image_folder(root / "train", image_size=SIZE, batch_size=folder_batch,
                                                 shuffle=True, limit_per_class=fcfg.train_examples)
folder_val, _ = data.image_folder(root / "validation", image_size=SIZE, batch_size=folder_batch,
                                  limit_per_class=fcfg.val_examples)
feature_dir = Path(tempfile.mkdtemp())  # use a lasting folder (e.g. config.cache_root()) for real work
ftrain = features.extract_features(folder_tm.features, folder_train, desc="train",
                                   cache_file=feature_dir / "train.npz")
fval = features.extract_features(folder_tm.features, folder_val, desc="validation",
                                 cache_file=feature_dir / "validation.npz")
with strategy.scope():
    folder_tm.head.compile(keras.optimizers.Adam(fcfg.get("head_lr")), "sparse_categorical_crossentropy",
                           metrics=["accuracy"])
folder_history = folder_tm.head.fit(ftrain.features, ftrain.labels, validation_data=(fval.features, fval.labels),
                                    epochs=fcfg.epochs, batch_size=folder_batch, verbose=2)
report.log_metric("folder_frozen_val_accuracy", folder_history.history["val_accuracy"][-1])

# %% [markdown]
# ## Fine-tune the TF-Hub module
#
# Unfreeze the hub layer, **compile again** (Keras reads `trainable` at compile time) and train the whole model
# at a learning rate 100 times lower. The module's BatchNorm statistics stay frozen (`train_batchnorm=False`):

# %%
folder_tm.base.trainable = True  # the HubLayer: the whole module trains
print(models.trainable_summary(folder_tm.model))
with strategy.scope():
    folder_tm.model.compile(keras.optimizers.Adam(fcfg.get("fine_tune_lr")), "sparse_categorical_crossentropy",
                            metrics=["accuracy"])
ft_history = folder_tm.model.fit(folder_train, validation_data=folder_val, epochs=fcfg.epochs + fcfg.fine_tune_epochs,
                                 initial_epoch=fcfg.epochs, verbose=2)
report.log_metric("folder_fine_tuned_val_accuracy", ft_history.history["val_accuracy"][-1])
fig, axes = plots.plot_history({fcfg.get("handle"): training.merge_histories(folder_history, ft_history)},
                               fine_tune_at=fcfg.epochs)
plt.show()

# %% [markdown]
# ## Save, export and reload
#
# A `.keras` file stores the handle and the (fine-tuned) weights; loading it needs the module again (from the
# TF-Hub cache). For serving without `tlhelpers`, `model.export` writes a plain SavedModel, which
# `keras.layers.TFSMLayer` (or TF Serving) loads. Both give the same predictions:

# %%
out_dir = Path(tempfile.mkdtemp())
folder_tm.model.save(out_dir / "cats_dogs_hub.keras")
folder_tm.model.export(str(out_dir / "cats_dogs_hub_savedmodel"), verbose=False)
reloaded = keras.models.load_model(out_dir / "cats_dogs_hub.keras")
# dtype="float32": the exported signature takes float32 images, also when mixed precision is on
served = keras.layers.TFSMLayer(str(out_dir / "cats_dogs_hub_savedmodel"), call_endpoint="serve", dtype="float32")
x_check, _ = next(iter(folder_val))
expected = folder_tm.model.predict(x_check, verbose=0)
# float32: equal to 1e-5; under mixed precision (T4) the layers before the float32 softmax round to float16
atol = 1e-5 if keras.mixed_precision.global_policy().compute_dtype == "float32" else 1e-2
np.testing.assert_allclose(reloaded.predict(x_check, verbose=0), expected, atol=atol)
np.testing.assert_allclose(served(x_check).numpy(), expected, atol=atol)
print("reloaded .keras and exported SavedModel predict the same as the trained model")

# %% [markdown]
# ## Part 3: three routes to a pretrained model in 2026
#
# The articles were written when `https://tfhub.dev/...` served the modules. Since November 2023 tfhub.dev
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
for name in (HANDLE, fcfg.get("handle")):
    m = tfhub.get(name)
    print(f"{name}: {m.output_dim} features\n  classic handle: {m.tfhub}\n  Kaggle Models:  {m.kaggle}")
classification = tfhub.get(fcfg.get("handle")).tfhub.replace("/feature_vector/", "/classification/")
print("the classification variation of the same network:", classification)

# %% [markdown]
# Three routes lead from such a pretrained network to your classifier, and this part runs all three on the same
# photos:
#
# 1. **The articles' code as written**, on `tf_keras` with `TF_USE_LEGACY_KERAS=1`;
# 2. **the course's `layers.HubLayer`** on Keras 3 (Parts 1 and 2 above);
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
steps = fcfg.get("legacy_steps")
# The child runs on the CPU: this notebook's TensorFlow holds the GPU's memory already (its default), and a
# second process on the same GPU would run out of it.
child_env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "CUDA_VISIBLE_DEVICES": ""}
start = time.perf_counter()
if importlib.util.find_spec("tf_keras") is None:
    article_acc = None
    print('tf_keras is not installed, so route 1 cannot run here: pip install "tlhelpers[legacy]" (or tf-keras).')
else:
    child = subprocess.run([sys.executable, str(script), str(tfhub.resolve(fcfg.get("handle"))), str(root),
                            str(SIZE), str(steps or "all"), str(fcfg.get("legacy_epochs"))],
                           env=child_env, capture_output=True, text=True, timeout=3600)
    if child.returncode != 0:
        raise RuntimeError(f"The articles' script failed:\n{child.stderr[-3000:]}")
    lines = [line for line in child.stdout.splitlines() if line.strip()]
    print("\n".join(lines[-4:]))
    article_acc = float(lines[-1].split()[-1])
    report.log_metric("article_route_val_accuracy", article_acc)
print(f"route 1 took {time.perf_counter() - start:.0f} s (a fresh process on the CPU, {steps or 'all'} batches "
      f"per epoch); this notebook still runs Keras {keras.__version__}")

# %% [markdown]
# It runs, unchanged, in its own process. What it costs you: Keras 2 for good (no Keras 3 features, no
# `.keras` files for Keras 3), the frozen module recomputed in every epoch, and a library that no longer
# gets releases. Use it to reproduce an article; build new work on route 2 or 3.
#
# ### Route 2: the course's `HubLayer` on Keras 3
#
# That is Parts 1 and 2 of this lesson: the same SavedModel inside a Keras 3 model, features computed once, the
# module fine-tuned with its BatchNorm statistics frozen. Its validation accuracy on these photos:
# `folder_fine_tuned_val_accuracy` above.
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

PRESET = fcfg.get("kerashub_preset")
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
kh_train, _ = data.image_folder(root / "train", image_size=KH_SIZE, batch_size=folder_batch, shuffle=True,
                                limit_per_class=fcfg.train_examples)
kh_val, _ = data.image_folder(root / "validation", image_size=KH_SIZE, batch_size=folder_batch,
                              limit_per_class=fcfg.val_examples)

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
kh_result = training.fit_two_phase(kh_tm, kh_train, kh_val, head_epochs=fcfg.epochs,
                                   fine_tune_epochs=fcfg.fine_tune_epochs, unfreeze_from=0.3,
                                   head_lr=fcfg.get("head_lr"), fine_tune_lr=fcfg.get("fine_tune_lr"), verbose=2)
kh_acc = max(kh_result.history["val_accuracy"])
report.log_metric("kerashub_classifier_val_accuracy", kh_acc)
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
with strategy.scope():
    inputs = keras.Input((KH_SIZE, KH_SIZE, 3))  # raw 0..255 pixels
    x = keras.layers.Rescaling(scale, offset, name="preprocess")(inputs)  # the preset's normalisation, once
    pooled = keras.layers.GlobalAveragePooling2D()(kh_backbone(x, training=False))
    own_head = models.build_head(pooled.shape[-1], 2)
    own_model = keras.Model(inputs, own_head(pooled))
    own_features = keras.Model(inputs, pooled)
own_train = features.extract_features(own_features, kh_train, desc="KerasHub train features")
own_val = features.extract_features(own_features, kh_val, desc="KerasHub validation features")
with strategy.scope():
    own_head.compile(keras.optimizers.Adam(fcfg.get("head_lr")), "sparse_categorical_crossentropy",
                     metrics=["accuracy"])
own_history = own_head.fit(own_train.features, own_train.labels, epochs=fcfg.epochs, batch_size=folder_batch,
                           validation_data=(own_val.features, own_val.labels), verbose=0)
own_acc = own_history.history["val_accuracy"][-1]
report.log_metric("kerashub_backbone_head_val_accuracy", own_acc)
print(f"KerasHub backbone + own head (frozen): val accuracy {own_acc:.3f}")

# %% [markdown]
# `models.build_transfer_model("kerashub:" + PRESET, 2)` builds exactly this model (and `tlh train DIR
# --backbone kerashub:resnet_50_imagenet`, `tlh compare --backbones kerashub:...` and `compare.compare` take the
# same spec), so a preset is one more backbone of the course's registry:

# %%
with strategy.scope():
    packaged = models.build_transfer_model(f"kerashub:{where}", 2, image_size=KH_SIZE)
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
    ("2. course HubLayer, Keras 3, fine-tuned", ft_history.history["val_accuracy"][-1], fcfg.get("handle")),
    ("3a. KerasHub ImageClassifier via fit_two_phase", kh_acc, PRESET),
    ("3b. KerasHub Backbone + own head (frozen)", own_acc, PRESET),
]
for label, acc, what in routes:
    print(f"{label:50s} {'n/a' if acc is None else f'{acc:.3f}':>6s}  {what}")

# %% [markdown]
# ## Summary
#
# You saw the classic `hub.KerasLayer` code fail on Keras 3 and used `layers.HubLayer` instead, fed it images in
# `[0, 1]` at the size it needs, trained a head on features recomputed every epoch and on features computed
# once (same accuracy, a fraction of the time), attached the head to the module, fine-tuned the module, and
# saved, exported and reloaded the model. Then you ran the articles' code unchanged on `tf_keras` in a process of
# its own, and used KerasHub presets two ways (the `ImageClassifier` through `fit_two_phase`, the `Backbone` with
# your own head), seeing its traps in numbers: logits read as probabilities, normalisation applied twice,
# BatchNorm left training by `backbone.trainable = True`.
#
# ## Exercises
#
# 1. Raise the number of epochs to 30 for both recipes. How do the two times grow?
# 2. Compare `aug_passes` of 1, 3 and 5: does augmentation help the cached head on your data?
# 3. Try `layers.HubLayer("efficientnet_v2_b0")`. Which input size does it need, and what changes in the code?
# 4. Swap the KerasHub preset for `efficientnet_b0_ra_imagenet` (or any name in
#    `keras_hub.models.ImageClassifier.presets`). What does its converter's scale and offset say about the
#    preprocessing it expects? Does `models.build_transfer_model("kerashub:...")` need any change?
# 5. Compile `kh_classifier` the way the keras.io guide does (a probability loss on its logits) and train one
#    epoch. Compare the loss curve with the course's.
