import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from tlhelpers import plots, training


def test_color_for_is_stable():
    assert plots.color_for("a-run") == plots.color_for("a-run")
    assert plots.color_for("a-run") != plots.color_for("another-run")


def test_plot_history_overlays_runs_and_marks_fine_tuning():
    h1 = {"accuracy": [0.1, 0.2, 0.3], "val_accuracy": [0.1, 0.15, 0.2], "loss": [3, 2, 1]}
    h2 = {"accuracy": [0.2, 0.4], "loss": [2, 1]}
    fig, axes = plots.plot_history({"a": h1, "b": h2}, fine_tune_at=1)
    assert len(axes) == 2
    acc_lines = [ln for ln in axes[0].get_lines() if ln.get_label() != "start fine-tuning"]
    assert len(acc_lines) == 3  # a train, a validation, b train
    assert acc_lines[0].get_color() == plots.color_for("a")
    assert any(ln.get_label() == "start fine-tuning" for ln in axes[0].get_lines())
    plt.close(fig)


def test_plot_history_accepts_single_history_and_reports_missing_metrics():
    fig, axes = plots.plot_history({"loss": [1.0, 0.5]}, metrics=("accuracy", "loss"))
    assert len(axes) == 1 and axes[0].get_title() == "loss"
    plt.close(fig)
    with pytest.raises(ValueError, match="it has"):
        plots.plot_history({"loss": [1.0]}, metrics=("auc",))
    with pytest.raises(TypeError):
        training.history_dict(42)


def test_plot_confusion_matrix_and_per_class_take_ax():
    fig, ax = plt.subplots()
    out_fig, out_ax = plots.plot_confusion_matrix(np.array([[2, 1], [0, 3]]), ["a", "b"], ax=ax)
    assert out_ax is ax and out_fig is fig
    with pytest.raises(ValueError, match="does not match"):
        plots.plot_confusion_matrix(np.eye(3), ["a", "b"], ax=ax)
    fig2, ax2 = plots.plot_per_class_accuracy(np.array([0.5, np.nan]), ["a", "b"])
    assert len(ax2.patches) == 2
    plt.close("all")


def test_plot_image_grid_marks_wrong_predictions_red():
    images = np.zeros((3, 8, 8, 3), np.uint8)
    fig = plots.plot_image_grid(images, [0, 1, 1], ["cat", "dog"], predicted=[0, 0, 1],
                                probs=np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]]), ncols=3)
    titles = [ax.title for ax in fig.axes[:3]]
    colors = [matplotlib.colors.to_hex(t.get_color()) for t in titles]
    assert colors == [matplotlib.colors.to_hex("green"), matplotlib.colors.to_hex("red"),
                      matplotlib.colors.to_hex("green")]
    assert "true: dog" in titles[1].get_text() and "70%" in titles[1].get_text()
    plt.close(fig)
    with pytest.raises(ValueError, match="No images"):
        plots.plot_image_grid(images[:0], [], ["cat"])


def test_human_numbers():
    assert plots.human(0.7166, "percent") == "71.7 %"
    assert plots.human(413_000) == "413 k" and plots.human(25_600_000) == "25.6 M" and plots.human(1640) == "1,640"
    assert plots.human(8.321, "decimal") == "8.32" and plots.human(float("nan")) == "n/a"


def test_comparison_charts_read_like_figures_in_a_paper():
    import pandas as pd

    table = pd.DataFrame({"name": ["MobileNetV2", "SqueezeNet", "scratch"], "status": ["ok"] * 3,
                          "val_accuracy": [0.717, 0.683, 0.5], "throughput_img_s": [1640.0, 2890.0, 12100.0],
                          "params_total": [413_000, 722_000, 3_200_000], "saved_mb": [1.9, 2.9, 12.3]})
    fig = plots.plot_comparison_bars(table)
    fig.canvas.draw()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    assert " 71.7 %" in texts and " 413 k" in texts and " 1,640" in texts
    assert not [s for s in texts + ticks if "e+" in s or "e-0" in s]  # no scientific notation
    assert fig.axes[1].get_title() == "throughput (images/s)"
    plt.close(fig)
    fig, ax = plots.plot_accuracy_vs_speed(table)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    assert labels and not [s for s in labels if "times" in s or "^" in s or "e+" in s]
    assert ax.get_xlabel() == "throughput (images/s), log scale" and "%" in labels[-1]
    plt.close(fig)


def test_learning_curve_legend_stays_off_the_curves():
    fig, axes = plots.plot_history({"a": {"accuracy": [0.1, 0.2], "val_accuracy": [0.1, 0.3]}})
    assert all(ax.get_legend() is None for ax in axes) and len(fig.legends) == 1
    plt.close(fig)


def test_charts_from_generated_data_carry_a_watermark(monkeypatch):
    import pandas as pd

    from tlhelpers.course import report

    df = pd.DataFrame({"name": ["x", "y"], "status": ["ok", "ok"], "val_accuracy": [0.9, 0.8],
                       "throughput_img_s": [10.0, 300.0], "params_total": [1e6, 1e5], "saved_mb": [4.0, 0.5]})
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "accuracy": [0.5, 0.8], "val_accuracy": [0.5, 0.7]}

    def charts():
        return [plots.plot_comparison_bars(df), plots.plot_accuracy_vs_speed(df)[0], plots.plot_history(history)[0],
                plots.plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"])[0]]

    def stamped(fig):
        return [t for t in fig.texts if t.get_text() == plots.GENERATED_STAMP]

    assert not any(stamped(f) for f in charts())  # real data: no mark
    report.note_generated("cats_and_dogs_filtered photos")
    assert all(len(stamped(f)) == 1 for f in charts())
    report.new_data_section()  # the next part loads real data: clean charts again
    assert not any(stamped(f) for f in charts())
    plt.close("all")


def test_frozen_and_trained_figure_counts_what_fit_changes():
    """Its bars and legend agree with ``model.trainable_weights`` as a transfer model is frozen, then fine-tuned."""
    import keras

    from tlhelpers import models

    tm = models.build_transfer_model("MobileNetV2", 2, image_size=64, alpha=0.35, weights=None)

    def drawn():
        fig, ax = plots.plot_frozen_and_trained(tm.model)
        bars = ax.patches
        colours = [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars]
        sums = {state: sum(b.get_height() for b, c in zip(bars, colours, strict=True) if c == colour)
                for state, colour in plots.LAYER_STATES.items()}
        plt.close(fig)
        return sums, ax.get_title(), [t.get_text() for t in ax.get_legend().get_texts()]

    counts = models.trainable_summary(tm.model)
    sums, title, legend = drawn()
    assert sums["trained"] == counts["trainable"] > 0  # only the head
    assert sums["frozen BatchNorm"] > 0 and title == f"{counts['trainable'] / counts['total']:.1%} of the weights train"
    models.unfreeze(tm.base, len(tm.base.layers) // 2)  # the top half trains, its BatchNorm stays frozen
    counts = models.trainable_summary(tm.model)
    sums, _, legend = drawn()
    assert sums["trained"] == counts["trainable"]
    bn = [layer for layer in tm.base.layers[len(tm.base.layers) // 2:]
          if isinstance(layer, keras.layers.BatchNormalization)]
    assert bn and all(not layer.trainable_weights for layer in bn)
    assert any(text.startswith("frozen BatchNorm") for text in legend)
    with pytest.raises(ValueError, match="no layer with weights"):
        plots.plot_frozen_and_trained(keras.Sequential([keras.layers.Flatten()]))
