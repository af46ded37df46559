"""The three training methods as pure functions: which inputs to train on, and with which loss.

* natural: `CategoricalCrossentropy(from_logits=True, label_smoothing=α)` on clean inputs.
* madry: the same loss on PGD examples (Madry et al., 2018), found by the PGD core of
  `tfls.attacks.pgd` maximising hard-label cross-entropy from a uniform random start.
* trades: `CE_α(f(x), y) + β · KL(f(x) ‖ f(x'))` (Zhang et al., 2019), where x' maximises the KL
  term, starting from `x + 0.001·N(0, 1)`.

The inner maximisations run the model with `training=False` (as TRADES' code does with
`model.eval()`), so batch-norm statistics are only updated by the outer, training-mode passes.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfls.attacks import losses as attack_losses
from tfls.attacks.compiling import compiled
from tfls.attacks.geometry import random_start
from tfls.attacks.pgd import make_pgd_loop

# TRADES' KL and its inner objective are attack losses too (`loss="trades-kl"` in PGD).
kl_from_logits = attack_losses.kl_from_logits
trades_inner_loss = attack_losses.trades_kl


@keras.saving.register_keras_serializable(package="tfls")
class TradesKL(keras.losses.Loss):
    """Mean KL(softmax(y_true) ‖ softmax(y_pred)) where both arguments are *logits*.

    A `keras.losses.Loss`, so the reduction is TRADES' "batchmean" and Keras scales it by the number
    of replicas under a distribution strategy like every built-in loss.

    Reference:
        Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy", 2019.
    """

    def __init__(self, name="trades_kl", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return kl_from_logits(y_true, y_pred)


def _pgd_loop(model, loss_fn, kind, steps):
    """The PGD core as a `tf.function` (Keras' traced `train_step` does not autograph into it).

    Not XLA-compiled on its own: `fit`'s `jit_compile` decides for the whole step.
    """
    make = lambda: make_pgd_loop(model, loss_fn, norm="linf", steps=steps, keep_best=False)  # noqa: E731
    return compiled(model, ("training", kind, steps), make, jit_compile=False)


def madry_examples(model, x, y, *, eps, steps, step_size, seed):
    """PGD examples for Madry training: random start in the L∞ ball, `steps` signed steps on CE.

    Returns the last iterate (as Madry et al. train on it), without gradient to the weights.

    Args:
        model: Keras model returning logits. x: float32 inputs in [0, 1]. y: int labels.
        eps, steps, step_size: the L∞ radius, number of steps and step length.
        seed: int32 tensor of shape `(2,)` for the stateless random start.

    Reference:
        Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
    """
    loop = _pgd_loop(model, attack_losses.cross_entropy, "madry", steps)
    start = random_start(x, eps, "linf", seed)
    x_adv, _, _ = loop(x, tf.cast(y, tf.int32), start, None, eps, step_size)
    return tf.stop_gradient(x_adv)


def trades_examples(model, x, *, eps, steps, step_size, seed):
    """TRADES' adversarial examples: maximise KL(f(x) ‖ f(x')) from x + 0.001·N(0, 1).

    Reference:
        Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy", 2019.
    """
    logits_clean = tf.stop_gradient(model(x, training=False))
    noise = 0.001 * tf.random.stateless_normal(tf.shape(x), tf.cast(seed, tf.int32), dtype=x.dtype)
    start = tf.clip_by_value(x + noise, 0.0, 1.0)
    # The loop's `y` only feeds its "misclassified" flag, which we ignore.
    y_pred = tf.argmax(logits_clean, axis=-1, output_type=tf.int32)
    loop = _pgd_loop(model, trades_inner_loss, "trades", steps)
    x_adv, _, _ = loop(x, y_pred, start, logits_clean, eps, step_size)
    return tf.stop_gradient(x_adv)


def training_loss(method, model, x, y, x_adv, *, num_classes, ce, kl=None, beta=0.0):
    """The outer loss to minimise, in training mode. Returns `(loss, logits_on_trained_inputs)`.

    Args:
        method: `"natural"`, `"madry"` or `"trades"`.
        x_adv: the inner maximisation's examples (ignored by `"natural"`).
        ce: a `keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=α)`.
        kl: a `TradesKL` (trades only). beta: the TRADES weight.
    """
    onehot = tf.one_hot(tf.cast(y, tf.int32), num_classes, dtype=tf.float32)
    if method == "natural":
        logits = model(x, training=True)
        return ce(onehot, logits), logits
    if method == "madry":
        logits = model(x_adv, training=True)
        return ce(onehot, logits), logits
    logits = model(x, training=True)
    logits_adv = model(x_adv, training=True)
    return ce(onehot, logits) + beta * kl(logits, logits_adv), logits
