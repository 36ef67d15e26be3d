"""Memory: per-batch resizing in tf.data versus the classic eager resize of a whole dataset.

The classic recipe resizes the whole training array at once (tf.image.resize(x_train, (size, size))), which
materialises N x size x size x 3 float32 values. Ours (tlhelpers.data.make_pipeline) caches the small uint8
originals and resizes each batch on the fly. Each variant runs in a fresh subprocess on the same random
32x32 uint8 images (CIFAR-10 shaped), and reports the peak growth of its resident memory (sampled every 20 ms).
The classic numbers are then extrapolated linearly to CIFAR-10 (50,000 training / 60,000 total images).

Run: python -m bench.memory_resize [--images 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.common import write

CHILD = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
from tlhelpers import compare, data
n, size, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
x = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
y = np.zeros(n, np.int64)
tf.constant(1.0) + 1  # initialise TensorFlow before measuring
with compare.PeakRSS() as mem:
    if how == "eager":
        big = tf.image.resize(x, (size, size))  # the whole dataset as float32
        batches = int(big.shape[0])
    else:
        ds = data.make_pipeline(tf.data.Dataset.from_tensor_slices((x, y)), image_size=size, batch_size=64)
        batches = sum(int(b.shape[0]) for b, _ in ds)
print(json.dumps({"growth_mib": mem.growth_mb, "images": batches}))
"""


def measure(n: int, size: int, how: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(size), how], capture_output=True, text=True,
                         check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    args = parser.parse_args()

    rows = {}
    for size in (96, 224):
        n = args.images if size == 96 else max(args.images // 5, 200)
        eager, ours = measure(n, size, "eager"), measure(n, size, "pipeline")
        per_image = eager["growth_mib"] / n
        rows[str(size)] = {
            "images": n, "eager_growth_mib": eager["growth_mib"], "pipeline_growth_mib": ours["growth_mib"],
            "float32_bytes_mib": n * size * size * 3 * 4 / 2**20,
            "eager_extrapolated_gib": {"cifar10_train_50000": per_image * 50_000 / 1024,
                                       "cifar10_all_60000": per_image * 60_000 / 1024},
        }
        print(f"{size} px, {n} images: eager resize +{eager['growth_mib']:.0f} MiB, per-batch pipeline "
              f"+{ours['growth_mib']:.0f} MiB; eager extrapolated to 60,000 images: "
              f"{rows[str(size)]['eager_extrapolated_gib']['cifar10_all_60000']:.1f} GiB")
    write("memory_resize", {
        "data": "random uint8 32x32x3 images (CIFAR-10 shaped), generated in each subprocess",
        "settings": {"batch_size": 64, "images_96": rows["96"]["images"], "images_224": rows["224"]["images"],
                     "repeats": 1, "measure": "peak RSS growth in a fresh subprocess, sampled every 20 ms"},
        "sizes": rows,
    })


if __name__ == "__main__":
    main()
