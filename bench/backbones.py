"""Backbones: the tlhelpers.compare table on the real offline data.

MobileNetV2-0.35 (real ImageNet weights), SqueezeNet v1.1 (real weights, our own Keras definition) and the
scratch CNN, trained the same way (head on cached features for 8 epochs; scratch: 8 epochs end to end, Adam
1e-3, seed 42) on 300 training photos per class of cats_and_dogs_filtered at 160 px; validation: the first 250
validation photos per class, test: the other 250.

Run: python -m bench.backbones [--per-class 300] [--epochs 8]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TLH_SMOKE"] = "0"

from bench.common import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=160)
    args = parser.parse_args()

    from tlhelpers import compare, data
    from tlhelpers.course import config

    root = config.require_asset("cats_and_dogs_filtered")
    size = args.image_size
    train, _ = data.image_folder(root / "train", image_size=size, batch_size=32, shuffle=True, seed=0,
                                 limit_per_class=args.per_class)
    val, _ = data.image_folder(root / "validation", image_size=size, batch_size=64, limit_per_class=250)
    test, _ = data.image_folder(root / "validation", image_size=size, batch_size=64, skip_per_class=250)
    with tempfile.TemporaryDirectory() as tmp:
        table = compare.compare(["MobileNetV2@0.35", "SqueezeNet", "scratch"], train, val, test, num_classes=2,
                                image_size=size, epochs=args.epochs, out_dir=tmp)
    print(table.drop(columns=["error"]).to_string(index=False))
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict(orient="records")]
    write("backbones", {
        "data": (f"cats_and_dogs_filtered (real, offline assets): {args.per_class} train photos per class; "
                 "validation 250 + test 250 per class from the validation folder"),
        "settings": {"image_size": size, "epochs": args.epochs, "batch_size": 32, "repeats": 1,
                     "training": "head on cached features (pretrained); end to end (scratch); Adam 1e-3; seed 42"},
        "table": rows,
    })


if __name__ == "__main__":
    main()
