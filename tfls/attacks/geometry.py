"""The geometry every attack shares: ε-ball and box projections, norms, ascent directions, random starts."""

from __future__ import annotations

import tensorflow as tf


def project(x_adv, x, eps, norm):
    """Projects `x_adv` onto the `norm` ball of radius `eps` around `x`, then onto [0, 1]."""
    if norm == "linf":
        x_adv = tf.clip_by_value(x_adv, x - eps, x + eps)
    else:
        delta = x_adv - x
        norms = l2_norm(delta)
        factor = tf.minimum(1.0, eps / tf.maximum(norms, 1e-12))
        x_adv = x + delta * _expand(factor, delta)
    # Clipping to the box only shrinks |δ_i|, so the result stays inside the ball.
    return tf.clip_by_value(x_adv, 0.0, 1.0)


def l2_norm(t):
    axes = tf.range(1, tf.rank(t))
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=axes))


def _expand(per_example, like):
    """Reshapes a `(batch,)` tensor to broadcast against `like`."""
    rank = like.shape.rank
    if rank is not None:  # static rank: one reshape, no shape arithmetic inside hot loops
        return tf.reshape(per_example, [-1] + [1] * (rank - 1))
    shape = tf.concat([tf.shape(per_example), tf.ones([tf.rank(like) - 1], tf.int32)], axis=0)
    return tf.reshape(per_example, shape)


expand_to = _expand


def ascent_direction(grad, norm):
    """Steepest ascent direction of unit `norm`: sign(g) for L∞, g/‖g‖₂ for L2."""
    if norm == "linf":
        return tf.sign(grad)
    return grad / _expand(tf.maximum(l2_norm(grad), 1e-12), grad)


def random_start(x, eps, norm, seed):
    """A uniform point in the L∞ ball, or a uniformly-drawn-radius point in the L2 ball; in [0,1]."""
    seed = tf.cast(seed, tf.int32)
    if norm == "linf":
        noise = tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0) * eps
    else:
        direction = tf.random.stateless_normal(tf.shape(x), seed)
        direction = direction / _expand(tf.maximum(l2_norm(direction), 1e-12), direction)
        radius = tf.random.stateless_uniform(tf.shape(x)[:1], seed + 1, 0.0, 1.0) * eps
        noise = direction * _expand(radius, direction)
    return tf.clip_by_value(x + noise, 0.0, 1.0)
