"""MultiTargeted PGD (Gowal et al., 2019): restarts that each push toward one other class."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import losses
from tfls.attacks.base import Attack
from tfls.attacks.compiling import compiled, resolve_jit
from tfls.attacks.geometry import random_start
from tfls.attacks.gradients import forward, misclassified
from tfls.attacks.params import Param, declare, nonnegative, optional, positive_int
from tfls.attacks.pgd import make_pgd_loop
from tfls.attacks.restarts import restart_search


def target_schedule(logits, y, restarts: int):
    """Target class of every restart, `(restarts, batch)`: the K−1 other classes, most likely first
    by clean logit, cycling when `restarts > K − 1`."""
    num_classes = tf.shape(logits)[-1]
    onehot = tf.equal(tf.range(num_classes)[None, :], tf.cast(y, tf.int32)[:, None])
    others = tf.where(onehot, tf.fill(tf.shape(logits), float("-inf")), logits)
    order = tf.argsort(others, axis=-1, direction="DESCENDING", stable=True)[:, :-1]
    cols = tf.range(restarts) % (num_classes - 1)
    return tf.transpose(tf.gather(order, cols, axis=1))


@declare(
    restarts=Param(18, positive_int),
    steps=Param(20, positive_int),
    step_size=Param(None, optional(nonnegative)),
)
def multitargeted(
    model,
    x,
    y,
    *,
    eps,
    restarts,
    steps,
    step_size,
    norm="linf",
    seed=0,
    jit_compile="auto",
):
    """Runs MultiTargeted PGD and returns adversarial examples shaped like `x`.

    Restart `r` starts uniformly in the ε-ball (seed `[seed, r]`, as `pgd` draws its starts) and
    runs `steps` PGD steps maximising the targeted margin `z_t − z_y`, with `t` the `r mod (K−1)`-th
    most likely other class on the clean input. Each restart runs only on points not yet
    misclassified. A point never broken gets the visited point with the highest untargeted margin.

    Args:
        model: Keras model from [0, 1] inputs to logits.
        x: float32 inputs in [0, 1]. y: int labels.
        eps: ball radius. restarts: number of restarts (the paper's Table 3: 18).
        steps: PGD steps per restart. step_size: default `eps / 10` (Table 3).
        norm: `"linf"` or `"l2"`. seed: fixes the random starts.
        jit_compile: `True`, `False` or `"auto"`.

    Returns:
        A tensor of `x`'s shape inside the ε-ball and [0, 1].

    Reference:
        Gowal et al., "An Alternative Surrogate Loss for PGD-based Adversarial Testing", 2019.
    """
    norm = v.check_norm(norm)
    eps = v.check_eps(eps, norm=norm)
    step_size = eps / 10 if step_size is None else step_size
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int32)
    if eps == 0.0:
        return tf.identity(x)

    def make():
        loop = make_pgd_loop(model, losses.margin, norm=norm, steps=steps, keep_best=True)

        def attempt(xs, ys, start, target, eps_t, step_t):
            x_cand, found, _ = loop(xs, ys, start, target, eps_t, step_t)
            # Targeted losses of different restarts are not comparable; the untargeted margin is.
            return x_cand, found, forward(model, x_cand, lambda z: losses.margin(z, ys))

        return attempt

    run = compiled(model, ("multitargeted", norm, steps), make, jit_compile)
    eps_t = tf.constant(eps, tf.float32)
    step_t = tf.constant(step_size, tf.float32)
    logits = forward(model, x)
    targets = target_schedule(logits, y, restarts)

    def attempt(r):
        start = random_start(x, eps, norm, [seed, r])
        return (lambda *t: run(*t, eps_t, step_t)), (x, y, start, targets[r])

    robust = tf.logical_not(misclassified(logits, y))
    return restart_search(
        x, robust, restarts=restarts, attempt=attempt, bucket=resolve_jit(jit_compile, model)
    )


@keras.saving.register_keras_serializable(package="tfls")
class MultiTargeted(Attack, register=True):
    """MultiTargeted PGD as a Keras layer: one target class per restart, cycling.

    Args:
        model: Keras model from [0, 1] inputs to logits.
        eps: ball radius. restarts: restarts, each with the next target class (default 18, the
            paper's Table 3). steps: PGD steps per restart. step_size: default `eps / 10`.
        norm: `"linf"` or `"l2"`. seed: fixes the random starts.
        jit_compile: `True`, `False` or `"auto"`.

    Example:
        >>> x_adv = MultiTargeted(model, eps=8 / 255)(x, y)

    Reference:
        Gowal et al., "An Alternative Surrogate Loss for PGD-based Adversarial Testing", 2019.
    """

    function = multitargeted
