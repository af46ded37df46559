"""Models: the zoo (`build`), loading any saved classifier (`load`) and wrapping it (`wrap`).

`build(name, ...)` gives a Keras model taking `[0, 1]` images and outputting logits; `load(path)`
reads a run folder, `.keras`, `.h5` or SavedModel; `wrap(model, input_range=..., preprocess=...,
outputs=...)` puts any classifier into that threat model ([0, 1] pixels in, logits out).

Importing this package registers the custom layers (`tfls>Standardize`, `tfls>ThreatModel`)
with Keras, so a saved `.keras` file loads with plain `keras.models.load_model` after `import tfls.models` (a bare
`import tfls` is lazy and registers nothing).
"""

from __future__ import annotations

import re

import numpy as np

from tfls._validation import check_positive_int
from tfls.models.defences import InputNoise, Quantize, defend
from tfls.models.layers import CIFAR10_MEAN, CIFAR10_STD, Standardize
from tfls.models.loading import load
from tfls.models.wrap import ThreatModel, wrap

__all__ = ["NAMES", "PATTERNS", "Standardize", "ThreatModel", "build", "load", "wrap"]
__all__ += ["InputNoise", "Quantize", "defend"]

# Concrete names, plus the generic forms in PATTERNS.
NAMES = ("cnn4", "small-cnn", "preact-resnet18", "wrn-16-4", "wrn-28-10", "wrn-34-10")
PATTERNS = ("wrn-<depth>-<width>", "preact-resnet18-w<k>")

_WRN = re.compile(r"wrn-(\d+)-(\d+)")
_PREACT = re.compile(r"preact-resnet18(?:-w(\d+))?")


def _unknown(name) -> ValueError:
    return ValueError(
        f"Unknown model {name!r}. Expected one of: {', '.join(NAMES)} "
        f"(or generically {', '.join(PATTERNS)}). Received: name={name!r}"
    )


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(d) for d in input_shape)
        ok = (
            len(shape) == 3
            and all(d >= 1 for d in shape)
            and all(float(d) == int(d) for d in input_shape)
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"`input_shape` must be (height, width, channels) of positive integers. "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def build(name: str, *, num_classes: int, input_shape, seed: int | None = None):
    """Builds a model of the zoo, uncompiled, outputting logits (no softmax).

    Args:
        name: `cnn4` (the paper's 4-layer MNIST CNN), `small-cnn` (a quick CIFAR CPU net),
            `wrn-<depth>-<width>` (pre-activation wide ResNet, e.g. `wrn-34-10` as in Madry et al.
            and TRADES, `wrn-16-4` for CPUs), `preact-resnet18` or `preact-resnet18-w<k>` (k times
            wider). Case and `_`/`-` are ignored.
        num_classes: number of logits (>= 2).
        input_shape: `(height, width, channels)` of the `[0, 1]` input images.
        seed: integer seed of the initial weights (same seed, same weights), or None.

    Returns:
        A `keras.Model`. RGB inputs of the CIFAR models first pass through a `Standardize` layer
        with the CIFAR-10 channel statistics, so the model itself takes `[0, 1]` pixels.

    Raises:
        ValueError: unknown name (the message lists the valid ones), bad `num_classes`,
            `input_shape` or `seed`.

    Example:
        >>> model = tfls.models.build("wrn-16-4", num_classes=10, input_shape=(32, 32, 3), seed=0)
        >>> logits = model(np.zeros((2, 32, 32, 3), "float32"))  # shape (2, 10)
    """
    if not isinstance(name, str):
        raise _unknown(name)
    key = name.strip().lower().replace("_", "-")
    num_classes = check_positive_int(num_classes, name="num_classes", minimum=2)
    input_shape = _check_input_shape(input_shape)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
    seed = None if seed is None else int(seed)
    rgb = dict(mean=CIFAR10_MEAN, std=CIFAR10_STD) if input_shape[-1] == 3 else {}

    if key == "cnn4":
        from tfls.models.cnn import cnn4

        if min(input_shape[:2]) < 16:
            raise ValueError(
                f"cnn4 uses unpadded convolutions and needs inputs of at least 16x16 pixels. "
                f"Received: input_shape={input_shape}"
            )
        return cnn4(num_classes, input_shape, seed=seed)
    if key == "small-cnn":
        from tfls.models.cnn import small_cnn

        return small_cnn(num_classes, input_shape, seed=seed)
    if m := _WRN.fullmatch(key):
        from tfls.models.wrn import wide_resnet

        return wide_resnet(
            int(m.group(1)), int(m.group(2)), num_classes, input_shape, seed=seed, **rgb
        )
    if m := _PREACT.fullmatch(key):
        from tfls.models.preact_resnet import preact_resnet18

        width = int(m.group(1) or 1)
        return preact_resnet18(num_classes, input_shape, width=width, seed=seed, **rgb)
    raise _unknown(name)
