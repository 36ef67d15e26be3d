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
# # Lesson 06: Look inside the model and ship it
#
# A trained model raises three questions: *where is it looking?*, *how do I run it on a server or a phone?* and
# *can I show it to someone?* This lesson answers each with code you can reuse on your own model.
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/tl-course/transfer-learning-course/blob/main/notebooks/06_look_inside_and_ship.ipynb)
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/tl-course/transfer-learning-course/blob/main/notebooks/06_look_inside_and_ship.ipynb)

# %% [markdown]
# ## Overview
#
# In this lesson you will:
#
# - train lesson 05's model again with the one call that packages that lesson (`recipes.train_folder`);
# - find its **top losses**: the held-out photos it got most wrong, or right only by a hair;
# - see **where it looked** with Grad-CAM, on right and on wrong answers, and learn what such a map can and cannot
#   tell you;
# - **export** it as a SavedModel (servers) and a LiteRT file (phones), and prove that each export predicts what
#   the Keras model predicts: agreement, largest difference, size and time per photo side by side;
# - start a **demo page** where anyone you show it to uploads a photo and sees the answer and the heat map.
#
# **Data:** lesson 05's. Full mode: TensorFlow's `flower_photos` (3,670 photos, 5 classes); smoke mode: 150 real
# photos per class of `cats_and_dogs_filtered` (cached or downloaded once).
#
# **Runtime:** smoke mode 66 s on 2 CPU cores (measured in one `tlh run --smoke` of all seven lessons, 2026-12-04; docs/teaching.md). Full mode on a Colab
# T4 has not been timed yet. Estimate: under 0.1 min of GPU compute and about 1.4 GB of GPU memory (a compute-bound
# lower bound from FLOP counts and an assumed T4 throughput, `python -m bench.t4_estimate`); the download, XLA
# compilation and the LiteRT conversions add to it. `tlh run --full 6` on a T4 records the real time in
# `runs/<time>/summary.md`.

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
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

from tlhelpers import course, datasets, demo, evaluate, explain, export, folders, models, plots, recipes

cfg, strategy = course.start(6)  # real or generated data, versions, hardware; seed 42
BACKBONE, ALPHA = cfg.get("backbone"), cfg.get("alpha")

# %% [markdown]
# ## Train lesson 05's model with one call
#
# Lesson 05 wrote every step out: scan, split, load, augment, train the head on cached features, unfreeze with
# BatchNorm frozen, recompile, fine-tune. `recipes.train_folder` runs those same steps (it is also `tlh train`) and
# saves a `.keras` file that carries its class names. We split first, so that the test photos are ours to study:
# the recipe uses `train/` and `val/` as given and keeps `test/` for the held-out figure.

# %%
root = datasets.get_flower_photos()
work_dir = Path(tempfile.mkdtemp(prefix="lesson06_"))
split = folders.split_folder(root, work_dir / "photos_split", ratio=cfg.get("ratio"), seed=42)
trained = recipes.train_folder(split.output, work_dir / "classifier.keras", backbone=BACKBONE, alpha=ALPHA,
                               image_size=cfg.image_size, batch_size=cfg.batch_size, epochs=cfg.epochs,
                               fine_tune_epochs=cfg.fine_tune_epochs, unfreeze_from=cfg.get("unfreeze_from"),
                               strategy=strategy)
print(f"validation accuracy {trained.val_accuracy:.1%} on {trained.val_images} photos; "
      f"held-out test accuracy {trained.test_accuracy:.1%} on {trained.test_images} photos")

model = models.load_model(trained.model)
class_names = models.class_names_of(model)
splits, _ = folders.load_splits(split.output, image_size=cfg.image_size, batch_size=cfg.batch_size)
test_ds = splits["test"]
print(model.name, "| classes:", class_names)

# %% [markdown]
# ## Top losses: the photos the model got most wrong
#
# The loss of one photo is `-log p(true class)`: a confident mistake costs most, a right but hesitant answer costs
# something, a confident right answer almost nothing. Sorting the held-out photos by it (fastai calls this
# `top_losses`) is the quickest way to learn what the model confuses, and it is where wrongly labelled photos
# show up first.

# %%
preds = evaluate.predict_dataset(model, test_ds, keep_images=100_000)
idx, losses = evaluate.top_losses(preds, k=cfg.get("top_losses"))
wrong = int((preds.predicted != preds.labels).sum())
print(f"{wrong} of {len(preds.labels)} test photos wrong ({preds.accuracy:.1%} right)")
for i, loss in zip(idx, losses, strict=True):
    print(f"  photo {i:3d}: true {class_names[preds.labels[i]]:>10}, predicted "
          f"{class_names[preds.predicted[i]]:>10} ({preds.probs[i].max():.1%}), loss {loss:.2f}")
fig = plots.plot_image_grid(preds.images[idx], preds.labels[idx], class_names, predicted=preds.predicted[idx],
                            probs=preds.probs[idx], ncols=4, max_images=len(idx))
plt.show()

# %% [markdown]
# Read the titles: red ones are mistakes. Ask of each one: is the label right? Is the subject small, cut off, or
# is there something of another class in the photo? If you find wrong labels, fix the folder (the lesson never
# changes it for you) and train again.

# %% [markdown]
# ## Where did it look? Grad-CAM on right and wrong answers
#
# Grad-CAM (Selvaraju et al., 2017) takes the last convolutional feature map of the backbone (7 x 7 positions for a
# 224 px MobileNetV2, each with 1,280 channels here), weighs every channel by how much the class score rises when
# that channel rises (the mean gradient), adds them up and keeps the positive part. Stretched onto the photo, red
# marks the regions whose features speak **for** the class. `explain.grad_cam` finds the feature map itself
# (the output of the nested backbone) and checks that running the model's layers one by one reproduces its
# predictions.
#
# We look at the four most confident right answers and the four top losses:

# %%
right = np.flatnonzero(preds.predicted == preds.labels)
sure_right = right[np.argsort(-preds.probs[right].max(axis=1))][:4]
chosen = np.concatenate([sure_right, idx[:4]])
cam = explain.grad_cam(model, preds.images[chosen])
print("feature map:", cam.layer, "| heat map size:", cam.heatmaps.shape[1:])
titles = [f"{class_names[p]} {preds.probs[i].max():.0%}\n(true: {class_names[preds.labels[i]]})"
          for i, p in zip(chosen, cam.class_index, strict=True)]
colours = ["green" if preds.predicted[i] == preds.labels[i] else "red" for i in chosen]
fig = plots.plot_gradcam(preds.images[chosen], cam.heatmaps, titles=titles, title_colors=colours, ncols=4)
plt.show()

# %% [markdown]
# ### The same maps, by hand: one `GradientTape`
#
# This is all `explain.grad_cam` computes. Run the model's layers one by one up to the backbone, whose output is the
# feature map; let the tape watch that map; run the rest (pooling, dropout, head); then ask the tape how the score
# of the explained class changes with every feature:

# %%
chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
k = [layer.name for layer in chain].index(cam.layer)  # the backbone: its output is the feature map
with tf.GradientTape() as tape:
    x = tf.convert_to_tensor(preds.images[chosen], tf.float32)
    for layer in chain[:k]:  # preprocessing (augmentation is off outside training)
        x = layer(x, training=False)
    feature_map = tf.cast(chain[k](x, training=False), tf.float32)  # [N, 7, 7, 1280] at 224 px
    tape.watch(feature_map)
    x = feature_map
    for layer in chain[k + 1:]:  # pooling, dropout, the head
        x = layer(x, training=False)
    probs = tf.cast(x, tf.float32)
    score = tf.math.log(tf.gather(probs, cam.class_index, batch_dims=1) + 1e-9)  # the explained class
grads = tape.gradient(score, feature_map)  # how the score moves with every feature
channel_weights = tf.reduce_mean(grads, axis=(1, 2))  # one weight per channel: its mean gradient
heat = tf.nn.relu(tf.einsum("nhwk,nk->nhw", feature_map, channel_weights))  # weighted sum, positive part
heat = tf.math.divide_no_nan(heat, tf.reduce_max(heat, axis=(1, 2), keepdims=True))  # 0..1 per photo
difference = float(np.abs(heat.numpy() - cam.heatmaps).max())
print("feature map", tuple(feature_map.shape), f"| largest difference from explain.grad_cam: {difference:.1e}")
np.testing.assert_allclose(heat.numpy(), cam.heatmaps, atol=1e-3)  # the same maps as the helper's

# %% [markdown]
# Each map explains the class the model **predicted**. For a mistake, ask also where it found evidence for the
# **true** class: `class_index=` explains any class you name.

# %%
mistakes = idx[:4]
cam_true = explain.grad_cam(model, preds.images[mistakes], class_index=preds.labels[mistakes])
fig = plots.plot_gradcam(preds.images[mistakes], cam_true.heatmaps, ncols=4,
                         titles=[f"evidence for the true class:\n{class_names[t]}" for t in preds.labels[mistakes]])
plt.show()

# %% [markdown]
# What a Grad-CAM map tells you, and what it does not:
#
# - It says **where** the features that raised the score sit, at the feature map's resolution (7 x 7 here, so
#   each cell covers 32 x 32 pixels): it is coarse, and small objects blur into their surroundings.
# - It does not say **why**: a red patch on a dog's head does not tell you whether the ears, the fur or the
#   texture mattered.
# - A plausible map does not prove a model right. Red on the background (grass, a sofa, a watermark) is worth
#   knowing: the model may have learned a shortcut that your test photos share.
# - Saliency maps can look convincing even for a model with random weights (Adebayo et al., "Sanity Checks for
#   Saliency Maps", 2018). The course's own test checks that Grad-CAM puts its mass where the decision really is:
#   on a task where only the left half of the image carries the label, 96 % of the heat map falls in that half
#   ([`tests/test_explain.py`](https://github.com/tl-course/transfer-learning-course/blob/main/tests/test_explain.py)).

# %% [markdown]
# ## Export for serving and for phones, with proof
#
# A `.keras` file needs Keras and the course's layer classes to load. For serving, export it:
#
# - **SavedModel**: a folder that TensorFlow Serving, or `tf.saved_model.load` in any TensorFlow process, runs
#   without Keras or `tlhelpers`;
# - **LiteRT** (formerly TensorFlow Lite): one `.tflite` file for Android, iOS, a Raspberry Pi or a browser; with
#   `quantize="dynamic"` its weights are stored as 8-bit integers (about 4 times smaller).
#
# An export is a different program: prove that it predicts what the Keras model predicts. `export.export_model`
# writes the artifact in inference mode (augmentation off), then runs both on the same test photos:

# %%
check_images = preds.images.astype("float32")
artifacts = {}  # what -> its ExportReport
for name, fmt, quantize in [("classifier_saved_model", "saved_model", None), ("classifier.tflite", "litert", None),
                            ("classifier_dynamic.tflite", "litert", "dynamic")]:
    artifacts[fmt + (f"_{quantize}" if quantize else "")] = export.export_model(
        model, work_dir / name, format=fmt, quantize=quantize, images=check_images, overwrite=True)
rows = [{"artifact": what, "size (MB)": round(r.size_mb, 2), "top-1 agreement": f"{r.top1_agreement:.1%}",
         "largest difference": f"{r.max_abs_diff:.1e}", "one photo (ms)": round(r.latency_ms, 2),
         "Keras model (ms)": round(r.keras_latency_ms, 2)} for what, r in artifacts.items()]
keras_mb = Path(trained.model).stat().st_size / 2**20
print(f".keras file: {keras_mb:.2f} MB; {len(check_images)} test photos; times: this machine, one photo at a time")
pd.DataFrame(rows)

# %% [markdown]
# Read the table: computing in float32 like the Keras model (on a CPU), the float32 artifacts should agree on every
# photo, with differences near 1e-5 (rounding in a different order; the benchmark measured at most 1.2e-05, [`docs/benchmarks.md`](https://github.com/tl-course/transfer-learning-course/blob/main/docs/benchmarks.md) section 7). On a GPU the Keras model computes in
# float16 (mixed precision) while the artifacts compute in float32 (`export.float32_twin`: LiteRT has no float16
# kernels for these layers), so expect differences near 1e-3 and, rarely, a photo on the edge that flips. Dynamic quantization trades a little agreement for size; on this repository's benchmark
# (real cats-vs-dogs photos, MobileNetV2-0.35, [`docs/benchmarks.md`](https://github.com/tl-course/transfer-learning-course/blob/main/docs/benchmarks.md) section 7) it agreed on 99.5 % of 200 photos
# at about a third of the float32 LiteRT size (0.55 MB against 1.55 MB). Times depend on the machine: measure on the phone or server you
# deploy to.
#
# Use the SavedModel the way a server would, without Keras's model classes:

# %%
predict_artifact = export.load_artifact(work_dir / "classifier_saved_model")
probs = np.asarray(predict_artifact(check_images[:4]))
labels_file = (work_dir / "classifier_saved_model.labels.txt").read_text().split()
for i, p in enumerate(probs):
    print(f"photo {i}: {labels_file[int(p.argmax())]} {p.max():.1%} (Keras model: "
          f"{class_names[int(preds.probs[i].argmax())]} {preds.probs[i].max():.1%})")

# %% [markdown]
# The same from a shell: `tlh export classifier.keras --images test_photos/` (add `--format litert` and
# `--quantize dynamic` for a phone).

# %% [markdown]
# ## A demo people can click
#
# `demo.explain_file` is what the page does with each upload: it reads the file (anything that is not a readable
# image gets a sentence, not a crash), predicts, and draws the Grad-CAM map of the top label:

# %%
photo_file = sorted((split.output / "test" / class_names[0]).iterdir())[0]
shown = demo.explain_file(model, photo_file, top_k=3)
print(shown.message)
print({k: f"{v:.1%}" for k, v in shown.top.items()})
not_a_photo = work_dir / "shopping_list.txt"
not_a_photo.write_text("milk, bread")
print(demo.explain_file(model, not_a_photo).message)
plt.imshow(shown.overlay)
plt.axis("off")
plt.show()

# %% [markdown]
# Now the page itself (Gradio). On your own computer it listens on `http://127.0.0.1:<port>`: only you can open
# it. On Colab it appears below this cell; on Kaggle, whose notebook machine your browser cannot reach, Gradio
# makes a temporary public link (anyone with the link can use it while the notebook runs). From a shell:
# `tlh demo classifier.keras` (add `--share` for a public link).

# %%
import importlib.util

if importlib.util.find_spec("gradio") is None:  # Colab and Kaggle may lack it; locally: pip install "tlhelpers[demo]"
    if not demo.in_hosted_notebook():
        raise ImportError('The demo needs Gradio: pip install "tlhelpers[demo]", then run this cell again.')
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gradio>=5,<7"], check=True)
app = demo.launch(model, block=False)

# %% [markdown]
# Upload a few photos: your own, one of another class, a drawing, a screenshot. Where does the map go when the
# model is unsure? When you are done, stop the server:

# %%
app.close()

# %% [markdown]
# ## Summary
#
# You trained lesson 05's model in one call, read its top losses, looked at where it found evidence with
# Grad-CAM (and at what such maps cannot tell you), exported it twice with proof that the exports predict what
# it predicts, and served it as a page anyone can click.
#
# ## Exercises
#
# 1. Explain the **second** most likely class of a confident right answer with `class_index=`. Where is its
#    evidence?
# 2. Export with `format="litert", quantize="float16"` and add it to the table. When would you choose it over
#    dynamic quantization?
# 3. Train with `fine_tune_epochs=0` and compare the Grad-CAM maps of the same photos: does fine-tuning move them?
# 4. Run `tlh demo` on the model you trained in lesson 05 on your own photos (the cell below says where it is)
#    and show it to someone. Which photo fooled it?

# %%
yours = course.models_dir() / "my_classifier.keras"  # where lesson 05 saved the model of your photos
if yours.is_file():
    print(f"lesson 05's model: {yours} (classes: {models.class_names_of(models.load_model(yours))})")
    print(f"try it:  tlh demo {yours}")
else:
    print(f"no model from lesson 05 at {yours} yet: run lesson 05 first (this same runtime or folder)")

# %% [markdown]
# ## Sources
#
# - *Your Deep Learning Journey* (chapter 1 of *Deep Learning for Coders with fastai and PyTorch*), Jeremy Howard and Sylvain Gugger (2020): https://github.com/fastai/fastbook/blob/master/01_intro.ipynb
# - Ramprasaath R. Selvaraju et al., *Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization* (arXiv:1610.02391, 2017): https://arxiv.org/abs/1610.02391
# - *Grad-CAM class activation visualization*, François Chollet (keras.io example, 2020): https://keras.io/examples/vision/grad_cam/
# - *Save, serialize, and export models*, Keras guide (keras.io): https://keras.io/guides/serialization_and_saving/
# - *Gradio* (the demo page's library): https://www.gradio.app/docs
