"""Exported artifacts (SavedModel, LiteRT float32 / dynamic / float16) versus the .keras model they came from.

Same model (MobileNetV2-0.35, real ImageNet weights from the offline assets, head trained on the cached features
of 100 training photos per class, preprocessing and class names inside), same 200 real validation photos, same
machine, one process. For each artifact: size on disk, top-1 agreement and largest output difference against
the .keras model, median single-image latency beside the .keras model's (a compiled tf.function), measured in
the same call of ``tlhelpers.export.export_model``.

Run: python -m bench.export_artifacts [--repeats-latency 50]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TLH_SMOKE"] = "0"

from bench.common import write

VARIANTS = [("saved_model", None), ("litert", None), ("litert", "dynamic"), ("litert", "float16")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats-latency", type=int, default=50)
    args = parser.parse_args()

    import keras
    import numpy as np

    from tlhelpers import data, export, features, models
    from tlhelpers.course import config

    root = config.require_asset("cats_and_dogs_filtered")
    keras.utils.set_random_seed(0)
    tm = models.build_transfer_model("MobileNetV2", 2, image_size=224, alpha=0.35,
                                     augmentation=models.build_augmentation(seed=0))
    train, names = data.image_folder(root / "train", image_size=224, batch_size=32, limit_per_class=100)
    val, _ = data.image_folder(root / "validation", image_size=224, batch_size=50, limit_per_class=100)
    f = features.extract_features(tm.features, train, progress=False)
    tm.head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    tm.head.fit(f.features, f.labels, epochs=10, batch_size=32, verbose=0)
    model = models.with_class_names(tm.model, names)
    photos, labels = (np.concatenate(parts) for parts in zip(*[(x.numpy(), y.numpy()) for x, y in val], strict=True))
    keras_acc = float(np.mean(model.predict(photos, verbose=0).argmax(1) == labels))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        keras_path = Path(tmp) / "model.keras"
        model.save(keras_path)
        keras_mb = keras_path.stat().st_size / 2**20
        for fmt, quantize in VARIANTS:
            r = export.export_model(model, Path(tmp) / f"{fmt}_{quantize or 'float32'}", format=fmt,
                                    quantize=quantize, images=photos, repeats=args.repeats_latency)
            acc = float(np.mean(export.load_artifact(r.path)(photos).argmax(1) == labels))
            print(r.summary() + f"; accuracy {acc:.3f}")
            rows.append({"format": fmt, "quantize": quantize or "none", "size_mb": r.size_mb,
                         "top1_agreement": r.top1_agreement, "max_abs_diff": r.max_abs_diff, "accuracy": acc,
                         "latency_ms": r.latency_ms, "keras_latency_ms": r.keras_latency_ms})
    write("export_artifacts", {
        "data": "cats_and_dogs_filtered (real, offline assets): 200 validation photos (100 per class), 224 px",
        "settings": {"model": "MobileNetV2-0.35 ImageNet weights + head trained on 200 photos' cached features",
                     "latency": f"median of {args.repeats_latency} single-image calls after one untimed call"},
        "keras": {"size_mb": keras_mb, "accuracy": keras_acc},
        "rows": rows,
        "targets": {"float32_agree_99pct": all(r["top1_agreement"] >= 0.99 for r in rows if r["quantize"] == "none"),
                    "float32_within_1e-4": all(r["max_abs_diff"] <= 1e-4 for r in rows if r["quantize"] == "none")},
    })


if __name__ == "__main__":
    main()
