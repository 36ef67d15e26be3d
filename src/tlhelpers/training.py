"""Training helpers: seeding, timing and joining training phases.

What belongs here: code around ``model.fit`` that every lesson repeats. The
lesson's own ideas (compile, freeze, unfreeze, learning rates) stay in the
notebooks.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["set_seed", "EpochTimer", "merge_histories"]


def set_seed(seed: int = 42) -> None:
    """Seed Python, NumPy and TensorFlow so a run can be repeated.

    Args:
        seed: The seed. Defaults to 42.
    """
    import keras

    keras.utils.set_random_seed(seed)


def _callback_base() -> type:
    import keras

    return keras.callbacks.Callback


class EpochTimer:
    """A Keras callback recording the wall time of every epoch, in seconds.

    Create it with :meth:`create` (the class is built lazily so that importing
    :mod:`tlhelpers` does not import Keras). After ``fit``, ``seconds`` holds
    one value per epoch.
    """

    @staticmethod
    def create() -> keras.callbacks.Callback:
        """Return a new timer callback with an empty ``seconds`` list."""
        base = _callback_base()

        class _Timer(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self._start = 0.0

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def merge_histories(*histories: Any) -> dict[str, list[float]]:
    """Join the histories of consecutive training phases into one.

    Args:
        *histories: ``keras.callbacks.History`` objects or dicts of lists, in
            order (e.g. head training, then fine-tuning).

    Returns:
        ``{metric: values of all phases, concatenated}``; a metric missing in
        one phase is padded with NaN so the epochs stay aligned.
    """
    from tlhelpers.plots import history_dict

    dicts = [history_dict(h) for h in histories]
    keys = sorted({k for d in dicts for k in d})
    merged: dict[str, list[float]] = {k: [] for k in keys}
    for d in dicts:
        length = max((len(v) for v in d.values()), default=0)
        for k in keys:
            merged[k].extend(d.get(k, [float("nan")] * length))
    return merged
