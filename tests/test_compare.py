"""The comparison harness, SqueezeNet as a bring-your-own backbone, and the data-efficiency sweep."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from conftest import real_asset
from tlhelpers import backbones, compare, data, models, plots, squeezenet

matplotlib.use("Agg")


def _tiny_data(n=24, size=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0, 60, (n, size, size, 3)).astype(np.float32)
    x[y == 1, ..., 0] += 150  # class 1 is red: learnable
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _broken(num_classes, image_size):
    raise RuntimeError("this backbone breaks on purpose")


def test_failing_candidate_is_recorded_and_the_others_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "1")
    ds = _tiny_data()
    df = compare.compare(["scratch", ("broken", _broken), "NoSuchNet", "MobileNetV3Small"], ds, ds, ds,
                         num_classes=2, image_size=32, epochs=2, out_dir=tmp_path)
    assert list(df["name"]) == ["scratch", "broken", "NoSuchNet", "MobileNetV3Small"]
    assert list(df["status"]) == ["ok", "failed", "failed", "ok"]
    assert "breaks on purpose" in df.loc[1, "error"] and "Unknown backbone" in df.loc[2, "error"]
    ok = df[df["status"] == "ok"]
    assert not ok[compare.COLUMNS].isna().any().any()  # every column filled for models that ran
    assert (ok["params_trainable"] <= ok["params_total"]).all() and (ok["throughput_img_s"] > 0).all()
    assert set(df.attrs["histories"]) == {"scratch", "MobileNetV3Small"}
    assert (tmp_path / "comparison.csv").is_file() and len(pd.read_csv(tmp_path / "comparison.csv")) == 4


def test_comparison_resumes_and_retries_failures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLH_SMOKE", "1")
    ds = _tiny_data()
    compare.compare(["scratch", ("broken", _broken)], ds, ds, num_classes=2, image_size=32, epochs=1, out_dir=tmp_path)
    capsys.readouterr()
    df = compare.compare(["scratch", ("broken", _broken)], ds, ds, num_classes=2, image_size=32, epochs=1,
                         out_dir=tmp_path)
    text = capsys.readouterr().out
    assert "scratch: done already" in text and "broken: training" in text  # ok ones skipped, failed retried
    assert list(df["status"]) == ["ok", "failed"] and math.isnan(df.loc[0, "test_accuracy"])
    compare.compare(["scratch"], ds, ds, num_classes=2, image_size=32, epochs=1, out_dir=tmp_path, progress=False)
    assert capsys.readouterr().out == ""  # printing is the caller's choice


def test_comparison_never_resumes_results_of_other_settings_or_data(tmp_path, monkeypatch, capsys):
    # Found when lesson 04's smoke sizes changed: the old rows (other image size, other data) came back as results.
    monkeypatch.setenv("TLH_SMOKE", "1")
    ds = _tiny_data()
    compare.compare(["scratch"], ds, ds, num_classes=2, image_size=32, epochs=1, out_dir=tmp_path)
    capsys.readouterr()
    with pytest.warns(UserWarning, match="other settings or data: starting over"):
        compare.compare(["scratch"], ds, ds, num_classes=2, image_size=32, epochs=2, out_dir=tmp_path)
    assert "done already" not in capsys.readouterr().out
    other = ds.map(lambda x, y: (x + 1.0, y))
    with pytest.warns(UserWarning, match="starting over"):
        df = compare.compare(["scratch"], ds, other, num_classes=2, image_size=32, epochs=2, out_dir=tmp_path)
    assert len(df) == 1 and len(df.attrs["histories"]["scratch"]["loss"]) == 2


def test_pareto_front():
    df = pd.DataFrame({"name": list("abcd"), "status": ["ok"] * 4, "throughput_img_s": [10, 100, 50, 40],
                       "val_accuracy": [0.99, 0.90, 0.95, 0.94]})
    assert compare.pareto_front(df).tolist() == [True, True, True, False]  # d is beaten by c on both


def test_comparison_plots(tmp_path):
    df = pd.DataFrame({"name": ["x", "y"], "status": ["ok", "ok"], "val_accuracy": [0.9, 0.8],
                       "throughput_img_s": [10.0, 300.0], "params_total": [1e6, 1e5], "saved_mb": [4.0, 0.5]})
    fig = plots.plot_comparison_bars(df)
    assert len(fig.axes) == 4
    fig, ax = plots.plot_accuracy_vs_speed(df)
    assert ax.get_xscale() == "log"
    eff = pd.DataFrame({"method": ["scratch", "features"] * 2, "per_class": [10, 10, 50, 50],
                        "train_images": [20, 20, 100, 100], "val_accuracy": [0.5, 0.8, 0.6, 0.9]})
    fig, ax = plots.plot_data_efficiency(eff)
    assert len(ax.lines) == 2


def test_squeezenet_is_a_registered_bring_your_own_backbone(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "1")
    spec = backbones.get("squeezenet")
    assert spec.factory is not None and spec.preprocess == "caffe"
    base = backbones.build_base("SqueezeNet", image_size=64, weights=None, pooling="avg")
    assert base.output_shape == (None, 512)
    assert sum(int(np.prod(w.shape)) for w in base.weights) == 722_496
    tm = models.build_transfer_model("SqueezeNet", 3, image_size=64, weights=None)
    assert tm.model.output_shape == (None, 3)
    # loading by order checks shapes: a wrong architecture fails loudly
    path = tmp_path / "wrong.h5"
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"conv1"]
        f.create_dataset("conv1/kernel", data=np.zeros((3, 3, 3, 64), np.float32))
        f.create_dataset("conv1/bias", data=np.zeros((64,), np.float32))
    with pytest.raises(ValueError, match="holds 1 layers with weights"):
        squeezenet.load_weights_by_order(base, path)


def _real(rel):
    return real_asset(rel)


@pytest.fixture(scope="module")
def real_cats_dogs():
    root = _real("cats_and_dogs_filtered")
    _real("squeezenet/" + squeezenet.WEIGHTS_FILE)
    _real("keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
    val, _ = data.image_folder(root / "validation", image_size=160, batch_size=64, limit_per_class=250)
    test, _ = data.image_folder(root / "validation", image_size=160, batch_size=64, skip_per_class=250)
    return root, val, test


@pytest.mark.assets
@pytest.mark.slow
def test_real_comparison_pretrained_beat_scratch(real_cats_dogs, monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "0")  # real weights must be found offline, never random
    root, val, test = real_cats_dogs
    train, names = data.image_folder(root / "train", image_size=160, batch_size=32, shuffle=True, seed=0,
                                     limit_per_class=300)
    df = compare.compare(["MobileNetV2@0.35", "SqueezeNet", "scratch"], train, val, test, num_classes=2,
                         image_size=160, epochs=8, out_dir=tmp_path)
    print("\n" + df.drop(columns=["error"]).to_string())
    assert (df["status"] == "ok").all(), df["error"].tolist()
    assert not df[compare.COLUMNS].drop(columns=["error"]).isna().any().any()  # every column filled
    acc = dict(zip(df["name"], df["val_accuracy"], strict=True))
    assert acc["MobileNetV2@0.35"] >= acc["scratch"] + 0.20
    assert acc["SqueezeNet"] >= acc["scratch"] + 0.20
    assert df["val_accuracy_before"].between(0.3, 0.7).all()  # untrained heads guess


@pytest.mark.assets
@pytest.mark.slow
def test_real_data_efficiency_features_beat_scratch_with_few_images(real_cats_dogs, monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "0")
    root, val, _ = real_cats_dogs
    df = compare.data_efficiency(root / "train", val, per_class=(10, 50), image_size=160, epochs=10,
                                 methods=("scratch", "features"))
    print("\n" + df.to_string())
    acc = df.pivot(index="per_class", columns="method", values="val_accuracy")
    assert (acc["features"] > acc["scratch"]).all()
    assert list(df["train_images"].unique()) == [20, 100]


def _kernel(tm):
    return next(w for w in tm.base.weights if "kernel" in w.name)


def test_a_hub_candidate_is_fine_tuned_like_a_keras_one(tmp_path, monkeypatch, capsys):
    """compare with fine_tune_epochs > 0 unfreezes the hub layer (the model's base) and trains its weights."""
    from tlhelpers.course import standins

    monkeypatch.setenv("TLH_SMOKE", "1")
    module = standins.make_tiny_module(tmp_path / "tiny", input_size=None, output_dim=16)
    ds = _tiny_data(size=32)
    built = {}

    def hub_candidate(num_classes, image_size):
        built["tm"] = models.build_hub_model(str(module), num_classes, image_size=image_size)
        built["kernel"] = _kernel(built["tm"]).numpy().copy()  # frozen when built
        return built["tm"]

    with pytest.warns(UserWarning, match="unfreezes as a whole"):  # compare's default unfreeze_from=0.3 explained
        df = compare.compare([("hub:tiny", hub_candidate)], ds, ds, num_classes=2, image_size=32, epochs=1,
                             fine_tune_epochs=2, fine_tune_lr=1e-2, out_dir=tmp_path / "cmp")
    assert list(df["status"]) == ["ok"], df.loc[0, "error"]
    tm = built["tm"]
    assert tm.base.trainable and tm.backbone is None and tm.handle == str(module)
    assert not np.allclose(_kernel(tm).numpy(), built["kernel"])  # the module's own kernel trained
    assert df.loc[0, "params_trainable"] > 16 * 2 + 2  # more than the head: the module's weights train
    assert len(df.attrs["histories"]["hub:tiny"]["accuracy"]) == 3  # 1 head epoch + 2 fine-tuning epochs


def test_the_hub_spec_builds_through_models_build_hub_model(monkeypatch):
    cand = compare.candidate("hub:mobilenet_v2_035_224")
    assert cand.kind == "hub"
    monkeypatch.setattr(models, "build_hub_model", lambda handle, n, image_size: ("built", handle, n, image_size))
    assert cand.build(3, 96) == ("built", "mobilenet_v2_035_224", 3, 96)
