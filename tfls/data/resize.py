"""Resizing images to a fixed `image_size`: centre-crop to the aspect ratio, then bilinear resize.

This is what `keras.utils.image_dataset_from_directory(..., crop_to_aspect_ratio=True)` does, with
antialiasing on so that shrinking a large photo does not alias. Bilinear (triangle) weights are
non-negative and sum to one, so `[0, 1]` images stay in `[0, 1]`.
"""

from __future__ import annotations

import numbers


def check_image_size(image_size) -> tuple[int, int] | None:
    """`None` or a pair of positive ints `(height, width)`."""
    if image_size is None:
        return None
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    try:
        h, w = image_size
    except (TypeError, ValueError):
        h = w = None
    ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in (h, w))
    if not ok:
        raise ValueError(
            f"`image_size` must be None or (height, width), two positive integers. "
            f"Received: image_size={image_size!r}"
        )
    return int(h), int(w)


def fit(images, image_size: tuple[int, int]):
    """Centre-crops `images` (`[H, W, C]` or `[B, H, W, C]` float) to the aspect ratio of
    `image_size` and resizes them to it (bilinear, antialiased); returns float32."""
    import tensorflow as tf

    target_h, target_w = image_size
    shape = tf.shape(images)
    h, w = shape[-3], shape[-2]
    # As Keras's `crop_to_aspect_ratio`: the largest centred window of the target's aspect ratio.
    crop_h = tf.clip_by_value(w * target_h // target_w, 1, h)
    crop_w = tf.clip_by_value(h * target_w // target_h, 1, w)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    cropped = images[..., top : top + crop_h, left : left + crop_w, :]
    resized = tf.image.resize(cropped, image_size, method="bilinear", antialias=True)
    return tf.clip_by_value(tf.cast(resized, tf.float32), 0.0, 1.0)
