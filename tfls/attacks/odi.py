"""Output Diversified Initialization (Tashiro et al., 2020): PGD restarts from diversified starts.

Each restart first takes a few steps that maximise a random direction `wᵀf(x)` in logit space,
which scatters the starting points far more than uniform noise in the ε-ball does, then runs PGD.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import losses
from tfls.attacks.base import Attack
from tfls.attacks.compiling import compiled, resolve_jit
from tfls.attacks.geometry import ascent_direction, project, random_start
from tfls.attacks.gradients import forward, misclassified, value_and_grad
from tfls.attacks.params import (
    Param,
    choice,
    declare,
    nonnegative,
    nonnegative_int,
    optional,
    positive_int,
)
from tfls.attacks.pgd import make_pgd_loop
from tfls.attacks.restarts import restart_search


def odi_direction(model, x, w):
    """∇ₓ Σᵢ wᵢᵀ f(xᵢ): the gradient of the logits projected on the random direction `w`."""

    def objective(t):
        logits = model(t, training=False)
        return logits, tf.reduce_sum(logits * w, axis=-1)

    return value_and_grad(model, objective, x)[2]


def odi_init(model, x, x_start, w, *, eps, odi_steps, odi_step_size, norm):
    """`odi_steps` steps of `odi_step_size` along sign ∇ wᵀf (L∞) or its L2 direction, projected."""
    x = tf.convert_to_tensor(x, tf.float32)
    x_cur = tf.convert_to_tensor(x_start, tf.float32)
    w = tf.convert_to_tensor(w, tf.float32)
    for _ in tf.range(odi_steps):
        grad = odi_direction(model, x_cur, w)
        x_cur = project(x_cur + odi_step_size * ascent_direction(grad, norm), x, eps, norm)
    return x_cur


@declare(
    restarts=Param(20, positive_int),
    odi_steps=Param(2, nonnegative_int),
    odi_step_size=Param(None, optional(nonnegative)),
    steps=Param(20, positive_int),
    step_size=Param(None, optional(nonnegative)),
    loss=Param("margin", choice(losses.LOSSES)),
)
def odi(
    model,
    x,
    y,
    *,
    eps,
    restarts,
    odi_steps,
    odi_step_size,
    steps,
    step_size,
    loss,
    norm="linf",
    seed=0,
    jit_compile="auto",
):
    """Runs ODI-PGD and returns adversarial examples shaped like `x`.

    Restart `r`: a uniform random start in the ε-ball (seed `[seed, r]`), `odi_steps` ODI steps of
    size `odi_step_size` (default ε) along the sign of ∇ₓ wᵀf(x) with `w ~ U(−1, 1)^K` drawn per
    example and per restart (seed `[seed, r + 1_000_003]`), each projected onto the ball and
    [0, 1]; then `steps` PGD steps of `step_size` (default ε/10) on `loss`. Each restart runs only
    on points not yet misclassified; a point never broken gets its highest-loss visited point.

    Args:
        model: Keras model from [0, 1] inputs to logits.
        x: float32 inputs in [0, 1]. y: int labels.
        eps: ball radius. restarts: number of restarts (the paper's Table 3: 20).
        odi_steps: diversification steps per restart (Tashiro et al.: 2).
        odi_step_size: default `eps`. steps: PGD steps. step_size: default `eps / 10`.
        loss: untargeted PGD loss name (default the margin, as in Tashiro et al.).
        norm: `"linf"` or `"l2"`. seed: fixes the random starts and directions.
        jit_compile: `True`, `False` or `"auto"`.

    Returns:
        A tensor of `x`'s shape inside the ε-ball and [0, 1].

    Reference:
        Tashiro, Song & Ermon, "Diversity can be Transferred: Output Diversification for White-
        and Black-box Attacks", NeurIPS 2020.
    """
    norm = v.check_norm(norm)
    eps = v.check_eps(eps, norm=norm)
    odi_step_size = eps if odi_step_size is None else odi_step_size
    step_size = eps / 10 if step_size is None else step_size
    loss_fn = losses.get(loss)
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int32)
    if eps == 0.0:
        return tf.identity(x)

    def make():
        loop = make_pgd_loop(model, loss_fn, norm=norm, steps=steps, keep_best=True)

        def attempt(xs, ys, start, w, eps_t, odi_step_t, step_t):
            x_odi = odi_init(
                model,
                xs,
                start,
                w,
                eps=eps_t,
                odi_steps=odi_steps,
                odi_step_size=odi_step_t,
                norm=norm,
            )
            return loop(xs, ys, x_odi, None, eps_t, step_t)

        return attempt

    run = compiled(model, ("odi", loss, norm, odi_steps, steps), make, jit_compile)
    consts = [tf.constant(c, tf.float32) for c in (eps, odi_step_size, step_size)]
    logits = forward(model, x)

    def attempt(r):
        start = random_start(x, eps, norm, [seed, r])
        w = tf.random.stateless_uniform(tf.shape(logits), [seed, r + 1_000_003], -1.0, 1.0)
        return (lambda *t: run(*t, *consts)), (x, y, start, w)

    robust = tf.logical_not(misclassified(logits, y))
    return restart_search(
        x, robust, restarts=restarts, attempt=attempt, bucket=resolve_jit(jit_compile, model)
    )


@keras.saving.register_keras_serializable(package="tfls")
class ODI(Attack, register=True):
    """ODI-PGD as a Keras layer: restarts from output-diversified starting points.

    Args:
        model: Keras model from [0, 1] inputs to logits.
        eps: ball radius. restarts: default 20 (the paper's Table 3).
        odi_steps: diversification steps per restart (2). odi_step_size: default `eps`.
        steps: PGD steps per restart (20). step_size: default `eps / 10`.
        loss: PGD loss (default `"margin"`). norm: `"linf"` or `"l2"`.
        seed: fixes the random starts and directions. jit_compile: `True`, `False` or `"auto"`.

    Example:
        >>> x_adv = ODI(model, eps=8 / 255)(x, y)

    Reference:
        Tashiro, Song & Ermon, "Diversity can be Transferred: Output Diversification for White-
        and Black-box Attacks", NeurIPS 2020.
    """

    function = odi
