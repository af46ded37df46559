"""`autoattack-fast`'s probe: FAB-T on the points its stages left, and full AutoAttack where it breaks any.

The stages (APGD-CE, APGD-T) trust the model's gradients. FAB-T moves along the linearised
decision boundary instead, so where it breaks a point the stages left, they stopped short of the
model's robustness, and full AutoAttack runs on the points still robust.

Where the boundary is out of reach (`reach` > 0) the probe stops early on a point: after
`patience` steps, a point whose boundary, linearised at FAB's iterate, lies more than `reach`·ε
from the clean point leaves the probe (for a linear model that distance is exact, and a point
beyond ε cannot be broken towards that class; `reach` is the slack for curvature), and so does a
point already broken. The others go on from where they stopped: on them it is the same run.
"""

from __future__ import annotations

import tensorflow as tf

from tfls.attacks import passes
from tfls.attacks.autoattack import autoattack
from tfls.attacks.compiling import compiled, resolve_jit
from tfls.attacks.fab import fab, make_fab_loop
from tfls.attacks.geometry import expand_to
from tfls.attacks.gradients import forward
from tfls.attacks.restarts import run_on_robust


def probe(
    model, x, y, x_adv, robust, *, steps, patience, reach, escalate, eps, norm, seed, jit_compile
):
    """The probe on the points still `robust`: FAB-T towards the class of highest clean logit
    but the true one, `steps` steps (stopped early on points out of reach, see the module). Where
    it broke more than `escalate` of them, full AutoAttack on the points still robust after it
    (traced in a graph: always). Returns the adversarial examples."""
    kw = dict(eps=eps, norm=norm, seed=seed, jit_compile=jit_compile)
    if reach > 0 and patience < steps:
        x_adv, left = _fab_stopping(
            model, x, y, x_adv, robust, steps=steps, patience=patience, reach=reach, **kw
        )
    else:
        x_adv, left = run_on_robust(
            lambda xs, ys, start: _autoattack(
                model,
                xs,
                ys,
                start,
                version="custom",
                attacks=["fab-t"],
                overrides={"fab-t": {"n_targets": 1, "steps": steps}},
                **kw,
            ),
            robust,
            (x, y, x_adv),
            (x_adv, tf.zeros_like(robust)),
        )
    if tf.executing_eagerly():
        before, after = (int(tf.reduce_sum(tf.cast(m, tf.int32))) for m in (robust, left))
        if after == 0 or before - after <= escalate * before:
            return x_adv
    counter = model.counter if isinstance(model, passes.Counted) else passes.counter(model)
    counter.escalated.assign_add(tf.reduce_sum(tf.cast(left, tf.int64)))
    x_adv, _ = run_on_robust(
        lambda xs, ys, start: _autoattack(
            model, xs, ys, start, version="standard", attacks=None, overrides=None, **kw
        ),
        left,
        (x, y, x_adv),
        (x_adv, tf.zeros_like(left)),
    )
    return x_adv


def _fab_stopping(
    model, x, y, x_adv, robust, *, steps, patience, reach, eps, norm, seed, jit_compile
):
    """FAB-T (AutoAttack's settings, one target, from `x`) in two runs: `patience` steps on every
    `robust` point, then the remaining steps from where each stopped, on the points neither broken
    nor out of reach. `(x_adv, still_robust)`."""
    del seed  # FAB-T's first run starts at `x`: nothing is drawn
    settings = {k: fab.params[k].default for k in ("alpha_max", "eta", "beta")}
    bucket = resolve_jit(jit_compile, model)

    def loop(n):
        return compiled(
            model,
            ("fab", norm, n, *settings.values(), "with_state"),
            lambda: make_fab_loop(model, norm=norm, steps=n, with_state=True, **settings),
            jit_compile,
            autograph=False,
        )

    clean = forward(model, x)
    ranked = tf.argsort(clean, axis=-1, direction="DESCENDING", stable=True)
    target = tf.cast(ranked[:, 1], tf.int32)  # FAB-T's first target, as in AutoAttack
    far = tf.fill(tf.shape(y), float("inf"))

    def run(todo, n, start):
        return run_on_robust(
            loop(n), todo, (x, y, target, start), (x_adv, far, start, far), bucket=bucket
        )

    cand, best, x_last, near = run(robust, patience, x)
    broken = tf.logical_and(robust, best <= eps)
    go_on = tf.logical_and(tf.logical_and(robust, tf.logical_not(broken)), near <= reach * eps)
    later, best_later, _, _ = run(go_on, steps - patience, x_last)
    broken_later = tf.logical_and(go_on, best_later <= eps)
    x_adv = tf.where(expand_to(broken, x), cand, x_adv)
    x_adv = tf.where(expand_to(broken_later, x), later, x_adv)
    left = tf.logical_and(robust, tf.logical_not(tf.logical_or(broken, broken_later)))
    return x_adv, left


def _autoattack(model, x, y, start, **settings):
    """AutoAttack (`settings`: version, attacks, overrides, eps, norm, seed, jit_compile) on
    `(x, y)`: `(x_adv, robust)`, where it failed (`robust`) the earlier stages' point `start`."""
    x_aa, robust_after = autoattack(model, x, y, return_robust=True, **settings)
    robust = list(robust_after.values())[-1]
    return tf.where(expand_to(robust, x), start, x_aa), robust
