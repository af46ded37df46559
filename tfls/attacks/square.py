"""Square Attack (Andriushchenko et al., 2020): a score-based random search that needs no gradients.

It only queries the model's logits, so gradient masking (zeroed, shattered or obfuscated
gradients) does not fool it: when Square beats the gradient attacks, the gradients are lying.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import adaptive, losses
from tfls.attacks.base import Attack
from tfls.attacks.compiling import compiled, resolve_jit
from tfls.attacks.geometry import expand_to
from tfls.attacks.gradients import eot_draws, forward, misclassified
from tfls.attacks.params import Param, declare, interval, positive_int
from tfls.attacks.restarts import restart_search
from tfls.attacks.square_proposals import (
    _DRAWS,
    _l2_proposal,
    _l2_start,
    _linf_proposal,
    _linf_start,
    p_schedule,
)


def _margin(logits, y):
    """z_y − max_{i≠y} z_i: positive while correctly classified; Square minimises it."""
    return -losses.margin(logits, y)


def make_square_loop(
    model, *, norm: str, n_queries: int, p_init: float, compact_every: int | None = 1
):
    """Builds the compiled Square run: `(x, y, eps, seed) -> (x_adv, found)`.

    One query evaluates the start (L∞: vertical stripes; L2: a grid of η patterns); each of the
    `n_queries − 1` iterations then draws one proposal per example (a square of side from
    `p_schedule` at a random position) and keeps it if the margin drops. The loop stops early
    once every example is misclassified.

    Fooled examples stop costing queries: the search runs on the still-robust rows only, and
    once some of them are fooled (at least `compact_every` queries after the last compaction) it
    gathers the rows still robust, scattering the finished ones back. The subset's size is a
    dynamic shape, so one trace serves every size. Each example's random draws are rows of one
    draw over the whole batch, picked by its original index, so the result does not depend on
    `compact_every`; `None` queries every row to the end (the only way under XLA, which needs
    static shapes).

    Under EOT (`eot_draws(model) > 1`) a row is never done: a negative mean margin over a few
    draws still leaves many fresh draws right, so every row spends the whole budget lowering its
    expected margin.
    """
    start, propose = (_linf_start, _linf_proposal) if norm == "linf" else (_l2_start, _l2_proposal)
    last = n_queries - 1  # iterations after the start's query
    # A row is still searched while its (expected) margin is above this.
    floor = float("-inf") if eot_draws(model) > 1 else 0.0

    def loop(x, y, eps, seed):
        shape = tf.shape(x)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        x_best = start(x, eps, seed)
        margin_min = forward(model, x_best, lambda z: _margin(z, y))
        area = tf.cast(height * width, tf.float32)
        max_side = tf.minimum(height, width)
        rows = tf.range(height)[None, :, None, None]
        cols = tf.range(width)[None, None, :, None]
        draws = _DRAWS[norm] + channels
        # Every iteration's square side, computed once: fewer ops in the loop body.
        side = tf.round(tf.sqrt(p_schedule(tf.range(last), n_queries, p_init) * area))
        side = tf.cast(side, tf.int32)
        if norm == "l2":
            side = tf.maximum(side, 3)
            side = side + 1 - side % 2  # odd, as in the reference implementation
        sides = tf.clip_by_value(side, 1, max_side)

        def search(i, x_best, margin_min):
            """Iterations from `i` on the rows still robust, until compaction pays or the end."""
            if compact_every is None:
                idx = tf.range(batch)
                xs, ys, xb, mb = x, y, x_best, margin_min
            else:
                idx = tf.where(margin_min > floor)[:, 0]
                xs, ys = tf.gather(x, idx), tf.gather(y, idx)
                xb, mb = tf.gather(x_best, idx), tf.gather(margin_min, idx)
            first = i

            def cond(i, xb, mb):
                active = mb > floor
                go_on = tf.logical_and(i < last, tf.reduce_any(active))
                if compact_every is None:
                    return go_on
                no_fooled = tf.reduce_all(active)
                return tf.logical_and(go_on, tf.logical_or(no_fooled, i - first < compact_every))

            def body(i, xb, mb):
                active = mb > floor
                side = sides[i]
                key = tf.random.experimental.stateless_fold_in(seed, i)
                u = tf.random.stateless_uniform([batch, draws], key)
                if compact_every is not None:
                    u = tf.gather(u, idx)
                x_new = propose(xs, xb, eps, side, u, rows, cols)
                x_new = tf.ensure_shape(x_new, xs.shape)
                # Under EOT a query is accepted on the margin's mean over the draws.
                margin = forward(model, x_new, lambda z: _margin(z, ys))
                accept = tf.logical_and(active, margin < mb)
                xb = tf.where(expand_to(accept, xs), x_new, xb)
                mb = tf.where(accept, margin, mb)
                return i + 1, xb, mb

            i, xb, mb = tf.while_loop(cond, body, (i, xb, mb))
            if compact_every is None:
                return i, xb, mb
            at = idx[:, None]
            x_best = tf.tensor_scatter_nd_update(x_best, at, xb)
            margin_min = tf.tensor_scatter_nd_update(margin_min, at, mb)
            return i, x_best, margin_min

        def cond(i, x_best, margin_min):
            return tf.logical_and(i < last, tf.reduce_any(margin_min > floor))

        _, x_best, margin_min = tf.while_loop(cond, search, (tf.constant(0), x_best, margin_min))
        return x_best, misclassified(forward(model, x_best), y)

    return loop


@declare(
    n_queries=Param(5000, positive_int),
    p_init=Param(0.8, interval(0.0, 1.0, closed="high")),
    restarts=Param(1, positive_int),
)
def square(
    model,
    x,
    y,
    *,
    eps,
    n_queries,
    p_init,
    restarts,
    norm="linf",
    seed=0,
    jit_compile="auto",
):
    """Runs the Square Attack (L∞ or L2); returns adversarial examples shaped like `x`.

    Args:
        model: Keras model from [0, 1] inputs to logits (only its outputs are used).
        x: float32 images in [0, 1], `(batch, height, width, channels)` (or without channels).
        y: int labels.
        eps: radius. n_queries: model evaluations per example and restart (5000).
        p_init: initial fraction of pixels a square covers (0.8), halved on the published
            schedule rescaled to `n_queries`.
        restarts: independent runs, each on the points still robust.
        norm: `"linf"` or `"l2"`.
        seed: fixes every random draw.
        jit_compile: `True`, `False` or `"auto"`.

    Returns:
        A tensor of `x`'s shape inside the ε-ball and [0, 1]: misclassified where the search found
        such a point, else the lowest-margin point visited.

    Reference:
        Andriushchenko et al., "Square Attack: a query-efficient black-box adversarial attack via
        random search", ECCV 2020.
    """
    norm = v.check_norm(norm)
    eps = v.check_eps(eps, norm=norm)
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int32)
    rank = x.shape.rank
    if rank not in (3, 4):
        raise ValueError(
            "Square Attack perturbs square image patches: inputs must be (batch, height, width"
            f"[, channels]). Received: x.shape={tuple(x.shape)}"
        )
    if eps == 0.0:
        return tf.identity(x)
    images = x if rank == 4 else x[..., None]

    model_4d = _Wrapped(
        lambda t: model(t if rank == 4 else t[..., 0], training=False), eot=eot_draws(model)
    )

    key = ("square", norm, n_queries, p_init, rank)
    # XLA needs static shapes, so under XLA the loop queries every row it was given to the end.
    compact_every = None if resolve_jit(jit_compile, model) else 1
    loop = compiled(
        model,
        key,
        lambda: make_square_loop(
            model_4d,
            norm=norm,
            n_queries=n_queries,
            p_init=p_init,
            compact_every=compact_every,
        ),
        jit_compile,
        autograph=False,  # the loop is tf.while_loop throughout
    )
    eps_t = tf.constant(eps, tf.float32)

    def attempt(r):
        seed_t = tf.constant([seed, r], tf.int32)

        def run(xs, ys):
            x_cand, found = loop(xs, ys, eps_t, seed_t)
            # A constant score: `restart_search` then keeps the first run's answer for every
            # point and lets a later run replace it only where it succeeds (Square does not
            # compare margins across runs).
            return x_cand, found, tf.zeros(tf.shape(found))

        return run, (images, y)

    # Each run draws over the rows still robust when it starts (as it always did); inside the loop
    # a row's draws do not depend on which rows were fooled since.
    robust = tf.logical_not(misclassified(forward(model_4d, images), y))
    x_adv = restart_search(
        images, robust, restarts=restarts, attempt=attempt, bucket=resolve_jit(jit_compile, model)
    )
    return x_adv if rank == 4 else x_adv[..., 0]


class _Wrapped(adaptive.Drawn):
    """Calls `fn(x)` with the `model(x, training=False)` signature the loop uses (and the
    attacked model's EOT draws)."""

    def __init__(self, fn, *, eot: int = 1):
        self.fn = fn
        self.eot = eot

    def __call__(self, x, training=False):
        return self.fn(x)


@keras.saving.register_keras_serializable(package="tfls")
class Square(Attack, register=True):
    """The Square Attack (L∞ or L2) as a Keras layer: score-based, gradient-free.

    Args:
        model: Keras model from [0, 1] inputs to logits.
        eps: radius (`8/255`). n_queries: queries per example and restart (5000).
        p_init: initial square-area fraction (0.8). restarts: runs on still-robust points.
        norm: `"linf"` or `"l2"`. seed: fixes every random draw.
        jit_compile: `True`, `False` or `"auto"`.

    Example:
        >>> x_adv = Square(model, eps=8 / 255, n_queries=5000)(x, y)

    Reference:
        Andriushchenko et al., "Square Attack: a query-efficient black-box adversarial attack via
        random search", ECCV 2020.
    """

    function = square
