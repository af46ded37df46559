"""autoattack-fast: the threat model, its targets against the closed form of a linear model, its
strength there, and its passes counted against the formula of its stages."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import linear, tiny_conv
from tfls.attacks import FastAutoAttack, get, passes
from tfls.attacks.autoattack_fast import choose_targets, first_unique, nearest_targets


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


def test_linear_order_is_the_closed_form_nearest_boundary():
    model, kernel, x, y = _linear_case()
    dist = _closed_form(kernel, x, y)
    got = np.asarray(
        nearest_targets(
            model, tf.constant(x), tf.constant(y), norm="linf", candidates=5, n_targets=2
        )
    )
    np.testing.assert_array_equal(got, np.argsort(dist, axis=1, kind="stable")[:, :2])
    by_logit = np.asarray(
        nearest_targets(
            model,
            tf.constant(x),
            tf.constant(y),
            norm="linf",
            candidates=5,
            n_targets=2,
            order="logit",
        )
    )
    z = np.where(np.eye(kernel.shape[1])[y] > 0, -np.inf, x @ kernel)
    np.testing.assert_array_equal(by_logit, np.argsort(-z, axis=1, kind="stable")[:, :2])
    # The estimate is not the logit order on this model: the test can tell them apart.
    assert (got[:, 0] != by_logit[:, 0]).any()


def test_breaks_exactly_the_points_a_linear_model_cannot_keep():
    model, kernel, x, y = _linear_case(seed=1, n=96)
    dist = _closed_form(kernel, x, y).min(1)
    eps = float(np.median(dist))
    x_adv = np.asarray(FastAutoAttack(model, eps=eps, n_targets=1, steps=30, ce_steps=30)(x, y))
    broken = np.argmax(np.asarray(model(x_adv)), -1) != y
    clear = np.abs(dist - eps) > 0.02 * eps  # leave the points on the sphere's skin aside
    assert clear.sum() > 60
    np.testing.assert_array_equal(broken[clear], (dist < eps)[clear])


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
    "jit,targets", [(False, "both"), (True, "both"), (False, "linear"), (False, "clean")]
)
def test_passes_follow_the_stages_formula(jit, targets):
    """On points no stage fools, each point costs APGD-CE's start + `ce_steps` steps, one backward
    pass per candidate class, and the start + `steps` steps of APGD-T per target. Under XLA the
    attacked subsets are padded to a power of two (20 -> 32 rows), and the padding is work done.
    The probe costs what FAB-T towards one target costs on the same points."""
    model, _, x, y = _linear_case(seed=2, n=20)
    ce_steps, steps, candidates, k, probe_steps = 7, 5, 4, 2, 3

    def count(attack):
        before = passes.read(model)
        x_adv = np.asarray(attack(x, y))
        return x_adv, np.subtract(passes.read(model), before)

    kw = dict(eps=1e-6, jit_compile=jit)
    stages = dict(ce_steps=ce_steps, steps=steps, candidates=candidates, n_targets=k)
    x_adv, (forward, backward) = count(
        FastAutoAttack(model, targets=targets, probe=False, **stages, **kw)
    )
    assert (np.argmax(np.asarray(model(x_adv)), -1) == y).all()  # nothing fooled
    n = 32 if jit else len(y)
    scored = 0 if targets == "clean" else candidates  # the linear estimate's passes
    assert backward == n * ((ce_steps + 1) + scored + k * (steps + 1))
    # Forward: each backward pass had its forward, plus the clean logits (the batch), the
    # logits the targets are ranked by (the attacked subset: clean, at APGD-CE's end, or both)
    # and the class count probe on one image.
    ranked = 2 if targets == "both" else 1
    assert forward == backward + len(y) + ranked * n + 1
    _, probed = count(
        FastAutoAttack(model, targets=targets, probe_steps=probe_steps, **stages, **kw)
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
    kw = dict(norm="linf", candidates=5, n_targets=k)
    x, y = tf.constant(x), tf.constant(y)
    got = np.asarray(choose_targets(model, x, x, y, order="both", **kw))
    np.testing.assert_array_equal(got, np.array(want))
    clean = np.asarray(choose_targets(model, x, x + 0.01, y, order="clean", **kw))
    np.testing.assert_array_equal(clean, by_logit[:, :k])
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
