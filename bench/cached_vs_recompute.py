"""Head training on cached TF-Hub features versus the articles' recompute-every-epoch recipe.

Same data (real cats_and_dogs_filtered: 1,999 train / 1,000 validation photos at 224 px), same hub module
(the TF-Hub-style MobileNetV2-0.35 feature-vector SavedModel from the offline assets, wrapped in
tlhelpers.layers.HubLayer), same head (dropout 0.2 + dense softmax), same optimizer (Adam 1e-3), same number of
epochs, same machine, one process; the two recipes alternate when repeated.

- recompute: model.fit on the images: every epoch pushes every training and validation image through the
  frozen module again (what the classic TF-Hub articles do).
- cached: the frozen module runs once over train and validation (tlhelpers.features.extract_features), then
  the head trains on the cached features for the same number of epochs. The timing includes extraction.

Run: python -m bench.cached_vs_recompute [--epochs 10] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TLH_SMOKE"] = "0"

from bench.common import summarize, write


def _model(path: str):
    import keras

    from tlhelpers import models

    keras.utils.set_random_seed(0)
    tm = models.build_hub_model(path, 2)
    return tm


def recompute(path: str, train, val, epochs: int) -> dict:
    import keras

    tm = _model(path)
    tm.model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    hist = tm.model.fit(train, validation_data=val, epochs=epochs, verbose=0, shuffle=False)
    return {"seconds": time.perf_counter() - start, "val_accuracy": hist.history["val_accuracy"][-1]}


def cached(path: str, train, val, epochs: int) -> dict:
    import keras

    from tlhelpers import features

    tm = _model(path)
    start = time.perf_counter()
    train_f = features.extract_features(tm.features, train, progress=False)
    val_f = features.extract_features(tm.features, val, progress=False)
    extract = time.perf_counter() - start
    tm.head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = tm.head.fit(train_f.features, train_f.labels, validation_data=(val_f.features, val_f.labels),
                       epochs=epochs, batch_size=32, verbose=0)
    return {"seconds": time.perf_counter() - start, "extract_seconds": extract,
            "val_accuracy": hist.history["val_accuracy"][-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from tlhelpers import data, tfhub
    from tlhelpers.course import config

    root = config.require_asset("cats_and_dogs_filtered")
    path = str(config.require_asset(tfhub.SMOKE_ASSET))
    train, _ = data.image_folder(root / "train", image_size=224, batch_size=32, shuffle=True, seed=1)
    val, _ = data.image_folder(root / "validation", image_size=224, batch_size=32)
    for _ in train:  # fill both decoded-image caches before timing anything
        pass
    for _ in val:
        pass
    runs: dict[str, list[dict]] = {"cached": [], "recompute": []}
    for i in range(args.repeats):
        order = ["recompute", "cached"] if i % 2 == 0 else ["cached", "recompute"]
        for name in order:
            r = (cached if name == "cached" else recompute)(path, train, val, args.epochs)
            print(f"repeat {i + 1} {name}: {r}")
            runs[name].append(r)
    t_c = summarize([r["seconds"] for r in runs["cached"]])
    t_r = summarize([r["seconds"] for r in runs["recompute"]])
    a_c = summarize([r["val_accuracy"] for r in runs["cached"]])
    a_r = summarize([r["val_accuracy"] for r in runs["recompute"]])
    ratio = t_c["median"] / t_r["median"]
    gap = (a_c["median"] - a_r["median"]) * 100
    print(f"wall time cached/recompute = {ratio:.3f} ({t_c['median']:.1f}s vs {t_r['median']:.1f}s, "
          f"{args.epochs} epochs); val accuracy cached {a_c['median']:.4f} vs recompute {a_r['median']:.4f} "
          f"({gap:+.1f} points)")
    write("cached_vs_recompute", {
        "data": "cats_and_dogs_filtered (real, offline assets): 1,999 train / 1,000 validation, 224 px",
        "settings": {"module": "MobileNetV2-0.35 feature vector (TF-Hub-style SavedModel, offline assets)",
                     "epochs": args.epochs, "batch_size": 32, "repeats": args.repeats,
                     "head": "dropout 0.2 + dense softmax, Adam 1e-3"},
        "runs": runs,
        "seconds": {"cached": t_c, "recompute": t_r},
        "val_accuracy": {"cached": a_c, "recompute": a_r},
        "ratio_wall_time_cached_over_recompute": ratio,
        "accuracy_gap_points": gap,
        "targets": {"ratio_at_most_0.2": ratio <= 0.2, "accuracy_within_1_point": abs(gap) <= 1.0},
    })


if __name__ == "__main__":
    main()
