"""Generate docs/benchmarks.md from bench/results/*.json (every number on the page comes from a JSON file).

Run: python -m bench report
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import RESULTS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

ORDER = ["folder_pipeline_vs_imagedatagenerator", "memory_resize", "cached_vs_recompute", "finetune_vs_tutorial",
         "backbones", "folder_memory", "export_artifacts"]

TITLES = {
    "folder_pipeline_vs_imagedatagenerator": "1. Input pipeline: our folder pipeline versus `ImageDataGenerator`",
    "memory_resize": "2. Memory: per-batch resize versus eager resize of a whole dataset",
    "cached_vs_recompute": "3. Feature extraction: cached features versus recompute every epoch",
    "finetune_vs_tutorial": "4. End to end: two-phase fine-tuning versus the official TensorFlow tutorial recipe",
    "backbones": "5. Backbones: the `tlhelpers.compare` table on real photos",
    "folder_memory": "6. Bounded memory: the folder pipeline's image cache as a folder grows",
    "export_artifacts": "7. Export: SavedModel and LiteRT artifacts versus the `.keras` model",
}


def _spread(s: dict, fmt: str = "{:.1f}", scale: float = 1.0) -> str:
    med = fmt.format(s["median"] * scale)
    if s["n"] > 1:
        return f"{med} ({fmt.format(s['min'] * scale)} to {fmt.format(s['max'] * scale)}, n={s['n']})"
    return f"{med} (n=1)"


def _machine(m: dict) -> str:
    gpus = ", ".join(m["gpus"]) or "no GPU"
    return (f"{m['cpu']}, {m['cores']} cores, {gpus}; Python {m['python']}, TensorFlow {m['tensorflow']}, "
            f"Keras {m['keras']}; {m['date'][:10]}")


def _target(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _pipeline(r: dict) -> list[str]:
    ips, steady, rss = r["images_per_second"], r["images_per_second_after_first_epoch"], r["peak_rss_growth_mib"]
    names = {"ours": "ours (`layers.RandomAffine`, one resampling)", "ours_unfused": "ours, four separate layers",
             "imagedatagenerator": "`ImageDataGenerator.flow_from_directory`"}
    lines = ["| pipeline | images/s over all epochs | images/s after the first epoch | peak RSS growth (MiB) |",
             "|---|---|---|---|"]
    for key, label in names.items():
        lines.append(f"| {label} | {_spread(ips[key], '{:.0f}')} | {_spread(steady[key], '{:.0f}')} | "
                     f"{_spread(rss[key], '{:.0f}')} |")
    ratio = r["ratio_throughput_ours_over_imagedatagenerator"]
    unfused = r["ratio_throughput_unfused_over_imagedatagenerator"]
    lines += ["", f"Throughput ratio ours / ImageDataGenerator: **{ratio:.2f}x** (four separate layers: "
              f"{unfused:.2f}x). "
              f"Target at least 3x: {_target(r['targets']['at_least_3x'])}. Our pipeline keeps the decoded images in "
              "memory (uint8), which is where its extra memory goes. All runs share one process, so a repeat can "
              "reuse memory an earlier run left allocated (hence the spread of the memory column)."]
    return lines


def _memory(r: dict) -> list[str]:
    lines = ["| size | images | eager resize, peak RSS growth (MiB) | float32 array (MiB) | per-batch pipeline, "
             "peak RSS growth (MiB) | eager, extrapolated to 50,000 / 60,000 images (GiB) |",
             "|---|---|---|---|---|---|"]
    for size, row in r["sizes"].items():
        ex = row["eager_extrapolated_gib"]
        lines.append(f"| {size} px | {row['images']} | {row['eager_growth_mib']:.0f} | "
                     f"{row['float32_bytes_mib']:.0f} | {row['pipeline_growth_mib']:.0f} | "
                     f"{ex['cifar10_train_50000']:.1f} / {ex['cifar10_all_60000']:.1f} |")
    lines += ["", "The eager resize grows with the number of images; the per-batch pipeline does not (it holds the "
              "small uint8 originals plus a few batches)."]
    return lines


def _cached(r: dict) -> list[str]:
    s, a = r["seconds"], r["val_accuracy"]
    lines = ["| recipe | wall time (s) | validation accuracy (%) |", "|---|---|---|",
             f"| cached features (extraction included) | {_spread(s['cached'])} | "
             f"{_spread(a['cached'], '{:.2f}', 100)} |",
             f"| recompute every epoch | {_spread(s['recompute'])} | {_spread(a['recompute'], '{:.2f}', 100)} |",
             "", f"Wall-time ratio cached / recompute: **{r['ratio_wall_time_cached_over_recompute']:.3f}**; accuracy "
             f"gap {r['accuracy_gap_points']:+.2f} points. Targets: ratio at most 0.2 "
             f"({_target(r['targets']['ratio_at_most_0.2'])}), within 1 point "
             f"({_target(r['targets']['accuracy_within_1_point'])})."]
    return lines


def _finetune(r: dict) -> list[str]:
    s, a = r["seconds"], r["final_val_accuracy"]
    frozen = {k: [run["frozen_val_accuracy"] for run in v] for k, v in r["runs"].items()}
    lines = ["| recipe | wall time (s) | val accuracy, frozen base (%) | final val accuracy (%) |", "|---|---|---|---|"]
    for key, label in (("ours", "ours (`training.fit_two_phase`)"), ("tutorial", "official tutorial recipe")):
        fz = ", ".join(f"{v * 100:.1f}" for v in frozen[key])
        lines.append(f"| {label} | {_spread(s[key])} | {fz} | {_spread(a[key], '{:.1f}', 100)} |")
    lines += ["", f"Wall-time ratio ours / tutorial: **{r['ratio_wall_time_ours_over_tutorial']:.3f}**. Targets: "
              f"accuracy at least the tutorial's ({_target(r['targets']['ours_accuracy_at_least_tutorial'])}), "
              f"wall time at most the tutorial's ({_target(r['targets']['ours_time_at_most_tutorial'])})."]
    return lines


def _backbones(r: dict) -> list[str]:
    lines = ["| model | val acc before training | val acc | test acc | parameters | trainable | size (MB) | "
             "feature extraction (s) | s / epoch | images/s (batch) | latency (ms) | peak RSS growth (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["table"]:
        if row["status"] != "ok":
            lines.append(f"| {row['name']} | failed: {row['error']} |" + " |" * 10)
            continue
        lines.append(f"| {row['name']} | {row['val_accuracy_before'] * 100:.1f} % | "
                     f"{row['val_accuracy'] * 100:.1f} % | {row['test_accuracy'] * 100:.1f} % | "
                     f"{row['params_total']:,} | {row['params_trainable']:,} | "
                     f"{row['saved_mb']:.1f} | {row['feature_seconds']:.1f} | {row['seconds_per_epoch']:.2f} | "
                     f"{row['throughput_img_s']:.0f} | {row['latency_ms']:.1f} | {row['peak_rss_mb']:.0f} |")
    lines += ["", "Pretrained heads train on cached features, so their seconds per epoch are tiny; the feature "
              "extraction column is their real cost. Peak memory is measured in one process, so later rows only "
              "count memory beyond what earlier rows left allocated."]
    return lines


def _folder_memory(r: dict) -> list[str]:
    labels = {"auto": "`cache=\"auto\"` (RAM up to 1 GiB, then disk; the default)",
              "memory": "always in RAM (`cache=\"memory\"`)", "disk": "on disk (`cache=\"disk\"`)",
              "none": "no cache (decode every epoch)"}
    lines = ["| images | cache | peak RSS growth (MiB) | images/s, epoch 1 | images/s, epoch 2 |",
             "|---|---|---|---|---|"]
    for n, row in r["sizes"].items():
        for key, m in row.items():
            lines.append(f"| {int(n):,} | {labels[key]} | {m['growth_mib']:.0f} | {m['images_per_s'][0]:.0f} | "
                         f"{m['images_per_s'][1]:.0f} |")
    in_ram = sorted((int(n), row["memory"]["growth_mib"]) for n, row in r["sizes"].items() if "memory" in row)
    biggest = max(int(n) for n in r["sizes"])
    if len(in_ram) >= 2:
        (n0, m0), (n1, m1) = in_ram[0], in_ram[-1]
        slope = (m1 - m0) / (n1 - n0)
        estimate = (m0 + slope * (biggest - n0)) / 1024
        lines += ["", f"The in-RAM cache grew by {slope:.3f} MiB per extra image between {n0:,} and {n1:,} images "
                  f"(a 224 px uint8 image is {224 * 224 * 3 / 2**20:.3f} MiB). Extrapolated linearly (an estimate, "
                  f"not measured) it would need {estimate:.1f} GiB at {biggest:,} images; `cache=\"auto\"` measured "
                  f"{r['sizes'][str(biggest)]['auto']['growth_mib'] / 1024:.2f} GiB there."]
    extra = r.get("extra_repeats", {}).get("2000_auto_epoch1_images_per_s")
    if extra:
        lines += ["", "Epoch 1 (decoding) varies from run to run on this machine: two more runs of the 2,000-image "
                  "`auto` row gave " + " and ".join(f"{v:,.0f}" for v in extra) + " images/s in epoch 1."]
    return lines


def _export(r: dict) -> list[str]:
    k = r["keras"]
    lines = ["| artifact | size (MB) | top-1 agreement with `.keras` | largest output difference | accuracy | "
             "one image (ms) | `.keras` model, one image (ms) |", "|---|---|---|---|---|---|---|",
             f"| `.keras` file (reference) | {k['size_mb']:.2f} | - | - | {k['accuracy'] * 100:.1f} % | - | - |"]
    for row in r["rows"]:
        label = row["format"] + ("" if row["quantize"] == "none" else f", {row['quantize']} quantization")
        lines.append(f"| {label} | {row['size_mb']:.2f} | {row['top1_agreement'] * 100:.1f} % | "
                     f"{row['max_abs_diff']:.1e} | {row['accuracy'] * 100:.1f} % | {row['latency_ms']:.2f} | "
                     f"{row['keras_latency_ms']:.2f} |")
    t = r["targets"]
    lines += ["", "Targets for the float32 artifacts: top-1 agreement at least 99 % "
              f"({_target(t['float32_agree_99pct'])}), outputs within 1e-4 ({_target(t['float32_within_1e-4'])}). "
              "Latencies are this CPU's, one image at a time; a SavedModel folder's size includes its variables."]
    return lines


RENDER = {"folder_pipeline_vs_imagedatagenerator": _pipeline, "memory_resize": _memory,
          "cached_vs_recompute": _cached, "finetune_vs_tutorial": _finetune, "backbones": _backbones,
          "folder_memory": _folder_memory, "export_artifacts": _export}


def render(results_dir: Path = RESULTS) -> str:
    """Build the Markdown page from the JSON files in ``results_dir``."""
    lines = ["# Benchmarks", "",
             "<!-- Generated by `python -m bench report` from bench/results/*.json. Do not edit by hand. -->", "",
             "Every number below was measured by a benchmark in `bench/`, which runs our way and the reference way "
             "side by side in one process on the same data and machine, alternating the order when repeated. "
             "Each section says where it ran and how to reproduce it. `python -m bench all` re-runs everything "
             "(offline, with the assets in `../shared/assets`) and regenerates this page.", ""]
    for name in ORDER:
        path = results_dir / f"{name}.json"
        lines += [f"## {TITLES[name]}", ""]
        if not path.is_file():
            lines += [f"Not measured yet: run `python -m bench.{name}`.", ""]
            continue
        r = json.loads(path.read_text(encoding="utf-8"))
        lines += [f"- Measured on: {_machine(r['machine'])}", f"- Data: {r['data']}",
                  "- Settings: " + ", ".join(f"{k} {v}" for k, v in r["settings"].items()),
                  f"- Reproduce: `python -m bench.{name}`", ""]
        lines += RENDER[name](r) + [""]
    lines += ["## Numbers from the original articles (theirs, not measured here)", "",
              "- Classic TF-Hub CIFAR-10 article: 79.3 % test accuracy with ResNet-50 feature vectors at 96 px, "
              "versus 67.4 % for its scratch CNN.",
              "- Classic EfficientNetB0 CIFAR-10 article: 88.9 % with a frozen base, 93.8 % after fine-tuning with "
              "BatchNorm frozen.",
              "- Classic cats-vs-dogs VGG16 article: about 95 % with the base frozen, 97 % after fine-tuning.",
              "- Classic backbone-comparison article (cats vs dogs, 160 px): about 50 % before training; then 93 % "
              "(VGG16), 95 % (InceptionV3) and 97 % (ResNet101V2).", "",
              "GPU and Colab full-mode rows appear here only once someone has measured them: run `tlh run --full` "
              "on the GPU (it writes each lesson's metrics to `runs/<timestamp>/summary.json`) and the benchmarks "
              "above with the same commands.", ""]
    return "\n".join(lines)


def main() -> None:
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
