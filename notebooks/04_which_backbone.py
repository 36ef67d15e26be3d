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
# # Lesson 04: Which backbone? Compare accuracy with size, speed and memory
#
# You train several pretrained networks the same way on the same photos, then compare them on accuracy **and**
# cost, plug in a network that `keras.applications` does not have, and find out how many labelled images
# transfer learning needs.
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tl-course/transfer-learning-course/blob/main/notebooks/04_which_backbone.ipynb)
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/tl-course/transfer-learning-course/blob/main/notebooks/04_which_backbone.ipynb)

# %% [markdown]
# ## Overview
#
# In this lesson you will:
#
# - evaluate a model before training, to know the starting point (a random head guesses);
# - add your own backbone (SqueezeNet v1.1, written in Keras, with real weights loaded layer by layer);
# - compare backbones trained the same way (same head, epochs, learning rate, seed) on accuracy, parameters,
#   size on disk, training time, inference throughput, latency and memory;
# - read the accuracy-versus-speed chart and its Pareto front;
# - measure accuracy against the number of labelled images for a scratch CNN, feature extraction and fine-tuning.
#
# **Data:** `cats_and_dogs_filtered` (2,000 training photos; the 1,000 validation photos are split into 500 for
# validation and 500 for test). The classic comparison article trained VGG16, InceptionV3 and ResNet101V2 at 160 px
# and reports about 50 % before training, then 93 %, 95 % and 97 % (their numbers, their hardware).
#
# **Runtime:** smoke mode 109 s on 2 CPU cores (measured in one `tlh run --smoke` of all seven lessons, 2026-12-04; docs/teaching.md). Full mode on a Colab T4 has not been timed yet.
# Estimate: at least 0.7 min of GPU compute and about 1.9 GB of GPU memory (a
# compute-bound lower bound from FLOP counts and an assumed T4 throughput, `python -m bench.t4_estimate`;
# downloads, decoding and XLA compilation add to it). `tlh run --full` on a T4 records the real time and
# peak GPU memory in `runs/<time>/summary.md`.
#
# Measured in this course (2 CPU cores, real photos, 300 training images per class, 160 px, 8 head epochs,
# [`tests/test_compare.py`](https://github.com/tl-course/transfer-learning-course/blob/main/tests/test_compare.py)): MobileNetV2-0.35 94.2 %, SqueezeNet 95.0 %, scratch CNN 67.6 % validation accuracy;
# with only 10 images per class, feature extraction reached 82.2 % and the scratch CNN 50.4 %.

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
import statistics
import tempfile
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

from tlhelpers import backbones, compare, course, data, datasets, features, models, plots, squeezenet

cfg, strategy = course.start(4)  # real or generated data, versions, hardware; seed 42
CANDIDATES = list(cfg.get("candidates"))
print("candidates:", CANDIDATES)

# %% [markdown]
# ## Load the photos
#
# The training folder trains every candidate; the validation folder is split per class into a validation half
# (model selection) and a test half (the final, untouched score):

# %%
root = datasets.get_cats_and_dogs()
batch_size = cfg.batch_size * strategy.num_replicas_in_sync
train_ds, class_names = data.image_folder(root / "train", image_size=cfg.image_size, batch_size=batch_size,
                                          shuffle=True, limit_per_class=cfg.train_examples)
val_ds, _ = data.image_folder(root / "validation", image_size=cfg.image_size, batch_size=batch_size,
                              limit_per_class=cfg.val_examples)
test_ds, _ = data.image_folder(root / "validation", image_size=cfg.image_size, batch_size=batch_size,
                               skip_per_class=cfg.val_examples, limit_per_class=cfg.test_examples)
for name, ds in [("train", train_ds), ("validation", val_ds), ("test", test_ds)]:
    print(f"{name:10s} {sum(int(y.shape[0]) for _, y in ds):5d} images")

# %% [markdown]
# ## Evaluate before training
#
# Build the first candidate with its frozen base and a new, untrained head, and evaluate it. With two classes a
# random head scores about 50 %: every number after training should be read against this starting point.
# Every model this lesson builds by hand trains only its head, on cached features: as in lesson 02 they are built
# and compiled outside `strategy.scope()`, on one device (`compare.compare` below builds in the scope, since it
# also fine-tunes):

# %%
first = compare.candidate(CANDIDATES[0]).build(len(class_names), cfg.image_size)
first.model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
loss0, acc0 = first.model.evaluate(val_ds, verbose=0)
print(f"{CANDIDATES[0]} before training: validation accuracy {acc0:.3f}, loss {loss0:.3f}")

# %% [markdown]
# ## Measure one candidate by hand
#
# Before a helper measures nine networks, measure one yourself. Five numbers decide a backbone: accuracy on the
# validation photos (to choose) and on the test photos (to report, once), size (parameters, megabytes on disk),
# and speed (images per second in batches, milliseconds for one image). The base is frozen, so its features are
# computed **once** and the head trains on them:

# %%
t0 = time.perf_counter()
train_f, val_f, test_f = (features.extract_features(first.features, ds, progress=False)
                          for ds in (train_ds, val_ds, test_ds))
feature_seconds = time.perf_counter() - t0
first.head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",  # the head is a model too:
                   metrics=["accuracy"])  # compile it to train it on the features
first.head.fit(train_f.features, train_f.labels, epochs=cfg.epochs, batch_size=batch_size, verbose=0)
# first.head is the head inside first.model: the model now predicts with the trained head
val_acc = first.model.evaluate(val_ds, verbose=0)[1]  # the whole model on the photos, end to end
test_acc = first.head.evaluate(test_f.features, test_f.labels, verbose=0)[1]
params = sum(int(np.prod(w.shape)) for w in first.model.weights)
with tempfile.TemporaryDirectory() as tmp:
    first.model.save(Path(tmp) / "candidate.keras")
    saved_mb = (Path(tmp) / "candidate.keras").stat().st_size / 2**20

run = tf.function(lambda x: first.model(x, training=False), reduce_retracing=True)  # inference, as deployed
batch = tf.convert_to_tensor(next(iter(val_ds))[0], tf.float32)
run(batch), run(batch[:1])  # the first calls build the graph: not timed


def median_seconds(x, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


throughput = int(batch.shape[0]) / median_seconds(batch, 5)
latency_ms = 1000 * median_seconds(batch[:1], 10)
by_hand = {"val_accuracy": val_acc, "test_accuracy": test_acc, "params_total": params, "saved_mb": saved_mb,
           "throughput_img_s": throughput, "latency_ms": latency_ms}
print(f"{CANDIDATES[0]}: features once in {feature_seconds:.1f} s; validation {val_acc:.1%}, test {test_acc:.1%}; "
      f"{plots.human(params)} parameters, {saved_mb:.1f} MB on disk; {plots.human(throughput)} images/s in "
      f"batches of {int(batch.shape[0])}, {latency_ms:.1f} ms for one image (this machine)")

# %% [markdown]
# Medians of several timed calls after an untimed first call (which builds the graph) make the speed repeatable;
# they are this machine's numbers, not a GPU's. `compare.compare` below does exactly these steps for every
# candidate (through `training.fit_two_phase`, the same seed and settings) and puts the rows in one table.

# %% [markdown]
# ## What did ImageNet buy? The same network with random weights
#
# A number means little without a control. Build the same backbone with `weights=None` (random weights, frozen
# just the same), compute its features, train the same head for the same epochs and compare. The gap between the
# two validation accuracies is what the ImageNet weights bring to this dataset; the architecture alone brings
# the rest:

# %%
name, alpha = backbones.parse_spec(CANDIDATES[0])  # "MobileNetV2@0.35" -> ("MobileNetV2", 0.35)
control = models.build_transfer_model(name, len(class_names), image_size=cfg.image_size, weights=None, alpha=alpha)
control.head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
ctrl_train_f, ctrl_val_f = (features.extract_features(control.features, ds, progress=False)
                            for ds in (train_ds, val_ds))
control.head.fit(ctrl_train_f.features, ctrl_train_f.labels, epochs=cfg.epochs, batch_size=batch_size, verbose=0)
control_acc = control.head.evaluate(ctrl_val_f.features, ctrl_val_f.labels, verbose=0)[1]
print(f"{CANDIDATES[0]}, frozen, head trained {cfg.epochs} epochs: validation {val_acc:.1%} with ImageNet "
      f"weights, {control_acc:.1%} with random weights ({len(ctrl_val_f.labels)} validation photos; "
      f"chance: {1 / len(class_names):.0%})")

# %% [markdown]
# Read the two numbers side by side. In the course's smoke run (MobileNetV2 at width 0.35, 100 photos per class,
# 2026-12-04) the random-weight head scored exactly chance, 50 %, against 90 % with ImageNet weights: a frozen
# random network passes the head nothing it can use, so the whole gap is what ImageNet training put into the
# weights. Lesson 01 trained a network from scratch on its own data; here the base did not train at all, which
# isolates the weights' share. `compare.compare` below includes a small scratch CNN for the same reason.

# %% [markdown]
# ## Bring your own backbone
#
# SqueezeNet v1.1 is not in `keras.applications`. `tlhelpers.squeezenet` writes its architecture in a few lines
# of Keras and loads the real ImageNet weights **by order**: the old HDF5 file names its layers `fire2/squeeze1x1`,
# which Keras 3 cannot match by name, so each conv layer takes the next stored kernel and bias, with shapes checked.
# Registering it makes it a backbone like any other. This is the recipe for any network:

# %%
my_backbone = backbones.Backbone(
    name="MySqueezeNet", constructor="", module="imagenet_utils", preprocess="caffe", input_size=224, min_size=32,
    note="SqueezeNet v1.1, registered by hand", weights_file=squeezenet.WEIGHTS_FILE,
    weights_url=squeezenet.WEIGHTS_URL,  # where full mode downloads the file once
    factory=lambda input_shape, weights, pooling=None, **_: squeezenet.squeezenet_v1_1(input_shape, weights, pooling),
)
backbones.register(my_backbone, replace=True)
byo = models.build_transfer_model("MySqueezeNet", len(class_names), image_size=cfg.image_size)
print(models.trainable_summary(byo.model))
print("weights file:", backbones.resolve_weights("MySqueezeNet"))

# %% [markdown]
# Note: SqueezeNet was trained on Caffe-style inputs (BGR, ImageNet means subtracted), so the registry entry says
# `preprocess="caffe"` and the model's `Preprocess` layer applies exactly that.

# %% [markdown]
# ## Compare the candidates
#
# `compare.compare` trains every candidate the same way (features computed once, the same head, epochs, learning
# rate and seed) and measures each. A candidate that fails is recorded with its error and the others go on; with
# `out_dir`, finished candidates are skipped when you run the cell again (delete the folder to start over):

# %%
out_dir = course.cache_root() / "compare" / f"lesson04_{cfg.mode}"
table = compare.compare(CANDIDATES, train_ds, val_ds, test_ds, num_classes=len(class_names),
                        image_size=cfg.image_size, epochs=cfg.epochs, out_dir=out_dir, strategy=strategy)
shown = ["name", "status", "val_accuracy_before", "val_accuracy", "test_accuracy", "params_total", "saved_mb",
         "seconds_per_epoch", "throughput_img_s", "latency_ms", "peak_rss_mb"]
with pd.option_context("display.width", 200, "display.precision", 3):
    print(table[shown].to_string(index=False))
helper_row = table.set_index("name").loc[CANDIDATES[0]]
print(f"\n{CANDIDATES[0]}, measured by hand above and by compare (a new model, trained again):")
for key, value in by_hand.items():
    show = (lambda v: f"{v:.1%}") if "accuracy" in key else plots.human
    print(f"  {key:18s} by hand {show(value):>10s}   compare {show(float(helper_row[key])):>10s}")

# %% [markdown]
# ## Read the charts
#
# Accuracy alone hides the cost. The bars put accuracy beside throughput, parameters and size on disk.
#
# Read accuracy differences as error rates: from 96 % to 97 % looks like one point, but the errors fall from 4 %
# to 3 %, a quarter fewer mistakes. Near the top, a point of accuracy is worth more than it looks (and on a few
# hundred validation photos, one point is a handful of photos: within the noise of one run):

# %%
fig = plots.plot_comparison_bars(table)
plt.show()

# %% [markdown]
# The scatter shows accuracy against inference speed. The dashed line joins the **Pareto front**: the models that
# no other model beats on both. Pick from the front, at the speed your application needs:

# %%
fig, ax = plots.plot_accuracy_vs_speed(table)
plt.show()
print("on the Pareto front:", list(table.loc[compare.pareto_front(table), "name"]))

# %% [markdown]
# The learning curves of all candidates, on the same axes:

# %%
fig, axes = plots.plot_history(table.attrs["histories"])
plt.show()

# %% [markdown]
# ## How many labelled images do you need?
#
# One point of the curve by hand first: the candidate measured above, its features already cached, and a fresh
# head trained on only a few photos per class (the first ones of the shuffled training set), measured on the same
# validation photos:

# %%
n = cfg.get("sweep_per_class")[0]
few = np.concatenate([np.flatnonzero(train_f.labels == c)[:n] for c in range(len(class_names))])
few_head = models.build_head(train_f.features.shape[1], len(class_names))
few_head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
few_head.fit(train_f.features[few], train_f.labels[few], epochs=cfg.epochs, batch_size=batch_size, verbose=0)
few_acc = few_head.evaluate(val_f.features, val_f.labels, verbose=0)[1]
print(f"{CANDIDATES[0]} features, head trained on {n} photos per class ({len(few)} in all): validation "
      f"{few_acc:.1%}; on all {len(train_f.labels)}: {val_acc:.1%}")

# %% [markdown]
# `compare.data_efficiency` repeats that for several amounts and three methods, each with fresh models: a scratch
# CNN, a frozen-base feature extractor and a fine-tuned model, on 10, 50, 200 and all images per class (smoke
# mode: fewer), each measured on the same validation photos. This is the curve that shows when transfer learning
# pays:

# %%
sweep = compare.data_efficiency(root / "train", val_ds, per_class=cfg.get("sweep_per_class"),
                                backbone=cfg.get("sweep_backbone"), image_size=cfg.image_size,
                                batch_size=batch_size, epochs=cfg.get("sweep_epochs"),
                                fine_tune_epochs=cfg.get("sweep_fine_tune_epochs"), strategy=strategy)
print(sweep.pivot(index="train_images", columns="method", values="val_accuracy").round(3))
fig, ax = plots.plot_data_efficiency(sweep)
plt.show()

# %% [markdown]
# ## Choose a backbone
#
# Read your own table, not someone else's leaderboard:
#
# - With a few dozen images per class, a pretrained backbone is not optional: the scratch CNN stays near chance
#   where feature extraction already works (see the sweep above).
# - If the application needs many images per second on a CPU or a phone, look at the right end of the Pareto
#   front (MobileNet, SqueezeNet); if accuracy matters most and a GPU is available, the left end.
# - Size on disk and peak memory decide whether a model fits the device; parameters alone do not (the scratch CNN
#   has more parameters than several pretrained networks, because of its large dense layer).
# - Fine-tuning adds accuracy once there are enough images to adjust the top layers without overfitting.
#
# ## Summary
#
# You evaluated a model before training, registered your own backbone with real weights, compared candidates
# trained the same way on accuracy beside size, speed and memory, read the Pareto front, and measured how accuracy
# grows with the number of labelled images.
#
# ## Exercises
#
# 1. Add `"EfficientNetB0"` and `"hub:mobilenet_v2_100_224"` to `CANDIDATES` and run the comparison cell again:
#    only the new ones train.
# 2. Re-run the comparison at 224 px. Which columns change most?
# 3. Register another network that is not in `keras.applications` (for example a ResNet-18 you write yourself).

# %% [markdown]
# ## Sources
#
# - *Fine-Tuning*, section 14.2 of *Dive into Deep Learning*, Aston Zhang, Zachary C. Lipton, Mu Li and Alexander J. Smola: https://d2l.ai/chapter_computer-vision/fine-tuning.html
# - *Transfer learning and fine-tuning*, TensorFlow tutorials (tensorflow.org): https://www.tensorflow.org/tutorials/images/transfer_learning
# - Karen Simonyan and Andrew Zisserman, *Very Deep Convolutional Networks for Large-Scale Image Recognition* (VGG, arXiv:1409.1556, 2014): https://arxiv.org/abs/1409.1556
# - Christian Szegedy et al., *Rethinking the Inception Architecture for Computer Vision* (Inception v3, arXiv:1512.00567, 2015): https://arxiv.org/abs/1512.00567
# - Kaiming He et al., *Deep Residual Learning for Image Recognition* (arXiv:1512.03385, 2015): https://arxiv.org/abs/1512.03385
# - Mingxing Tan and Quoc V. Le, *EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks* (arXiv:1905.11946, 2019): https://arxiv.org/abs/1905.11946
# - Mark Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks* (arXiv:1801.04381, 2018): https://arxiv.org/abs/1801.04381
# - Forrest N. Iandola et al., *SqueezeNet* (arXiv:1602.07360, 2016): https://arxiv.org/abs/1602.07360
# - The classic articles this lesson quotes (the backbone-comparison article's 93 %, 95 % and 97 %) are not named here: the course has not identified them by title and author yet. Their numbers are quoted as theirs, on their hardware.
