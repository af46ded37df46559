"""A step-by-step trace of the engine's PGD: every iterate's loss and whether it was adversarial.

The trace replays exactly the run `tfls.eval.evaluate` makes with the `pgd20` preset (at
`steps` steps): the same batches, the same clean-correct subsets, the same random start
(`[seed, 0]`) and the engine's own compiled step (`make_pgd_loop` with one step), so every
iterate the engine visited is seen here. It feeds check 11 (loss still moving) and check 12
(silent success: an adversarial iterate visited, a non-adversarial point returned).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfls.attacks import losses
from tfls.attacks.compiling import compiled
from tfls.attacks.geometry import random_start
from tfls.attacks.pgd import make_pgd_loop


@dataclass
class Trace:
    """Per attacked point (clean-correct, in dataset order).

    Attributes:
        index: the points' indices in the audited set.
        loss: `(points, steps + 1)` CE loss at every iterate (the start included).
        adversarial: `(points, steps + 1)` whether each iterate was misclassified by more than
            `margin` logits.
    """

    index: np.ndarray
    loss: np.ndarray
    adversarial: np.ndarray


def trace_pgd(model, batches, *, eps, norm, steps, step_size, seed, margin) -> Trace:
    """Traces PGD (CE loss, random start, `steps` steps of `step_size`) on clean-correct points.

    `batches` must be the batches the evaluator ran on: the random start of a point depends on
    which points share its batch, as it does in the engine. Runs without XLA, as the traced
    evaluation must (`jit_compile=False`), so both compute the same floats.
    """
    step = compiled(
        model,
        ("audit-trace-step", norm),
        lambda: make_pgd_loop(model, losses.cross_entropy, norm=norm, steps=1, keep_best=False),
        False,
    )
    eps_t, step_t = tf.constant(eps, tf.float32), tf.constant(step_size, tf.float32)
    index, loss_rows, adv_rows = [], [], []
    offset = 0
    for x, y in batches:
        logits = np.asarray(model(tf.convert_to_tensor(x), training=False))
        targets = np.flatnonzero(logits.argmax(axis=1) == y)
        if targets.size:
            xs = tf.convert_to_tensor(x[targets])
            ys = tf.convert_to_tensor(y[targets].astype(np.int32))
            x_cur = random_start(xs, eps, norm, [seed, 0])
            losses_t, adv_t = [], []
            for t in range(steps + 1):
                z = model(x_cur, training=False)
                losses_t.append(np.asarray(losses.cross_entropy(z, ys)))
                adv_t.append(np.asarray(losses.margin(z, ys)) > margin)
                if t < steps:
                    x_cur, _, _ = step(xs, ys, x_cur, None, eps_t, step_t)
            index.append(offset + targets)
            loss_rows.append(np.stack(losses_t, axis=1))
            adv_rows.append(np.stack(adv_t, axis=1))
        offset += len(y)
    if not index:
        empty = np.zeros((0, steps + 1))
        return Trace(np.zeros(0, int), empty, empty.astype(bool))
    return Trace(np.concatenate(index), np.concatenate(loss_rows), np.concatenate(adv_rows))


def still_moving(loss: np.ndarray, *, window: int, move: float) -> np.ndarray:
    """Pintor's incomplete optimisation, per row: the best-so-far loss rescaled to [0, 1] still
    rises more than `move` over the last `window` steps."""
    lo = loss.min(axis=1, keepdims=True)
    span = loss.max(axis=1, keepdims=True) - lo
    scaled = np.where(span > 0, (loss - lo) / np.where(span > 0, span, 1.0), 0.0)
    best = np.maximum.accumulate(scaled, axis=1)
    last = best[:, -window:]
    return (last.max(axis=1) - last.min(axis=1)) > move
