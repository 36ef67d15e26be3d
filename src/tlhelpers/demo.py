"""A web page people can click: upload a photo, see the model's top labels and where it looked.

What belongs here: turning a trained course model into a small demo (Gradio),
and the one function behind it (:func:`explain_file`: a photo file in, the
top-k labels, a Grad-CAM overlay and a sentence out). The predictions come
from :mod:`tlhelpers.evaluate`, the heat maps from :mod:`tlhelpers.explain`.

The page runs on this computer, at ``http://127.0.0.1:<port>`` unless told
otherwise: nobody else can reach it. On Colab and Kaggle, where a notebook's
own machine is not reachable from your browser, :func:`launch` shows the page
inside the notebook (Colab) or asks Gradio for a temporary public share link
(``share=True``; it needs internet and anyone with the link can use it for
as long as the notebook runs).

Gradio is an optional dependency: ``pip install "tlhelpers[demo]"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["DemoResult", "explain_file", "overlay", "build_app", "launch", "in_hosted_notebook", "MAX_FILE_SIZE"]

#: Largest upload the page accepts (Gradio refuses bigger files before they reach the model).
MAX_FILE_SIZE = "20mb"
_INSTALL = 'The demo needs Gradio: pip install "tlhelpers[demo]"  (or: pip install gradio)'


@dataclass
class DemoResult:
    """What the page shows for one upload.

    Attributes:
        top: ``{label: probability}`` for the top-k labels, most likely first (empty when the file was refused).
        overlay: ``[H, W, 3]`` uint8 photo with the Grad-CAM heat map of the top label on it (None when refused,
            or the photo alone when the model has no feature map to explain).
        message: One line for people: the prediction, or what was wrong with the file and what to do.
        ok: False when the file was refused.
    """

    top: dict[str, float] = field(default_factory=dict)
    overlay: np.ndarray | None = None
    message: str = ""
    ok: bool = True


def overlay(photo: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """Blend a heat map (0..1, any resolution) onto a photo with the 'jet' colour map, as :func:`plots.plot_gradcam`.

    Args:
        photo: ``[H, W, 3]`` in 0..255.
        heatmap: ``[h, w]`` in 0..1; stretched bilinearly to the photo.
        alpha: Opacity of the heat map. Defaults to 0.45.

    Returns:
        ``[H, W, 3]`` uint8.
    """
    from matplotlib import colormaps

    from tlhelpers import explain

    rgb = np.clip(np.asarray(photo, dtype=np.float32), 0, 255)
    h, w = rgb.shape[:2]
    heat = explain.upsample(np.asarray(heatmap)[None], (h, w))[0]
    colours = colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255.0
    return np.clip((1 - alpha) * rgb + alpha * colours, 0, 255).astype(np.uint8)


def explain_file(model: keras.Model, path: str | os.PathLike | None, *, top_k: int = 3,
                 class_names: list[str] | None = None) -> DemoResult:
    """Predict one uploaded file and explain the top label; refuse anything that is not a readable image.

    Args:
        model: A course classifier (raw 0..255 images in, probabilities out).
        path: The uploaded file (None: nothing uploaded yet).
        top_k: Labels to show. Defaults to 3.
        class_names: Label names; defaults to those stored in the model.

    Returns:
        A :class:`DemoResult`; never raises for a bad file (the message says what was wrong).
    """
    from tlhelpers import evaluate, explain, models

    if path is None:
        return DemoResult(message="Upload a photo (JPEG, PNG, WebP, BMP or GIF).", ok=False)
    path = Path(path)
    size = int(model.input_shape[1])
    try:
        image = evaluate.load_image_file(path, size)
    except ValueError as exc:
        reason = str(exc).replace(f"Cannot predict {path}: ", "")
        return DemoResult(message=f"Not an image this demo can read ({path.name}): {reason} "
                                  "Upload a photo instead (JPEG, PNG, WebP, BMP or GIF).", ok=False)
    names = list(class_names or models.class_names_of(model) or [])
    probs = np.asarray(model.predict(image[None], verbose=0), dtype=np.float64)[0]
    if not names:
        names = [f"class_{i}" for i in range(len(probs))]
    order = np.argsort(-probs)[: max(1, top_k)]
    top = {names[i]: float(probs[i]) for i in order}
    best = names[order[0]]
    message = f"Prediction: {best} ({probs[order[0]]:.1%})."
    try:
        cam = explain.grad_cam(model, image[None], class_index=int(order[0]))
        shown = overlay(image, cam.heatmaps[0])
        message += f" Red = where the evidence for '{best}' sits (Grad-CAM on layer {cam.layer})."
    except ValueError as exc:
        shown = image.astype(np.uint8)
        message += f" No heat map: {exc}"
    return DemoResult(top=top, overlay=shown, message=message)


def in_hosted_notebook() -> str | None:
    """Tell whether this runs in a Colab or Kaggle notebook (their browser cannot reach 127.0.0.1 here).

    Returns:
        ``"colab"``, ``"kaggle"`` or None.
    """
    if os.environ.get("COLAB_RELEASE_TAG") or os.environ.get("COLAB_GPU") is not None:
        return "colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "kaggle"
    return None


def build_app(model: keras.Model, *, top_k: int = 3, class_names: list[str] | None = None,
              title: str | None = None) -> Any:
    """Build the Gradio page: a file upload, the top-k labels, the Grad-CAM overlay and a message line.

    Args:
        model: The classifier.
        top_k: Labels to show. Defaults to 3.
        class_names: Label names; defaults to those stored in the model.
        title: Heading of the page. Defaults to the model's name.

    Returns:
        A ``gradio.Blocks`` app (call :func:`launch`, or its own ``.launch()``).

    Raises:
        ImportError: Gradio is not installed (says how to install it).
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no usage reports; nothing leaves the machine
    try:
        import gradio as gr
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    from tlhelpers import models

    names = list(class_names or models.class_names_of(model) or [])
    heading = title or f"{model.name}: what is in your photo?"

    def run(path: str | None) -> tuple[dict[str, float] | None, np.ndarray | None, str]:
        result = explain_file(model, path, top_k=top_k, class_names=names or None)
        return (result.top or None), result.overlay, result.message

    with gr.Blocks(title=heading, analytics_enabled=False) as app:
        gr.Markdown(f"## {heading}\nClasses: {', '.join(names) if names else 'unnamed'}. "
                    "The photo never leaves this computer unless you opened a share link.")
        with gr.Row():
            upload = gr.File(label="Photo", type="filepath", elem_id="tlh-upload")
            with gr.Column():
                labels = gr.Label(num_top_classes=top_k, label="Top labels", elem_id="tlh-labels")
                status = gr.Markdown("Upload a photo.", elem_id="tlh-status")
        picture = gr.Image(label="Grad-CAM: where the model found evidence for its top label",
                           type="numpy", interactive=False, elem_id="tlh-overlay")
        upload.change(run, inputs=upload, outputs=[labels, picture, status])
    return app


def launch(model: keras.Model | str | os.PathLike, *, host: str = "127.0.0.1", port: int | None = None,
           share: bool | None = None, top_k: int = 3, block: bool = True) -> Any:
    """Serve the demo page and print its address.

    Args:
        model: A model or the path of a ``.keras`` file.
        host: Interface to listen on. Defaults to ``127.0.0.1`` (this computer only); ``0.0.0.0`` lets other
            machines on your network in.
        port: Port; None picks a free one from 7860 up.
        share: Ask Gradio for a temporary public link (needs internet). None: only on Kaggle, where the
            notebook's own address cannot be opened; Colab shows the page in the notebook.
        top_k: Labels to show. Defaults to 3.
        block: Keep serving until interrupted (scripts, ``tlh demo``); False returns at once (notebooks, tests).

    Returns:
        The running ``gradio.Blocks`` app (``app.close()`` stops it).
    """
    from tlhelpers import models

    loaded = models.load_model(model) if isinstance(model, str | os.PathLike) else model
    app = build_app(loaded, top_k=top_k)
    hosted = in_hosted_notebook()
    if share is None:
        share = hosted == "kaggle"
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
               max_file_size=MAX_FILE_SIZE, show_error=True)
    print(f"Demo running at {app.local_url}" + (f" (public link: {app.share_url})" if app.share_url else ""),
          flush=True)
    if host not in ("127.0.0.1", "localhost"):
        print(f"Listening on {host}: other machines on this network can open it.", flush=True)
    if block:
        try:
            app.block_thread()
        except KeyboardInterrupt:  # pragma: no cover - interactive
            pass
        finally:
            app.close()
    return app
