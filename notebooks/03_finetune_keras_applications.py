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
# # Lesson 03: Feature extraction, then fine-tuning, with `keras.applications`
#
# You put a new head on a network pre-trained on ImageNet, train it with the base frozen, then unfreeze
# the top of the base and fine-tune it, avoiding the three traps where tutorials go quietly wrong.
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tl-course/transfer-learning-course/blob/main/notebooks/03_finetune_keras_applications.ipynb)
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/tl-course/transfer-learning-course/blob/main/notebooks/03_finetune_keras_applications.ipynb)

# %% [markdown]
# ## Overview
#
# In this lesson you will:
#
# - see what each network's `preprocess_input` does, and put it **inside** the model so it runs exactly once;
# - build a frozen backbone with a new classification head and train the head;
# - unfreeze the top of the backbone while keeping every `BatchNormalization` layer frozen, recompile with
#   a low learning rate and fine-tune;
# - plot the joined learning curves, evaluate, save the model and reload it.
#
# **Data:** `cats_and_dogs_filtered`, 2,000 training and 1,000 validation photos of cats and dogs (68 MB).
# Full mode is the setting of the TensorFlow tutorial *Transfer learning and fine-tuning*: MobileNetV2 (width
# 1.0) at 160 px, fine-tuned from layer 100; the tutorial's text says to expect about 94 % validation accuracy
# with the base frozen (10 epochs) and nearly 98 % after fine-tuning (their numbers, their hardware). Smoke mode
# uses the same network at width 0.35 (`alpha`, the only difference, which the settings hold) with real
# ImageNet weights (2 MB, cached or downloaded once) on 100 real photos per class at 224 px.
#
# **Runtime:** smoke mode 154 s on 2 CPU cores (measured in one `tlh run --smoke` of all seven lessons, 2026-12-04; docs/teaching.md). Full mode on a Colab T4 has not been timed yet.
# Estimate: at least 1.3 min of GPU compute and about 3.2 GB of GPU memory (a
# compute-bound lower bound from FLOP counts and an assumed T4 throughput, `python -m bench.t4_estimate`;
# downloads, decoding and XLA compilation add to it). `tlh run --full` on a T4 records the real time and
# peak GPU memory in `runs/<time>/summary.md`.
#
# Note: with the same recipe at 224 px and all 2,000 training images, this course's test suite measured
# 97.0 % validation accuracy with the base frozen and 97.1 % after fine-tuning for MobileNetV2-0.35
# (2 CPU cores, [`tests/test_real_transfer.py`](https://github.com/tl-course/transfer-learning-course/blob/main/tests/test_real_transfer.py)).

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

from tlhelpers import backbones, course, data, datasets, evaluate, features, layers, models, plots, training

cfg, strategy = course.start(3)  # real or generated data, versions, hardware; seed 42
BACKBONE, ALPHA, UNFREEZE_FROM = cfg.get("backbone"), cfg.get("alpha"), cfg.get("unfreeze_from")
print("backbone:", BACKBONE, "| alpha:", ALPHA, "| fine-tune from layer:", UNFREEZE_FROM)

# %% [markdown]
# ## Load the photos
#
# `datasets.get_cats_and_dogs` downloads the folder once (smoke mode: the same photos, cached or downloaded
# once by `realfiles`), and
# `data.image_folder` turns a class-per-folder tree into batches of raw 0..255 images:

# %%
root = datasets.get_cats_and_dogs()
batch_size = cfg.batch_size * strategy.num_replicas_in_sync
train_ds, class_names = data.image_folder(root / "train", image_size=cfg.image_size, batch_size=batch_size,
                                          shuffle=True, limit_per_class=cfg.train_examples)
val_ds, _ = data.image_folder(root / "validation", image_size=cfg.image_size, batch_size=batch_size,
                              limit_per_class=cfg.val_examples)
images, labels = next(iter(train_ds))
print("classes:", class_names)
print("batch:", images.shape, images.dtype, f"values {images.numpy().min():.0f}..{images.numpy().max():.0f}")
fig = plots.plot_image_grid(images.numpy()[:8], labels.numpy()[:8], class_names, ncols=8)
plt.show()

# %% [markdown]
# ## Apply `preprocess_input` exactly once
#
# Every pretrained network expects its inputs scaled the way it was trained. The registry knows each one:

# %%
for name in ["VGG16", "ResNet50", "MobileNetV2", "InceptionV3", "DenseNet121", "EfficientNetB0", "ConvNeXtTiny"]:
    spec = backbones.get(name)
    out = spec.preprocess_input()(images.numpy()[:1].copy())
    print(f"{name:15s} mode={spec.preprocess:6s} native {spec.input_size}px -> values {out.min():8.2f}..{out.max():8.2f}")

# %% [markdown]
# VGG16's "caffe" preprocessing flips RGB to BGR and subtracts the ImageNet means; applying it twice shifts
# the colours again. Here is what the network sees in each case:

# %%
vgg_pre = backbones.get("VGG16").preprocess_input()
once = vgg_pre(images.numpy()[:1].copy())[0]
twice = vgg_pre(vgg_pre(images.numpy()[:1].copy()))[0]


def as_picture(x):
    x = x[..., ::-1]  # BGR back to RGB for display
    return (x - x.min()) / (x.max() - x.min() + 1e-9)


fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, pic, title in zip(axes, [images.numpy()[0] / 255, as_picture(once), as_picture(twice)],
                          ["raw photo", "preprocessed once", "preprocessed twice"], strict=True):
    ax.imshow(pic)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# Note: the official `preprocess_input` functions **modify NumPy arrays in place**; that is why the cells
# above pass `.copy()`. EfficientNet, EfficientNetV2, MobileNetV3 and ConvNeXt rescale inside the network:
# feed them 0..255 and do nothing else. The course's `layers.Preprocess` layer does each network's
# preprocessing inside the model, so the saved model takes raw photos.

# %% [markdown]
# ## Predict with a complete ImageNet model, and what double scaling does
#
# Before transfer learning, use a pretrained network as it was published: the full 1000-class ImageNet
# classifier (`include_top=True`). EfficientNetB0 rescales **inside** the model, so it wants raw 0..255 pixels.
# A very common bug is to divide by 255 (or call a `preprocess_input`) first: the network then sees an almost
# black image.
#
# Load one photo file the way the classic articles do: `keras.utils.load_img` reads and resizes it,
# `img_to_array` makes a float32 array of raw 0..255 values, and `np.expand_dims` adds the batch axis a model
# expects. `decode_predictions` turns the 1000 probabilities into labels; `backbones.decode_imagenet` calls
# Keras's `decode_predictions` (which downloads the 1000 class names once) and reads a cached copy offline:

# %%
CLASSIFIER = cfg.get("classifier")
classifier = backbones.imagenet_classifier(CLASSIFIER)  # keras.applications.EfficientNetB0(include_top=True, ...)
size = backbones.get(CLASSIFIER).input_size
photo_file = sorted(p for p in (root / "train" / class_names[0]).iterdir() if p.suffix.lower() in {".jpg", ".png"})[0]
img = keras.utils.load_img(photo_file, target_size=(size, size))  # a PIL image, resized to the network's size
x = keras.utils.img_to_array(img)  # (size, size, 3) float32, raw 0..255
photo = np.expand_dims(x, axis=0)  # a batch of one: (1, size, size, 3)
print(photo_file.name, photo.shape, f"values {photo.min():.0f}..{photo.max():.0f}")
for how, batch in [("raw 0..255 (right)", photo), ("divided by 255 first (double scaling)", photo / 255.0)]:
    top3 = backbones.decode_imagenet(classifier.predict(batch, verbose=0), top=3)[0]
    print(f"{how:40s}", ", ".join(f"{label} {p:.1%}" for label, p in top3))

# %% [markdown]
# The last layers of the complete classifier are the pooling, a dropout and the 1000-class `Dense`. Cutting the
# model at `layers[-3]` keeps everything up to the pooled features: a feature extractor made from a complete
# model (the older articles' way; `include_top=False` below gives the same without loading the top's weights):

# %%
print([layer.name for layer in classifier.layers[-3:]])
trimmed = keras.Model(classifier.input, classifier.layers[-3].output)
print("complete classifier:", classifier.output.shape, "-> trimmed:", trimmed.output.shape)
print("the same photo as", trimmed.predict(photo, verbose=0).shape[-1], "pooled features")

# %% [markdown]
# In full mode the first line names cat or dog breeds; the second line is usually confident nonsense.
# (In smoke mode the EfficientNetB0 classifier, 21 MB, is not among the laptop tier's small files: it has random
# weights, so both lines are meaningless there; the probe below uses real weights in both modes.)
#
# ### What double preprocessing costs a transfer model
#
# The same bug inside a transfer model is quieter: training still "works", just worse. Extract pooled
# features of this lesson's backbone with its preprocessing applied once and applied twice, train the same
# linear classifier on each, and compare validation accuracy:

# %%
pre = layers.Preprocess(backbones.get(BACKBONE).preprocess)
pooled_base = backbones.build_base(BACKBONE, image_size=cfg.image_size, alpha=ALPHA, pooling="avg")
double_scaling = {}
for times in (1, 2):
    inputs = keras.Input((cfg.image_size, cfg.image_size, 3))
    x = inputs
    for _ in range(times):
        x = pre(x)
    extractor = keras.Model(inputs, pooled_base(x, training=False))
    train_f = features.extract_features(extractor, train_ds, progress=False)
    val_f = features.extract_features(extractor, val_ds, progress=False)
    probe = keras.Sequential([keras.Input(train_f.features.shape[1:]),
                              keras.layers.Dense(len(class_names), activation="softmax")])
    probe.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    probe.fit(train_f.features, train_f.labels, epochs=30, batch_size=32, verbose=0)
    double_scaling[times] = probe.evaluate(val_f.features, val_f.labels, verbose=0)[1]
    print(f"{BACKBONE} preprocessing applied {times}x: linear-probe validation accuracy {double_scaling[times]:.3f}")

# %% [markdown]
# With MobileNetV2's `[-1, 1]` scaling applied twice, every pixel lands between -1.008 and -0.992: the
# photos become nearly uniform black (values near -1 are the darkest the network knows) and the features carry
# little information. Measured in smoke mode (real photos, 100 per class, 224 px, 2 CPU cores, 2026-11-23):
# 94.5 % with the preprocessing once, 61.0 % with it twice. VGG16's "caffe"
# preprocessing applied twice shifts every colour channel by the ImageNet mean again. Networks that rescale
# inside (EfficientNet) have mode `none` in the registry, so "twice" is the same as "once" for them; their
# trap is the division by 255 shown above.

# %% [markdown]
# ## What `trainable` does, on a tiny layer
#
# Every layer holds **trainable** weights (changed by the optimizer) and **non-trainable** ones (kept, or updated
# by the layer itself). Setting `layer.trainable = False` moves all of a layer's weights to the second list. A
# `BatchNormalization` layer has both kinds from the start: `gamma` and `beta` learn, the moving mean and variance
# are statistics it updates itself while training:

# %%
dense = keras.layers.Dense(3)
dense.build((None, 4))
print("Dense:              weights", len(dense.weights), "| trainable", len(dense.trainable_weights),
      "| non-trainable", len(dense.non_trainable_weights))
dense.trainable = False
print("Dense, frozen:      weights", len(dense.weights), "| trainable", len(dense.trainable_weights),
      "| non-trainable", len(dense.non_trainable_weights))
bn = keras.layers.BatchNormalization()
bn.build((None, 4))
print("BatchNormalization: weights", len(bn.weights), "| trainable", len(bn.trainable_weights),
      "| non-trainable", len(bn.non_trainable_weights))

# %% [markdown]
# ## Build the model with a frozen base
#
# Assemble it by hand once:
#
# - `include_top=False` drops the network's 1000-class ImageNet classifier and keeps the convolutional
#   features (`include_top=True`, used above, keeps the classifier; cutting at `layers[-3]`, above, is the
#   other way to get features);
# - `base.trainable = False` freezes every weight of the backbone: only the new head will learn;
# - `layers.Preprocess` applies the backbone's own `preprocess_input`, inside the model, exactly once;
# - `base(x, training=False)` runs the backbone in inference mode (BatchNorm uses its ImageNet statistics,
#   dropout is off). `trainable` (do the weights change?) and `training` (which mode does a layer run in?) are
#   different switches; in Keras 3 the second does not protect BatchNorm once the base is trainable, which is
#   why the fine-tuning section sets `trainable=False` on every BatchNormalization layer.
#
# In full mode `weights` is `"imagenet"`: Keras downloads the file once and keeps it in `~/.keras/models`.
# `backbones.resolve_weights` gives that, or the same file found in the course cache or the offline assets
# (in smoke mode random weights only when none can be had, with a warning that marks the numbers):

# %%
spec = backbones.get(BACKBONE)  # the registry entry: its preprocessing mode ("tf": pixels to [-1, 1]), its size
weights = backbones.resolve_weights(spec, alpha=ALPHA, image_size=cfg.image_size)  # "imagenet", or a file offline
print("weights:", weights)
with strategy.scope():  # build (and later compile) where the model lives: on two GPUs anything else fails
    base = keras.applications.MobileNetV2(
        include_top=False, weights=weights, input_shape=(cfg.image_size, cfg.image_size, 3), alpha=ALPHA)
    base.trainable = False
    inputs = keras.Input((cfg.image_size, cfg.image_size, 3), name="image")  # raw 0..255 pixels
    x = models.build_augmentation(seed=42)(inputs)  # lesson 02's augmentation: active only in training
    x = layers.Preprocess(spec.preprocess, name="preprocess")(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    outputs = keras.layers.Dense(len(class_names), activation="softmax", dtype="float32", name="head_dense")(x)
    model = keras.Model(inputs, outputs, name=f"{spec.name.lower()}_transfer")
model.summary(line_length=100)
print(f"shapes: image {inputs.shape[1:]} -> {spec.name} features {base.output.shape[1:]} -> pooled "
      f"{model.get_layer('pool').output.shape[1:]} -> {outputs.shape[1:]} class probabilities")
print(models.trainable_summary(model), "| trainable variables:", len(model.trainable_variables))
bn_layers = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in base.layers)
print(f"{spec.name} has {len(base.layers)} layers, {bn_layers} of them BatchNormalization")

# %% [markdown]
# What is frozen and what trains, drawn from the model itself: one bar per layer that holds weights, from the
# input to the output, as tall as its number of weights; orange bars are what `fit` will change. Only the head
# (right of the dotted line) trains now:

# %%
fig, ax = plots.plot_frozen_and_trained(model)
plt.show()

# %% [markdown]
# `models.build_transfer_model(BACKBONE, num_classes, ...)` builds exactly this (and also returns a
# features-only model sharing the layers, for caching features); Part 2 and the later lessons use it.

# %% [markdown]
# ## Evaluate before training
#
# With a random head the model guesses: accuracy near 1 / number of classes. This is the starting point:

# %%
with strategy.scope():  # compile where you built the model: on two GPUs anything else fails
    model.compile(optimizer=keras.optimizers.Adam(cfg.get("head_lr")), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
print(training.xla_decision(model))
loss0, acc0 = model.evaluate(val_ds, verbose=0)
print(f"before training: validation accuracy {acc0:.3f}, loss {loss0:.3f}")

# %% [markdown]
# ## Train the head
#
# Only the head's weights change in this phase:

# %%
timer = training.EpochTimer()
history_head = model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=[timer], verbose=2)

# %% [markdown]
# ## Unfreeze the top of the base, keeping BatchNorm frozen
#
# Why in this order: the first layers of a network trained on ImageNet detect edges, colours and textures,
# useful for any photo; the last ones combine them into ImageNet's own categories. So fine-tune only the top, and
# only after the head has learned: a random head sends large, random gradients into the base and would wreck
# the pretrained features before it learns anything. Feature extraction first, then fine-tuning, with a low
# learning rate.
#
# Unfreeze the base, re-freeze the layers below `UNFREEZE_FROM`, and keep **every** BatchNormalization layer
# frozen. In Keras 3 a frozen BN layer runs in inference mode and keeps its ImageNet statistics;
# `base(x, training=False)` alone does not protect them once the base is trainable (a test in this
# repository shows they drift):

# %%
base.trainable = True
for layer in base.layers[:UNFREEZE_FROM]:  # 100 in both modes: the TF tutorial's fine_tune_at
    layer.trainable = False
for layer in base.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.trainable = False
print(f"training {sum(layer.trainable for layer in base.layers)} of {len(base.layers)} base layers")
print(models.trainable_summary(model), "| trainable variables:", len(model.trainable_variables))
fig, ax = plots.plot_frozen_and_trained(model)  # the same figure: the top of the base trains now, not its BatchNorm
plt.show()

# %% [markdown]
# `models.unfreeze(base, UNFREEZE_FROM)` does the same three steps; later lessons use it.
#
# Note: Keras only picks up `trainable` changes when you **compile again**. Use a learning rate 10 to 100
# times lower, so the pretrained features are adjusted, not destroyed:

# %%
with strategy.scope():
    model.compile(optimizer=keras.optimizers.Adam(cfg.get("fine_tune_lr")), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
history_ft = model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs + cfg.fine_tune_epochs,
                       initial_epoch=cfg.epochs, callbacks=[timer], verbose=2)

# %% [markdown]
# ## Plot the learning curves
#
# The phases join because fine-tuning continued the epoch numbering (`initial_epoch`); the dotted line
# marks where fine-tuning starts:

# %%
history = training.merge_histories(history_head, history_ft)
fig, axes = plots.plot_history({BACKBONE: history}, fine_tune_at=cfg.epochs)
plt.show()
print("seconds per epoch:", [round(s, 1) for s in timer.seconds])

# %% [markdown]
# Validation accuracy above training accuracy is not a bug. Dropout and the augmentation layers are on while
# `fit` measures training accuracy and off for validation, so the training numbers come from a harder task; and
# the training figure is an average over the epoch, while the model improves during it, whereas validation is
# measured once, at the epoch's end.

# %% [markdown]
# ## Evaluate
#
# Confusion matrix and the most confident mistakes on the validation photos:

# %%
preds = evaluate.predict_dataset(model, val_ds, keep_images=256)
print(f"validation accuracy: {preds.accuracy:.3f} on {len(preds.labels)} images")
cm = evaluate.confusion_matrix(preds.labels, preds.predicted, len(class_names))
fig, ax = plots.plot_confusion_matrix(cm, class_names)
plt.show()
worst = evaluate.worst_mistakes(preds, k=8)
if len(worst):
    fig = plots.plot_image_grid(preds.images[worst], preds.labels[worst], class_names,
                                predicted=preds.predicted[worst], probs=preds.probs[worst], ncols=8)
    plt.show()
else:
    print("no mistakes among the kept images")

# %% [markdown]
# ## Save and reload the model
#
# The `.keras` file holds the architecture, the weights and the `Preprocess` layer, so the reloaded model
# takes raw photos and predicts the same:

# %%
path = Path(tempfile.mkdtemp()) / f"{BACKBONE.lower()}_cats_dogs.keras"
model.save(path)
reloaded = keras.models.load_model(path)
x_check, _ = next(iter(val_ds))
# float32: equal to 1e-5; under mixed precision (T4) the layers before the float32 softmax round to float16
atol = 1e-5 if keras.mixed_precision.global_policy().compute_dtype == "float32" else 1e-2
np.testing.assert_allclose(reloaded.predict(x_check, verbose=0), model.predict(x_check, verbose=0), atol=atol)
print(f"saved {path.name}: {path.stat().st_size / 2**20:.1f} MiB; reloaded predictions match")

# %% [markdown]
# ## A backbone with BatchNorm, written as a subclassed model with one logit
#
# MobileNetV2 has dozens of BatchNormalization layers (the build cell above printed how many), like most
# networks since 2015 (VGG16, from 2014, has none). This section measures what they do during fine-tuning, on
# the same network as above (full mode: width 1.0; smoke mode: 0.35). It also writes the model the way another
# classic article does: a subclass of `keras.Model` whose `call` says what happens, and, for two classes, **one
# logit** instead of two softmax outputs: `Dense(1)` without activation, a loss told `from_logits=True`, and
# accuracy thresholded at 0 (logit > 0 means class 1, `class_names[1]`). Build and compile it inside
# `strategy.scope()`, as before.

# %%
BN_ALPHA = cfg.get("bn_alpha")  # MobileNetV2's width: 1.0 in full mode, 0.35 in smoke mode
bn_spec = backbones.get("MobileNetV2")  # its preprocessing mode: pixels to [-1, 1]


class Wrapper(keras.Model):
    """Raw 0..255 images -> preprocessing -> backbone (inference mode) -> pooling -> one logit."""

    def __init__(self, base, preprocess, **kwargs):
        super().__init__(**kwargs)
        self.preprocess = preprocess
        self.base = base
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(1, dtype="float32")  # a logit: no activation; float32 under mixed precision

    def call(self, images, training=False):
        x = self.base(self.preprocess(images), training=False)  # BatchNorm in inference mode, always
        return self.head(self.pool(x))


def compile_binary(model, learning_rate):
    with strategy.scope():
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")],
                      jit_compile=False)  # many short runs: see the note below the experiment


with strategy.scope():
    bn_weights = backbones.resolve_weights(bn_spec, alpha=BN_ALPHA, image_size=cfg.image_size)
    bn_base = keras.applications.MobileNetV2(
        include_top=False, weights=bn_weights, input_shape=(cfg.image_size, cfg.image_size, 3), alpha=BN_ALPHA)
    bn_base.trainable = False
    wrapper = Wrapper(bn_base, layers.Preprocess(bn_spec.preprocess), name="wrapper")
    wrapper(np.zeros((1, cfg.image_size, cfg.image_size, 3), "float32"))  # a subclassed model builds on first call
bn_count = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in bn_base.layers)
print(f"MobileNetV2 (alpha {BN_ALPHA}): {len(bn_base.layers)} layers, {bn_count} of them BatchNormalization")

# %% [markdown]
# The base is frozen, so its output for a photo never changes: compute the pooled features **once** and train
# the head on them (the same `Dense` layer object, so the wrapper gets the trained weights). Then check that
# the whole wrapper, run end to end on the photos, scores what the head scored on the cached features:

# %%
extractor = keras.Sequential([keras.Input((cfg.image_size, cfg.image_size, 3)), wrapper.preprocess,
                              wrapper.base, wrapper.pool], name="extractor")
t0 = time.perf_counter()
train_f = features.extract_features(extractor, train_ds, progress=False)
val_f = features.extract_features(extractor, val_ds, progress=False)
print(f"features of {len(train_f.labels) + len(val_f.labels)} photos computed once in {time.perf_counter() - t0:.1f} s")
with strategy.scope():
    head_only = keras.Sequential([keras.Input(train_f.features.shape[1:]), wrapper.head], name="head_only")
compile_binary(head_only, cfg.get("head_lr"))
head_only.fit(train_f.features, train_f.labels, epochs=cfg.epochs, batch_size=cfg.batch_size, verbose=0)
head_acc = head_only.evaluate(val_f.features, val_f.labels, verbose=0)[1]
compile_binary(wrapper, cfg.get("head_lr"))
wrapper_acc = wrapper.evaluate(val_ds, verbose=0)[1]
print(f"head on cached features: {head_acc:.3f} | whole wrapper on the photos: {wrapper_acc:.3f}")

# %% [markdown]
# The logits trap: a loss that expects probabilities, given logits, computes a different (wrong) number and
# trains towards the wrong target. Same labels, same outputs, two losses:

# %%
pick = np.concatenate([np.flatnonzero(val_f.labels == c)[:4] for c in (0, 1)])  # 4 photos of each class
logits = head_only.predict(val_f.features[pick], verbose=0)  # the head on cached features: the wrapper's logits
y = val_f.labels[pick].reshape(-1, 1).astype("float32")
right = float(keras.losses.BinaryCrossentropy(from_logits=True)(y, logits))
wrong = float(keras.losses.BinaryCrossentropy()(y, logits))  # treats logits as probabilities (clipped to 0..1)
print("labels:", y[:, 0].astype(int), "| logits:", np.round(logits[:, 0], 2))
print(f"probability of {class_names[1]}:", np.round(keras.ops.convert_to_numpy(keras.ops.sigmoid(logits[:, 0])), 3))
print(f"loss with from_logits=True: {right:.3f} | the same outputs read as probabilities: {wrong:.3f}")

# %% [markdown]
# Read as probabilities, every logit above 1 counts as a certain "1" and every negative one as a certain "0"
# (they are clipped to 0..1): the wrong loss calls this head almost perfect (smoke mode, 2026-11-23: 0.013
# against the true 0.105), and clipped outputs pass no gradient back, so training stalls. With one logit: no
# activation on the last `Dense`, `from_logits=True` in the loss, `BinaryAccuracy(threshold=0.0)`, and
# `keras.ops.sigmoid(logit)` when you want the probability. (The course's other models end in a float32
# softmax and use `sparse_categorical_crossentropy`: both ways are right when the loss matches the output.)

# %% [markdown]
# ## How deep to fine-tune, how fast, and what BatchNorm does: an experiment
#
# Start every run from the same trained head and fine-tune for the same number of epochs, changing one
# thing at a time: how much of the base trains (the top block, the top 30 %, all of it), the learning rate
# (the low fine-tuning rate or the head's rate), and whether the BatchNorm layers stay frozen. The last two
# rows unfreeze BatchNorm as well: once in the subclassed wrapper, whose `call` passes `training=False`
# itself, and once through a **functional** model built on the same layers (like Part 1's model). In Keras 3
# a functional model hands its own `training` flag down to the layers, so the recorded `training=False`
# does not hold while `fit` trains; only `trainable = False` on the BN layers does. The last column is the
# largest change of any BatchNorm moving mean (the ImageNet statistics).

# %%
start_file = Path(tempfile.mkdtemp()) / "head_trained.weights.h5"
wrapper.save_weights(start_file)
bn_layers_list = [layer for layer in bn_base.layers if isinstance(layer, keras.layers.BatchNormalization)]
imagenet_means = {layer.name: layer.moving_mean.numpy().copy() for layer in bn_layers_list}
inputs = keras.Input((cfg.image_size, cfg.image_size, 3))
with strategy.scope():  # the same layer objects, wired as a functional model
    functional = keras.Model(inputs, wrapper.head(wrapper.pool(wrapper.base(wrapper.preprocess(inputs),
                                                                            training=False))))
depth = {"top block": [layer.name for layer in bn_base.layers].index(cfg.get("top_block")),
         "top 30 %": round(len(bn_base.layers) * 0.7), "all": 0}
runs = [  # (what, model, first trained layer, learning rate, keep BatchNorm frozen)
    ("top block, low rate", wrapper, depth["top block"], cfg.get("fine_tune_lr"), True),
    ("top 30 %, low rate", wrapper, depth["top 30 %"], cfg.get("fine_tune_lr"), True),
    ("all, low rate", wrapper, depth["all"], cfg.get("fine_tune_lr"), True),
    ("all, head rate", wrapper, depth["all"], cfg.get("head_lr"), True),
    ("top 30 %, BN trainable, subclassed", wrapper, depth["top 30 %"], cfg.get("fine_tune_lr"), False),
    ("top 30 %, BN trainable, functional", functional, depth["top 30 %"], cfg.get("fine_tune_lr"), False),
]
EPOCHS = cfg.get("experiment_epochs")
head_params = sum(int(np.prod(w.shape)) for w in wrapper.head.trainable_weights)
rows = [("head only (features cached)", head_params, "-", wrapper_acc, 0.0, 0.0)]
for what, net, first, lr, keep_bn_frozen in runs:
    wrapper.load_weights(start_file)  # the same starting point for every run
    bn_base.trainable = True
    for i, layer in enumerate(bn_base.layers):  # every layer said explicitly: see the Note below
        layer.trainable = i >= first
    if keep_bn_frozen:
        for layer in bn_layers_list:
            layer.trainable = False
    compile_binary(net, lr)  # recompile: trainable changed
    t0 = time.perf_counter()
    net.fit(train_ds, epochs=EPOCHS, verbose=0)
    seconds = time.perf_counter() - t0
    acc = net.evaluate(val_ds, verbose=0)[1]
    drift = max(float(np.max(np.abs(layer.moving_mean.numpy() - imagenet_means[layer.name])))
                for layer in bn_layers_list)
    trained = sum(int(np.prod(w.shape)) for w in net.trainable_weights)
    rows.append((what, trained, f"{lr:g}", acc, seconds, drift))
print(f"{EPOCHS} fine-tuning epoch(s) per run on {len(train_f.labels)} training photos; validation accuracy on "
      f"{len(val_f.labels)} photos")
print(f"{'run':38s} {'trained weights':>15s} {'rate':>6s} {'val acc':>8s} {'seconds':>8s} {'BN mean change':>15s}")
for what, trained, lr, acc, seconds, drift in rows:
    print(f"{what:38s} {trained:>15,d} {lr:>6s} {acc:>8.1%} {seconds:>8.1f} {drift:>15.4f}")
wrapper.load_weights(start_file)
bn_base.trainable = False

# %% [markdown]
# How to read it (smoke mode, 2 CPU cores, 2026-11-23: 200 training and 200 validation photos, one epoch per run):
# the head alone scored 95.0 %; fine-tuning the top block, the top 30 % or all layers at the low rate gave 95.5 %,
# 95.5 % and 96.0 %, a photo or two either way: with this little data and one epoch, depth hardly matters, and the
# cheap head did nearly all the work. The head's rate (1e-3) on all layers dropped it to 50.0 %, chance: large
# steps wreck the pretrained features, which is why fine-tuning uses a rate 10 to 100 times lower. With BatchNorm
# trainable, the subclassed wrapper kept its ImageNet statistics (largest change 0.0000, its `call` says
# `training=False`), while the functional model moved them (0.0151 after one epoch at 1e-5): freeze the BN layers
# themselves, which works in both. Where to unfreeze and which rate are worth measuring on your own data, as here:
# start with the head, then the top block at a low rate, and go deeper only while validation accuracy improves.
#
# Note: this section compiles with `jit_compile=False`. Every `compile` after a `trainable` change makes Keras
# build the training step again, and with XLA (Keras's choice on one GPU) that means compiling the whole network
# again: worth it for a long training run, not for six runs of a few epochs each. In the course's GPU-shaped
# rehearsal on 2 CPU cores (MobileNetV2 at 160 px, 32 photos, 2026-11-23), the six runs took 15 to 50 s each with
# XLA and 5 to 13 s each without it, the whole lesson 7 min 14 s against 4 min 6 s.
#
# Note: the loop sets **every** layer's `trainable`, not only the frozen ones. After some layers were frozen one
# by one, `base.trainable = True` on a base that is already trainable does not switch them back on (Keras 3.15.1,
# measured in this repository's tests); a second, deeper unfreeze written as in Part 1 would silently train the
# old depth. `models.unfreeze` sets every layer for the same reason.

# %% [markdown]
# ## Part 2: EfficientNetB0 on CIFAR-10 with `training.fit_two_phase`
#
# A classic article fine-tunes EfficientNetB0 on CIFAR-10 and reports 88.9 % test accuracy with
# the base frozen and 93.8 % after fine-tuning with BatchNorm frozen (their numbers, their hardware).
# `training.fit_two_phase` packages everything you did by hand above, and adds speed:
#
# - phase 1 computes the frozen base's features **once** and trains the head on them (instead of pushing
#   every image through the unchanging base in every epoch);
# - phase 2 unfreezes the top 20 % of the base (BatchNorm stays frozen), recompiles with a cosine-decaying
#   low learning rate, stops early and restores the best epoch; if fine-tuning never beats phase 1 it keeps
#   the phase-1 weights.
#
# The 32x32 images are resized per batch inside `tf.data` to EfficientNet's 224 px, never all at once.
# EfficientNet takes raw 0..255 pixels, so the model's `Preprocess` layer does nothing here.

# %%
cifar_cfg = course.settings("03-cifar10")
train_raw, val_raw, test_raw, cifar_classes = datasets.load_tfds("cifar10", cifar_cfg)
cifar_batch = cifar_cfg.batch_size * strategy.num_replicas_in_sync
cifar_train = data.make_pipeline(train_raw, image_size=cifar_cfg.image_size, batch_size=cifar_batch, training=True)
cifar_val = data.make_pipeline(val_raw, image_size=cifar_cfg.image_size, batch_size=cifar_batch)
cifar_test = data.make_pipeline(test_raw, image_size=cifar_cfg.image_size, batch_size=cifar_batch)
with strategy.scope():
    cifar_tm = models.build_transfer_model(cifar_cfg.get("backbone"), len(cifar_classes),
                                           image_size=cifar_cfg.image_size)
result = training.fit_two_phase(cifar_tm, cifar_train, cifar_val, head_epochs=cifar_cfg.epochs,
                                fine_tune_epochs=cifar_cfg.fine_tune_epochs,
                                unfreeze_from=cifar_cfg.get("unfreeze_from"), head_lr=cifar_cfg.get("head_lr"),
                                fine_tune_lr=cifar_cfg.get("fine_tune_lr"))
print("seconds per phase:", result.seconds)
cifar_preds = evaluate.predict_dataset(cifar_tm.model, cifar_test)
print(f"CIFAR-10 test accuracy: {cifar_preds.accuracy:.3f} on {len(cifar_preds.labels)} images")

# %%
fig, axes = plots.plot_history({cifar_cfg.get("backbone"): result.history}, fine_tune_at=result.fine_tune_at)
plt.show()
cm = evaluate.confusion_matrix(cifar_preds.labels, cifar_preds.predicted, len(cifar_classes))
fig, ax = plots.plot_per_class_accuracy(evaluate.per_class_accuracy(cm), cifar_classes)
plt.show()

# %% [markdown]
# ## Summary
#
# You kept `preprocess_input` inside the model (once), trained a new head on a frozen ImageNet backbone,
# unfroze the top layers with every BatchNorm layer still frozen, recompiled with a lower learning rate,
# fine-tuned, and saved a model that takes raw photos.
#
# In Part 2, `training.fit_two_phase` packaged this recipe and made phase 1 faster by computing the frozen
# base's features once instead of every epoch ([benchmarks section 4](https://github.com/tl-course/transfer-learning-course/blob/main/docs/benchmarks.md#4-end-to-end-two-phase-fine-tuning-versus-the-official-tensorflow-tutorial-recipe):
# 61.3 s against 488.6 s for the official tutorial's recipe on 1,999 photos, 2 CPU cores, accuracy at least
# as high).
#
# ## Exercises
#
# 1. In Part 1's unfreeze cell, leave out the BatchNorm re-freeze and fine-tune again. Compare validation
#    accuracy and the moving means of one BN layer before and after, as the experiment's last column does.
# 2. Fine-tune with the head learning rate (`cfg.get("head_lr")`) instead of the low one. What happens to the
#    validation loss in the first fine-tuning epoch?
# 3. Swap in `"EfficientNetB0"`: which preprocessing does it need, and what changes in the code?
# 4. In the experiment cell, set `EPOCHS = 3` and add a row `("top 30 %, rate 1e-4", wrapper, depth["top 30 %"],
#    1e-4, True)`. Where does the learning rate start to hurt, and does unfreezing more help at this data size?

# %% [markdown]
# ## Sources
#
# - *Transfer learning and fine-tuning*, TensorFlow tutorials (tensorflow.org): https://www.tensorflow.org/tutorials/images/transfer_learning
# - *Transfer learning & fine-tuning*, François Chollet (keras.io developer guide, 2020): https://keras.io/guides/transfer_learning/
# - *Fine-Tuning*, section 14.2 of *Dive into Deep Learning*, Aston Zhang, Zachary C. Lipton, Mu Li and Alexander J. Smola: https://d2l.ai/chapter_computer-vision/fine-tuning.html
# - Sergey Ioffe and Christian Szegedy, *Batch Normalization* (arXiv:1502.03167, 2015): https://arxiv.org/abs/1502.03167
# - Karen Simonyan and Andrew Zisserman, *Very Deep Convolutional Networks for Large-Scale Image Recognition* (VGG, arXiv:1409.1556, 2014): https://arxiv.org/abs/1409.1556
# - Mingxing Tan and Quoc V. Le, *EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks* (arXiv:1905.11946, 2019): https://arxiv.org/abs/1905.11946
# - Mark Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks* (arXiv:1801.04381, 2018): https://arxiv.org/abs/1801.04381
# - The classic articles this lesson quotes (the EfficientNetB0 CIFAR-10 article's 88.9 % and 93.8 %) are not named here: the course has not identified them by title and author yet. Their numbers are quoted as theirs, on their hardware.
