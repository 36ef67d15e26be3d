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
# # Lesson 01: Train a small CNN from scratch on CIFAR-10
#
# You train a classic three-block convolutional network from random weights on CIFAR-10. Its test
# accuracy is the baseline every later lesson has to beat with transfer learning.
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tl-course/transfer-learning-course/blob/main/notebooks/01_scratch_cnn_cifar10.ipynb)
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/tl-course/transfer-learning-course/blob/main/notebooks/01_scratch_cnn_cifar10.ipynb)

# %% [markdown]
# ## Overview
#
# In this lesson you will:
#
# - load CIFAR-10 with TensorFlow Datasets and look at one image per class;
# - build an input pipeline that resizes images **per batch**, never the whole dataset at once;
# - build, train and evaluate a small CNN (learning curves, confusion matrix, per-class accuracy,
#   a grid of predictions);
# - see what a strong from-scratch recipe can do, and why transfer learning still matters.
#
# **Data:** CIFAR-10, 60,000 colour images of 32x32 pixels in 10 classes (50,000 train, 10,000 test),
# about 160 MB to download.
#
# **Runtime:** smoke mode 12 s on 2 CPU cores (measured in one `tlh run --smoke` of all seven lessons, 2026-12-04; docs/teaching.md). Full mode on a Colab T4 has not been timed yet.
# Estimate: at least 0.8 min of GPU compute and about 0.2 GB of GPU memory (a
# compute-bound lower bound from FLOP counts and an assumed T4 throughput, `python -m bench.t4_estimate`;
# downloads, decoding and XLA compilation add to it). `tlh run --full` on a T4 records the real time and
# peak GPU memory in `runs/<time>/summary.md`.
#
# Note: the widely read TF-Hub transfer-learning article reports **67.4 % test accuracy** for this
# kind of CNN after 10 epochs at 96 px. That number is theirs, not measured here.

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
# Import everything the lesson uses. `course.start(1)` is the course's setup in one call: it says first whether
# this run uses real data or generated stand-ins (then its numbers mean nothing), prints the TensorFlow and Keras
# versions and the hardware, fixes the random seed, and returns the settings of the active mode (smoke or full)
# and the `tf.distribute` strategy that `training.setup_accelerator` chose (mixed precision and, on two GPUs,
# one model copy per GPU). Models are built and compiled inside `strategy.scope()`, as below:

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from tlhelpers import course, data, datasets, evaluate, plots, training

cfg, strategy = course.start(1)  # real or generated data, versions, hardware; seed 42

# %% [markdown]
# ## Load CIFAR-10
#
# `datasets.load_tfds` wraps `tfds.load`: it splits 10 % of the training set off for validation. Smoke mode
# takes small slices of the real CIFAR-10 (downloaded once into the cache); only without network and cache
# does `tfds.testing.mock_data` serve random images of the same shape, and the first output says so:

# %%
train_raw, val_raw, test_raw, class_names = datasets.load_tfds("cifar10", cfg)
print("classes:", class_names)
print("one example:", train_raw.element_spec)

# %% [markdown]
# Show one example image per class:

# %%
first_of_class = {}
for image, label in train_raw.take(2000):
    first_of_class.setdefault(int(label), image.numpy())
    if len(first_of_class) == len(class_names):
        break
labels_shown = sorted(first_of_class)
fig = plots.plot_image_grid(np.stack([first_of_class[i] for i in labels_shown]), labels_shown,
                            class_names, ncols=5)
plt.show()

# %% [markdown]
# ## Build the input pipeline
#
# Resizing all 60,000 CIFAR-10 images up front, in float32, would need this much memory:

# %%
for size in (32, 96, 224):
    print(f"CIFAR-10 (60,000 images) at {size:>3} px, float32: {data.dataset_bytes(60_000, size) / 2**30:5.1f} GiB")

# %% [markdown]
# Instead, `data.make_pipeline` caches the small uint8 originals, shuffles, batches, and only then resizes
# each batch. Look at what one batch holds:

# %%
batch_size = cfg.batch_size * strategy.num_replicas_in_sync  # the global batch: one slice per GPU
train_ds = data.make_pipeline(train_raw, image_size=cfg.image_size, batch_size=batch_size, training=True)
val_ds = data.make_pipeline(val_raw, image_size=cfg.image_size, batch_size=batch_size)
test_ds = data.make_pipeline(test_raw, image_size=cfg.image_size, batch_size=batch_size)

images, labels = next(iter(train_ds))
print("images:", images.shape, images.dtype, f"values {images.numpy().min():.0f}..{images.numpy().max():.0f}")
print("labels:", labels.shape, labels.dtype, labels.numpy()[:10])

# %% [markdown]
# ## Build the CNN
#
# Three convolution blocks learn local patterns, two dense layers with dropout combine them, and a
# softmax gives one probability per class. The first layer rescales 0..255 pixels to 0..1. Build the model
# inside `strategy.scope()`, so that on two GPUs its weights are mirrored on both:

# %%
with strategy.scope():
    model = keras.Sequential([
        keras.Input((cfg.image_size, cfg.image_size, 3)),
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(len(class_names), activation="softmax", dtype="float32"),  # float32 under mixed precision
    ], name="scratch_cnn")
model.summary()

# %% [markdown]
# `models.build_scratch_cnn` builds the same network (lesson 04 uses it as the from-scratch candidate).
#
# Note: under mixed precision (on a T4) the layers compute in float16; keep the last layer in float32
# (`dtype="float32"`) so the softmax and the loss stay numerically safe.

# %% [markdown]
# ## Train the model
#
# Compile with Adam and sparse categorical cross-entropy (the labels are integers), inside the same scope,
# then train:

# %%
with strategy.scope():
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
print(training.xla_decision(model))
timer = training.EpochTimer()
history = model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=[timer], verbose=2)

# %% [markdown]
# ## Plot the learning curves
#
# When the validation curve flattens while the training curve keeps improving, the model starts to
# memorise the training images:

# %%
fig, axes = plots.plot_history({"scratch CNN": history})
plt.show()

# %% [markdown]
# ## Evaluate on the test set
#
# `evaluate.predict_dataset` runs the model over the test set and keeps labels aligned with predictions:

# %%
preds = evaluate.predict_dataset(model, test_ds)
print(f"test accuracy: {preds.accuracy:.3f} on {len(preds.labels)} images")

# %% [markdown]
# The confusion matrix shows which classes the model mixes up, and the per-class accuracy which ones it
# finds hard:

# %%
cm = evaluate.confusion_matrix(preds.labels, preds.predicted, len(class_names))
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
plots.plot_confusion_matrix(cm, class_names, ax=ax1)
plots.plot_per_class_accuracy(evaluate.per_class_accuracy(cm), class_names, ax=ax2)
fig.tight_layout()
plt.show()

# %% [markdown]
# A grid of test predictions; wrong ones are titled in red:

# %%
fig = plots.plot_image_grid(preds.images, preds.labels, class_names,
                            predicted=preds.predicted, probs=preds.probs, max_images=18)
plt.show()

# %% [markdown]
# ## What a strong from-scratch recipe can do
#
# This small CNN is a baseline, not the limit. Carefully tuned recipes train far better networks from
# scratch: the *airbench* project reports 94 % test accuracy on CIFAR-10 in a few seconds on one A100
# GPU (their number, not measured here), using a small VGG-style network (convolution blocks with BatchNorm,
# no residual connections), data augmentation, carefully scheduled learning rates and test-time augmentation
# (the 94 % averages predictions over flipped copies of each test image).
#
# Such recipes need the whole 50,000 labelled images and a lot of tuning. With a few hundred labelled
# images of your own, training from scratch fails, while a network pre-trained on ImageNet already knows
# edges, textures and object parts. That is what the next lessons use.

# %% [markdown]
# ## Summary
#
# You loaded CIFAR-10 with TFDS, built a pipeline that resizes per batch, trained a three-block CNN from
# scratch and evaluated it with a confusion matrix, per-class accuracy and a prediction grid. Its test
# accuracy is the baseline for the transfer-learning lessons.
#
# ## Exercises
#
# 1. Train at 32 px instead of 96 px (`import dataclasses`, then `cfg = dataclasses.replace(cfg, image_size=32)`
#    before building the pipelines). What happens to accuracy and to the time
#    per epoch?
# 2. Add `keras.layers.RandomFlip("horizontal")` after the input layer. Does the gap between training and
#    validation accuracy shrink?
# 3. Add `BatchNormalization` after each convolution. How many epochs does it take to reach the old
#    final validation accuracy?

# %% [markdown]
# ## Sources
#
# - CIFAR-10: Alex Krizhevsky, *Learning Multiple Layers of Features from Tiny Images* (University of Toronto, 2009): https://www.cs.toronto.edu/~kriz/cifar.html
# - *Better performance with the tf.data API*, TensorFlow guide (tensorflow.org): https://www.tensorflow.org/guide/data_performance
# - Keller Jordan, *94% on CIFAR-10 in 3.29 Seconds on a Single GPU* (arXiv:2404.00498, 2024): https://arxiv.org/abs/2404.00498
# - The classic articles this lesson quotes (the TF-Hub article's 67.4 % for this CNN) are not named here: the course has not identified them by title and author yet. Their numbers are quoted as theirs, on their hardware.
