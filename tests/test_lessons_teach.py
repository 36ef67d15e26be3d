"""The lessons write their own idea out in their cells: the core calls are visible, not hidden in a helper."""

import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _code(stem: str) -> str:
    """The code cells of a lesson (its jupytext .py, comments and markdown removed)."""
    text = next(NOTEBOOKS.glob(f"{stem}_*.py")).read_text(encoding="utf-8")
    return "\n".join(line.split("#")[0] for line in text.splitlines() if not line.lstrip().startswith("#"))


REFREEZE_BN = r"isinstance\(layer, keras\.layers\.BatchNormalization\):\s*\n\s*layer\.trainable = False"


@pytest.mark.parametrize(("lesson", "patterns"), [
    ("01", [r"keras\.(Sequential|Model)\(", r"\.compile\(", r"\.fit\("]),
    # lesson 04: one point of the data-efficiency curve by hand, on the cached features, before the helper
    ("04", [r"few = np\.concatenate\(\[np\.flatnonzero\(train_f\.labels == c\)\[:n\]",
            r"few_head\.fit\(train_f\.features\[few\], train_f\.labels\[few\]"]),
    # lesson 02: the feature cache written out as one loop before the helper that packages it
    ("02", [r"for images, labels in val_ds:", r"extractor\(images, training=False\)\.numpy\(\)",
            r"np\.testing\.assert_allclose\(val_f\.features, val_vectors",
            # augmentation introduced where it is first used, as plain Keras layers, before the helper
            r'keras\.layers\.RandomFlip\("horizontal"\)', r"augmentation\(photos, training=False\)",
            # fastbook's payoff: the learner's own photo through the model they just trained
            r'MY_PHOTO = ""', r"keras\.utils\.load_img\(photo_file",
            r"np\.expand_dims\(keras\.utils\.img_to_array\(img\)", r"folder_tm\.model\(batch, training=False\)"]),
    # lesson 07 (after 03): the articles' code in its own process on tf_keras; KerasHub both ways, with its traps
    ("07", [r'"TF_USE_LEGACY_KERAS": "1"', r"hub\.KerasLayer\(module",
            r"subprocess\.run\(\[sys\.executable, str\(script\)",
            r"keras_hub\.models\.ImageClassifier\.from_preset\(where, num_classes=2\)",
            r"keras_hub\.models\.Backbone\.from_preset\(where\)", r"from_logits=True",
            r"models\.unfreeze\(kh_classifier\.backbone", r"training\.fit_two_phase\(kh_tm",
            r"keras\.layers\.Rescaling\(scale, offset", r"kh_classifier\.backbone\.trainable = True",
            # route 2: the TF-Hub module fine-tuned with what lesson 03 taught
            r"training\.fit_two_phase\(hub_tm"]),
    ("03", [r"include_top=False", r"base\.trainable = False", r"training=False", r"keras\.Model\(",
            r"\.trainable = True", REFREEZE_BN, r"initial_epoch=",
            # seed techniques: a photo file for decode_predictions, trimming a complete model, one logit
            r"keras\.utils\.load_img\(", r"img_to_array\(", r"np\.expand_dims\(", r"layers\[-3\]\.output",
            r"class Wrapper\(keras\.Model\)", r"Dense\(1,", r"from_logits=True", r"threshold=0\.0",
            # from the anchors: trainable on a tiny layer, trainable variables counted around unfreezing
            r"dense\.trainable = False", r"keras\.layers\.BatchNormalization\(\)\s*\nbn\.build",
            r"len\(model\.trainable_variables\)",
            # the BatchNorm section's backbone as a learner would type it (settings' bn_backbone must match)
            r"keras\.applications\.MobileNetV2\(\s*include_top=False, weights=bn_weights"]),
    ("05", [r"\.trainable = False", r"\.trainable = True", REFREEZE_BN, r"class_weight=class_weight",
            r"initial_epoch=", r"splitfolders\.ratio\(",
            # the canonical loader on the page, and the learner's own photos in through one cell
            r"keras\.utils\.image_dataset_from_directory\(", r"crop_to_aspect_ratio=True",
            r'MY_PHOTOS = ""', r"folders\.open_photos\(MY_PHOTOS\)"]),
    # lesson 06: top losses, Grad-CAM for the predicted and for the true class, both export formats checked on
    # real photos, an artifact used without Keras, the demo's own function on a photo and on a non-image
    ("06", [r"evaluate\.top_losses\(", r"explain\.grad_cam\(model, [^)]*\)", r"class_index=preds\.labels",
            r'"saved_model"', r'"litert"', r"images=check_images", r"export\.load_artifact\(",
            r"demo\.explain_file\(model, not_a_photo\)", r"demo\.launch\(", r"app\.close\(\)",
            # Grad-CAM by hand before the helper, checked against it
            r"with tf\.GradientTape\(\) as tape:", r"tape\.watch\(feature_map\)",
            r"tape\.gradient\(score, feature_map\)",
            r"np\.testing\.assert_allclose\(heat\.numpy\(\), cam\.heatmaps"]),
])
def test_core_calls_are_in_the_lessons_own_cells(lesson, patterns):
    code = _code(lesson)
    missing = [p for p in patterns if not re.search(p, code)]
    assert not missing, f"lesson {lesson} no longer shows {missing} in its own cells"


@pytest.mark.parametrize("lesson", ["03", "05"])
def test_the_model_is_compiled_again_after_unfreezing(lesson):
    code = _code(lesson)
    unfreeze = code.index(".trainable = True")
    assert re.search(r"\.compile\(", code[unfreeze:]), f"lesson {lesson} unfreezes without compiling again"


def test_lesson04_measures_one_candidate_by_hand_before_compare():
    code = _code("04")
    helper = code.index("compare.compare(")
    for step in (r"extract_features\(", r"\.head\.fit\(", r"\.evaluate\(", r"\.save\(", r"perf_counter\(\)"):
        found = re.search(step, code[:helper])
        assert found, f"lesson 04 no longer does {step} by hand before compare.compare"


def test_lesson03_experiment_covers_depth_rate_and_batchnorm():
    code = _code("03")
    rows = re.findall(r'^\s*\("([^"]+)", (?:wrapper|functional),', code, flags=re.M)
    assert {"top block, low rate", "top 30 %, low rate", "all, low rate", "all, head rate",
            "top 30 %, BN trainable, subclassed", "top 30 %, BN trainable, functional"} <= set(rows), rows


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("0*.py")), ids=lambda p: p.stem[:2])
def test_links_work_on_colab_and_kaggle(path):
    """A notebook opened on Colab or Kaggle has no repository beside it: every link must be an absolute address."""
    text = path.read_text(encoding="utf-8")
    relative = [m for m in re.findall(r"\]\(([^)\s]+)\)", text) if not m.startswith(("http://", "https://", "#"))]
    assert not relative, f"{path.name}: relative links {relative}; use https://github.com/.../blob/main/<path>"


def _teaching_rows() -> dict[str, tuple[int, str]]:
    """docs/teaching.md's lesson table: {lesson: (measured smoke seconds, T4 estimate cell)}."""
    rows = {}
    for line in (NOTEBOOKS.parent / "docs" / "teaching.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| (0\d) [^|]*\| (\d+) s \| ([^|]*) \|", line)
        if found:
            rows[found.group(1)] = (int(found.group(2)), found.group(3))
    return rows


@pytest.mark.parametrize("lesson", ["01", "02", "03", "04", "05", "06", "07"])
def test_each_runtime_and_estimate_is_the_measured_or_generated_one(lesson):
    """A lesson's runtime is the measured one of the teacher's table; its T4 estimate is bench/results'."""
    import json

    text = next(NOTEBOOKS.glob(f"{lesson}_*.py")).read_text(encoding="utf-8")
    seconds, t4_cell = _teaching_rows()[lesson]
    said = re.search(r"\*\*Runtime:\*\* smoke mode (\d+) s on 2 CPU cores", text)
    assert said and int(said.group(1)) == seconds, f"lesson {lesson}: {said and said.group(0)}, measured {seconds} s"
    measured = json.loads((NOTEBOOKS.parent / "bench" / "results" / "smoke_runtimes.json").read_text())
    assert seconds == measured["seconds"][lesson], f"lesson {lesson}: {seconds} s, the whole laptop-tier run measured"
    rows = json.loads((NOTEBOOKS.parent / "bench" / "results" / "t4_estimate.json").read_text())["rows"]
    row = next(r for r in rows if r["lesson"] == lesson)
    minutes = f"at least {row['minutes_at_least']} min" if row["minutes_at_least"] >= 0.1 else "under 0.1 min"
    expected = f"{minutes} of GPU compute and about {row['gpu_memory_gb']} GB"
    assert expected in " ".join(text.split()), f"lesson {lesson}: expected the estimate '{expected}'"
    assert t4_cell.startswith(minutes), f"docs/teaching.md, lesson {lesson}: '{t4_cell}', generated '{minutes}'"


@pytest.mark.parametrize("mode", ["full", "smoke"])
def test_lesson03_names_the_batchnorm_backbone_the_settings_prefetch(mode):
    """The BatchNorm section types `keras.applications.MobileNetV2(...)`; `tlh prefetch` reads the backbone whose
    weights it downloads from the settings' ``bn_backbone``: the two must agree, or full mode would download one
    network's weights for the other."""
    from tlhelpers.course import config

    code = _code("03")
    typed = re.findall(r"bn_base = keras\.applications\.(\w+)\(", code)
    with config.environment({"TLH_SMOKE": "1" if mode == "smoke" else "0", "TLH_REHEARSE": None}):
        settings = config.settings("03")
    assert settings.mode == mode
    assert typed == [settings.get("bn_backbone")], (typed, settings.get("bn_backbone"))
    # Part 1's first build is typed too (the TF tutorial's network): the settings differ by width only
    first = re.findall(r"base = keras\.applications\.(\w+)\(\s*include_top=False, weights=weights, [^\n]*alpha=ALPHA\)",
                       code)
    assert first == [settings.get("backbone")], (first, settings.get("backbone"))
    assert "getattr(keras.applications" not in code


def test_lesson04_sets_a_random_weights_control_beside_the_imagenet_number():
    """The same backbone with ``weights=None``, frozen, the same head and epochs: what the ImageNet weights bring."""
    code = _code("04")
    control = re.search(r"build_transfer_model\(name,[^\n]*weights=None", code)
    assert control, "lesson 04 no longer builds its random-weights control"
    assert control.start() < code.index("compare.compare("), "the control comes before the helper's table"
    assert re.search(r"control\.head\.fit\(", code), "lesson 04 no longer trains the control's head"
    assert re.search(r"print\(f\"[^\n]*\n[^\n]*control_acc", code), "lesson 04 no longer prints the control's accuracy"


@pytest.mark.parametrize("lesson", ["01", "02", "03", "04", "05", "06", "07"])
def test_the_setup_is_one_call_and_no_cell_logs_metrics(lesson):
    """Machinery out of sight: course.start does the setup; the run report reads the numbers itself."""
    code = _code(lesson)
    assert re.search(rf"^cfg, strategy = course\.start\({int(lesson)}\)", code, re.M), f"lesson {lesson}'s setup"
    for machinery in (r"log_metric", r"\brealfiles\.", r"(?<![\w.])report\.", r"set_seed\(", r"setup_accelerator\(",
                      r"tlhelpers\.course\.\w+|from tlhelpers\.course import"):  # only `course`'s own few names
        assert not re.search(machinery, code), f"lesson {lesson} calls {machinery} in its cells"


def test_no_lesson_uses_fine_tuning_before_lesson_03_teaches_it():
    """Teaching order: lessons 01 and 02 train heads only; unfreezing and fit_two_phase come in 03 (07 after it)."""
    for lesson in ("01", "02"):
        code = _code(lesson).split("course.start(")[1]  # the setup cell installs KerasHub for lesson 07
        for later in (r"fit_two_phase\(", r"models\.unfreeze\(", r"\.trainable = True", r"keras_hub"):
            assert not re.search(later, code), f"lesson {lesson} uses {later}, which lesson 03 or 07 introduces"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("0*.py")), ids=lambda p: p.stem[:2])
def test_every_lesson_ends_with_its_sources_named_and_linked(path):
    text = path.read_text(encoding="utf-8")
    assert "\n# ## Sources\n" in text, f"{path.name} has no Sources section"
    sources = text.split("\n# ## Sources\n", 1)[1]
    items = [line for line in sources.splitlines() if line.startswith("# - ")]
    linked = [line for line in items if re.search(r"https://\S+$", line)]
    assert len(linked) >= 2, f"{path.name}: name each source with its address ({items})"


def test_augmentation_is_introduced_where_it_is_first_used():
    """Lesson 02 uses augmentation first (cached augmented passes): it shows the plain Keras layers before the helper;
    lesson 01 uses none."""
    assert "augmentation" not in _code("01").lower()
    code = _code("02")
    first_helper = code.index("build_augmentation(")
    assert 0 <= code.find('keras.layers.RandomFlip("horizontal")') < first_helper, "lesson 02 uses the helper first"
    assert code.find("plot_augmentations(") < first_helper, "lesson 02 no longer shows augmented pictures first"


def test_every_quoted_runtime_is_the_whole_laptop_tier_runs_and_within_its_budget():
    """Lessons, docs/teaching.md and README quote bench/results/smoke_runtimes.json (one `tlh run --smoke` of all
    seven, written there by `python -m bench.smoke_runtimes`), and that run stayed within the 12-minute promise."""
    import json

    from bench import smoke_runtimes

    record = json.loads(smoke_runtimes.RESULTS.read_text(encoding="utf-8"))
    assert smoke_runtimes.mismatches(record) == []
    assert sorted(record["seconds"]) == list(smoke_runtimes.LESSONS)
    assert record["total_seconds"] == sum(record["seconds"].values()) <= smoke_runtimes.BUDGET_SECONDS


def _scope_blocks(stem: str) -> list[str]:
    """The bodies of a lesson's `with strategy.scope():` blocks (their indented lines)."""
    lines, blocks = _code(stem).splitlines(), []
    for i, line in enumerate(lines):
        if line.strip() == "with strategy.scope():":
            indent = len(line) - len(line.lstrip())
            body = [b for b in lines[i + 1:] if b.strip()]
            end = next((k for k, b in enumerate(body) if len(b) - len(b.lstrip()) <= indent), len(body))
            blocks.append("\n".join(body[:end]))
    return blocks


def test_a_strategy_scope_is_where_a_model_that_trains_on_images_is_built_or_compiled():
    """31 scope blocks once wrapped every model; now a block builds or compiles a model, and the models that only
    train a head on cached features (lessons 02, 04, 07) are built and compiled outside, as lesson 02 explains."""
    builds = re.compile(r"\.compile\(|keras\.(Sequential|Model)\(|keras\.applications\.|getattr\(keras\.applications"
                        r"|models\.build_transfer_model\(|models\.build_hub_model\(|from_preset\(|Wrapper\("
                        r"|models\.from_kerashub_classifier\(")
    counts = {}
    for path in sorted(NOTEBOOKS.glob("0*.py")):
        stem = path.name[:2]
        blocks = _scope_blocks(stem)
        counts[stem] = len(blocks)
        for body in blocks:
            assert builds.search(body), f"lesson {stem}: a strategy scope that builds and compiles nothing:\n{body}"
            assert "build_head(" not in body, f"lesson {stem}: a head for cached features built in the scope:\n{body}"
    assert counts["04"] == 0 and counts["02"] == 1, counts
    assert sum(counts.values()) <= 16, counts
    lesson02 = next(NOTEBOOKS.glob("02_*.py")).read_text(encoding="utf-8")
    assert "built\n# and compiled **outside** `strategy.scope()`" in lesson02  # the rule, said where it is first used
