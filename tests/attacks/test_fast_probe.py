"""autoattack-fast's probe: FAB-T resumed from where it stopped is the same run; its reach is the
closed-form distance on a linear model; stopping out-of-reach points costs fewer passes and, when
no point is out of reach, changes nothing."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tests.tiny_models import linear, make_prototype_data, trained_tiny_mlp
from tfls.attacks import passes
from tfls.attacks.fab import fab, make_fab_loop
from tfls.attacks.fast_probe import _fab_stopping
from tfls.attacks.gradients import misclassified

SETTINGS = {"alpha_max": 0.1, "eta": 1.05, "beta": 0.9}


def _case(n=64):
    model = trained_tiny_mlp()
    x, _ = make_prototype_data(n, seed=7)
    x = tf.constant(x, tf.float32)
    logits = model(x)
    y = tf.cast(tf.argmax(logits, -1), tf.int32)
    target = tf.cast(tf.argsort(logits, -1, direction="DESCENDING")[:, 1], tf.int32)
    return model, x, y, target


def test_fab_resumed_from_its_last_iterate_is_the_same_run():
    model, x, y, target = _case()
    eps = 0.15

    def run(steps, start):
        loop = make_fab_loop(model, norm="linf", steps=steps, with_state=True, **SETTINGS)
        return loop(x, y, target, start)

    _, best, last, reach = run(12, x)
    _, best_a, last_a, _ = run(5, x)
    _, best_b, last_b, reach_b = run(7, last_a)
    np.testing.assert_allclose(np.asarray(last_b), np.asarray(last), atol=1e-6)
    np.testing.assert_allclose(np.asarray(reach_b), np.asarray(reach), rtol=1e-5)
    found = np.asarray(best) <= eps
    assert 0 < found.sum() < len(found)  # some broken, some not: the comparison is not empty
    np.testing.assert_array_equal(found, (np.asarray(best_a) <= eps) | (np.asarray(best_b) <= eps))


def test_reach_is_the_closed_form_distance_on_a_linear_model():
    rng = np.random.default_rng(0)
    d, k = 16, 5
    kernel = rng.normal(size=(d, k)).astype(np.float32)
    x = rng.uniform(0.45, 0.55, size=(32, d)).astype(np.float32)
    model = linear(kernel)
    z = x @ kernel
    y = np.argmax(z, -1).astype(np.int32)
    target = np.argsort(-z, -1)[:, 1].astype(np.int32)
    rows = np.arange(len(y))
    w = kernel[:, y].T - kernel[:, target].T
    want = (z[rows, y] - z[rows, target]) / np.abs(w).sum(1)  # L∞: the gap over ‖w‖₁
    # Linearised at another point (the model is linear: the same plane), measured from `x`.
    start = np.clip(x + rng.uniform(-0.03, 0.03, x.shape), 0, 1).astype(np.float32)
    loop = make_fab_loop(model, norm="linf", steps=1, with_state=True, **SETTINGS)
    _, _, _, reach = loop(tf.constant(x), tf.constant(y), tf.constant(target), tf.constant(start))
    inside = want < 0.4  # where the box does not bind, the projection is the plane's
    assert inside.sum() > 20
    np.testing.assert_allclose(np.asarray(reach)[inside], want[inside], rtol=1e-4)


def _stopping(model, x, y, *, reach, eps=0.1, steps=30, patience=1):
    robust = tf.logical_not(misclassified(model(x), y))
    before = passes.read(model)
    x_adv, left = _fab_stopping(
        passes.counted(model, model),
        x,
        y,
        x,
        robust,
        steps=steps,
        patience=patience,
        reach=reach,
        eps=eps,
        norm="linf",
        seed=0,
        jit_compile=False,
    )
    spent = np.subtract(passes.read(model), before)
    return np.asarray(left), np.asarray(x_adv), spent


def test_with_every_point_in_reach_the_probe_is_fab_t():
    model, x, y, _ = _case()
    # Three steps, FAB-T still moving: equal points there are equal runs, not the same end point.
    left, x_adv, _ = _stopping(model, x, y, reach=1e9, steps=3)
    reference = fab(model, x, y, eps=0.1, n_targets=1, steps=3, jit_compile=False)
    broke = np.asarray(misclassified(model(reference), y))
    assert 0 < broke.sum() < len(broke)
    np.testing.assert_array_equal(~left, broke)
    # Resumed where it stopped, the run is FAB-T's own: the same points where it broke after the
    # first step (those broken then stop there; FAB-T goes on to smaller norms).
    sooner = np.asarray(misclassified(model(fab(model, x, y, eps=0.1, n_targets=1, steps=1)), y))
    later = broke & ~sooner
    assert later.sum() > 0
    np.testing.assert_allclose(x_adv[later], np.asarray(reference)[later], atol=1e-6)
    assert np.all(np.asarray(misclassified(model(x_adv), y))[broke])
    assert np.abs(x_adv - np.asarray(x)).max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_points_out_of_reach_stop_and_cost_fewer_passes():
    model, x, y, _ = _case()
    kept, _, full = _stopping(model, x, y, reach=1e9)
    stopped, _, cheap = _stopping(model, x, y, reach=1e-9)  # every point is out of reach
    assert cheap[1] < full[1] and cheap[0] < full[0]
    robust = int(np.sum(~np.asarray(misclassified(model(x), y))))
    assert cheap[1] == robust  # the first step only, one backward pass each
    # What the first step broke stays broken; nothing later can be, so at most as many.
    assert (~stopped).sum() <= (~kept).sum() and np.all(kept <= stopped)


def test_autoattack_fast_passes_the_stop_to_its_probe():
    from tfls.attacks.autoattack_fast import autoattack_fast

    model, x, y, _ = _case()
    small = dict(eps=0.02, ce_steps=5, steps=5, probe_steps=20, escalate=1.0, jit_compile=False)

    def run(**kw):
        before = passes.read(model)
        x_adv = autoattack_fast(passes.counted(model, model), x, y, **small, **kw)
        assert np.abs(np.asarray(x_adv) - np.asarray(x)).max() <= 0.02 + 1e-6
        broken = np.asarray(misclassified(model(x_adv), y))
        return broken, np.subtract(passes.read(model), before)

    broken, full = run()  # the default: no stop
    assert not broken.all()  # the probe has points to run on
    in_reach, _ = run(probe_reach=1e9, probe_patience=5)
    np.testing.assert_array_equal(in_reach, broken)  # nothing out of reach: the same answer
    _, stopped = run(probe_reach=1e-9, probe_patience=1)
    assert stopped[1] < full[1]
