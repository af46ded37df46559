"""Defended models whose robustness plain PGD overestimates: test material for EOT and BPDA.

Each fixture is `Input → defence layer → MLP`, the MLP trained in-process on synthetic prototype
images seen through its defence (`classifier`). Three defences are random (`KIND` "random"), to be
attacked with EOT; three have no gradient (`"nondiff"`), to be attacked straight through (BPDA)
by naming `DEFENCE_LAYER[name]`; `"plain"` is the undefended control.

Measured on `data()` (128 points), ε = `EPS[name]` = 0.1, by `python -m
tests.attacks.test_defence_fixtures` (2 CPU cores, TF 2.21). Accuracies of random fixtures are
means over 20 forward passes per point. "PGD-20" is `tfls.attacks.PGD(model, eps, steps=20)`
(step ε/10, random start, seed 0); "adaptive" is `tests.adaptive_references.eot_pgd` with 10
draws per step (random fixtures) or `straight_through_pgd` through the defence layer (the others),
20 steps of ε/10 from the same start; gap = PGD-20 − adaptive.

    fixture            kind      clean  PGD-20  adaptive    gap | PGD last  EOT-1
    gaussian-noise     random    0.923   0.762     0.428 +0.334 |    0.466  0.468
    random-resize-pad  random    0.909   0.781     0.334 +0.447 |    0.343  0.343
    dropout-on         random    0.923   0.798     0.435 +0.363 |    0.496  0.486
    quantise           nondiff   1.000   1.000     0.516 +0.484 |
    jpeg-like          nondiff   0.992   0.969     0.398 +0.570 |
    threshold          nondiff   0.961   0.977     0.484 +0.492 |
    plain              plain     1.000   0.391     0.391 +0.000 |

What the gaps are made of. On the non-differentiable fixtures tfls' gradient is zero (TensorFlow
records none through `tf.round` or a cast comparison), so PGD never leaves its random start. On
the random ones the two diagnostic columns tell: "PGD last" is tfls' PGD-20 returning its last
iterate, "EOT-1" the reference with one draw per step. Both come within 1-6 points of EOT-10, so
most of the gap is PGD judging success on one draw (it keeps the first point one draw
misclassifies, which most draws still classify right), and averaging gradients over draws adds
only 1-5 points here. An EOT that averages gradients but still judges success on one draw fails
these fixtures; one that judges over draws but does not average gradients would pass them.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tests.audit.fixtures import AlwaysDropout, Quantise
from tests.tiny_models import make_prototype_data, tiny_mlp, trained_tiny_mlp

INPUT = (8, 8, 1)


@keras.saving.register_keras_serializable(package="tfls_tests")
class GaussianNoise(keras.layers.Layer):
    """Adds N(0, `stddev`²) to every pixel at every call, training or not (randomised smoothing)."""

    def __init__(self, stddev=0.5, seed=0, **kwargs):
        super().__init__(**kwargs)
        if stddev < 0:
            raise ValueError(f"stddev must be >= 0. Received: stddev={stddev}")
        self.stddev = stddev
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return x + self.stddev * keras.random.normal(tf.shape(x), seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


def area_resize_matrices(scale, offset, size):
    """Per-example `(batch, size, size)` matrices that shrink a line of `size` pixels by `scale`
    (area averaging) and place it at `offset` pixels, zeros elsewhere.

    Row i of a matrix averages the input interval that output pixel [i, i + 1) covers once the
    input is shrunk to [offset, offset + scale·size): weight(i, k) = scale · overlap of
    [(i − offset)/scale, (i + 1 − offset)/scale) with input pixel [k, k + 1).
    """
    i = tf.range(size, dtype=tf.float32)[None, :, None]
    k = tf.range(size, dtype=tf.float32)[None, None, :]
    scale = scale[:, None, None]
    offset = offset[:, None, None]
    lo = (i - offset) / scale
    hi = (i + 1.0 - offset) / scale
    overlap = tf.maximum(0.0, tf.minimum(hi, k + 1.0) - tf.maximum(lo, k))
    return scale * overlap


@keras.saving.register_keras_serializable(package="tfls_tests")
class RandomResizePad(keras.layers.Layer):
    """Per example, shrinks the image by a random factor in [`min_scale`, 1] and pads it back to
    its size at a random offset (zeros around it), at every call (Xie et al., 2018, downscaled).

    Vectorised: each example's resize-and-place is a pair of matrices, `out = R_h · x · R_wᵀ`,
    so the whole batch is one `einsum` and the layer is differentiable in its input.

    Reference:
        Xie et al., "Mitigating Adversarial Effects Through Randomization", ICLR 2018.
    """

    def __init__(self, min_scale=0.6, seed=0, **kwargs):
        super().__init__(**kwargs)
        if not 0 < min_scale <= 1:
            raise ValueError(f"min_scale must be in (0, 1]. Received: min_scale={min_scale}")
        self.min_scale = min_scale
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        batch = tf.shape(x)[0]
        height, width = x.shape[1], x.shape[2]
        u = keras.random.uniform((batch, 3), seed=self.seed_generator)
        scale = self.min_scale + (1.0 - self.min_scale) * u[:, 0]
        rows = area_resize_matrices(scale, u[:, 1] * (1.0 - scale) * height, height)
        cols = area_resize_matrices(scale, u[:, 2] * (1.0 - scale) * width, width)
        return tf.einsum("bik,bklc,bjl->bijc", rows, x, cols)

    def get_config(self):
        return {**super().get_config(), "min_scale": self.min_scale, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfls_tests")
class Threshold(keras.layers.Layer):
    """Binarises pixels at `threshold` (1 above, 0 at or below): `tf.cast` of a comparison, so
    TensorFlow records no gradient at all (None, which tfls turns into zeros)."""

    def __init__(self, threshold=0.5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold

    def call(self, x):
        return tf.cast(x > self.threshold, x.dtype)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


# The JPEG standard's luminance quantisation table (ITU T.81, Annex K), for quality 50.
_JPEG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    np.float32,
)


def dct_matrix(n=8):
    """The orthonormal DCT-II matrix: `D @ v` are the cosine coefficients of `v`."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.astype(np.float32)


def jpeg_table(quality):
    """The luminance table scaled to `quality` in [1, 100] as libjpeg does, in [0, 1] pixel units."""
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    table = np.clip(np.floor((_JPEG_LUMA * scale + 50.0) / 100.0), 1, 255)
    return (table / 255.0).astype(np.float32)


@keras.saving.register_keras_serializable(package="tfls_tests")
class JpegLike(keras.layers.Layer):
    """JPEG's lossy step on 8×8 blocks: DCT, coefficients rounded to multiples of the quality
    table, inverse DCT. `tf.round` has no gradient in TensorFlow, so neither has the layer.

    Single-channel images whose sides are multiples of 8. (`tf.image.adjust_jpeg_quality` is not
    used: XLA cannot compile it, and tfls compiles attacks on small MLPs with XLA on CPU.)
    """

    def __init__(self, quality=50, **kwargs):
        super().__init__(**kwargs)
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be in [1, 100]. Received: quality={quality}")
        self.quality = quality
        self._dct = tf.constant(dct_matrix(8))
        self._table = tf.constant(jpeg_table(quality))

    def call(self, x):
        h, w, channels = x.shape[1:]
        if channels != 1 or h % 8 or w % 8:
            raise ValueError(
                "JpegLike takes single-channel images with sides that are multiples of 8. "
                f"Received: input shape {tuple(x.shape)}"
            )
        # (batch, H/8, 8, W/8, 8) → (batch, H/8, W/8, 8, 8): one 8×8 block per trailing pair.
        blocks = tf.transpose(tf.reshape(x, [-1, h // 8, 8, w // 8, 8]), [0, 1, 3, 2, 4])
        d = self._dct
        coeffs = tf.einsum("ui,bhwij,vj->bhwuv", d, blocks - 0.5, d)
        coeffs = tf.round(coeffs / self._table) * self._table
        blocks = tf.einsum("ui,bhwuv,vj->bhwij", d, coeffs, d) + 0.5
        return tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4]), [-1, h, w, 1])

    def get_config(self):
        return {**super().get_config(), "quality": self.quality}


# ---------------------------------------------------------------------------------------------
# The registry

# fixture -> its defence layer, made with a given layer name (None: the undefended control).
DEFENCES = {
    "gaussian-noise": lambda name: GaussianNoise(0.3, seed=0, name=name),
    "random-resize-pad": lambda name: RandomResizePad(0.8, seed=0, name=name),
    "dropout-on": lambda name: AlwaysDropout(0.2, seed=0, name=name),
    "quantise": lambda name: Quantise(4, name=name),
    "jpeg-like": lambda name: JpegLike(25, name=name),
    "threshold": lambda name: Threshold(0.5, name=name),
    "plain": None,
}
KIND = {
    "gaussian-noise": "random",
    "random-resize-pad": "random",
    "dropout-on": "random",
    "quantise": "nondiff",
    "jpeg-like": "nondiff",
    "threshold": "nondiff",
    "plain": "plain",
}
# The name of each fixture's defence layer (a top-level layer of `build(name)`), for BPDA options.
DEFENCE_LAYER = {
    name: None if make is None else name.replace("-", "_") for name, make in DEFENCES.items()
}
# L∞ radius per fixture: the undefended classifier keeps ~40% of `data()` at 0.1 (and ~4% at 0.15).
EPS = dict.fromkeys(DEFENCES, 0.1)

_CLASSIFIERS: dict = {}


def classifier(name):
    """The MLP behind fixture `name`, trained in-process (~1.5 s, cached) on 2,048 prototype images
    seen through its defence (the control: `tests.tiny_models.trained_tiny_mlp()`)."""
    if DEFENCES[name] is None:
        return trained_tiny_mlp()
    if name not in _CLASSIFIERS:
        x, y = make_prototype_data(2048, seed=1)
        clf = tiny_mlp(INPUT, 10, hidden=64, seed=0)
        # The defence runs in training too, so the classifier learns the inputs it will see.
        model = keras.Sequential([keras.Input(INPUT), DEFENCES[name](DEFENCE_LAYER[name]), clf])
        model.compile(
            keras.optimizers.Adam(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=10, batch_size=64, verbose=0)
        _CLASSIFIERS[name] = clf
    return _CLASSIFIERS[name]


def build(name: str) -> keras.Model:
    """A new `Input → defence → classifier` model for fixture `name` (a key of `KIND`).

    Each call makes a fresh defence layer seeded as registered, so a random fixture draws the same
    sequence of transformations from its first call on; the trained classifier is shared.
    """
    if name not in DEFENCES:
        raise ValueError(f"Unknown fixture {name!r}. Expected one of: {', '.join(DEFENCES)}")
    make = DEFENCES[name]
    layers = [] if make is None else [make(DEFENCE_LAYER[name])]
    return keras.Sequential(
        [keras.Input(INPUT), *layers, classifier(name)], name=name.replace("-", "_")
    )


def data(n=128, seed=2):
    """`n` synthetic prototype images, unseen in training (seed 1): the undefended classifier
    gets all 128 of the default ones right."""
    return make_prototype_data(n, seed=seed)
