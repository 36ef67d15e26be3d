"""Bounded memory: the folder pipeline's cache (RAM while it fits, else disk) as a folder grows.

``tlh train`` reads a checked, clean copy of your folder through ``tlhelpers.data.image_folder``, which keeps the
decoded, resized images (uint8) after the first epoch so later epochs skip JPEG decoding. Until 0.1 that cache
was always in RAM: 150 KB per image at 224 px. Now ``cache="auto"`` keeps it in RAM while it fits in
``TLH_RAM_CACHE_MB`` (1024 MiB) and on disk beyond. For generated folders of 2,000, 10,000 and 50,000 JPEGs
(224 px, two classes), each variant runs in a fresh subprocess: two epochs over the dataset (batch 32), peak
resident-memory growth (sampled every 20 ms) and images/s of each epoch. The in-RAM variant is run where this
machine can hold it (up to 10,000 images) and extrapolated linearly beyond.

Run: python -m bench.folder_memory [--sizes 2000,10000,50000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import write

CHILD = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
from tlhelpers import compare, data
root, cache = sys.argv[1], sys.argv[2]
tf.constant(1.0) + 1  # initialise TensorFlow before measuring
with compare.PeakRSS() as mem:
    ds, names = data.image_folder(root, image_size=224, batch_size=32, shuffle=True,
                                  cache=None if cache == "none" else cache)
    rates = []
    for epoch in range(2):
        start, n = time.perf_counter(), 0
        for x, _ in ds:
            n += int(x.shape[0])
        rates.append(n / (time.perf_counter() - start))
print(json.dumps({"growth_mib": mem.growth_mb, "images": n, "images_per_s": rates}))
"""


def make_folder(root: Path, n: int) -> Path:
    """Write n photo-sized JPEGs (224 px, smooth random content: about 10 KB each) in two classes, once."""
    import numpy as np
    from PIL import Image

    done = root / f".done_{n}"
    if done.is_file():
        return root
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
        Image.fromarray(small).resize((224, 224), Image.BILINEAR).save(folder / f"{i:06d}.jpg", quality=90)
    done.write_text("ok")
    return root


def measure(root: Path, cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), cache], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(root.parent)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,50000")
    parser.add_argument("--memory-up-to", type=int, default=10000, help="run the in-RAM cache up to this size")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tlh_bench_folders")
    args = parser.parse_args()

    rows = {}
    for n in (int(s) for s in args.sizes.split(",")):
        root = make_folder(args.work / f"n{n}", n)
        row = {"auto": measure(root, "auto")}
        if n <= args.memory_up_to:
            row["memory"] = measure(root, "memory")
        if n == min(int(s) for s in args.sizes.split(",")):
            row["none"] = measure(root, "none")
            row["disk"] = measure(root, "disk")
        rows[str(n)] = row
        text = ", ".join(f"{k}: +{v['growth_mib']:.0f} MiB, {v['images_per_s'][0]:.0f} / {v['images_per_s'][1]:.0f} "
                         "img/s (epoch 1 / 2)" for k, v in row.items())
        print(f"{n} images: {text}", flush=True)
    write("folder_memory", {
        "data": "generated 224 px JPEGs (smooth random content, about 10 KB each), two classes, in a temp folder",
        "settings": {"image_size": 224, "batch_size": 32, "epochs": 2, "ram_cache_mb": 1024, "repeats": 1,
                     "measure": "peak RSS growth in a fresh subprocess, sampled every 20 ms; images/s per epoch"},
        "sizes": rows,
    })


if __name__ == "__main__":
    main()
