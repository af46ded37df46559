"""What an attack reads from its model: logits, values and their gradients, each the mean over the
model's EOT draws (`tfls.attacks.adaptive`), and whether a point is misclassified."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfls.attacks import adaptive


def eot_draws(model) -> int:
    """How many forward draws each gradient and score averages: `model.eot` of an adapted model
    (`tfls.attacks.adaptive.Adapted`, any `adaptive.Drawn`), 1 for a plain one."""
    return model.eot if isinstance(model, adaptive.Drawn) else 1


def _mean_over_draws(model, once):
    """The mean of `once()`'s tensors over `eot_draws(model)` calls, in one `tf.while_loop`.

    One call outside the loop fixes the shapes; a deterministic model (1 draw) runs `once()`
    exactly as before, so its graph and results are those of an attack without EOT.
    """
    k = eot_draws(model)
    first = once()
    if k == 1:
        return first

    def body(i, *acc):
        return (i + 1, *(a + b for a, b in zip(acc, once())))

    _, *total = tf.while_loop(lambda i, *_: i < k, body, (tf.constant(1), *first))
    return tuple(t / float(k) for t in total)


def value_and_grad(model, objective, v):
    """`(logits, value, d(sum value)/dv)` of `objective(v) -> (logits, per-example value)`.

    Under EOT each of the three is the mean over the model's draws (the gradient of the
    expected value, Athalye et al. 2018); `objective` calls `model` itself, so it may first map
    `v` to the image (CW's and the tanh attack's `w`). A model whose graph cuts the input off (a
    layer without a gradient, e.g. `tf.round`) yields a zero gradient rather than `None`: the
    attack then returns its best visited point instead of crashing, and the audit's gradient
    check reports the model.
    """

    def once():
        with tf.GradientTape() as tape:
            tape.watch(v)
            logits, value = objective(v)
        grad = tape.gradient(value, v, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return logits, value, grad

    return tuple(_mean_over_draws(model, once))


def loss_and_grad(model, loss_fn, x, y, target=None):
    """One forward+backward pass (per EOT draw): logits, per-example loss and d(sum loss)/dx."""

    def objective(t):
        logits = model(t, training=False)
        return logits, loss_fn(logits, y, target)

    return value_and_grad(model, objective, x)


def forward(model, x, reduce: Callable | None = None):
    """The model's logits at `x`, or `reduce(logits)`: under EOT the mean over its draws.

    Score-based steps (Square's margin, a misclassification test) call this, so a random model
    is judged by its expected score rather than by one draw.
    """
    if reduce is None:
        return _mean_over_draws(model, lambda: (model(x, training=False),))[0]
    return _mean_over_draws(model, lambda: (reduce(model(x, training=False)),))[0]


def misclassified(logits, y):
    return tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(y, tf.int32))
