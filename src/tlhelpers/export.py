"""Ship a trained model: export it as a SavedModel or a LiteRT file, with proof it predicts the same.

What belongs here: writing deployment artifacts and checking them against
the ``.keras`` model. Keras writes the SavedModel (``keras.export.ExportArchive``
with a ``serve`` endpoint that runs the model in inference mode) and
TensorFlow's converter turns it into a LiteRT ``.tflite`` file; this room adds
the checks a learner should not skip: the artifact's predictions against the Keras model's on the same
images (largest absolute difference, top-1 agreement), its size, and its
single-image latency on this machine.

The course's own layers need no special care: ``Preprocess`` and
``ClassNames`` are plain TensorFlow ops and are traced into the artifact,
and the augmentation layers are identities at inference, so the artifact
takes raw 0..255 photos like the ``.keras`` model. The class names are not
part of a SavedModel's or LiteRT file's signature: they are written beside
the artifact (``<artifact>.labels.txt``, one per line, label order).
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tlhelpers import kerascompat, models

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["float32_twin", "FORMATS", "QUANTIZE", "ExportReport", "export_model", "load_artifact"]

FORMATS = ("saved_model", "litert")
QUANTIZE = ("dynamic", "float16")


@dataclass
class ExportReport:
    """What :func:`export_model` wrote and how the artifact compares with the Keras model.

    Attributes:
        format: ``"saved_model"`` or ``"litert"``.
        quantize: None, ``"dynamic"`` or ``"float16"``.
        path: The artifact (a folder for SavedModel, a ``.tflite`` file for LiteRT).
        size_mb: Its size on disk.
        images: How many images the check used.
        max_abs_diff: Largest absolute difference between the two models' outputs (probabilities).
        top1_agreement: Share of images where both predict the same class.
        latency_ms: Median time of one single-image call of the artifact, this machine.
        keras_latency_ms: The same for the Keras model (a compiled ``tf.function``), side by side.
        class_names: The names written beside the artifact, or None.
    """

    format: str
    quantize: str | None
    path: Path
    size_mb: float
    images: int
    max_abs_diff: float
    top1_agreement: float
    latency_ms: float
    keras_latency_ms: float
    class_names: list[str] | None = field(default=None)

    def summary(self) -> str:
        """One paragraph for a person: what was written and how closely it agrees."""
        kind = self.format + (f", {self.quantize} quantization" if self.quantize else "")
        return (f"{self.path} ({kind}): {self.size_mb:.2f} MB; on {self.images} images: top-1 agreement "
                f"{self.top1_agreement:.1%}, largest output difference {self.max_abs_diff:.2e}; one image "
                f"{self.latency_ms:.2f} ms (Keras model {self.keras_latency_ms:.2f} ms, this machine)")


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _interpreter(path: Path) -> Any:
    try:  # the maintained LiteRT runtime, when installed
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - TensorFlow's own copy (deprecated, still shipped in 2.21)
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    return interp


def load_artifact(path: str | os.PathLike) -> Any:
    """Return ``predict(images) -> outputs`` for an exported artifact (SavedModel folder or ``.tflite`` file).

    Images are ``[N, H, W, 3]`` raw pixels as the Keras model took them; outputs are NumPy arrays.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        ValueError: ``path`` is neither a SavedModel folder nor a ``.tflite`` file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No exported model at {path}.")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ValueError(f"{path} is a folder without saved_model.pb: not a SavedModel.")
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        serve = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
        fn = getattr(loaded, "serve", None)
        if fn is None and serve is None:
            raise ValueError(f"{path} has no 'serve' endpoint or serving_default signature.")

        def predict_saved_model(images: Any) -> np.ndarray:
            x = tf.convert_to_tensor(np.asarray(images, "float32"))
            out = fn(x) if fn is not None else next(iter(serve(x).values()))
            return np.asarray(out)

        predict_saved_model.keep = loaded  # keep the loaded object alive with the function
        return predict_saved_model
    if path.suffix != ".tflite":
        raise ValueError(f"{path} is not a SavedModel folder or a .tflite file.")
    interp = _interpreter(path)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

    def predict_litert(images: Any) -> np.ndarray:
        rows = []
        for image in np.asarray(images, "float32"):  # the converted graph takes one image at a time
            interp.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
            interp.invoke()
            rows.append(np.array(interp.get_tensor(out["index"])[0], dtype="float32"))
        return np.stack(rows)

    return predict_litert


def _median_ms(fn: Any, x: Any, repeats: int) -> float:
    fn(x)  # the first call builds and warms up: not timed
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _write_saved_model(model: keras.Model, path: Path, shape: tuple) -> None:
    """Write a SavedModel whose ``serve`` endpoint runs ``model(x, training=False)``.

    Why not ``model.export``: in Keras 3.15.1 it traces the model without ``training=False``, and Keras's random
    augmentation layers (e.g. ``RandomContrast``, whose ``call`` defaults to ``training=True``) then stay active in
    the artifact: measured here, a SavedModel of a model with ``RandomContrast`` changed its inputs by up to 42 of
    255 grey levels, and the course's cats-vs-dogs model's probabilities by 0.067. ``ExportArchive`` with an
    explicit endpoint says inference mode once and for all.
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=lambda image: model(image, training=False),
                         input_signature=[tf.TensorSpec(shape, tf.float32, name="image")])
    archive.write_out(str(path), verbose=False)


def _float32_config(node: Any) -> Any:
    """Return a copy of a Keras config in which every mixed-precision dtype policy computes in float32."""
    if isinstance(node, dict):
        if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(node.get("config"), dict):
            name = str(node["config"].get("name", ""))
            if name.startswith("mixed_"):
                return {**node, "config": {**node["config"], "name": "float32"}}
        return {k: ("float32" if k == "dtype" and isinstance(v, str) and v.startswith("mixed_")
                    else _float32_config(v)) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return type(node)(_float32_config(v) for v in node)
    return node


def float32_twin(model: keras.Model) -> keras.Model:
    """Return ``model`` when it computes in float32, else a float32 twin with the same weights.

    A model trained under mixed precision (``mixed_float16`` on a GPU, as the course's lessons do) computes in
    float16 while keeping float32 weights. LiteRT has no float16 kernels for these layers (the conversion fails
    with ``ERROR_NEEDS_FLEX_OPS``, found by the GPU-shaped rehearsal), and a float16 graph runs slowly or not at
    all on most serving CPUs. The twin is rebuilt from the model's config with float32 policies; its weights
    are the model's own, unchanged. (To store float16 weights in a LiteRT file, use ``quantize="float16"``.)
    """
    import keras

    def computes_in_float32(layer: Any) -> bool:
        policy = getattr(layer, "dtype_policy", None)
        return policy is None or policy.compute_dtype == "float32"

    if all(computes_in_float32(layer) for layer in kerascompat.all_sublayers(model, include_self=True)):
        return model
    try:
        twin = keras.Model.from_config(_float32_config(model.get_config()))
        twin.set_weights(model.get_weights())
    except (NotImplementedError, TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{model.name} computes in {model.dtype_policy.compute_dtype} (mixed precision) and its "
                         "config cannot be rebuilt in float32 for export (a subclassed model without get_config?). "
                         "Export a functional model, or build and train it after "
                         "keras.mixed_precision.set_global_policy('float32').") from exc
    return twin


def export_model(model: keras.Model, out: str | os.PathLike, *, format: str = "saved_model",
                 quantize: str | None = None, images: Any = None, overwrite: bool = False,
                 repeats: int = 20) -> ExportReport:
    """Export ``model`` and check the artifact against it.

    Args:
        model: A trained Keras model taking raw images.
        out: Where to write: a folder for ``saved_model``, a ``.tflite`` file for ``litert`` (added if missing).
        format: ``"saved_model"`` or ``"litert"``. Defaults to ``"saved_model"``.
        quantize: LiteRT only: ``"dynamic"`` (int8 weights) or ``"float16"`` (float16 weights). Defaults to None.
        images: ``[N, H, W, 3]`` raw images for the check (use real photos: ``N`` of 100-200 is plenty).
            Defaults to 16 random images, which proves the plumbing but not the accuracy.
        overwrite: Replace an existing artifact. Defaults to False: an existing one is an error.
        repeats: Timed single-image calls for the latencies. Defaults to 20.

    Returns:
        An :class:`ExportReport`.

    A model trained under mixed precision is exported computing in float32 (:func:`float32_twin`), with its own
    weights; the check compares the artifact with the mixed-precision model itself.

    Raises:
        ValueError: Unknown format or quantization, quantization asked for a SavedModel, wrong image shape.
        FileExistsError: ``out`` exists and ``overwrite`` is False.
    """
    out, images = _checked_request(model, out, format=format, quantize=quantize, images=images,
                                   overwrite=overwrite)
    _write_artifact(float32_twin(model), out, format=format, quantize=quantize)  # computes in float32
    names = models.class_names_of(model)
    if names:
        Path(str(out) + ".labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return _checked_against(model, out, images, format=format, quantize=quantize, repeats=repeats,
                            class_names=names)


def _checked_request(model: keras.Model, out: str | os.PathLike, *, format: str, quantize: str | None,
                     images: Any, overwrite: bool) -> tuple[Path, np.ndarray]:
    """Refuse a wrong request before anything is written; return the final path and the check images."""
    if format not in FORMATS:
        raise ValueError(f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in QUANTIZE:
        raise ValueError(f"Unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZE)} (or none).")
    if quantize is not None and format != "litert":
        raise ValueError("Quantization applies to LiteRT files only: add --format litert, or drop --quantize.")
    out = Path(out)
    if format == "litert" and out.suffix != ".tflite":
        out = out.with_suffix(".tflite")
    size = tuple(model.input_shape[1:])
    if images is None:
        images = np.random.default_rng(0).uniform(0, 255, (16, *size)).astype("float32")
    images = np.asarray(images, "float32")
    if images.ndim != 4 or tuple(images.shape[1:]) != size:
        raise ValueError(f"Check images must be [N, {', '.join(map(str, size))}] for this model, got {images.shape}.")
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"{out} exists already: choose another path or pass overwrite=True "
                                  "(tlh export --overwrite).")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, images


def _write_artifact(served: keras.Model, out: Path, *, format: str, quantize: str | None) -> None:
    """Write the SavedModel folder or LiteRT file beside ``out``, then move it there: never half an artifact."""
    import tensorflow as tf

    size = tuple(served.input_shape[1:])
    tmp = out.with_name(out.name + ".partial")
    staging = out.with_name(out.name + ".partial_saved_model")
    for stale in (tmp, staging):
        if stale.exists():
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    if format == "saved_model":
        _write_saved_model(served, tmp, (None, *size))
    else:
        _write_saved_model(served, staging, (1, *size))  # LiteRT graphs take one image at a time
        try:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(staging))
            if quantize is not None:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantize == "float16":
                converter.target_spec.supported_types = [tf.float16]
            tmp.write_bytes(converter.convert())
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    os.replace(tmp, out)  # nothing at the final path before the export finished


def _checked_against(model: keras.Model, out: Path, images: np.ndarray, *, format: str, quantize: str | None,
                     repeats: int, class_names: list[str] | None) -> ExportReport:
    """Run the written artifact and the Keras model on the same images: differences, agreement, latencies."""
    import tensorflow as tf

    predict = load_artifact(out)
    ours = predict(images)
    run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    ref = np.asarray(run(tf.convert_to_tensor(images)), dtype="float32")
    if ours.shape != ref.shape:
        raise ValueError(f"The artifact returns shape {ours.shape}, the Keras model {ref.shape}.")
    one = images[:1]
    return ExportReport(
        format=format, quantize=quantize, path=out, size_mb=_size_mb(out), images=len(images),
        max_abs_diff=float(np.max(np.abs(ours - ref))),
        top1_agreement=float(np.mean(ours.argmax(axis=-1) == ref.argmax(axis=-1))),
        latency_ms=_median_ms(predict, one, repeats),
        keras_latency_ms=_median_ms(lambda x: run(tf.convert_to_tensor(x)).numpy(), one, repeats),
        class_names=class_names)
