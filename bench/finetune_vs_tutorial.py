"""Our two-phase fine-tuning versus the official TensorFlow "Transfer learning and fine-tuning" recipe.

Same data (real cats_and_dogs_filtered: 2,000 train / 1,000 validation photos), same backbone (MobileNetV2
alpha 0.35, real ImageNet weights from the offline assets), same input pipeline, same machine, one process;
the two recipes alternate when repeated.

The tutorial recipe, written from its description: augmentation (horizontal flip, rotation 0.2), frozen base
called with training=False, global average pooling, dropout 0.2, one logit; Adam 1e-4 for 10 epochs; then
base.trainable = True with layers below 100 frozen (BatchNorm NOT re-frozen), RMSprop 1e-5 for 10 more epochs.

Ours (tlhelpers.training.fit_two_phase): head trained for 10 epochs on features computed once, then
models.unfreeze(base, 100) with every BatchNorm frozen, Adam 1e-5 with cosine decay, 2 epochs, early stopping.

Run: python -m bench.finetune_vs_tutorial [--repeats N] [--image-size 224]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TLH_SMOKE"] = "0"  # real weights must be found offline, never random

from bench.common import summarize, write


def tutorial_recipe(train, val, image_size: int) -> dict:
    import keras
    import tensorflow as tf

    from tlhelpers import backbones

    weights = backbones.resolve_weights("MobileNetV2", alpha=0.35, image_size=image_size)
    base = keras.applications.MobileNetV2(input_shape=(image_size, image_size, 3), alpha=0.35,
                                          include_top=False, weights=weights)
    base.trainable = False
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.2)])
    inputs = keras.Input((image_size, image_size, 3))
    x = augment(inputs)
    x = keras.applications.mobilenet_v2.preprocess_input(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    metric = keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")
    model.compile(keras.optimizers.Adam(1e-4), keras.losses.BinaryCrossentropy(from_logits=True), metrics=[metric])
    start = time.perf_counter()
    h1 = model.fit(train, validation_data=val, epochs=10, verbose=0, shuffle=False)
    base.trainable = True
    for layer in base.layers[:100]:
        layer.trainable = False
    model.compile(keras.optimizers.RMSprop(1e-5), keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    h2 = model.fit(train, validation_data=val, epochs=20, initial_epoch=10, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    del tf
    return {"seconds": seconds, "frozen_val_accuracy": h1.history["val_accuracy"][-1],
            "final_val_accuracy": h2.history["val_accuracy"][-1]}


def our_recipe(train, val, image_size: int) -> dict:
    import keras

    from tlhelpers import evaluate, models, training

    keras.utils.set_random_seed(0)
    tm = models.build_transfer_model("MobileNetV2", 2, image_size=image_size, alpha=0.35,
                                     augmentation=models.build_augmentation(seed=0))
    start = time.perf_counter()
    result = training.fit_two_phase(tm, train, val, head_epochs=10, fine_tune_epochs=2, unfreeze_from=100,
                                    head_lr=1e-3, fine_tune_lr=1e-5, verbose=0)
    seconds = time.perf_counter() - start
    acc = evaluate.predict_dataset(tm.model, val, keep_images=0).accuracy
    return {"seconds": seconds, "frozen_val_accuracy": result.history["val_accuracy"][result.fine_tune_at - 1],
            "final_val_accuracy": acc, "phases": result.seconds, "kept_phase1": result.kept_phase1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()

    from tlhelpers import data
    from tlhelpers.course import config

    root = config.require_asset("cats_and_dogs_filtered")
    config.require_asset("keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
    train, _ = data.image_folder(root / "train", image_size=args.image_size, batch_size=32, shuffle=True, seed=1)
    val, _ = data.image_folder(root / "validation", image_size=args.image_size, batch_size=32)
    for _ in train:  # fill both caches before timing anything
        pass
    for _ in val:
        pass
    runs: dict[str, list[dict]] = {"ours": [], "tutorial": []}
    for i in range(args.repeats):
        order = ["tutorial", "ours"] if i % 2 == 0 else ["ours", "tutorial"]
        for name in order:
            fn = our_recipe if name == "ours" else tutorial_recipe
            r = fn(train, val, args.image_size)
            print(f"repeat {i + 1} {name}: {r}")
            runs[name].append(r)
    ours_t = summarize([r["seconds"] for r in runs["ours"]])
    tut_t = summarize([r["seconds"] for r in runs["tutorial"]])
    ours_a = summarize([r["final_val_accuracy"] for r in runs["ours"]])
    tut_a = summarize([r["final_val_accuracy"] for r in runs["tutorial"]])
    ratio = ours_t["median"] / tut_t["median"]
    print(f"wall time ours/tutorial = {ratio:.3f} ({ours_t['median']:.0f}s vs {tut_t['median']:.0f}s); "
          f"final val accuracy ours {ours_a['median']:.4f} vs tutorial {tut_a['median']:.4f}")
    write("finetune_vs_tutorial", {
        "data": "cats_and_dogs_filtered (real, offline assets): 1,999 train / 1,000 validation",
        "settings": {"backbone": "MobileNetV2 alpha 0.35, ImageNet weights", "image_size": args.image_size,
                     "batch_size": 32, "repeats": args.repeats, "pipeline": "tlhelpers.data.image_folder, cached"},
        "runs": runs,
        "seconds": {"ours": ours_t, "tutorial": tut_t},
        "final_val_accuracy": {"ours": ours_a, "tutorial": tut_a},
        "ratio_wall_time_ours_over_tutorial": ratio,
        "targets": {"ours_accuracy_at_least_tutorial": ours_a["median"] >= tut_a["median"],
                    "ours_time_at_most_tutorial": ratio <= 1.0},
    })


if __name__ == "__main__":
    main()
