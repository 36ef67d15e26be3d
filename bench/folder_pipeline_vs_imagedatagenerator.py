"""Our folder pipeline versus the classic ImageDataGenerator.flow_from_directory (tf_keras), images per second.

Same images (real cats_and_dogs_filtered/train: 1,999 JPEGs), same size, batch size and augmentations
(horizontal flip, rotation up to 36 degrees, zoom 10 %, shifts 10 %), same machine, one process; the two
pipelines alternate when repeated. Each run iterates E epochs and counts images delivered.

- ours: tlhelpers.folders.load_splits-style loading (tlhelpers.data.image_folder: decode and resize once per
  image, cache as uint8, reshuffle, prefetch) with tlhelpers.models.build_augmentation applied per batch in
  tf.data (in the lessons it runs inside the model, on the GPU): flip, rotation, zoom and shift fused into one
  affine resampling (layers.RandomAffine).
- ours_unfused: the same with the four separate Keras layers (RandomFlip, RandomRotation, RandomZoom,
  RandomTranslation), to show what the fusing contributes.
- classic: tf_keras ImageDataGenerator(rotation_range=36, zoom_range=0.1, width_shift_range=0.1,
  height_shift_range=0.1, horizontal_flip=True).flow_from_directory(...): decodes and augments every image with
  PIL/SciPy on the CPU, every epoch.

Peak memory: the highest resident set size sampled every 20 ms during a run, minus the size at its start.

Run: python -m bench.folder_pipeline_vs_imagedatagenerator [--epochs 3] [--image-size 224] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import summarize, write
from tlhelpers.compare import PeakRSS


def ours(train_dir, image_size: int, batch: int, epochs: int, fused: bool = True) -> dict:
    import tensorflow as tf

    from tlhelpers import data, models

    augment = models.build_augmentation(flip=True, rotation=0.1, zoom=0.1, translation=0.1, contrast=0.0, seed=0,
                                        fused=fused)
    with PeakRSS() as mem:
        start = time.perf_counter()
        ds, _ = data.image_folder(train_dir, image_size=image_size, batch_size=batch, shuffle=True, seed=0)
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        per_epoch, images = [], 0
        for _ in range(epochs):
            t0 = time.perf_counter()
            for x, _y in ds:
                images += int(x.shape[0])
            per_epoch.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "images": images, "images_per_second": images / seconds,
            "epoch_seconds": per_epoch, "peak_rss_growth_mib": mem.growth_mb}


def classic(train_dir, image_size: int, batch: int, epochs: int) -> dict:
    from tf_keras.preprocessing.image import ImageDataGenerator

    with PeakRSS() as mem:
        start = time.perf_counter()
        gen = ImageDataGenerator(rotation_range=36, zoom_range=0.1, width_shift_range=0.1, height_shift_range=0.1,
                                 horizontal_flip=True)
        flow = gen.flow_from_directory(str(train_dir), target_size=(image_size, image_size), batch_size=batch,
                                       class_mode="binary", shuffle=True, seed=0)
        per_epoch, images = [], 0
        for _ in range(epochs):
            t0 = time.perf_counter()
            for _step in range(len(flow)):
                x, _y = next(flow)
                images += int(x.shape[0])
            per_epoch.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "images": images, "images_per_second": images / seconds,
            "epoch_seconds": per_epoch, "peak_rss_growth_mib": mem.growth_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from tlhelpers.course import config

    train_dir = config.require_asset("cats_and_dogs_filtered") / "train"
    runs: dict[str, list[dict]] = {"ours": [], "ours_unfused": [], "imagedatagenerator": []}
    for i in range(args.repeats):
        order = ["imagedatagenerator", "ours", "ours_unfused"]
        order = order if i % 2 == 0 else order[::-1]
        for name in order:
            if name == "imagedatagenerator":
                r = classic(train_dir, args.image_size, args.batch_size, args.epochs)
            else:
                r = ours(train_dir, args.image_size, args.batch_size, args.epochs, fused=name == "ours")
            print(f"repeat {i + 1} {name}: {r}")
            runs[name].append(r)
    ips_o = summarize([r["images_per_second"] for r in runs["ours"]])
    ips_u = summarize([r["images_per_second"] for r in runs["ours_unfused"]])
    ips_c = summarize([r["images_per_second"] for r in runs["imagedatagenerator"]])
    ratio = ips_o["median"] / ips_c["median"]
    steady = {k: summarize([(len(r["epoch_seconds"]) - 1) * r["images"] / len(r["epoch_seconds"])
                            / sum(r["epoch_seconds"][1:]) for r in v]) for k, v in runs.items()
              if all(len(r["epoch_seconds"]) > 1 for r in v)}
    print(f"throughput ours / ImageDataGenerator = {ratio:.2f}x ({ips_o['median']:.0f} vs {ips_c['median']:.0f} "
          f"images/s over {args.epochs} epochs at {args.image_size} px); unfused layers: "
          f"{ips_u['median'] / ips_c['median']:.2f}x")
    print("after the first epoch (images/s):", {k: round(v["median"]) for k, v in steady.items()})
    write("folder_pipeline_vs_imagedatagenerator", {
        "data": "cats_and_dogs_filtered/train (real, offline assets): 1,999 JPEGs",
        "settings": {"image_size": args.image_size, "batch_size": args.batch_size, "epochs": args.epochs,
                     "repeats": args.repeats,
                     "augmentations": "flip, rotation 36 deg (0.1 turn), zoom 0.1, shift 0.1 in both"},
        "runs": runs,
        "images_per_second": {"ours": ips_o, "ours_unfused": ips_u, "imagedatagenerator": ips_c},
        "images_per_second_after_first_epoch": steady,
        "ratio_throughput_unfused_over_imagedatagenerator": ips_u["median"] / ips_c["median"],
        "ratio_throughput_ours_over_imagedatagenerator": ratio,
        "peak_rss_growth_mib": {k: summarize([r["peak_rss_growth_mib"] for r in v]) for k, v in runs.items()},
        "targets": {"at_least_3x": ratio >= 3.0},
    })


if __name__ == "__main__":
    main()
