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
# - repeat it on a folder of photos with Inception v3, then save, export and reload the model.
#
# Fine-tuning comes in lesson 03; lesson 07 then fine-tunes this TF-Hub module and compares it with the other
# routes to a pretrained model (the articles' code on `tf_keras`, KerasHub presets).
#
# **Data:** CIFAR-10 (60,000 32x32 photos, 10 classes, 163 MB) and `cats_and_dogs_filtered` (3,000 photos, 68 MB).
# The classic CIFAR-10 article reports 79.3 % test accuracy with ResNet-50 features at 96 px versus 67.4 % for
# its scratch CNN (their numbers, their hardware).
#
# **Runtime:** smoke mode 50 s on 2 CPU cores (measured in one `tlh run --smoke` of all seven lessons, 2026-12-04; docs/teaching.md). Full mode on a Colab T4 has not been timed yet.
# Estimate: at least 2.6 min of GPU compute and about 2.2 GB of GPU memory (a
# compute-bound lower bound from FLOP counts and an assumed T4 throughput, `python -m bench.t4_estimate`;
# downloads, decoding and XLA compilation add to it). `tlh run --full` on a T4 records the real time and
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
import tempfile
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub

from tlhelpers import course, data, datasets, evaluate, features, layers, models, plots, tfhub

cfg, strategy = course.start(2)  # real or generated data, versions, hardware; seed 42
print("TF-Hub", hub.__version__)
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
# weights train, yet every epoch pushes every image through the whole frozen network again. This model runs
# the images, the heavy part, so it is built and compiled in `strategy.scope()`, as in lesson 01 (on two GPUs
# each takes half of every batch):

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
# The frozen network gives the same features for an image in every epoch, so compute them once. By hand that
# is one loop over the batches that keeps only the network's outputs (45,000 x 2,048 floats are 369 MB, while the
# images stay in the pipeline). Here on the validation set:

# %%
extractor = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)), keras.layers.Rescaling(1 / 255),
                              hub_layer])
val_vectors, val_labels = [], []
for images, labels in val_ds:  # one pass over the data, in inference mode
    val_vectors.append(extractor(images, training=False).numpy())
    val_labels.append(labels.numpy())
val_vectors, val_labels = np.concatenate(val_vectors), np.concatenate(val_labels)
print("by hand:", val_vectors.shape, "features for", len(val_labels), "validation images")

# %% [markdown]
# `features.extract_features` packages that loop, with a progress bar, float32 features whatever the precision
# policy, an optional cache file (written whole, read back after a restart) and, below, augmented passes. It gives
# the same numbers; look at what it returns for the training set:

# %%
start = time.perf_counter()
train_f = features.extract_features(extractor, train_ds, desc="train")
val_f = features.extract_features(extractor, val_ds, desc="validation")
test_f = features.extract_features(extractor, test_ds, desc="test")
np.testing.assert_allclose(val_f.features, val_vectors.astype("float32"), rtol=1e-2, atol=1e-2)
print("train features:", train_f.features.shape, train_f.features.dtype, "| labels:", train_f.labels[:8])

# %% [markdown]
# Now train a fresh head of the same shape on the cached features, for the same number of epochs. A head on
# feature vectors is a few thousand multiply-adds per image, too little to share between GPUs, so it is built
# and compiled **outside** `strategy.scope()` and trains on one device. A Keras model keeps the strategy it was
# built in; what matters is that it is also compiled in that one (a model built in the scope and compiled
# outside it fails with "Mixing different tf.distribute.Strategy objects"):

# %%
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
fig, axes = plots.plot_history({"recompute every epoch": history_recompute, "cached features": history_cached})
plt.show()

# %% [markdown]
# ## Data augmentation, in one look
#
# Augmentation shows the model a slightly different version of each training photo every time it sees it:
# flipped, turned, zoomed, shifted, with another contrast. The label stays the same, so the model learns that
# these changes do not matter, which counts most when photos are few. In Keras 3 it is a stack of random
# layers. They change images only when called with `training=True` (inside `fit`) and pass them through
# unchanged otherwise (`predict`, `evaluate`), so they can sit inside a model:

# %%
augmentation = keras.Sequential([
    keras.layers.RandomFlip("horizontal"),
    keras.layers.RandomRotation(0.1),  # up to 0.1 of a full turn (36 degrees) either way, not 0.1 degrees
    keras.layers.RandomZoom(0.1),
    keras.layers.RandomTranslation(0.1, 0.1),
    keras.layers.RandomContrast(0.1),
], name="augmentation")
photos, _ = next(iter(train_ds))  # a batch of raw 0..255 training images
fig = plots.plot_augmentations(photos.numpy()[0], augmentation, n=8, seed=1)
plt.show()
same = np.array_equal(keras.ops.convert_to_numpy(augmentation(photos, training=False)), photos.numpy())
print("with training=False the batch comes back unchanged:", same)

# %% [markdown]
# `models.build_augmentation(seed=...)` builds the same five transformations, with the first four fused into one
# resampling (`layers.RandomAffine`: less blur and faster; lesson 05 measures it and maps the old
# `ImageDataGenerator` arguments onto these layers). The rest of the course uses it.
#
# The trade-off: with cached features, the images are the same in every epoch, so random augmentation
# cannot help the head. A middle way is to cache K augmented copies of the training set,
# K passes instead of one per epoch:

# %%
augmentation = models.build_augmentation(seed=42)
train_aug = features.extract_features(extractor, train_ds, desc="train, augmented passes",
                                      augmentation=augmentation, passes=cfg.get("aug_passes"))
head_aug = models.build_head(train_aug.features.shape[1], len(class_names))  # vectors again: no scope
head_aug.compile(keras.optimizers.Adam(cfg.get("head_lr")), "sparse_categorical_crossentropy", metrics=["accuracy"])
head_aug.fit(train_aug.features, train_aug.labels, epochs=cfg.epochs, batch_size=batch_size, verbose=0)
_, test_acc_aug = head_aug.evaluate(test_f.features, test_f.labels, verbose=0)
print(f"{cfg.get('aug_passes')} passes ({len(train_aug.labels)} feature rows): test accuracy {test_acc_aug:.3f}")

# %% [markdown]
# ## Attach the trained head to the module
#
# The head trained on cached features is an ordinary Keras model, so it plugs in behind the hub layer. The
# result takes raw images and predicts exactly what the head predicted from the cached features:

# %%
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
fcfg = course.settings("02-folder")
root = datasets.get_cats_and_dogs()
folder_tm = models.build_hub_model(fcfg.get("handle"), 2)  # at the module's size; only its head trains: no scope
SIZE = folder_tm.image_size
folder_batch = fcfg.batch_size * strategy.num_replicas_in_sync
folder_train, folder_classes = data.image_folder(root / "train", image_size=SIZE, batch_size=folder_batch,
                                                 shuffle=True, limit_per_class=fcfg.train_examples)
folder_val, _ = data.image_folder(root / "validation", image_size=SIZE, batch_size=folder_batch,
                                  limit_per_class=fcfg.val_examples)
feature_dir = Path(tempfile.mkdtemp())  # use a lasting folder (e.g. course.cache_root()) for real work
ftrain = features.extract_features(folder_tm.features, folder_train, desc="train",
                                   cache_file=feature_dir / "train.npz")
fval = features.extract_features(folder_tm.features, folder_val, desc="validation",
                                 cache_file=feature_dir / "validation.npz")
folder_tm.head.compile(keras.optimizers.Adam(fcfg.get("head_lr")), "sparse_categorical_crossentropy",
                       metrics=["accuracy"])
folder_history = folder_tm.head.fit(ftrain.features, ftrain.labels, validation_data=(fval.features, fval.labels),
                                    epochs=fcfg.epochs, batch_size=folder_batch, verbose=2)
fig, axes = plots.plot_history({fcfg.get("handle"): folder_history})
plt.show()

# %% [markdown]
# ## Your own photo
#
# The model you just trained tells cats from dogs. Try it on a photo of yours: on Colab, drag the photo into the
# Files panel (the folder icon on the left) and give `"/content/<its name>.jpg"`; on Kaggle, add it as a dataset
# and give its `/kaggle/input/...` path; on your computer, its path. Empty, it takes one of the lesson's validation
# photos. `keras.utils.load_img` reads and resizes it, `img_to_array` gives raw 0..255 values (the model scales
# them itself), and `np.expand_dims` makes a batch of one. For one batch, call the model like a function
# (`predict` is for many batches):

# %%
#@title Your photo (leave empty for one of the lesson's)
MY_PHOTO = ""  #@param {type:"string"}
sample = sorted(p for p in (root / "validation" / folder_classes[1]).iterdir()
                if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[0]  # one of the lesson's photos
photo_file = Path(MY_PHOTO).expanduser() if MY_PHOTO else sample
if not photo_file.is_file():
    raise FileNotFoundError(f"MY_PHOTO: {photo_file} is not a file. Give the path of a .jpg or .png photo.")
img = keras.utils.load_img(photo_file, target_size=(SIZE, SIZE))
batch = np.expand_dims(keras.utils.img_to_array(img), axis=0)  # (1, SIZE, SIZE, 3)
probs = keras.ops.convert_to_numpy(folder_tm.model(batch, training=False))[0]  # one batch: call the model
plt.figure(figsize=(3, 3))
plt.imshow(img)
plt.axis("off")
plt.title(" | ".join(f"{name} {p:.0%}" for name, p in zip(folder_classes, probs, strict=True)))
plt.show()

# %% [markdown]
# A photo that is neither a cat nor a dog still gets two probabilities that add up to 100 %: the head knows only
# the classes it was trained on. Lesson 05 trains on classes of your own.

# %% [markdown]
# ## Save, export and reload
#
# A `.keras` file stores the handle and the trained weights; loading it needs the module again (from the
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
# ## Summary
#
# You saw the classic `hub.KerasLayer` code fail on Keras 3 and used `layers.HubLayer` instead, fed it images in
# `[0, 1]` at the size it needs, trained a head on features recomputed every epoch and on features computed
# once (same accuracy, a fraction of the time), attached the head to the module, and saved, exported and
# reloaded the model. Lesson 03 teaches fine-tuning; lesson 07 applies it to this module and takes the other
# routes to a pretrained model.
#
# ## Exercises
#
# 1. Raise the number of epochs to 30 for both recipes. How do the two times grow?
# 2. Compare `aug_passes` of 1, 3 and 5: does augmentation help the cached head on your data?
# 3. Try `layers.HubLayer("efficientnet_v2_b0")`. Which input size does it need, and what changes in the code?

# %% [markdown]
# ## Sources
#
# - *Transfer learning with TensorFlow Hub*, TensorFlow tutorials (tensorflow.org): https://www.tensorflow.org/tutorials/images/transfer_learning_with_hub
# - *Transfer learning and fine-tuning*, TensorFlow tutorials (tensorflow.org): https://www.tensorflow.org/tutorials/images/transfer_learning
# - Christian Szegedy et al., *Rethinking the Inception Architecture for Computer Vision* (Inception v3, arXiv:1512.00567, 2015): https://arxiv.org/abs/1512.00567
# - Kaiming He et al., *Deep Residual Learning for Image Recognition* (arXiv:1512.03385, 2015): https://arxiv.org/abs/1512.03385
# - Mark Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks* (arXiv:1801.04381, 2018): https://arxiv.org/abs/1801.04381
# - The classic articles this lesson quotes (the CIFAR-10 article's 79.3 % and 67.4 %, the folder-dataset articles' Inception v3 at 300 px) are not named here: the course has not identified them by title and author yet. Their numbers are quoted as theirs, on their hardware.
