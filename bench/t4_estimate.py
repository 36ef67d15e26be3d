"""Estimate (not measure) each lesson's full-mode runtime and GPU memory on a Colab T4.

How: count the images each lesson pushes through each network in full mode (from its settings and the dataset
sizes), multiply by the network's forward cost in floating-point operations (counted by TensorFlow's profiler on
this machine, 2 per multiply-add), count a training step as 3 forward passes, and divide by an ASSUMED sustained
T4 throughput (``--tflops``, default 6: a round figure for Keras convnets under mixed precision, about a tenth of
the T4's 65 TFLOPS float16 peak; not measured here). GPU memory: float32 weights, plus gradients and two Adam
moments for trainable weights, plus the float16 activations of one training batch kept for the backward pass.

The time is a compute-bound LOWER BOUND: downloads, JPEG decoding, XLA compilation, evaluation overheads and
small layers that use the GPU badly all add to it, most for the small networks. Both numbers are estimates;
``tlh run --full`` on a T4 writes the measured time and peak GPU memory into ``summary.md``.

    python -m bench.t4_estimate            # writes bench/results/t4_estimate.json and prints the table
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CIFAR = {"train": 45_000, "val": 5_000, "test": 10_000}
CATS_DOGS = {"train": 2_000, "val": 1_000}
FLOWERS = {"train": 2_936, "val": 367, "test": 367}  # 3,670 photos split 0.8 / 0.1 / 0.1


def _gflops(model, size: int) -> float:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec([1, size, size, 3])))
    opts = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                         options=opts)
    return info.total_float_ops / 1e9


def _network(name: str, size: int, alpha: float | None = None):
    import keras

    from tlhelpers import backbones, models

    if name == "scratch":
        return models.build_scratch_cnn((size, size, 3), 10)
    if name.startswith("hub:"):
        ctor = {"resnet_v2_50": keras.applications.ResNet50V2, "inception_v3": keras.applications.InceptionV3}
        return ctor[name[4:]](include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
    return backbones.build_base(name, image_size=size, weights=None, alpha=alpha, pooling="avg")


def _memory_gb(model, size: int, batch: int, trainable_fraction: float) -> float:
    """Weights (fp32) + grads and Adam moments for the trainable part + fp16 activations of one batch."""
    params = model.count_params()
    act = 0
    for layer in model.layers:
        for out in (layer.output if isinstance(layer.output, list) else [layer.output]):
            shape = [d for d in out.shape[1:] if d is not None]
            n = 1
            for d in shape:
                n *= int(d)
            act += n
    return (params * 4 * (1 + 3 * trainable_fraction) + act * batch * 2) / 1e9


def plan() -> dict[str, list[tuple]]:
    """Per lesson: (network, image size, alpha, forward images, training images, batch, trainable fraction)."""
    c, d, f = CIFAR, CATS_DOGS, FLOWERS
    return {
        "01": [("scratch", 96, None, 10 * c["val"] + c["test"], 10 * c["train"], 64, 1.0)],
        "02": [("hub:resnet_v2_50", 96, None, 10 * (c["train"] + c["val"]) + sum(c.values()) + 3 * c["train"]
                + c["test"], 0, 64, 0.0),
               # Part 2: Inception v3 features once, the head on them, one check batch
               ("hub:inception_v3", 299, None, sum(d.values()), 0, 32, 0.0)],
        # Part 1, the TF tutorial's setting: MobileNetV2 from layer 100 (81 % of its weights, BatchNorm excluded)
        "03": [("MobileNetV2", 160, 1.0, 2 * sum(d.values()) + 10 * sum(d.values()) + 10 * d["val"], 10 * d["train"],
                32, 0.81),
               ("EfficientNetB0", 224, None, c["train"] + c["val"] + 3 * c["val"] + c["test"], 3 * c["train"], 64,
                0.2),
               # the BatchNorm section: features once, 7 evaluations, 6 experiment runs of 3 epochs
               ("MobileNetV2", 160, 1.0, sum(d.values()) + 7 * d["val"], 6 * 3 * d["train"], 32, 0.5)],
        "04": [(n, 160, None, 2 * (d["train"] + d["val"]), 0, 32, 0.0) for n in
               ("VGG16", "InceptionV3", "ResNet101V2", "EfficientNetV2B0", "ConvNeXtTiny", "MobileNetV3Large",
                "MobileNetV2", "SqueezeNet", "scratch")]
               + [("MobileNetV2", 160, None, 2 * (10 + 50 + 200 + 1000) * 2 + 8 * d["val"], 3 * 1260 * 2, 32, 0.3)]
               # measured by hand first: the first candidate's features and one evaluation
               + [("VGG16", 160, None, d["train"] + 2 * d["val"], 0, 32, 0.0)],
        "05": [("MobileNetV2", 224, 1.0, sum(f.values()) + 5 * f["val"] + f["test"], 5 * f["train"], 32, 0.3)],
        # features once, 2 fine-tuning epochs, evaluations, the test split for top losses and 3 export checks
        "06": [("MobileNetV2", 224, 1.0, sum(f.values()) + 3 * f["val"] + 6 * f["test"], 2 * f["train"], 32, 0.3)],
        # route 2: Inception v3 features once, then 2 fine-tuning epochs of the whole module + their validation;
        # route 3, KerasHub resnet_50_imagenet (the network of keras.applications' ResNet50): features twice
        # (classifier and own head), 2 fine-tuning epochs + their validation, 3 validation passes
        "07": [("hub:inception_v3", 299, None, sum(d.values()) + 2 * d["val"], 2 * d["train"], 32, 1.0),
               ("ResNet50", 224, None, 2 * (d["train"] + d["val"]) + 2 * d["val"] + 3 * d["val"], 2 * d["train"],
                32, 0.3)],
    }


def estimate(tflops: float) -> list[dict]:
    rows = []
    for lesson, parts in plan().items():
        seconds, memory, nets = 0.0, 0.0, []
        for name, size, alpha, forward, train, batch, frac in parts:
            model = _network(name, size, alpha)
            g = _gflops(model, size)
            seconds += (forward + 3 * train) * g / (tflops * 1e3)
            memory = max(memory, _memory_gb(model, size, batch, frac if train else 0.0))
            nets.append(f"{name.replace('hub:', '')} {size} px ({g:.1f} GFLOPs)")
        rows.append({"lesson": lesson, "minutes_at_least": round(seconds / 60, 1), "gpu_memory_gb": round(memory, 1),
                     "networks": nets})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflops", type=float, default=6.0, help="assumed sustained T4 throughput")
    args = parser.parse_args()
    rows = estimate(args.tflops)
    out = Path(__file__).parent / "results" / "t4_estimate.json"
    out.write_text(json.dumps({"assumed_tflops": args.tflops, "method": __doc__, "rows": rows}, indent=2))
    for r in rows:
        nets = "; ".join(r["networks"])
        print(f"lesson {r['lesson']}: at least {r['minutes_at_least']} min, ~{r['gpu_memory_gb']} GB  ({nets})")


if __name__ == "__main__":
    main()
