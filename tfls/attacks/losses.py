"""Per-example attack objectives on logits, written so that the attacker *maximises* them.

Every function in `LOSSES` takes `(logits, y, target=None)` with integer labels and returns a
`(batch,)` tensor. Carlini & Wagner's objective `cw_objective_f` lives here too.
Attacks always use hard labels on logits; `ce_smoothed` exists only to reproduce one reading of the
paper (an attack that reuses a label-smoothed training loss) and is never a preset default.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from tfls._validation import check_choice


def cross_entropy(logits, y, target=None):
    """Cross-entropy with the true label (untargeted) or minus CE with `target` (targeted)."""
    if target is not None:
        return -keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def ce_smoothed(logits, y, target=None, *, label_smoothing=0.9):
    """CE against label-smoothed targets: the pitfall of attacking with a model's training loss."""
    num_classes = tf.shape(logits)[-1]
    onehot = tf.one_hot(y, num_classes, dtype=logits.dtype)
    return keras.losses.categorical_crossentropy(
        onehot, logits, from_logits=True, label_smoothing=label_smoothing
    )


def kl_from_logits(logits_p, logits_q):
    """Per-example KL(softmax(p) ‖ softmax(q)) computed from logits (no clipping, stable)."""
    log_p = tf.nn.log_softmax(logits_p, axis=-1)
    log_q = tf.nn.log_softmax(logits_q, axis=-1)
    return tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)


def trades_kl(logits, y, target=None):
    """TRADES' inner objective KL(f(x) ‖ f(x')), to maximise; `target` carries the clean logits.

    Label-free, so not in `LOSSES`: PGD accepts it as `loss="trades-kl"` and fills `target` with
    the clean logits itself. It is how a TRADES model is attacked "with its own training loss"
    (the only term of `CE(f(x), y) + β·KL(f(x) ‖ f(x'))` that depends on x').
    """
    del y
    return kl_from_logits(target, logits)


def _true_and_best_other(logits, y):
    num_classes = tf.shape(logits)[-1]
    onehot = tf.one_hot(
        tf.cast(y, tf.int32), num_classes, on_value=True, off_value=False, dtype=tf.bool
    )
    z_true = tf.reduce_sum(tf.where(onehot, logits, tf.zeros_like(logits)), axis=-1)
    z_other = tf.reduce_max(
        tf.where(onehot, tf.fill(tf.shape(logits), logits.dtype.min), logits), -1
    )
    return z_true, z_other


def _gather_class(logits, cls):
    return tf.gather(logits, tf.cast(cls, tf.int32), axis=-1, batch_dims=1)


def margin(logits, y, target=None):
    """CW margin `max_{i≠y} z_i − z_y`; targeted: `z_t − z_y` (MultiTargeted's objective)."""
    if target is not None:
        return _gather_class(logits, target) - _gather_class(logits, y)
    z_true, z_other = _true_and_best_other(logits, y)
    return z_other - z_true


def dlr(logits, y, target=None):
    """Difference-of-logits ratio (Croce & Hein, 2020), untargeted or targeted, to maximise."""
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
    if target is None:
        z_true, z_other = _true_and_best_other(logits, y)
        denom = sorted_logits[:, 0] - sorted_logits[:, 2] + 1e-12
        return (z_other - z_true) / denom
    denom = sorted_logits[:, 0] - 0.5 * (sorted_logits[:, 2] + sorted_logits[:, 3]) + 1e-12
    return (_gather_class(logits, target) - _gather_class(logits, y)) / denom


def cw_objective_f(logits, y, confidence):
    """Carlini & Wagner's f, *minimised*: `(max(z_y − max_{i≠y} z_i + κ, 0), z_y, max_{i≠y} z_i)`.

    The paper's `max(z_y − max z_i, −κ)` shifted by κ: the shift changes no gradient and keeps
    the value ≥ 0, which CW's abort-early test (`loss > 0.9999·previous`) needs to mean "no
    progress". Not in `LOSSES`: it is minimised and takes κ, not a target.
    """
    z_true, z_other = _true_and_best_other(tf.convert_to_tensor(logits, tf.float32), y)
    return tf.maximum(z_true - z_other + confidence, 0.0), z_true, z_other


LOSSES = {
    "ce": cross_entropy,
    "margin": margin,
    "dlr": dlr,
    "ce-smoothed": ce_smoothed,
}


def get(name: str, **kwargs):
    """Returns the loss called `name`; `kwargs` (e.g. `label_smoothing`) are bound to it."""
    check_choice(name, LOSSES, name="loss")
    fn = LOSSES[name]
    return functools.partial(fn, **kwargs) if kwargs else fn
