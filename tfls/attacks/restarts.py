"""Spending compute only on points still correctly classified: `run_on_robust` and the restart
driver `restart_search` built on it."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfls.attacks.geometry import expand_to


def run_on_robust(fn, robust, inputs, defaults, *, bucket: bool = False):
    """Runs `fn(*inputs[robust])` and scatters its outputs into copies of `defaults`.

    This is how restarts and later attacks of an ensemble spend compute only on points that are
    still correctly classified. With `bucket=True` (XLA) the subset is padded to a power of two so
    that a handful of compiled shapes serve every subset size. Returns `defaults` unchanged when no
    row is robust.
    """
    if not tf.executing_eagerly():
        # Traced inside a caller's graph (e.g. `model.predict` of a pipeline holding an attack):
        # subset sizes are unknown, so run on the whole batch and merge with a mask.
        outs = fn(*inputs)
        if not isinstance(outs, (tuple, list)):
            outs = (outs,)
        return tuple(
            tf.where(tf.reshape(robust, [-1] + [1] * (len(base.shape) - 1)), out, base)
            for base, out in zip(defaults, outs)
        )
    idx = tf.where(robust)[:, 0]
    n = int(tf.size(idx))
    if n == 0:
        return tuple(defaults)
    take = idx
    if bucket:
        size = 1 << (n - 1).bit_length()
        take = tf.concat([idx, tf.fill([size - n], idx[0])], axis=0)
    outs = fn(*[tf.gather(t, take) for t in inputs])
    if not isinstance(outs, (tuple, list)):
        outs = (outs,)
    return tuple(
        tf.tensor_scatter_nd_update(base, idx[:, None], out[:n])
        for base, out in zip(defaults, outs)
    )


def restart_search(x, robust, *, restarts: int, attempt: Callable, bucket: bool):
    """Runs `restarts` attempts, each only on the points where `robust` is still True.

    `attempt(r)` returns `(fn, inputs)`: full-batch tensors `inputs` whose rows are gathered for
    the still-robust points and passed to `fn`, which returns `(x_cand, found, score)` with
    `score` a "how adversarial" value comparable across attempts. Per example, the answer is the
    first attempt's success, or else the highest-scoring candidate. Randomness must be drawn on
    the full batch inside `attempt`, so a point's draw never depends on which other points are
    still robust. This is the restart driver of PGD, APGD, MultiTargeted, ODI and Square.
    """
    x_adv = x
    best = tf.fill(tf.shape(robust), float("-inf"))
    for r in range(restarts):
        if tf.executing_eagerly() and not bool(tf.reduce_any(robust)):
            break
        fn, inputs = attempt(r)
        cand, found, score = run_on_robust(
            fn, robust, inputs, (x_adv, tf.zeros_like(robust), best), bucket=bucket
        )
        take = tf.logical_and(robust, tf.logical_or(found, score > best))
        x_adv = tf.where(expand_to(take, x), cand, x_adv)
        best = tf.where(take, score, best)
        robust = tf.logical_and(robust, tf.logical_not(found))
    return x_adv
