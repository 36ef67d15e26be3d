"""Plots for the lessons: learning curves, confusion matrices, image grids.

What belongs here: functions that take data in and draw it. Most accept an
``ax=`` (:func:`plot_image_grid`: ``axes=``) to draw into and return the
Figure (and Axes); :func:`plot_augmentations` and :func:`plot_gradcam` make a
figure of their own and return it. None calls ``plt.show()`` or writes files; colours stay the same for the same run
name within a session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tlhelpers import compare, explain, training
from tlhelpers.course import sources

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "color_for",
    "METRIC_LABELS",
    "human",
    "plot_history",
    "plot_confusion_matrix",
    "plot_image_grid",
    "plot_per_class_accuracy",
    "plot_augmentations",
    "plot_comparison_bars",
    "plot_accuracy_vs_speed",
    "plot_data_efficiency",
    "plot_gradcam",
    "plot_frozen_and_trained",
    "GENERATED_STAMP",
]


def _stamp(fig: Figure) -> None:
    """Watermark a chart whose numbers come from generated data, so a screenshot cannot pass for a result."""
    if sources.generated_now() and not any(t.get_text() == GENERATED_STAMP for t in fig.texts):
        fig.text(0.5, 0.5, GENERATED_STAMP, ha="center", va="center", rotation=20, fontsize=26, color="#d62728",
                 alpha=0.3, fontweight="bold", zorder=100)

#: The watermark on charts drawn from generated data or random weights (:func:`tlhelpers.course.sources.generated_now`).
GENERATED_STAMP = "GENERATED DATA\nnumbers meaningless"

_COLORS: dict[str, str] = {}
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]


def color_for(name: str) -> str:
    """Return a stable colour for a run name (the same name gets the same colour).

    Args:
        name: Run name.

    Returns:
        A hex colour string.
    """
    if name not in _COLORS:
        _COLORS[name] = _PALETTE[len(_COLORS) % len(_PALETTE)]
    return _COLORS[name]


#: How the comparison columns read on a chart: (axis label with unit, kind of number).
METRIC_LABELS = {
    "val_accuracy": ("validation accuracy", "percent"), "test_accuracy": ("test accuracy", "percent"),
    "val_accuracy_before": ("accuracy before training", "percent"),
    "throughput_img_s": ("throughput (images/s)", "count"), "params_total": ("parameters", "count"),
    "params_trainable": ("trainable parameters", "count"), "saved_mb": ("saved size (MB)", "decimal"),
    "latency_ms": ("latency, one image (ms)", "decimal"), "seconds_per_epoch": ("seconds per epoch", "decimal"),
    "peak_rss_mb": ("peak memory growth (MB)", "count"),
}


def human(value: float, kind: str = "count") -> str:
    """Write a number as a person would in a figure: ``71.7 %``, ``413 k``, ``25.6 M``, ``1,640``, ``8.3``.

    Args:
        value: The number.
        kind: ``"percent"`` (a fraction 0..1), ``"count"`` (k / M above 10,000, thousands separators
            below) or ``"decimal"`` (three significant digits).

    Returns:
        The text.
    """
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == "percent":
        return f"{value * 100:.1f} %"
    if kind == "count":
        size = abs(value)
        if size >= 1e9:
            return f"{value / 1e9:.3g} G"
        if size >= 1e6:
            return f"{value / 1e6:.3g} M"
        if size >= 1e4:
            return f"{value / 1e3:.3g} k"
        return f"{value:,.0f}" if size >= 10 else f"{value:.3g}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def plot_history(
    histories: Any,
    metrics: Sequence[str] = ("accuracy", "loss"),
    *,
    fine_tune_at: int | None = None,
    resumed_at: int | None = None,
    axes: Sequence[Axes] | None = None,
) -> tuple[Figure, Sequence[Axes]]:
    """Plot learning curves: one panel per metric, training solid, validation dashed.

    Args:
        histories: One History/dict, or ``{run name: History or dict}`` to
            overlay several runs.
        metrics: Metric names to plot (the ``val_`` versions are added when
            present). Missing metrics are skipped. Defaults to accuracy and loss.
        fine_tune_at: Epoch (0-based) at which fine-tuning started; a vertical
            line marks it. Defaults to None.
        resumed_at: Epoch (0-based) at which an interrupted run was resumed
            (``TwoPhaseResult.resumed_at``); a red dash-dot line marks it.
            Defaults to None.
        axes: Axes to draw into, one per metric. Defaults to new ones.

    Returns:
        ``(figure, axes)``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not (isinstance(histories, Mapping) and all(
            hasattr(h, "history") or isinstance(h, Mapping) for h in histories.values())):
        histories = {"run": histories}
    runs = {name: training.history_dict(h) for name, h in histories.items()}
    present = [m for m in metrics if any(m in r for r in runs.values())]
    if not present:
        known = sorted({k for r in runs.values() for k in r})
        raise ValueError(f"None of the metrics {list(metrics)} is in the history; it has {known}.")
    if axes is None:
        fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 3.6), squeeze=False)
        axes = list(axes[0])
    fig = axes[0].figure
    for ax, metric in zip(axes, present, strict=False):
        for name, h in runs.items():
            color = color_for(name)
            label = "" if name == "run" else f"{name} "
            if metric in h:
                ax.plot(range(1, len(h[metric]) + 1), h[metric], color=color, label=f"{label}train")
            if f"val_{metric}" in h:
                ax.plot(range(1, len(h[f"val_{metric}"]) + 1), h[f"val_{metric}"], "--", color=color,
                        label=f"{label}validation")
        if fine_tune_at is not None:
            ax.axvline(fine_tune_at + 0.5, color="gray", linestyle=":", label="start fine-tuning")
        if resumed_at is not None:
            ax.axvline(resumed_at + 0.5, color="tab:red", linestyle="-.", label="resumed here")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(metric)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:  # one legend for the figure, below the panels: never over the curves
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize="small", frameon=False)
        fig.tight_layout(rect=(0, 0.06 + 0.05 * ((len(labels) - 1) // 4), 1, 1))
    else:
        fig.tight_layout()
    _stamp(fig)
    return fig, axes


def plot_confusion_matrix(
    cm: np.ndarray, class_names: Sequence[str], *, normalize: bool = True, ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Draw a confusion matrix as a heat map.

    Args:
        cm: ``[C, C]`` counts, rows = true class.
        class_names: ``C`` names.
        normalize: Show each row as shares of the true class. Defaults to True.
        ax: Axes to draw into. Defaults to a new one.

    Returns:
        ``(figure, axes)``.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    cm = np.asarray(cm)
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"Confusion matrix {cm.shape} does not match {len(class_names)} class names.")
    if ax is None:
        size = max(4.0, 0.55 * len(class_names) + 2)
        _, ax = plt.subplots(figsize=(size, size * 0.85))
    data = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    sns.heatmap(data, annot=len(class_names) <= 12, fmt=".2f" if normalize else "d", cmap="Blues",
                xticklabels=class_names, yticklabels=class_names, ax=ax, cbar=False, vmin=0)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    _stamp(ax.figure)
    return ax.figure, ax


def plot_per_class_accuracy(
    accuracy: np.ndarray, class_names: Sequence[str], *, ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Horizontal bars of per-class accuracy.

    Args:
        accuracy: ``[C]`` values in 0..1.
        class_names: ``C`` names.
        ax: Axes to draw into. Defaults to a new one.

    Returns:
        ``(figure, axes)``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 0.35 * len(class_names) + 1))
    acc = np.nan_to_num(np.asarray(accuracy, dtype=float))
    ax.barh(list(class_names), acc, color="#1f77b4")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy")
    for i, v in enumerate(acc):
        ax.text(min(v + 0.01, 0.9), i, f"{v:.0%}", va="center", fontsize="small")
    _stamp(ax.figure)
    return ax.figure, ax


def plot_image_grid(
    images: np.ndarray,
    labels: Sequence[int],
    class_names: Sequence[str],
    *,
    predicted: Sequence[int] | None = None,
    probs: np.ndarray | None = None,
    ncols: int = 6,
    max_images: int = 24,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Show images with their labels; with predictions, wrong ones are titled in red.

    Args:
        images: ``[N, H, W, 3]`` in 0..255 (uint8 or float).
        labels: True labels ``[N]``.
        class_names: Label names.
        predicted: Predicted labels ``[N]``. Defaults to None (labels only).
        probs: Class probabilities ``[N, C]`` to show the confidence. Defaults to None.
        ncols: Columns of the grid. Defaults to 6.
        max_images: Show at most this many. Defaults to 24.
        axes: Flat sequence of axes to draw into. Defaults to a new grid.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    n = min(len(images), max_images)
    if n == 0:
        raise ValueError("No images to show.")
    if axes is None:
        nrows = -(-n // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.1 * nrows), squeeze=False)
        axes = list(grid.ravel())
    fig = axes[0].figure
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(np.clip(np.asarray(images[i], dtype=float), 0, 255).astype(np.uint8))
        true = class_names[int(labels[i])]
        if predicted is None:
            ax.set_title(true, fontsize="small")
        else:
            pred = int(predicted[i])
            conf = f" {probs[i][pred]:.0%}" if probs is not None else ""
            ok = pred == int(labels[i])
            title = f"{class_names[pred]}{conf}" + ("" if ok else f"\n(true: {true})")
            ax.set_title(title, fontsize="small", color="green" if ok else "red")
    fig.tight_layout()
    return fig


def plot_augmentations(image: np.ndarray, augmentation: Any, *, n: int = 8, ncols: int = 4,
                       seed: int | None = None) -> Figure:
    """Show one image and ``n - 1`` randomly augmented versions of it.

    Args:
        image: ``[H, W, 3]`` in 0..255.
        augmentation: A Keras layer (or ``Sequential``) of random augmentations.
        n: Number of panels, the original first. Defaults to 8.
        ncols: Columns of the grid. Defaults to 4.
        seed: Seed for ``keras.utils.set_random_seed`` (repeatable pictures). Defaults to None.

    Returns:
        The figure.
    """
    import keras
    import matplotlib.pyplot as plt

    if seed is not None:
        keras.utils.set_random_seed(seed)
    image = np.asarray(image, dtype=np.float32)
    batch = np.repeat(image[None], max(n - 1, 1), axis=0)
    augmented = np.asarray(augmentation(batch, training=True))
    panels = [image, *augmented[: n - 1]]
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.2 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(panels):
            ax.imshow(np.clip(panels[i], 0, 255).astype(np.uint8))
            ax.set_title("original" if i == 0 else f"augmented {i}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_comparison_bars(
    table: Any, metrics: Sequence[str] = ("val_accuracy", "throughput_img_s", "params_total", "saved_mb"),
    *, axes: Sequence[Axes] | None = None,
) -> Figure:
    """Draw grouped horizontal bars, one panel per metric, one bar per compared model.

    Args:
        table: A DataFrame from :func:`tlhelpers.compare.compare` (failed rows are left out).
        metrics: Columns to show. Defaults to accuracy, throughput, parameters and size.
        axes: Axes to draw into, one per metric. Defaults to a new row of panels.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ok = table[table["status"] == "ok"] if "status" in table else table
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 0.5 * len(ok) + 1.5), squeeze=False)
        axes = list(axes[0])
    fig = axes[0].figure
    names = list(ok["name"])
    for ax, metric in zip(axes, metrics, strict=True):
        values = list(ok[metric])
        label, kind = METRIC_LABELS.get(metric, (metric.replace("_", " "), "decimal"))
        ax.barh(names, values, color=[color_for(n) for n in names])
        ax.set_title(label)
        ax.invert_yaxis()
        ax.set_xlim(0, max(values) * 1.3 if values and max(values) > 0 else 1)  # room for the labels
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos, k=kind: human(v, k)))
        for i, v in enumerate(values):
            ax.text(v, i, f" {human(v, kind)}", va="center", fontsize=8)
        if ax is not axes[0]:
            ax.set_yticklabels([])
    fig.tight_layout()
    _stamp(fig)
    return fig


def plot_accuracy_vs_speed(
    table: Any, *, x: str = "throughput_img_s", y: str = "val_accuracy", ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Scatter accuracy against inference speed and draw the Pareto front (the models nothing beats on both).

    Args:
        table: A DataFrame from :func:`tlhelpers.compare.compare`.
        x: Speed column (higher is better). Defaults to ``"throughput_img_s"``.
        y: Accuracy column (higher is better). Defaults to ``"val_accuracy"``.
        ax: Axes to draw into. Defaults to a new one.

    Returns:
        ``(figure, axes)``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ok = table[table["status"] == "ok"] if "status" in table else table
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
    fig = ax.figure
    front = compare.pareto_front(ok, x, y)
    for _, row in ok.iterrows():
        ax.scatter(row[x], row[y], s=60, color=color_for(row["name"]), zorder=3)
        ax.annotate(row["name"], (row[x], row[y]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    edge = ok[front].sort_values(x)
    if len(edge) > 1:
        ax.plot(edge[x], edge[y], "--", color="gray", zorder=2, label="Pareto front")
        ax.legend(loc="lower left")
    x_label, x_kind = METRIC_LABELS.get(x, (x.replace("_", " "), "decimal"))
    y_label, y_kind = METRIC_LABELS.get(y, (y.replace("_", " "), "decimal"))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: human(v, x_kind)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: human(v, y_kind)))
    ax.set_xlabel(x_label + ", log scale")
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    _stamp(fig)
    return fig, ax


def plot_data_efficiency(table: Any, *, ax: Axes | None = None) -> tuple[Figure, Axes]:
    """Accuracy versus training images, one line per method (log-scaled x).

    Args:
        table: A DataFrame from :func:`tlhelpers.compare.data_efficiency`.
        ax: Axes to draw into. Defaults to a new one.

    Returns:
        ``(figure, axes)``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
    fig = ax.figure
    for method, part in table.groupby("method", sort=False):
        part = part.sort_values("train_images")
        ax.plot(part["train_images"], part["val_accuracy"], "o-", color=color_for(str(method)), label=str(method))
    ax.set_xscale("log")
    ax.set_xlabel("labelled training images (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("When does transfer learning pay?")
    ax.grid(alpha=0.3)
    ax.legend()
    _stamp(fig)
    return fig, ax


def plot_gradcam(
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    titles: Sequence[str] | None = None,
    title_colors: Sequence[str] | None = None,
    alpha: float = 0.45,
    ncols: int = 4,
) -> Figure:
    """Overlay Grad-CAM heat maps on their photos (each map stretched bilinearly to its photo).

    Args:
        images: ``[N, H, W, 3]`` photos in 0..255.
        heatmaps: ``[N, h, w]`` maps in 0..1 (:attr:`tlhelpers.explain.GradCam.heatmaps`).
        titles: One title per image (e.g. "cat 97 %"). Defaults to none.
        title_colors: One colour per title (e.g. green right, red wrong). Defaults to black.
        alpha: Opacity of the heat map. Defaults to 0.45.
        ncols: Columns of the grid. Defaults to 4.

    Returns:
        The figure (a colour bar says what the colours mean).
    """
    import matplotlib.pyplot as plt

    n = len(images)
    if n == 0 or len(heatmaps) != n:
        raise ValueError(f"Need as many heat maps as images (got {len(heatmaps)} maps for {n} images).")
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.4 * nrows), squeeze=False)
    shown = None
    for i, ax in enumerate(grid.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        photo = np.clip(np.asarray(images[i], dtype=float), 0, 255).astype(np.uint8)
        h, w = photo.shape[:2]
        heat = explain.upsample(np.asarray(heatmaps[i])[None], (h, w))[0]
        ax.imshow(photo)
        shown = ax.imshow(np.clip(heat, 0, 1), cmap="jet", alpha=alpha, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize="small", color=(title_colors[i] if title_colors else "black"))
    fig.colorbar(shown, ax=list(grid.ravel()), shrink=0.8, label="evidence for the class (0 to 1)")
    _stamp(fig)
    return fig


#: The three states :func:`plot_frozen_and_trained` colours, in its legend's order.
LAYER_STATES = {"trained": "#ff7f0e", "frozen": "#1f77b4", "frozen BatchNorm": "#9ecae1"}


def _weighted_layers(model: Any, trainable: bool = True) -> list[tuple[str, int, str]]:
    """``(name, parameters, state)`` of every layer that holds weights, nested models opened, in model order."""
    import keras

    rows = []
    for layer in model.layers:
        on = trainable and layer.trainable  # a frozen parent freezes everything inside it
        if isinstance(layer, keras.Model) or getattr(layer, "layers", None):  # a nested model or Sequential
            rows += _weighted_layers(layer, on)
        elif layer.weights:
            params = int(sum(np.prod(w.shape) for w in layer.weights))
            if on and layer.trainable_weights:
                state = "trained"
            else:
                state = "frozen BatchNorm" if isinstance(layer, keras.layers.BatchNormalization) else "frozen"
            rows.append((f"{model.name}/{layer.name}", params, state))
    return rows


def plot_frozen_and_trained(model: Any, *, ax: Axes | None = None, title: str | None = None) -> tuple[Figure, Axes]:
    """Draw which layers of a model train and which are frozen: one bar per layer with weights, input to output.

    Nested models (a ``keras.applications`` base inside a transfer model) are
    opened, so the figure shows the base's own layers, then the head. A bar's
    height is the layer's number of weights (log scale); its colour says
    whether ``fit`` changes them (:data:`LAYER_STATES`), the way
    ``model.trainable_weights`` does: a layer inside a frozen model is frozen
    whatever its own ``trainable`` says.

    Args:
        model: Any Keras model.
        ax: Axes to draw into. Defaults to a new, wide one.
        title: The title. Defaults to the share of the weights that train.

    Returns:
        ``(figure, axes)``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = _weighted_layers(model)
    if not rows:
        raise ValueError(f"{model.name} has no layer with weights: build it first (call it once or give an Input).")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.6))
    params = np.array([r[1] for r in rows])
    ax.bar(np.arange(len(rows)), params, width=1.0, color=[LAYER_STATES[r[2]] for r in rows], edgecolor="none")
    ax.set_yscale("log")
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_xlabel(f"layers with weights, input to output ({len(rows)})")
    ax.set_ylabel("weights per layer")
    totals = {state: int(sum(r[1] for r in rows if r[2] == state)) for state in LAYER_STATES}
    ax.legend(handles=[Patch(color=c, label=f"{state}: {human(totals[state])} weights")
                       for state, c in LAYER_STATES.items() if totals[state]], loc="upper left", fontsize=8)
    owners = [r[0].rsplit("/", 1)[0] for r in rows]  # the model each layer sits in: the base, then the head
    starts = [i for i in range(len(rows)) if i == 0 or owners[i] != owners[i - 1]]
    for begin, end in zip(starts, [*starts[1:], len(rows)], strict=True):
        if begin:
            ax.axvline(begin - 0.5, color="black", linestyle=":", linewidth=1)
        ax.text((begin + end - 1) / 2, 1.02, owners[begin], transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=8)
    share = totals["trained"] / max(int(params.sum()), 1)
    ax.set_title(title or f"{share:.1%} of the weights train", pad=16)
    return ax.figure, ax
