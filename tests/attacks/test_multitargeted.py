"""MultiTargeted: constraints, determinism, config, its target schedule, and the exact answer on a
multi-class linear model (where a targeted PGD run per class is provably optimal)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfls.attacks as attacks
from tests.attacks.helpers import accuracy as _accuracy
from tests.attacks.helpers import distance as _distance
from tests.attacks.helpers import small_conv as _model
from tests.tiny_models import linear, make_prototype_data, trained_tiny_mlp
from tfls.attacks import PGD, MultiTargeted, multitargeted
from tfls.attacks.multitargeted import target_schedule


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 4),
    size=st.integers(3, 6),
    eps=st.floats(0.01, 0.5),
    norm=st.sampled_from(["linf", "l2"]),
    seed=st.integers(0, 1000),
)
def test_inside_ball_and_box(batch, size, eps, norm, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    x[:, 0, 0] = 0.0
    x[:, -1, -1] = 1.0
    y = rng.integers(0, 10, batch).astype(np.int32)
    x_adv = np.asarray(
        MultiTargeted(_model(), eps=eps, norm=norm, restarts=3, steps=3, seed=seed)(x, y)
    )
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.all(_distance(x_adv, x, norm) <= eps * (1 + 1e-5) + 1e-7)


def test_zero_eps_returns_input():
    x, y = make_prototype_data(6, seed=3)
    np.testing.assert_array_equal(MultiTargeted(_model(), eps=0.0)(x, y), x)


def test_seed_fixes_the_result():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(32, seed=4)

    def run(seed):
        return np.asarray(multitargeted(model, x, y, eps=0.1, restarts=2, steps=5, seed=seed))

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_config_round_trip_and_preset():
    attack = attacks.get("mt", _model(), eps=8 / 255, seed=3)
    assert (attack.restarts, attack.steps) == (18, 20)
    assert attack.step_size == pytest.approx(8 / 255 / 10)
    config = attack.get_config()
    clone = MultiTargeted.from_config(config)
    assert clone.get_config() == config
    with pytest.raises(ValueError, match="restarts=0"):
        MultiTargeted(_model(), eps=0.1, restarts=0)


def test_target_schedule_cycles_other_classes_by_clean_logit():
    logits = np.array([[0.0, 3.0, 1.0, 2.0], [5.0, 1.0, 4.0, 0.0]], np.float32)
    y = np.array([1, 0], np.int32)
    targets = np.asarray(target_schedule(logits, y, restarts=5))
    # Row 0 (true class 1): others by logit 3 > 2 > 0; row 1 (true 0): 2 > 1 > 3.
    np.testing.assert_array_equal(targets[:, 0], [3, 2, 0, 3, 2])
    np.testing.assert_array_equal(targets[:, 1], [2, 1, 3, 2, 1])


def _linear_multiclass(d=16, k=5, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, k)).astype(np.float32)
    b = rng.normal(size=k).astype(np.float32)
    return linear(w, b), w, b


def _exact_linf_robust(x, y, w, b, eps):
    """A linear model is L∞-robust at x iff for every t ≠ y, max over the box ∩ ball of
    z_t − z_y stays < 0; that max is separable per coordinate."""
    lo, hi = np.maximum(-eps, -x), np.minimum(eps, 1.0 - x)
    robust = []
    for xi, yi, low, high in zip(x, y, lo, hi, strict=True):
        z = xi @ w + b
        ok = z.argmax() == yi
        for t in range(w.shape[1]):
            if t != yi:
                c = w[:, t] - w[:, yi]
                ok &= z[t] - z[yi] + np.sum(np.where(c > 0, c * high, c * low)) < 0
        robust.append(ok)
    return np.array(robust)


def test_finds_the_exact_robust_accuracy_of_a_linear_model():
    model, w, b = _linear_multiclass()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (200, 16)).astype(np.float32)
    y = np.argmax(x @ w + b, -1).astype(np.int32)  # clean accuracy 100%
    eps = 0.08
    exact = _exact_linf_robust(x, y, w, b, eps)
    assert 0.2 < exact.mean() < 0.8  # the case is neither trivial nor hopeless
    # K − 1 = 4 restarts try every target once; each run ends on its target's optimal corner.
    x_adv = multitargeted(model, x, y, eps=eps, restarts=4, steps=20, seed=0)
    mt_robust = np.argmax(model(x_adv), -1) == y
    np.testing.assert_array_equal(mt_robust, exact)
    pgd_robust = np.argmax(model(PGD(model, eps=eps, loss="margin")(x, y)), -1) == y
    assert pgd_robust.mean() >= mt_robust.mean()


def test_more_restarts_never_break_fewer_points():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(64, seed=5)
    broken = {}
    for r in (1, 3):
        x_adv = multitargeted(model, x, y, eps=0.06, restarts=r, steps=10, seed=0)
        broken[r] = np.argmax(model(x_adv), -1) != y
    assert np.all(broken[3] >= broken[1])  # restart r draws the same start whatever the count


def test_at_least_as_strong_as_pgd20_on_a_trained_model():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(128, seed=6)
    eps = 0.06
    clean = _accuracy(model, x, y)
    pgd20 = _accuracy(model, attacks.get("pgd20", model, eps=eps)(x, y), y)
    mt = _accuracy(model, attacks.get("mt", model, eps=eps)(x, y), y)
    assert mt <= pgd20 < clean


def test_one_trace_serves_every_batch_and_subset_size():
    from tfls.attacks.compiling import compiled_functions

    model = trained_tiny_mlp()
    for n in (8, 16, 12, 5):
        x, y = make_prototype_data(n, seed=n)
        multitargeted(model, x, y, eps=0.06, restarts=3, steps=4, seed=0, jit_compile=False)
    (fn,) = [
        f for key, f in compiled_functions(model).items() if key[0] == ("multitargeted", "linf", 4)
    ]
    # The first call traces a concrete shape, the second a batch-free one; no more after that.
    assert fn.experimental_get_tracing_count() <= 2
