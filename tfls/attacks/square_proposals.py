"""The Square Attack's random search steps: the published square-size schedule (`p_schedule`),
and each norm's start point and proposal (L∞: ±ε squares; L2: the η pattern moved between windows).
"""

from __future__ import annotations

import tensorflow as tf

from tfls.attacks.geometry import expand_to, l2_norm

# The published schedule for the fraction p of pixels a square covers, written for 10,000 queries
# and rescaled to the actual budget: p halves after each of these (rescaled) iteration counts.
_P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(i, n_queries: int, p_init: float):
    """Square-size fraction at iteration `i` (a tensor, or a vector of iterations) for a budget
    of `n_queries`."""
    it = tf.floor(tf.cast(i, tf.float32) / float(n_queries) * 10000.0)
    passed = tf.cast(it[..., None] > tf.constant(_P_HALVINGS, tf.float32), tf.float32)
    return p_init * tf.pow(0.5, tf.reduce_sum(passed, axis=-1))


def _window(rows, cols, top, left, side):
    """Mask `(batch, height, width, 1)` of the `side`-square at per-example `(top, left)`."""
    top, left = top[:, None, None, None], left[:, None, None, None]
    return tf.logical_and(
        tf.logical_and(rows >= top, rows < top + side),
        tf.logical_and(cols >= left, cols < left + side),
    )


def _corner(u, length, side):
    """Uniform integer in [0, length − side] from uniforms `u`."""
    pos = tf.cast(tf.floor(u * tf.cast(length - side + 1, tf.float32)), tf.int32)
    return tf.minimum(pos, length - side)


def _linf_start(x, eps, seed):
    """Vertical stripes: one random ±ε per column and channel, equal down each column."""
    shape = tf.shape(x)
    stripes = tf.random.stateless_uniform([shape[0], 1, shape[2], shape[3]], seed) < 0.5
    return tf.clip_by_value(x + eps * tf.where(stripes, -1.0, 1.0), 0.0, 1.0)


def _linf_proposal(x, x_best, eps, side, u, rows, cols):
    """Redraws one square per example at ±ε around x (one random sign per channel).

    `u` holds each example's `2 + channels` uniforms: the corner, then the signs.
    """
    shape = tf.shape(x)
    inside = _window(
        rows, cols, _corner(u[:, 0], shape[1], side), _corner(u[:, 1], shape[2], side), side
    )
    signs = tf.where(u[:, 2:] < 0.5, -1.0, 1.0)[:, None, None, :]
    x_new = tf.where(inside, x_best + 2.0 * eps * signs, x_best)
    return tf.clip_by_value(tf.clip_by_value(x_new, x - eps, x + eps), 0.0, 1.0)


def _inverse_square_sums(n):
    """`table[k] = Σ_{q=1..k} 1/q²` for k = 0..n."""
    q = tf.cast(tf.range(1, n + 1), tf.float32)
    return tf.concat([[0.0], tf.cumsum(1.0 / tf.square(q))], axis=0)


def _eta(side, size):
    """Square's L2 update pattern of side `side`, unit norm, zero-padded to `(size, size)`.

    Two opposite-signed halves, each a stack of concentric rectangles weighted 1/(k+1)² (a
    pixel's value is the sum over the rectangles containing it), each half normalised. The
    fixed `size` (the image's smaller side) keeps shapes static for XLA.
    """
    table = _inverse_square_sums(size + 2)
    i = tf.range(size)[:, None]
    j = tf.range(size)[None, :]
    valid = tf.logical_and(i < side, j < side)
    half = side // 2
    top = tf.logical_and(valid, i < half)
    bottom = tf.logical_and(valid, i >= half)
    rows_in_half = tf.where(i < half, half, side - half)
    r = tf.where(i < half, i, i - half)
    ring = tf.maximum(tf.abs(r - rows_in_half // 2), tf.abs(j - side // 2))
    rings = tf.maximum(rows_in_half // 2 + 1, side // 2 + 1)
    ring = tf.clip_by_value(ring, 0, size + 2)
    value = tf.gather(table, rings) - tf.gather(table, ring)  # Σ_{k=ring}^{rings−1} 1/(k+1)²
    value = tf.where(valid, value, 0.0)
    top_norm = tf.sqrt(tf.reduce_sum(tf.where(top, tf.square(value), 0.0)))
    bottom_norm = tf.sqrt(tf.reduce_sum(tf.where(bottom, tf.square(value), 0.0)))
    pattern = tf.where(
        top, value / tf.maximum(top_norm, 1e-12), -value / tf.maximum(bottom_norm, 1e-12)
    )
    return pattern / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(pattern))), 1e-12)


def _place(pattern, side, local_i, local_j, transpose):
    """Reads `pattern` at per-pixel local coordinates (clipped), transposed per example."""
    local_i, local_j = local_i + 0 * local_j, local_j + 0 * local_i  # broadcast to one shape
    local_i = tf.clip_by_value(local_i, 0, side - 1)
    local_j = tf.clip_by_value(local_j, 0, side - 1)
    idx = tf.where(
        transpose[..., None],
        tf.stack([local_j, local_i], axis=-1),
        tf.stack([local_i, local_j], axis=-1),
    )
    return tf.gather_nd(pattern, idx)


def _unit_l2(t):
    return t / expand_to(tf.maximum(l2_norm(t), 1e-12), t)


def _l2_start(x, eps, seed):
    """A grid of η patterns (tiles of side ⌊min(h, w)/5⌋), random sign per tile and channel."""
    shape = tf.shape(x)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    side = tf.maximum(tf.minimum(height, width) // 5, 1)
    n_h, n_w = height // side, width // side
    off_h, off_w = (height - side * n_h) // 2, (width - side * n_w) // 2
    r = tf.range(height)[None, :, None] - off_h
    c = tf.range(width)[None, None, :] - off_w
    inside = tf.logical_and(
        tf.logical_and(r >= 0, r < side * n_h), tf.logical_and(c >= 0, c < side * n_w)
    )
    tile_r = tf.clip_by_value(r // side, 0, n_h - 1)
    tile_c = tf.clip_by_value(c // side, 0, n_w - 1)
    u = tf.random.stateless_uniform([batch, n_h, n_w, channels + 1], seed)
    tiles = tf.broadcast_to(
        tf.stack([tile_r + 0 * c, tile_c + 0 * r], -1), [batch, height, width, 2]
    )
    per_pixel = tf.gather_nd(u, tiles, batch_dims=1)  # (batch, h, w, channels + 1)
    pattern = _place(
        _eta(side, tf.minimum(height, width)),
        side,
        tf.broadcast_to(r % side, [batch, height, width]),
        tf.broadcast_to(c % side, [batch, height, width]),
        per_pixel[..., -1] < 0.5,
    )
    delta = tf.where(
        inside[..., None], pattern[..., None] * tf.where(per_pixel[..., :-1] < 0.5, -1.0, 1.0), 0.0
    )
    return tf.clip_by_value(x + eps * _unit_l2(delta), 0.0, 1.0)


def _l2_proposal(x, x_best, eps, side, u, rows, cols):
    """Moves the perturbation's mass from one random window into another, as a fresh η pattern.

    Window 1 gets `η·sign + δ₁/‖δ₁‖` rescaled per channel so that its norm absorbs window 2's
    old mass and any unused budget; window 2 is zeroed; the whole δ is then rescaled to ε. `u`
    holds each example's `5 + channels` uniforms: two corners, the transpose, then the signs.
    """
    shape = tf.shape(x)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    top1, left1 = _corner(u[:, 0], height, side), _corner(u[:, 1], width, side)
    top2, left2 = _corner(u[:, 2], height, side), _corner(u[:, 3], width, side)
    in1 = _window(rows, cols, top1, left1, side)
    in2 = _window(rows, cols, top2, left2, side)
    delta = x_best - x
    pattern = _place(
        _eta(side, tf.minimum(height, width)),
        side,
        rows[..., 0] - top1[:, None, None],
        cols[..., 0] - left1[:, None, None],
        tf.broadcast_to((u[:, 4] < 0.5)[:, None, None], [batch, height, width]),
    )[..., None]
    signs = tf.where(u[:, 5:] < 0.5, -1.0, 1.0)[:, None, None, :]
    old1 = tf.where(in1, delta, 0.0)
    old1_norm = tf.sqrt(tf.reduce_sum(tf.square(old1), axis=[1, 2], keepdims=True))
    new = tf.where(in1, pattern * signs + old1 / (old1_norm + 1e-12), 0.0)
    new_norm = tf.sqrt(tf.reduce_sum(tf.square(new), axis=[1, 2], keepdims=True))
    image_norm = l2_norm(delta)
    windows_norm = l2_norm(tf.where(tf.logical_or(in1, in2), delta, 0.0))
    budget = tf.sqrt(
        tf.maximum(eps**2 - tf.square(image_norm), 0.0) / tf.cast(channels, tf.float32)
        + tf.square(windows_norm)
    )
    new = new / (new_norm + 1e-12) * budget[:, None, None, None]
    delta = tf.where(in1, new, tf.where(in2, 0.0, delta))
    return tf.clip_by_value(x + eps * _unit_l2(delta), 0.0, 1.0)


# Uniforms each proposal draws per example, beyond one per channel (the signs).
_DRAWS = {"linf": 2, "l2": 5}
