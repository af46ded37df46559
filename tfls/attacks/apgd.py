"""Auto-PGD (Croce & Hein, 2020): PGD with momentum and a parameter-free step-size schedule.

APGD-CE maximises cross-entropy; APGD-DLR the difference-of-logits ratio; APGD-T the targeted DLR
towards each of the top non-true classes in turn. The whole trajectory is one compiled loop with a
static trip count; every per-example decision (step halving, restarts from the best point) is a
`tf.where` mask.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import losses
from tfls.attacks.base import Attack
from tfls.attacks.compiling import compiled, resolve_jit
from tfls.attacks.geometry import ascent_direction, expand_to, project, random_start
from tfls.attacks.gradients import forward, loss_and_grad, misclassified
from tfls.attacks.params import Param, choice, declare, flag, interval, positive_int
from tfls.attacks.pgd import track_best
from tfls.attacks.restarts import restart_search

APGD_LOSSES = ("ce", "dlr")


def checkpoints(steps: int) -> list[int]:
    """Iteration counts after which APGD checks its step size: `⌈p_j · steps⌉` for the paper's p_j.

    p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06). Intervals are at least one
    iteration long, so tiny step budgets still get checkpoints.
    """
    p_prev, p = 0.0, 0.22
    points, last = [], 0
    while p <= 1.0:
        w = max(int(np.ceil(p * steps - 1e-6)), last + 1)  # tolerance: 0.41 * 100 is 41.000…01
        if w > steps:
            break
        points.append(w)
        last = w
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return points


def make_apgd_loop(
    model, loss_fn, *, norm: str, steps: int, rho: float, compact_every: int | None = 1
):
    """Builds the compiled APGD run: `(x, y, x_start, target, eps) -> (x_adv, found, best_loss)`.

    `steps` gradient steps after one evaluation of the start. The returned point is the first
    misclassified point visited where there is one, else the highest-loss point.

    Fooled points stop costing passes: every per-example quantity (step size, counters, x_max) is
    the example's own, so a row's trajectory does not depend on the others, and the first
    misclassified point of a row never changes once found. The loop therefore runs on the rows
    not yet fooled and, once some of them fall (at least `compact_every` steps after the last
    compaction), gathers the rows still robust, scattering the finished ones back. The subset's
    size is a dynamic shape, so one trace serves every size. A fooled row's returned point is the
    same as without compaction; its `best_loss` is the best up to its fall. `None` steps every row
    to the end (the only way under XLA, which needs static shapes).
    """
    marks = checkpoints(steps)
    is_check = np.zeros(steps, bool)
    interval = np.ones(steps, np.float32)
    prev = 0
    for w in marks:
        is_check[w - 1] = True  # checked after the w-th step, i.e. at loop index w - 1
        interval[w - 1] = w - prev
        prev = w

    def loop(x, y, x_start, target, eps):
        # Constants are made here, inside the traced graph, not when the loop is built (which may
        # happen inside a caller's temporary graph).
        is_check_t = tf.constant(is_check)
        interval_t = tf.constant(interval)
        batch = tf.shape(x)[0]
        logits, loss, grad = loss_and_grad(model, loss_fn, x_start, y, target)
        # (first misclassified point, found, highest-loss point x_max, its loss)
        x_found, found, x_best, best_loss = track_best(
            (x_start, tf.zeros([batch], tf.bool), x_start, tf.fill([batch], float("-inf"))),
            x_start,
            logits,
            loss,
            y,
        )
        # Everything a step reads, per example (rows gathered together when compacting).
        rows = {
            "x": x,
            "y": y,
            "x_cur": x_start,
            "x_prev": x_start,
            "grad": grad,
            "grad_best": grad,
            "x_found": x_found,
            "found": found,
            "x_best": x_best,
            "best_loss": best_loss,
            "prev_loss": loss,
            "step": tf.fill([batch], 2.0) * eps,
            "increases": tf.zeros([batch], tf.float32),
            "reduced_last": tf.ones([batch], tf.bool),  # no "unchanged step" test at first check
            "best_at_last_check": best_loss,
        }
        if target is not None:
            rows["target"] = target

        def apgd_step(i, r):
            xs = r["x"]
            momentum = tf.where(i > 0, 0.75, 1.0)
            x_cur = r["x_cur"]
            z = project(
                x_cur + expand_to(r["step"], xs) * ascent_direction(r["grad"], norm), xs, eps, norm
            )
            x_next = project(
                x_cur + momentum * (z - x_cur) + (1.0 - momentum) * (x_cur - r["x_prev"]),
                xs,
                eps,
                norm,
            )
            x_prev, x_cur = x_cur, x_next

            logits, loss, grad = loss_and_grad(model, loss_fn, x_cur, r["y"], r.get("target"))
            improved = loss > r["best_loss"]
            grad_best = tf.where(expand_to(improved, xs), grad, r["grad_best"])
            x_found, found, x_best, best_loss = track_best(
                (r["x_found"], r["found"], r["x_best"], r["best_loss"]), x_cur, logits, loss, r["y"]
            )
            increases = r["increases"] + tf.cast(loss > r["prev_loss"], tf.float32)

            # Checkpoint: halve the step where progress stalled, and restart there from x_max.
            check = tf.gather(is_check_t, i)
            # Condition 1 as in the paper: fewer than ρ·(w_j − w_{j−1}) increases (the public
            # reference code uses ≤). Condition 2: step unchanged and x_max unchanged since then.
            few_increases = increases < rho * tf.gather(interval_t, i)
            stuck = tf.logical_and(
                tf.logical_not(r["reduced_last"]), r["best_at_last_check"] >= best_loss
            )
            reduce = tf.logical_and(check, tf.logical_or(few_increases, stuck))
            return {
                **r,
                "x_cur": tf.where(expand_to(reduce, xs), x_best, x_cur),
                "x_prev": x_prev,
                "grad": tf.where(expand_to(reduce, xs), grad_best, grad),
                "grad_best": grad_best,
                "x_found": x_found,
                "found": found,
                "x_best": x_best,
                "best_loss": best_loss,
                "prev_loss": loss,
                "step": tf.where(reduce, r["step"] / 2.0, r["step"]),
                "increases": tf.where(check, tf.zeros_like(increases), increases),
                "reduced_last": tf.where(check, reduce, r["reduced_last"]),
                "best_at_last_check": tf.where(check, best_loss, r["best_at_last_check"]),
            }

        def advance(i, r):
            return i + 1, apgd_step(i, r)

        if compact_every is None:
            _, rows = tf.while_loop(lambda i, r: i < steps, advance, (tf.constant(0), rows))
        else:

            def segment(i, rows):
                """Steps from `i` on the rows not yet fooled, until compaction pays or the end."""
                idx = tf.where(tf.logical_not(rows["found"]))[:, 0]
                sub = {k: tf.gather(t, idx) for k, t in rows.items()}
                first = i

                def go_on(i, r):
                    fell = tf.reduce_any(r["found"])
                    return tf.logical_and(
                        i < steps, tf.logical_or(tf.logical_not(fell), i - first < compact_every)
                    )

                i, sub = tf.while_loop(go_on, advance, (i, sub))
                at = idx[:, None]
                return i, {k: tf.tensor_scatter_nd_update(t, at, sub[k]) for k, t in rows.items()}

            def cond(i, rows):
                return tf.logical_and(i < steps, tf.logical_not(tf.reduce_all(rows["found"])))

            _, rows = tf.while_loop(cond, segment, (tf.constant(0), rows))
        found = rows["found"]
        return (
            tf.where(expand_to(found, x), rows["x_found"], rows["x_best"]),
            found,
            rows["best_loss"],
        )

    return loop


@declare(
    steps=Param(100, positive_int),
    restarts=Param(1, positive_int),
    loss=Param("ce", choice(APGD_LOSSES)),
    targeted=Param(False, flag),
    n_targets=Param(9, positive_int),
    rho=Param(0.75, interval(0.0, 1.0, closed="high")),
)
def apgd(
    model,
    x,
    y,
    *,
    eps,
    steps,
    restarts,
    loss,
    targeted,
    n_targets,
    rho,
    norm="linf",
    seed=0,
    jit_compile="auto",
):
    """Runs Auto-PGD and returns adversarial examples (one tensor shaped like `x`).

    Args:
        model: Keras model from [0, 1] inputs to logits.
        x: float32 inputs in [0, 1]. y: int labels.
        eps: ball radius. steps: iterations per run (100 in AutoAttack).
        restarts: random restarts per run; each runs only on points still correctly classified.
        loss: `"ce"` or `"dlr"` (maximised).
        targeted: if True, run the targeted loss towards each of the `n_targets` classes with the
            highest clean logits after the top one (APGD-T: `loss="dlr"`, 9 targets), each target
            only on points still robust.
        n_targets: number of target classes (capped at `num_classes - 1`).
        rho: step halving threshold on the fraction of loss increases between checkpoints.
        norm: `"linf"` or `"l2"`. seed: fixes random starts.
        jit_compile: `True`, `False` or `"auto"`.

    Returns:
        A tensor of `x`'s shape inside the ε-ball and [0, 1]: a misclassified point where one was
        found, else the highest-loss point visited.

    Reference:
        Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
        parameter-free attacks", ICML 2020.
    """
    norm = v.check_norm(norm)
    eps = v.check_eps(eps, norm=norm)
    loss_fn = losses.get(loss)

    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int32)
    if eps == 0.0:
        return tf.identity(x)
    clean_logits = forward(model, x)
    num_classes = int(clean_logits.shape[-1])
    _check_classes(loss, targeted, num_classes)

    key = ("apgd", loss, norm, steps, rho, targeted)
    loop = compiled(
        model,
        key,
        lambda: make_apgd_loop(
            model,
            loss_fn,
            norm=norm,
            steps=steps,
            rho=rho,
            compact_every=None if resolve_jit(jit_compile, model) else 1,
        ),
        jit_compile,
        autograph=False,  # the loop is tf.while_loop throughout
    )
    eps_t = tf.constant(eps, tf.float32)

    def run(xs, ys, starts, *maybe_target):
        return loop(xs, ys, starts, maybe_target[0] if maybe_target else None, eps_t)

    # Target k is the class with the (k+1)-th highest clean logit; on still-robust points the top
    # one is the true class.
    ranked = tf.cast(
        tf.argsort(clean_logits, axis=-1, direction="DESCENDING", stable=True), tf.int32
    )
    targets = (
        [ranked[:, k] for k in range(1, min(n_targets, num_classes - 1) + 1)]
        if targeted
        else [None]
    )

    def attempt(r):
        # Uniform in the ball (shared tfls helper); the reference draws on the ball's surface.
        start = random_start(x, eps, norm, [seed, r])
        target = targets[r // restarts]
        return run, (x, y, start) + (() if target is None else (target,))

    robust = tf.logical_not(misclassified(clean_logits, y))
    return restart_search(
        x,
        robust,
        restarts=len(targets) * restarts,
        attempt=attempt,
        bucket=resolve_jit(jit_compile, model),
    )


def _check_classes(loss, targeted, num_classes):
    needed = 4 if (loss == "dlr" and targeted) else 3 if loss == "dlr" else 2
    if num_classes < needed:
        kind = "targeted DLR" if targeted else "DLR"
        raise ValueError(
            f"The {kind} loss needs a model with at least {needed} classes. "
            f"Received: a model with num_classes={num_classes}"
        )


@keras.saving.register_keras_serializable(package="tfls")
class APGD(Attack, register=True):
    """Auto-PGD as a Keras layer (APGD-CE, APGD-DLR, or APGD-T with `targeted=True`).

    Args:
        model: Keras model from [0, 1] inputs to logits.
        eps: ball radius (`8/255`). steps: iterations per run (100).
        restarts: random restarts per run (per target when targeted).
        loss: `"ce"` or `"dlr"`. targeted: run the targeted loss over `n_targets` target classes.
        n_targets: target classes for `targeted=True` (9 in AutoAttack).
        rho: step-halving threshold (0.75). norm: `"linf"` or `"l2"`. seed: fixes random starts.
        jit_compile: `True`, `False` or `"auto"`.

    Example:
        >>> x_adv = APGD(model, eps=8 / 255, loss="dlr", targeted=True)(x, y)  # APGD-T

    Reference:
        Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
        parameter-free attacks", ICML 2020.
    """

    function = apgd
