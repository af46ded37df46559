"""Wide residual networks (pre-activation), as used by Madry et al. and TRADES on CIFAR."""

from __future__ import annotations

import keras

from tfls.models.initializers import SeededInitializers
from tfls.models.layers import Standardize
from tfls.models.layers import batch_norm as _bn
from tfls.models.layers import conv as _conv


def _block(x, in_planes, out_planes, stride, dropout, init, name):
    """BN-ReLU-conv3x3(stride)-BN-ReLU-[dropout]-conv3x3, plus the identity or a 1x1 projection.

    As in TRADES' `BasicBlock`, the projection shortcut (used when the width changes) takes the
    pre-activated input, the identity shortcut takes the raw input.
    """
    pre = keras.layers.ReLU(name=f"{name}_relu1")(_bn(f"{name}_bn1")(x))
    if in_planes == out_planes and stride == 1:
        shortcut = x
    else:
        shortcut = _conv(out_planes, 1, stride, init, f"{name}_shortcut")(pre)
    y = _conv(out_planes, 3, stride, init, f"{name}_conv1")(pre)
    y = keras.layers.ReLU(name=f"{name}_relu2")(_bn(f"{name}_bn2")(y))
    if dropout > 0:
        y = keras.layers.Dropout(dropout, seed=init._next(), name=f"{name}_dropout")(y)
    y = _conv(out_planes, 3, 1, init, f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def wide_resnet(
    depth: int,
    width: int,
    num_classes: int,
    input_shape,
    *,
    dropout: float = 0.0,
    seed: int | None = None,
    mean=None,
    std=None,
) -> keras.Model:
    """WRN-`depth`-`width`: three groups of `(depth - 4) / 6` pre-activation blocks.

    conv3x3(16) - group(16w, stride 1) - group(32w, stride 2) - group(64w, stride 2) - BN-ReLU -
    global average pool - dense(num_classes). Convolutions have no bias and He fan-out init;
    'same' padding (as in Madry et al.'s TensorFlow model). WRN-34-10 has 46,160,474 trainable
    parameters for 10 classes (the 46.16M of the TRADES/RobustBench WRN-34-10); WRN-16-4 has
    2,748,890. Outputs logits.

    Args:
        depth: total depth; `depth - 4` must be a positive multiple of 6 (10, 16, 22, 28, 34, ...).
        width: widening factor `k` (>= 1).
        num_classes: number of logits.
        input_shape: `(H, W, C)`.
        dropout: dropout rate between the two convolutions of a block (0 in Madry/TRADES).
        seed: integer seed of the initial weights, or None.
        mean, std: per-channel statistics for an input `Standardize` layer, or None for none.

    Reference:
        Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016; Madry et al., ICLR 2018;
        Zhang et al., TRADES, ICML 2019.
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(
            f"WRN depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 34, 40, ...). "
            f"Received: depth={depth}"
        )
    if width < 1:
        raise ValueError(f"WRN width must be an integer >= 1. Received: width={width}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must lie in [0, 1). Received: dropout={dropout}")
    n = (depth - 4) // 6
    init = SeededInitializers(seed)
    inputs = keras.Input(input_shape, name="images")
    x = inputs if mean is None else Standardize(mean, std, name="standardize")(inputs)
    x = _conv(16, 3, 1, init, "conv1")(x)
    in_planes = 16
    for g, (planes, stride) in enumerate(((16 * width, 1), (32 * width, 2), (64 * width, 2))):
        for b in range(n):
            x = _block(
                x,
                in_planes,
                planes,
                stride if b == 0 else 1,
                dropout,
                init,
                f"group{g + 1}_block{b + 1}",
            )
            in_planes = planes
    x = keras.layers.ReLU(name="final_relu")(_bn("final_bn")(x))
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=init.dense(), bias_initializer="zeros", name="logits"
    )(x)
    return keras.Model(inputs, logits, name=f"wrn_{depth}_{width}")
