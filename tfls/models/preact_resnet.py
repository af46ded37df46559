"""Pre-activation ResNet-18 (He et al. 2016), the usual fast model of adversarial-training work."""

from __future__ import annotations

import keras

from tfls.models.initializers import SeededInitializers
from tfls.models.layers import Standardize
from tfls.models.layers import batch_norm as _bn
from tfls.models.layers import conv as _conv


def _block(x, in_planes, planes, stride, init, name):
    pre = keras.layers.ReLU(name=f"{name}_relu1")(_bn(f"{name}_bn1")(x))
    if stride != 1 or in_planes != planes:
        shortcut = _conv(planes, 1, stride, init, f"{name}_shortcut")(pre)
    else:
        shortcut = x
    y = _conv(planes, 3, stride, init, f"{name}_conv1")(pre)
    y = keras.layers.ReLU(name=f"{name}_relu2")(_bn(f"{name}_bn2")(y))
    y = _conv(planes, 3, 1, init, f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def preact_resnet18(
    num_classes: int,
    input_shape,
    *,
    width: int = 1,
    seed: int | None = None,
    mean=None,
    std=None,
) -> keras.Model:
    """PreAct-ResNet-18: conv3x3(64k) - 4 stages of 2 pre-activation blocks (64k, 128k, 256k, 512k
    channels; stride 1, 2, 2, 2) - BN-ReLU - global average pool - dense(num_classes).

    With `width=1` it has 11.17M parameters (Rice et al.'s `PreActResNet18`). Outputs logits.

    Args:
        num_classes: number of logits.
        input_shape: `(H, W, C)`.
        width: channel multiplier `k` (>= 1).
        seed: integer seed of the initial weights, or None.
        mean, std: per-channel statistics for an input `Standardize` layer, or None for none.

    Reference:
        He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016; Rice et al.,
        "Overfitting in adversarially robust deep learning", ICML 2020.
    """
    if width < 1:
        raise ValueError(f"PreAct-ResNet width must be an integer >= 1. Received: width={width}")
    init = SeededInitializers(seed)
    inputs = keras.Input(input_shape, name="images")
    x = inputs if mean is None else Standardize(mean, std, name="standardize")(inputs)
    x = _conv(64 * width, 3, 1, init, "conv1")(x)
    in_planes = 64 * width
    for s, (planes, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2))):
        planes *= width
        for b in range(2):
            x = _block(
                x, in_planes, planes, stride if b == 0 else 1, init, f"stage{s + 1}_block{b + 1}"
            )
            in_planes = planes
    x = keras.layers.ReLU(name="final_relu")(_bn("final_bn")(x))
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init.dense(), name="logits")(x)
    return keras.Model(
        inputs, logits, name="preact_resnet18" if width == 1 else f"preact_resnet18_w{width}"
    )
