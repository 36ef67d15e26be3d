"""tlhelpers: the helper package of the transfer-learning course.

The lessons import the modules they need, e.g. ``from tlhelpers import data,
models, plots``. Importing the package does nothing else: no TensorFlow import,
no downloads, no seeding.

Three floors (docs/architecture.md has the map, tests/test_architecture.py keeps it true):
``tlhelpers.<room>``, the learner helpers below; ``tlhelpers.course``, the course machinery
(modes, real files, stand-ins, the rehearsal, the run report; the helpers ask it only through
``tlhelpers.course.sources``); ``tlhelpers.cli``, the ``tlh`` command line.

Learner helpers, bottom to top (a module imports only rooms listed above it here):
    atomic: files written whole or not at all (temporary name, then ``os.replace``).
    data: ``tf.data`` pipelines (per-batch resize, image folders).
    kerascompat: the private Keras internals the package uses, each behind one function.
    downloads: every file the course downloads, once: addresses, digests, sizes, lessons.
    squeezenet: SqueezeNet v1.1 in Keras (bring-your-own backbone).
    features: run a frozen network once over a dataset (cached to a file on request).
    backbones: the keras.applications registry and weight files.
    tfhub: the TF-Hub handle registry, module cache and signatures.
    kerashub: KerasHub presets as backbones: find, load, their preprocessing.
    datasets: every dataset download.
    folders: the learner's own folder: scan, convert, split, load.
    layers: the course's registered Keras layers (Preprocess, RandomAffine, ClassNames, HubLayer).
    models: model builders, freeze/unfreeze, save/load.
    training: accelerator set-up, two-phase training, timing, histories.
    evaluate: predictions, confusion matrices, per-class accuracy.
    explain: Grad-CAM heat maps (where the model looked).
    compare: backbones trained the same way, side by side.
    recipes: whole jobs as one call (``tlh train``).
    export: SavedModel / LiteRT export, checked against the Keras model.
    demo: the web page of ``tlh demo`` (Gradio): upload a photo, see top labels and Grad-CAM.
    plots: learning curves, confusion matrices, image grids, comparison charts.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
