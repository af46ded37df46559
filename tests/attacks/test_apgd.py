"""APGD: the checkpoint schedule by hand, ball/box constraints, the linear optimum, at least
PGD-20's strength on a trained model, determinism, targets, no retracing, bad arguments."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.attacks.helpers import accuracy as _accuracy
from tests.attacks.helpers import distance as _distance
from tests.tiny_models import any_size_conv, linear, trained_quadrant_cnn
from tfls.attacks import APGD, apgd, get, pgd
from tfls.attacks.apgd import checkpoints
from tfls.attacks.compiling import compiled


@functools.cache
def _random_cnn(channels=1):
    return any_size_conv(channels)


def _trained():
    """`tiny_models.trained_quadrant_cnn` and the first 128 of its training images."""
    model, x, y = trained_quadrant_cnn()
    return model, x[:128], y[:128]


def test_checkpoints_follow_the_papers_recursion():
    # p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (increments shrink by 0.03, floor 0.06).
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(1000)[:3] == [220, 410, 570]
    # Tiny budgets still check the step size (at least one iteration between checkpoints).
    assert checkpoints(5) == [2, 3, 4, 5]
    assert checkpoints(1) == [1]


@pytest.mark.parametrize(
    "norm, loss, targeted",
    [("linf", "ce", False), ("linf", "dlr", True), ("l2", "ce", False), ("l2", "dlr", False)],
)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 4),
    size=st.integers(3, 6),
    eps_frac=st.floats(0.005, 0.5),
    seed=st.integers(0, 1000),
)
def test_output_inside_ball_and_box(norm, loss, targeted, batch, size, eps_frac, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    x[:, 0, 0, :] = 0.0
    x[:, -1, -1, :] = 1.0
    y = rng.integers(0, 10, batch).astype(np.int32)
    eps = eps_frac if norm == "linf" else 4 * eps_frac
    x_adv = np.asarray(
        apgd(
            _random_cnn(),
            x,
            y,
            eps=eps,
            steps=6,
            loss=loss,
            targeted=targeted,
            n_targets=2,
            norm=norm,
            seed=seed,
        )
    )
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.all(_distance(x_adv, x, norm) <= eps * (1 + 1e-5) + 1e-6)


def test_zero_eps_returns_the_input():
    x = np.random.default_rng(0).random((3, 5, 5, 1), dtype=np.float32)
    y = np.array([0, 1, 2], np.int32)
    for targeted in (False, True):
        out = APGD(_random_cnn(), eps=0.0, loss="dlr", targeted=targeted, steps=3)(x, y)
        np.testing.assert_array_equal(np.asarray(out), x)


def _linear_model(w, b):
    """Two-class linear classifier on flat inputs: logits = [0, w·x + b]."""
    kernel = np.zeros((w.size, 2), np.float32)
    kernel[:, 1] = w
    return linear(kernel, [0.0, b])


def test_finds_the_linear_optimum():
    """On a linear model with every point robust, max CE over the L∞ ball ∩ box is a box corner."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=12).astype(np.float32)
    x = rng.uniform(0.0, 1.0, size=(8, 12)).astype(np.float32)
    y = np.zeros(8, np.int32)
    eps = 0.05
    b = -float(np.max(x @ w) + eps * np.abs(w).sum() + 1.0)
    expected = np.clip(x + eps * np.sign(w), 0.0, 1.0)
    out = apgd(_linear_model(w, b), x, y, eps=eps, steps=10, seed=1)
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-6)
    # L2 with the box inactive: x + ε w/‖w‖.
    x = rng.uniform(0.3, 0.7, size=(8, 12)).astype(np.float32)
    b = -float(np.max(x @ w) + 0.2 * np.linalg.norm(w) + 1.0)
    out = apgd(_linear_model(w, b), x, y, eps=0.2, norm="l2", steps=20, seed=1)
    np.testing.assert_allclose(np.asarray(out), x + 0.2 * w / np.linalg.norm(w), atol=2e-3)


def test_at_least_as_strong_as_pgd20_on_a_trained_model():
    model, x, y = _trained()
    clean = _accuracy(model, x, y)
    eps = 0.06
    pgd_acc = _accuracy(model, pgd(model, x, y, eps=eps, steps=20, step_size=eps / 10, seed=0), y)
    apgd_ce = _accuracy(model, apgd(model, x, y, eps=eps, steps=50, loss="ce", seed=0), y)
    apgd_t = _accuracy(
        model, apgd(model, x, y, eps=eps, steps=50, loss="dlr", targeted=True, seed=0), y
    )
    # The setting must be one where attacks can fail and succeed, or the comparison is empty.
    assert clean > 0.8 and 0.05 < pgd_acc < clean
    assert apgd_ce <= pgd_acc
    assert apgd_t <= pgd_acc


def test_fixed_seed_gives_identical_results_and_layer_matches_function():
    model, x, y = _trained()
    a = APGD(model, eps=0.03, steps=10, seed=5)(x[:32], y[:32])
    b = APGD(model, eps=0.03, steps=10, seed=5)(x[:32], y[:32])
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    c = apgd(model, x[:32], y[:32], eps=0.03, steps=10, seed=5)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(c))


def test_more_targets_never_lower_success():
    model, x, y = _trained()
    accs = [
        _accuracy(
            model, apgd(model, x, y, eps=0.06, steps=10, loss="dlr", targeted=True, n_targets=k), y
        )
        for k in (1, 2, 3)
    ]
    assert accs[0] >= accs[1] >= accs[2]


def test_no_retracing_from_batch_to_batch():
    model, x, y = _trained()
    attack = APGD(model, eps=0.03, steps=4, restarts=2, jit_compile=False)
    for n in (16, 16, 32, 7, 50):
        attack(x[:n], y[:n])
    loop = compiled(attack.adapted(), ("apgd", "ce", "linf", 4, 0.75, False), None, False)
    assert loop.experimental_get_tracing_count() <= 2


def test_graph_and_xla_agree_with_eager():
    model, x, y = _trained()
    x, y = x[:16], y[:16]
    ref = np.asarray(apgd(model, x, y, eps=0.03, steps=5, jit_compile=False))
    xla = np.asarray(apgd(model, x, y, eps=0.03, steps=5, jit_compile=True))
    # L∞ APGD steps are signs (see test_pgd's twin): rounding moves a pixel only where a gradient
    # component is near 0; 1e-5 is 1/3000 of ε, far below what moves a verdict.
    np.testing.assert_allclose(ref, xla, atol=1e-5)


def test_presets_and_config_round_trip():
    model = _random_cnn()
    for name, expected in [
        ("apgd-ce", ("ce", False)),
        ("apgd-t", ("dlr", True)),
        ("apgd-dlr", ("dlr", False)),
    ]:
        attack = get(name, model, eps=8 / 255)
        assert (attack.loss, attack.targeted, attack.steps) == (*expected, 100)
        config = attack.get_config()
        assert APGD.from_config(config).get_config() == config
    assert get("apgd-t", model, eps=0.1).n_targets == 9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eps": -0.1}, "eps=-0.1"),
        ({"eps": 0.1, "loss": "margin"}, "loss='margin'"),
        ({"eps": 0.1, "rho": 0.0}, "rho=0.0"),
        ({"eps": 0.1, "n_targets": 0}, "n_targets=0"),
        ({"eps": 0.1, "steps": 0}, "steps=0"),
        ({"eps": 0.1, "norm": "l1"}, "norm='l1'"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        APGD(_random_cnn(), **kwargs)


def test_targeted_dlr_refuses_models_with_too_few_classes():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.full((2, 4), 0.5, np.float32)
    with pytest.raises(ValueError, match="num_classes=3"):
        apgd(model, x, np.zeros(2, np.int32), eps=0.1, loss="dlr", targeted=True)


def test_targets_are_the_next_highest_clean_logits():
    """With one target, APGD-T attacks the runner-up class: where it succeeds, it lands there."""
    model, x, y = _trained()
    logits = np.asarray(model(x))
    runner_up = np.argsort(-logits, axis=1, kind="stable")[:, 1]
    out = np.asarray(apgd(model, x, y, eps=0.08, steps=20, loss="dlr", targeted=True, n_targets=1))
    pred = np.argmax(np.asarray(model(out)), -1)
    fooled = (pred != y) & (np.argmax(logits, -1) == y)
    assert fooled.sum() > 5
    assert np.mean(pred[fooled] == runner_up[fooled]) > 0.9


def test_runs_inside_a_traced_graph():
    model = _random_cnn()
    x = tf.constant(np.random.default_rng(0).random((3, 5, 5, 1), dtype=np.float32))
    y = tf.constant([0, 1, 2], tf.int32)
    out = tf.function(
        lambda a, b: apgd(model, a, b, eps=0.1, steps=3, loss="dlr", targeted=True, n_targets=2)
    )(x, y)
    assert np.all(_distance(out, x, "linf") <= 0.1 + 1e-6)


def test_returns_its_best_point_never_worse_than_the_start():
    """The compiled run keeps x_max: where nothing was misclassified, the returned point's loss is
    the reported best loss, and that is at least the loss at the start."""
    from tfls.attacks import losses
    from tfls.attacks.apgd import make_apgd_loop

    model, x, y = _trained()
    x, y = tf.constant(x[:64]), tf.constant(y[:64])
    loop = make_apgd_loop(model, losses.cross_entropy, norm="linf", steps=12, rho=0.75)
    start = tf.clip_by_value(x + 0.01, 0.0, 1.0)
    x_adv, found, best = loop(x, y, start, None, tf.constant(0.03))
    start_loss = losses.cross_entropy(model(start), y)
    end_loss = losses.cross_entropy(model(x_adv), y)
    found, best = np.asarray(found), np.asarray(best)
    assert (~found).sum() > 10
    assert np.all(best >= np.asarray(start_loss) - 1e-6)
    np.testing.assert_allclose(np.asarray(end_loss)[~found], best[~found], rtol=1e-5, atol=1e-6)
    assert np.all(np.argmax(model(x_adv), -1)[found] != np.asarray(y)[found])


def _apgd_run(model, x, y, *, norm, eps, steps, compact_every, target=None, loss="ce"):
    from tfls.attacks import losses
    from tfls.attacks.apgd import make_apgd_loop

    loop = tf.function(
        make_apgd_loop(
            model,
            losses.get(loss),
            norm=norm,
            steps=steps,
            rho=0.75,
            compact_every=compact_every,
        )
    )
    start = tf.clip_by_value(
        tf.constant(x)
        + 0.5 * eps * np.sign(np.cos(np.arange(x.size))).reshape(x.shape).astype(np.float32),
        0.0,
        1.0,
    )
    out = loop(tf.constant(x), tf.constant(y), start, target, tf.constant(eps, tf.float32))
    return tuple(np.asarray(t) for t in out)


@pytest.mark.parametrize(("norm", "eps", "loss"), [("linf", 0.1, "ce"), ("l2", 0.4, "dlr")])
def test_compaction_does_not_change_the_answer(norm, eps, loss):
    """Stepping only the rows not yet fooled (after every fall, every few steps, or never) gives
    the same returned points and the same verdicts: each row's trajectory is its own."""
    model, x, y = _trained()
    x, y = x[:64], y[:64].astype(np.int32)
    runs = [
        _apgd_run(model, x, y, norm=norm, eps=eps, steps=20, compact_every=k, loss=loss)
        for k in (1, 4, None)
    ]
    x_adv, found, best = runs[0]
    assert 5 < found.sum() < len(found) - 5  # rows fell along the way: compaction happened
    for other_x, other_found, other_best in runs[1:]:
        # What is invariant: the verdicts, exactly.
        np.testing.assert_array_equal(other_found, found)
        # The points, up to how the batch's size changes the rounding of the model's sums. An
        # L∞ step is a sign, so rounding rarely moves it (1e-6). An L2 step follows the
        # gradient's direction, so a rounding difference in that direction is carried along
        # the trajectory. Another CPU of this kind measured 9e-4 on one row of 64 at ε = 0.4
        # (2.3e-3 of ε); 1% of ε leaves four times that and is far from moving a verdict,
        # which is asserted exactly above.
        tol = 1e-6 if norm == "linf" else 0.01 * eps
        np.testing.assert_allclose(other_x, x_adv, atol=tol)
        # Rows never fooled ran the whole trajectory either way: the same best loss (a loss
        # moves far less than a point; the other CPU differed in a point, not in a loss).
        loss_tol = 1e-6 if norm == "linf" else 1e-4
        np.testing.assert_allclose(other_best[~found], best[~found], rtol=loss_tol, atol=loss_tol)


def test_fooled_points_stop_costing_passes():
    """A row fooled early leaves the batch: the model sees the robust rows for every step and the
    fooled ones only until they fall."""
    from tests.tiny_models import mean_threshold_case
    from tfls.attacks import passes as counting

    model, x, y, fragile = mean_threshold_case()  # fragile: one ε = 0.05 step from the boundary
    counted = counting.counted(model, model)

    def count():
        return counting.read(model)[0]

    steps = 30

    def passes(compact_every):
        before = count()
        _, found, _ = _apgd_run(
            counted, x, y, norm="linf", eps=0.05, steps=steps, compact_every=compact_every
        )
        np.testing.assert_array_equal(found, fragile)
        return count() - before

    n, n_robust = len(x), int((~fragile).sum())
    assert passes(None) == n * (steps + 1)  # the start, then every step on every row
    # The start on every row, every step on the robust rows, the fragile rows a step or two.
    assert n + n_robust * steps < passes(1) <= n + n_robust * steps + 2 * int(fragile.sum())
