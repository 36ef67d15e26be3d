"""The GPU-shaped rehearsal: what a GPU runtime changes, imitated on a CPU.

What belongs here: everything that makes a CPU behave like the runtimes
learners use (Colab T4, Kaggle T4 x2) for the rehearsal tier
(``TLH_REHEARSE=1gpu|2gpu``, see :mod:`tlhelpers.course.config`): the precision
policy, the XLA decision and the two-device strategy. The stand-in weight files
the rehearsal reads are laid out by :mod:`tlhelpers.course.standins`. Nothing here
runs in smoke or full mode; production modules call in only through
:func:`tlhelpers.training.setup_accelerator` when the rehearsal is on.

The two shapes:

* ``1gpu``: the ``mixed_float16`` policy, and ``jit_compile="auto"`` decided
  as Keras decides with one GPU present (XLA on when every layer of the model
  supports it). Keras itself switches XLA off on CPU-only machines, which is
  why CI never saw a layer without XLA kernels crash ``fit``. On TensorFlow
  before 2.21 the decision is made and printed, but the model compiles
  without XLA: that TensorFlow's CPU XLA computes ``float16`` so slowly that
  one rehearsal lesson outgrows CI (measured on 2 CPU cores: one epoch of
  16 images through VGG16 at 160 px did not finish in 400 s with TensorFlow
  2.20.0; 3.1 s with 2.21.0, compilation included; 1.8 s with 2.20.0 without
  XLA; :data:`SLOW_CPU_XLA`). XLA itself is rehearsed on the newest
  TensorFlow.
* ``2gpu``: the CPU split into two logical devices, a ``MirroredStrategy``
  over both, and ``mixed_float16``. Keras switches XLA off under a strategy,
  as on a real two-GPU machine.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "SLOW_CPU_XLA",
    "cpu_xla_is_slow",
    "xla_as_on_one_gpu",
    "setup",
]

_PATCHED = False

#: TensorFlow versions whose CPU XLA computes float16 too slowly for the rehearsal (measured: see the module doc).
SLOW_CPU_XLA = "TensorFlow before 2.21"


def cpu_xla_is_slow() -> bool:
    """Tell whether this TensorFlow's CPU XLA is too slow at ``float16`` for the 1gpu rehearsal (before 2.21)."""
    import tensorflow as tf

    major, minor = (int(part) for part in tf.__version__.split(".")[:2])
    return (major, minor) < (2, 21)


def xla_as_on_one_gpu() -> None:
    """Make ``jit_compile="auto"`` decide as Keras does when one GPU is present.

    Keras's ``Trainer._resolve_auto_jit_compile`` returns False on a machine
    without GPU; with one GPU and no strategy it returns whether every layer
    supports XLA (``layer.supports_jit``). This replaces the CPU-only check by
    the GPU decision, for this process. Idempotent. Where :func:`cpu_xla_is_slow`,
    the decision is still made (Keras's check runs on every model) but the
    model compiles without XLA.
    """
    global _PATCHED
    if _PATCHED:
        return
    from tlhelpers import kerascompat

    slow = cpu_xla_is_slow()

    def _as_on_one_gpu(model: Any, supports_jit: Any) -> bool:
        if model._distribute_strategy:  # Keras disables XLA under tf.distribute
            return False
        return bool(supports_jit(model)) and not slow

    kerascompat.patch_auto_jit(_as_on_one_gpu)
    _PATCHED = True


def _two_logical_cpus() -> list[str]:
    """Split the CPU into two logical devices (before TensorFlow initialises them) and name them."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    with contextlib.suppress(RuntimeError):  # already initialised: fine if it was split before
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < 2:
        raise RuntimeError("The 2gpu rehearsal needs two logical CPU devices, but TensorFlow was initialised "
                           "before tlhelpers.training.setup_accelerator() ran. Call it first in a fresh process.")
    return devices[:2]


def setup(shape: str, *, mixed_precision: bool = True, verbose: bool = True) -> tf.distribute.Strategy:
    """Set up the CPU as the rehearsal shape says and return the strategy to build and compile in.

    Args:
        shape: ``"1gpu"`` or ``"2gpu"``.
        mixed_precision: Set ``mixed_float16``, as on a T4. Defaults to True.
        verbose: Print what was set up. Defaults to True.

    Returns:
        The default strategy (``1gpu``) or a two-replica ``MirroredStrategy`` (``2gpu``).

    Raises:
        ValueError: Unknown shape.
    """
    import keras
    import tensorflow as tf

    if shape == "1gpu":
        xla_as_on_one_gpu()
        strategy: tf.distribute.Strategy = tf.distribute.get_strategy()
    elif shape == "2gpu":
        strategy = tf.distribute.MirroredStrategy(_two_logical_cpus())
    else:
        raise ValueError(f"Unknown rehearsal shape {shape!r}; expected '1gpu' or '2gpu'.")
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    if verbose:
        xla = "XLA as Keras decides on one GPU" if shape == "1gpu" else "no XLA (Keras turns it off under a strategy)"
        if shape == "1gpu" and cpu_xla_is_slow():
            xla += (f" (decided, then compiled without XLA: the CPU XLA of {SLOW_CPU_XLA} is too slow at float16 for "
                    "the rehearsal)")
        print(f"REHEARSAL {shape}: {type(strategy).__name__}, replicas: {strategy.num_replicas_in_sync}, "
              f"precision: {keras.mixed_precision.global_policy().name}, {xla}. Running on the CPU.")
    return strategy


