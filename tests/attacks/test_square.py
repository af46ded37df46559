"""Square Attack: the published p schedule, the vertical-stripe start, constraints, seeds, and the
gradient-masking contrast (PGD fooled by a zeroed gradient, Square not)."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tiny_models import any_size_conv
from tfls.attacks import Square, get, pgd, square
from tfls.attacks.square_proposals import _eta, p_schedule


@functools.cache
def _random_cnn(channels=1):
    return any_size_conv(channels)


def test_p_schedule_is_the_published_one_rescaled():
    # With 10,000 queries: p_init up to iteration 10, halved after 10, 50, 200, 500, 1000, 2000,
    # 4000, 6000 and 8000.
    got = [
        float(p_schedule(i, 10000, 0.8))
        for i in (0, 10, 11, 50, 51, 201, 501, 1001, 2001, 4001, 6001, 8001, 9999)
    ]
    want = [
        0.8,
        0.8,
        0.4,
        0.4,
        0.2,
        0.1,
        0.05,
        0.025,
        0.0125,
        0.00625,
        0.003125,
        0.0015625,
        0.0015625,
    ]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # With 5,000 queries the same schedule runs twice as fast.
    assert float(p_schedule(6, 5000, 0.8)) == pytest.approx(0.4)
    assert float(p_schedule(5, 5000, 0.8)) == pytest.approx(0.8)


def test_one_query_is_the_vertical_stripe_start():
    """With n_queries=1 only the start is evaluated: ±ε per column and channel, equal down rows."""
    model = _random_cnn(3)
    x = np.full((4, 6, 5, 3), 0.5, np.float32)
    y = np.argmax(model(x), -1).astype(np.int32)
    out = np.asarray(square(model, x, y, eps=0.1, n_queries=1, seed=2))
    delta = out - x
    np.testing.assert_allclose(np.abs(delta), 0.1, atol=1e-6)
    np.testing.assert_array_equal(delta, np.broadcast_to(delta[:, :1], delta.shape))  # stripes
    assert len(np.unique(np.sign(delta))) == 2


def _eta_by_construction(s):
    """Square's L2 pattern built as the paper describes it: for k = 0, 1, …, add 1/(k+1)² to the
    (2k+1)-wide rectangle around each half's centre; halves normalised, bottom negated."""

    def rectangles(a, b):
        out = np.zeros((a, b))
        for k in range(max(a // 2 + 1, b // 2 + 1)):
            r0, c0 = a // 2 - k, b // 2 - k
            out[max(r0, 0) : r0 + 2 * k + 1, max(c0, 0) : c0 + 2 * k + 1] += 1.0 / (k + 1) ** 2
        return out / np.linalg.norm(out)

    pattern = np.zeros((s, s))
    if s // 2:
        pattern[: s // 2] = rectangles(s // 2, s)
    pattern[s // 2 :] = -rectangles(s - s // 2, s)
    return pattern / np.linalg.norm(pattern)


@pytest.mark.parametrize("side", [1, 2, 3, 4, 5, 8, 11])
def test_l2_eta_pattern_matches_its_construction(side):
    got = np.asarray(_eta(tf.constant(side), 12))
    np.testing.assert_allclose(got[:side, :side], _eta_by_construction(side), atol=1e-6)
    assert np.all(got[side:] == 0) and np.all(got[:, side:] == 0)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 4),
    height=st.integers(2, 7),
    width=st.integers(2, 7),
    channels=st.sampled_from([1, 3]),
    eps=st.floats(0.005, 0.5),
    seed=st.integers(0, 999),
)
def test_output_inside_ball_and_box(norm, batch, height, width, channels, eps, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, height, width, channels), dtype=np.float32)
    x[:, 0, 0, :] = 0.0
    x[:, -1, -1, :] = 1.0
    y = rng.integers(0, 10, batch).astype(np.int32)
    if norm == "l2":
        eps *= 4
    out = np.asarray(
        Square(_random_cnn(channels), eps=eps, n_queries=15, norm=norm, seed=seed)(x, y)
    )
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    d = (out - x).reshape(batch, -1).astype(np.float64)
    dist = np.abs(d).max(1) if norm == "linf" else np.sqrt((d**2).sum(1))
    assert np.all(dist <= eps * (1 + 1e-5) + 1e-6)


def test_zero_eps_seeds_and_grayscale_without_channel_axis():
    model = _random_cnn(1)
    rng = np.random.default_rng(0)
    x = rng.random((8, 6, 6, 1), dtype=np.float32)
    y = np.argmax(model(x), -1).astype(np.int32)
    np.testing.assert_array_equal(np.asarray(square(model, x, y, eps=0.0)), x)
    a = np.asarray(square(model, x, y, eps=0.1, n_queries=30, seed=4))
    b = np.asarray(Square(model, eps=0.1, n_queries=30, seed=4)(x, y))
    c = np.asarray(square(model, x, y, eps=0.1, n_queries=30, seed=5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # (batch, height, width) images: the same search as with a trailing channel axis.
    flat_model = keras.Sequential([keras.Input((6, 6)), keras.layers.Reshape((6, 6, 1)), model])
    d = np.asarray(square(flat_model, x[..., 0], y, eps=0.1, n_queries=30, seed=4))
    np.testing.assert_array_equal(d, a[..., 0])


@tf.custom_gradient
def _zero_gradient(x):
    return tf.identity(x), lambda dy: tf.zeros_like(dy)


class ZeroGradient(keras.layers.Layer):
    """Identity forward, zero backward: the crudest gradient masking."""

    def call(self, x):
        return _zero_gradient(x)


def _linear_cnn(mask: bool):
    keras.utils.set_random_seed(7)
    layers = [keras.Input((8, 8, 1))] + ([ZeroGradient()] if mask else [])
    return keras.Sequential(layers + [keras.layers.Flatten(), keras.layers.Dense(10)])


def test_square_sees_through_gradient_masking():
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    masked, plain = _linear_cnn(True), _linear_cnn(False)
    np.testing.assert_array_equal(masked(x), plain(x))  # same function, only gradients differ
    y = np.argmax(plain(x), -1).astype(np.int32)  # clean accuracy 100 %
    eps = 0.05

    def robust(model, x_adv):
        return float(np.mean(np.argmax(model(x_adv), -1) == y))

    pgd_plain = robust(plain, pgd(plain, x, y, eps=eps, steps=20))
    pgd_masked = robust(masked, pgd(masked, x, y, eps=eps, steps=20))
    square_masked = robust(masked, square(masked, x, y, eps=eps, n_queries=300, seed=0))
    # The contrast the masking check relies on: PGD reports high robustness on the masked model,
    # although the very same function falls to PGD with true gradients and to Square.
    assert pgd_masked >= 0.75
    assert pgd_plain <= 0.25
    assert square_masked <= pgd_masked - 0.4


def test_l2_square_spends_its_budget_and_sees_through_masking():
    """L2 Square keeps ‖δ‖₂ = ε where the box allows it (it rescales every proposal to ε), and
    fools the gradient-masked linear model that L2 PGD cannot."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.7, (64, 8, 8, 1)).astype(np.float32)
    masked = _linear_cnn(True)
    y = np.argmax(masked(x), -1).astype(np.int32)
    eps = 0.3
    out = np.asarray(square(masked, x, y, eps=eps, n_queries=200, norm="l2", seed=0))
    dist = np.sqrt(((out - x) ** 2).reshape(64, -1).sum(1))
    np.testing.assert_allclose(dist, eps, rtol=1e-4)  # x in [0.3, 0.7]: the box never binds
    square_acc = np.mean(np.argmax(masked(out), -1) == y)
    pgd_acc = np.mean(np.argmax(masked(pgd(masked, x, y, eps=eps, steps=20, norm="l2")), -1) == y)
    assert pgd_acc >= 0.75 and square_acc <= pgd_acc - 0.4


def test_preset_config_and_refusals():
    model = _random_cnn(1)
    attack = get("square", model, eps=8 / 255)
    assert (attack.n_queries, attack.p_init) == (5000, 0.8)
    config = attack.get_config()
    assert Square.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="norm='l1'"):
        Square(model, eps=0.5, norm="l1")
    with pytest.raises(ValueError, match="p_init=1.5"):
        Square(model, eps=0.1, p_init=1.5)
    with pytest.raises(ValueError, match="n_queries=0"):
        Square(model, eps=0.1, n_queries=0)
    flat = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"x.shape=\(2, 5\)"):
        square(flat, np.zeros((2, 5), np.float32), np.zeros(2, np.int32), eps=0.1)


def test_no_retracing_from_batch_to_batch():
    from tfls.attacks.compiling import compiled

    model = _random_cnn(1)
    x = np.random.default_rng(0).random((40, 6, 6, 1), dtype=np.float32)
    y = np.argmax(model(x), -1).astype(np.int32)
    attack = Square(model, eps=0.05, n_queries=5, restarts=2, jit_compile=False)
    for n in (8, 8, 16, 5, 40):
        attack(x[:n], y[:n])
    loop = compiled(attack.adapted(), ("square", "linf", 5, 0.8, 4), None, False)
    assert loop.experimental_get_tracing_count() <= 2


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_xla_compiles_and_keeps_the_constraints(norm):
    model = _random_cnn(3)
    x = np.random.default_rng(0).random((6, 7, 7, 3), dtype=np.float32)
    y = np.argmax(model(x), -1).astype(np.int32)
    eps = 0.1 if norm == "linf" else 0.5
    out = np.asarray(square(model, x, y, eps=eps, n_queries=20, norm=norm, jit_compile=True))
    d = (out - x).reshape(6, -1).astype(np.float64)
    dist = np.abs(d).max(1) if norm == "linf" else np.sqrt((d**2).sum(1))
    assert np.all(dist <= eps * (1 + 1e-5) + 1e-6) and out.min() >= 0.0 and out.max() <= 1.0


def _run_loop(model, x, y, *, norm, eps, n_queries, compact_every):
    from tfls.attacks.square import make_square_loop

    loop = tf.function(
        make_square_loop(
            model, norm=norm, n_queries=n_queries, p_init=0.8, compact_every=compact_every
        )
    )
    x_adv, found = loop(tf.constant(x), tf.constant(y), tf.constant(eps), tf.constant([3, 0]))
    return x_adv.numpy(), found.numpy()


@pytest.mark.parametrize(("norm", "eps"), [("linf", 0.03), ("l2", 0.5)])
def test_compaction_does_not_change_the_search(norm, eps):
    """Gathering the still-robust rows (after every fooling, or every few queries, or never)
    gives the same answer: each row's draws are picked by its index in the whole batch."""
    model = _linear_cnn(False)
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    y = np.argmax(model(x), -1).astype(np.int32)
    runs = [
        _run_loop(model, x, y, norm=norm, eps=eps, n_queries=100, compact_every=k)
        for k in (1, 3, 100, None)
    ]
    x_adv, found = runs[0]
    assert 0 < found.sum() < len(found)  # points fooled along the way: compaction happened
    for other, other_found in runs[1:3]:
        np.testing.assert_array_equal(other, x_adv)
        np.testing.assert_array_equal(other_found, found)
    # Without compaction (XLA's static shapes) the same search, up to how the L2 sums round.
    np.testing.assert_array_equal(runs[3][1], found)
    np.testing.assert_allclose(runs[3][0], x_adv, atol=1e-5 if norm == "l2" else 0.0)


def test_fooled_points_stop_costing_queries():
    """Rows fooled early are dropped from the batch: the model sees the robust rows for the whole
    budget and the fooled ones only until they fall."""
    from tests.tiny_models import mean_threshold_case
    from tfls.attacks import passes

    model, x, y, fragile = mean_threshold_case()  # fragile: one ε = 0.05 step from the boundary
    counted = passes.counted(model, model)

    def count():
        return passes.read(model)[0]

    n, n_robust, n_queries = len(x), int((~fragile).sum()), 100

    def rows(compact_every):
        before = count()
        _, found = _run_loop(
            counted, x, y, norm="linf", eps=0.05, n_queries=n_queries, compact_every=compact_every
        )
        np.testing.assert_array_equal(found, fragile)
        return count() - before

    # Start and final check on every row, then (n_queries − 1) queries per still-robust row.
    assert rows(None) == n * (n_queries + 1)
    floor = 2 * n + n_robust * (n_queries - 1)
    # A fragile row falls within a few queries, so it costs a small part of the budget.
    assert floor < rows(1) <= floor + int(fragile.sum()) * (n_queries - 1) // 4
