"""autoattack-fast: the threat model, its targets against the closed form of a linear model, its
strength there, and its passes counted against the formula of its stages."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import linear, tiny_conv
from tfls.attacks import FastAutoAttack, get, passes
from tfls.attacks.autoattack_fast import by_distance, choose_targets, first_unique, linear_estimate


def _linear_case(seed=0, n=64, d=16, k=6):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(d, k)).astype(np.float32)
    # Columns of very different norms: the nearest boundary is often not the second logit.
    kernel *= np.exp(rng.normal(scale=1.5, size=(1, k))).astype(np.float32)
    x = rng.uniform(0.3, 0.7, size=(n, d)).astype(np.float32)  # far from the box's faces
    model = linear(kernel)
    y = np.argmax(np.asarray(model(x)), -1).astype(np.int32)
    return model, kernel, x, y


def _closed_form(kernel, x, y):
    """L∞ distance of each point to each class's boundary: (z_y − z_c) / ‖w_y − w_c‖₁."""
    z = x @ kernel
    w = kernel.T  # (k, d)
    gaps = z[np.arange(len(y)), y][:, None] - z
    dual = np.abs(w[y][:, None, :] - w[None, :, :]).sum(-1)
    dist = np.where(dual > 0, gaps / np.maximum(dual, 1e-12), np.inf)
    dist[np.arange(len(y)), y] = np.inf
    return dist


def test_linear_estimate_is_the_closed_form_distance():
    model, kernel, x, y = _linear_case()
    dist = _closed_form(kernel, x, y)
    moved = np.clip(x + np.random.default_rng(0).uniform(-0.05, 0.05, x.shape), 0, 1)
    classes, found, reach = linear_estimate(
        model, tf.constant(x), tf.constant(y), norm="linf", candidates=5, center=tf.constant(x)
    )
    z = np.where(np.eye(kernel.shape[1])[y] > 0, -np.inf, x @ kernel)
    by_logit = np.argsort(-z, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(np.asarray(classes), by_logit)
    want = np.maximum(np.take_along_axis(dist, by_logit, 1), 0)
    np.testing.assert_allclose(np.asarray(found), want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(reach), want, rtol=1e-4, atol=1e-6)
    # Measured from elsewhere, the reach is still the distance from the centre (the model is
    # linear); the distance is from where it was measured.
    seen, there, reach = linear_estimate(
        model,
        tf.constant(moved, tf.float32),
        tf.constant(y),
        norm="linf",
        candidates=5,
        center=tf.constant(x),
    )
    want = np.maximum(np.take_along_axis(dist, np.asarray(seen), 1), 0)
    np.testing.assert_allclose(np.asarray(reach), want, rtol=1e-3, atol=1e-5)
    assert np.abs(np.asarray(there) - want).max() > 1e-3
    nearest = np.asarray(by_distance(classes, found)[0])[:, :2]
    np.testing.assert_array_equal(nearest, np.argsort(dist, axis=1, kind="stable")[:, :2])
    # The estimate is not the logit order on this model: the test can tell them apart.
    assert (nearest[:, 0] != by_logit[:, 0]).any()


def test_breaks_exactly_the_points_a_linear_model_cannot_keep():
    model, kernel, x, y = _linear_case(seed=1, n=96)
    dist = _closed_form(kernel, x, y).min(1)
    eps = float(np.median(dist))
    x_adv = np.asarray(FastAutoAttack(model, eps=eps, n_targets=1, steps=30, ce_steps=30)(x, y))
    broken = np.argmax(np.asarray(model(x_adv)), -1) != y
    clear = np.abs(dist - eps) > 0.02 * eps  # leave the points on the sphere's skin aside
    assert clear.sum() > 60
    np.testing.assert_array_equal(broken[clear], (dist < eps)[clear])


def test_the_sweep_breaks_the_points_the_chosen_target_cannot():
    """One-step stages towards the class of highest clean logit leave points whose nearest
    boundary is another class's; the sweep goes towards each class the estimate puts within ε of
    the clean point, and then the stages break exactly the closed form's points."""
    _, kernel, x, y = _linear_case(seed=4, n=96)
    model = linear(kernel * 10)  # a sharp softmax: APGD-CE's one step heads for the top logit
    dist = _closed_form(kernel, x, y).min(1)
    eps = float(np.median(dist))
    clear = np.abs(dist - eps) > 0.02 * eps
    kw = dict(eps=eps, targets="clean", n_targets=1, steps=1, ce_steps=1, probe=False)

    def broken(sweep):
        x_adv = np.asarray(FastAutoAttack(model, sweep=sweep, **kw)(x, y))
        return (np.argmax(np.asarray(model(x_adv)), -1) != y)[clear]

    without, swept = broken(0.0), broken(1.0)
    assert (without != (dist < eps)[clear]).sum() > 0  # the chosen target alone misses some
    np.testing.assert_array_equal(swept, (dist < eps)[clear])


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_stays_inside_the_ball_and_the_box(norm, eps):
    model = tiny_conv(seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(24, 8, 8, 1)).astype(np.float32)
    x[:4] = 0.0  # on the box's faces
    y = np.argmax(np.asarray(model(x)), -1)
    x_adv = np.asarray(
        get("autoattack-fast", model, eps=eps, norm=norm, steps=10, ce_steps=10)(x, y)
    )
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    delta = (x_adv - x).reshape(len(x), -1)
    size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps * (1 + 1e-5) + 1e-7


@pytest.mark.parametrize(
    "jit,targets,sweep",
    [
        (False, "both", 1.0),
        (True, "both", 1.0),
        (False, "linear", 1.0),
        (False, "clean", 1.0),
        (False, "clean", 0.0),
    ],
)
def test_passes_follow_the_stages_formula(jit, targets, sweep):
    """On points no stage fools, each point costs APGD-CE's start + `ce_steps` steps, one backward
    pass per candidate class (the linear estimate, which only the clean order without a sweep
    goes without), and the start + `steps` steps of APGD-T per target; no class is near enough
    for the sweep. Under XLA the attacked subsets are padded to a power of two (20 -> 32 rows),
    and the padding is work done. The probe costs what FAB-T towards one target costs on the
    same points."""
    model, _, x, y = _linear_case(seed=2, n=20)
    ce_steps, steps, candidates, k, probe_steps = 7, 5, 4, 2, 3

    def count(attack):
        before = passes.read(model)
        x_adv = np.asarray(attack(x, y))
        return x_adv, np.subtract(passes.read(model), before)

    kw = dict(eps=1e-6, jit_compile=jit)
    stages = dict(ce_steps=ce_steps, steps=steps, candidates=candidates, n_targets=k)
    x_adv, (forward, backward) = count(
        FastAutoAttack(model, targets=targets, sweep=sweep, probe=False, **stages, **kw)
    )
    assert (np.argmax(np.asarray(model(x_adv)), -1) == y).all()  # nothing fooled
    n = 32 if jit else len(y)
    scored = 0 if (targets, sweep) == ("clean", 0.0) else candidates  # the linear estimate's
    assert backward == n * ((ce_steps + 1) + scored + k * (steps + 1))
    # Forward: each backward pass had its forward, plus the clean logits (the batch), the
    # logits at APGD-CE's end (the attacked subset) and the class count on one image.
    assert forward == backward + len(y) + n + 1
    _, probed = count(
        FastAutoAttack(model, targets=targets, sweep=sweep, probe_steps=probe_steps, **stages, **kw)
    )
    _, fab = count(get("fab-t", model, n_targets=1, steps=probe_steps, **kw))
    # AutoAttack's own clean and after-component logits come on top of FAB-T's passes.
    np.testing.assert_array_equal(probed - (forward, backward), fab + (2 * len(y), 0))


def test_both_orders_take_the_clean_logit_and_the_linear_estimate_in_turn():
    """`"both"`: the class of highest clean logit, then the linear estimate's nearest at the
    point APGD-CE ended on (here the clean point itself), the next of each, each class once."""
    model, kernel, x, y = _linear_case(seed=1)
    dist = _closed_form(kernel, x, y)
    z = np.where(np.eye(kernel.shape[1])[y] > 0, -np.inf, x @ kernel)
    by_logit = np.argsort(-z, axis=1, kind="stable")
    by_distance = np.argsort(dist, axis=1, kind="stable")
    k = 3
    want = []
    for a, b in zip(by_logit[:, :k], by_distance[:, :k]):
        seq = [c for pair in zip(a, b) for c in pair]
        want.append([c for i, c in enumerate(seq) if c not in seq[:i]][:k])
    x, y = tf.constant(x), tf.constant(y)
    logits = model(x)
    classes, found, _ = linear_estimate(model, x, y, norm="linf", candidates=5)
    got = np.asarray(choose_targets(logits, y, classes, found, order="both", n_targets=k))
    np.testing.assert_array_equal(got, np.array(want))
    # "clean" ranks by the clean logits alone, whatever the estimate says (here another point's).
    elsewhere = linear_estimate(model, x + 0.01, y, norm="linf", candidates=5)[:2]
    clean = np.asarray(choose_targets(logits, y, *elsewhere, order="clean", n_targets=k))
    np.testing.assert_array_equal(clean, by_logit[:, :k])
    linear = np.asarray(choose_targets(logits, y, classes, found, order="linear", n_targets=k))
    np.testing.assert_array_equal(linear, by_distance[:, :k])
    # The two orders disagree on this model, so "both" is neither of them.
    assert (got != by_logit[:, :k]).any() and (got != by_distance[:, :k]).any()


def test_first_unique_keeps_the_order_and_drops_repeats():
    seq = tf.constant([[3, 3, 1, 2, 1, 0], [0, 1, 1, 0, 2, 2], [5, 4, 4, 5, 3, 3]])
    np.testing.assert_array_equal(
        np.asarray(first_unique(seq, 3)), [[3, 1, 2], [0, 1, 2], [5, 4, 3]]
    )


def test_without_targets_to_choose_it_equals_the_logit_order():
    model, _, x, y = _linear_case(seed=3, n=32)
    kw = dict(eps=0.05, steps=10, ce_steps=10, n_targets=5, candidates=5)
    a = np.asarray(FastAutoAttack(model, targets="linear", **kw)(x, y))
    b = np.asarray(FastAutoAttack(model, targets="logit", **kw)(x, y))
    # With every candidate attacked, only the order differs: the same points fall.
    assert ((np.argmax(model(a), -1) == y) == (np.argmax(model(b), -1) == y)).all()


def test_bad_settings_are_one_line():
    model, _, x, y = _linear_case()
    with pytest.raises(ValueError, match="targets"):
        FastAutoAttack(model, eps=0.1, targets="nearest")
    with pytest.raises(ValueError, match="n_targets"):
        FastAutoAttack(model, eps=0.1, n_targets=0)
    three = linear(np.ones((16, 3), np.float32))
    with pytest.raises(ValueError, match="at least 4 classes"):
        FastAutoAttack(three, eps=0.1)(x, np.zeros(len(x), np.int32))


def test_a_probe_that_breaks_points_sends_the_rest_to_full_autoattack():
    """With one-step stages, points stay robust that FAB-T (the probe) breaks, so the points
    still robust after it go on to full AutoAttack; the counter says how many, and the answer is
    the closed form's. With `probe=False` the stages alone answer; at `escalate=1.0` the probe
    runs (and its points count) but nothing goes on."""
    _, kernel, flat, y = _linear_case(seed=1, n=96)
    dist = _closed_form(kernel, flat, y).min(1)
    model = linear(kernel, input_shape=(4, 4, 1))  # an image, for AutoAttack's Square
    x = flat.reshape(-1, 4, 4, 1)
    eps = float(np.median(dist))
    kw = dict(eps=eps, n_targets=1, steps=1, ce_steps=1)

    def run(**settings):
        before = passes.escalated(model)
        x_adv = np.asarray(FastAutoAttack(model, **kw, **settings)(x, y))
        return np.argmax(np.asarray(model(x_adv)), -1) == y, passes.escalated(model) - before

    stages, none_sent = run(probe=False)
    probed, none_sent_either = run(escalate=1.0)
    assert none_sent == none_sent_either == 0
    assert not (probed & ~stages).any() and probed.sum() < stages.sum()  # the probe broke some
    robust, sent = run()  # escalate=0: any point the probe breaks sends the rest on
    assert sent == probed.sum() > 0  # every point the probe left, and only those
    assert not (robust & ~probed).any()
    clear = np.abs(dist - eps) > 0.02 * eps
    np.testing.assert_array_equal(robust[clear], (dist >= eps)[clear])
