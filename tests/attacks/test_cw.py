"""Carlini-Wagner L2: constraints, the objective's closed form, the black-image start, ε as the
success radius, and agreement with cleverhans 4's `carlini_wagner_l2` on a trained model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfls.attacks as attacks
from tests.attacks.helpers import small_conv as _model
from tests.tiny_models import linear, make_prototype_data, trained_tiny_mlp
from tfls.attacks import CarliniWagnerL2, carlini_wagner_l2
from tfls.attacks.cw import ZERO_START_PIXEL, cw_l2_search, cw_objective_f


def _l2(x_adv, x):
    d = (np.asarray(x_adv, np.float64) - np.asarray(x, np.float64)).reshape(len(x), -1)
    return np.sqrt((d**2).sum(1))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 4),
    size=st.integers(3, 6),
    eps=st.floats(0.05, 3.0),
    x0=st.sampled_from(["input", "zero"]),
    seed=st.integers(0, 1000),
)
def test_inside_ball_and_box(batch, size, eps, x0, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    x[:, 0, 0] = 0.0
    x[:, -1, -1] = 1.0
    model = _model()
    y = np.argmax(model(x), -1).astype(np.int32)
    attack = CarliniWagnerL2(
        model, eps=eps, max_iterations=20, binary_search_steps=2, initial_const=10.0, x0=x0
    )
    x_adv = np.asarray(attack(x, y))
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.all(_l2(x_adv, x) <= eps * (1 + 1e-5) + 1e-7)


def test_zero_eps_returns_input_and_result_is_deterministic():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(16, seed=3)
    np.testing.assert_array_equal(CarliniWagnerL2(model, eps=0.0)(x, y), x)
    attack = CarliniWagnerL2(model, eps=1.0, max_iterations=30, binary_search_steps=2)
    np.testing.assert_array_equal(attack(x, y), attack(x, y))


def test_config_round_trip_preset_and_linf_refused():
    attack = attacks.get("cw-l2", _model(), eps=140 / 255)
    assert (attack.norm, attack.confidence, attack.initial_const, attack.x0) == (
        "l2",
        50.0,
        0.1,
        "zero",
    )
    assert attack.binary_search_steps == 1
    config = attack.get_config()
    assert CarliniWagnerL2.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="L2 attack.*norm='linf'"):
        CarliniWagnerL2(_model(), eps=0.1, norm="linf")
    with pytest.raises(ValueError, match="x0"):
        CarliniWagnerL2(_model(), eps=0.1, x0="black")
    with pytest.raises(ValueError, match="confidence"):
        CarliniWagnerL2(_model(), eps=0.1, confidence=float("nan"))


@pytest.mark.parametrize("kappa, expected", [(0.0, 1.0), (-50.0, 0.0), (50.0, 51.0), (-0.5, 0.5)])
def test_objective_f_with_confidence(kappa, expected):
    # z_y − max_{i≠y} z_i = 3 − 2 = 1; f = max(1 + κ, 0) (the paper's max(1, −κ) shifted by κ).
    f, _, _ = cw_objective_f(np.array([[1.0, 3.0, 2.0]], np.float32), np.array([1]), kappa)
    np.testing.assert_allclose(f, [expected])


def test_black_image_start_and_eps_as_success_radius():
    # A model that calls the black image class 1 and brighter images class 0: starting from
    # x0 = "zero" the very first iterate (p = ZERO_START_PIXEL) is already misclassified.
    kernel = np.zeros((16, 2), np.float32)
    kernel[:, 0] = 1.0
    model = linear(kernel, [0.0, 1.0], input_shape=(4, 4, 1))
    x = np.full((2, 4, 4, 1), 0.5, np.float32)
    y = np.zeros(2, np.int32)
    kw = dict(max_iterations=1, binary_search_steps=1, x0="zero")
    x_best, dist = cw_l2_search(model, x, y, **kw)
    np.testing.assert_allclose(x_best, ZERO_START_PIXEL, atol=1e-6)
    # Measured to the original x, not to the start: ‖x − p₀‖₂ = 4 · (0.5 − p₀).
    np.testing.assert_allclose(dist, 4 * (0.5 - ZERO_START_PIXEL), atol=1e-5)
    np.testing.assert_allclose(carlini_wagner_l2(model, x, y, eps=2.0, **kw), x_best)
    np.testing.assert_array_equal(carlini_wagner_l2(model, x, y, eps=1.98, **kw), x)
    # From the input the first iterate is x itself (class 0): nothing found in one step.
    _, dist = cw_l2_search(model, x, y, max_iterations=1, binary_search_steps=1, x0="input")
    assert np.all(np.isinf(dist))


def test_black_image_start_is_not_stalled_by_abort_early():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(64, seed=7)
    clean = float(np.mean(np.argmax(model(x), -1) == y))
    x_adv = attacks.get("cw-l2", model, eps=140 / 255)(x, y)  # x0="zero", abort_early=True
    assert float(np.mean(np.argmax(model(x_adv), -1) == y)) <= clean - 0.1


class _Keras3Adam:
    """cleverhans 4 resets `optimizer.variables()` between binary-search steps; under Keras 3 that
    is a list property, it includes the learning rate (reset to 0 there) and an optimizer cannot
    be reused with a new variable. This shim restores the TF-2.x behaviour cleverhans expects."""

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate
        self.var = None
        self.opt = keras.optimizers.Adam(learning_rate, epsilon=1e-8)

    def variables(self):
        return [v for v in self.opt.variables if v.name != "learning_rate"]

    def apply_gradients(self, grads_and_vars):
        if grads_and_vars[0][1] is not self.var:
            self.var = grads_and_vars[0][1]
            self.opt = keras.optimizers.Adam(self.learning_rate, epsilon=1e-8)
        return self.opt.apply_gradients(grads_and_vars)


def _cleverhans_cw(model, x, *, const, batch_size, **kwargs):
    from cleverhans.tf2.attacks.carlini_wagner_l2 import CarliniWagnerL2 as Reference

    # cleverhans 4 broadcasts its (batch, H, W, C)-shaped `const` against the (batch,) loss and
    # sums: every example's c is multiplied by batch_size·H·W·C (exact while c is uniform: one
    # binary-search step, or batch_size=1). Dividing undoes it. Its labels are the model's own
    # predictions (passing y would make it targeted), equal to y on correctly classified points.
    scale = batch_size * int(np.prod(x.shape[1:]))
    ref = Reference(
        model, batch_size=batch_size, initial_const=const / scale, confidence=0.0, **kwargs
    )
    ref.optimizer = _Keras3Adam(kwargs["learning_rate"])
    return ref.attack(x)


def _robust_accuracy(model, x, y, x_adv, eps):
    ok = (np.argmax(model(x), -1) == y) & ~(
        (np.argmax(model(x_adv), -1) != y) & (_l2(x_adv, x) <= eps)
    )
    return float(ok.mean())


def test_matches_cleverhans_with_a_fixed_constant():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(64, seed=7)
    settings_ = dict(
        binary_search_steps=1, max_iterations=100, learning_rate=0.01, abort_early=False
    )
    ours, _ = cw_l2_search(model, x, y, initial_const=0.1, x0="input", **settings_)
    ref = _cleverhans_cw(model, x, const=0.1, batch_size=64, **settings_)
    clean = float(np.mean(np.argmax(model(x), -1) == y))
    for eps in (0.3, 0.6, 1.0):
        a, b = _robust_accuracy(model, x, y, ours, eps), _robust_accuracy(model, x, y, ref, eps)
        assert abs(a - b) <= 0.02, (eps, a, b)
    assert _robust_accuracy(model, x, y, ours, 1.0) < clean - 0.1  # the comparison is not vacuous


@pytest.mark.slow
def test_matches_cleverhans_with_binary_search_and_abort_early():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(64, seed=8)
    settings_ = dict(
        binary_search_steps=3, max_iterations=100, learning_rate=0.01, abort_early=True
    )
    ours, _ = cw_l2_search(model, x, y, initial_const=0.01, x0="input", **settings_)
    # batch_size=1: cleverhans' early abort then watches one example's loss, as ours does.
    ref = _cleverhans_cw(model, x, const=0.01, batch_size=1, **settings_)
    for eps in (0.3, 0.6, 1.0):
        a, b = _robust_accuracy(model, x, y, ours, eps), _robust_accuracy(model, x, y, ref, eps)
        assert abs(a - b) <= 0.02, (eps, a, b)


def test_one_trace_serves_every_batch_size():
    from tfls.attacks.compiling import compiled_functions

    model = trained_tiny_mlp()
    for n in (8, 16, 12, 5):
        x, y = make_prototype_data(n, seed=n)
        cw_l2_search(model, x, y, max_iterations=7, binary_search_steps=2, jit_compile=False)
    (fn,) = [f for key, f in compiled_functions(model).items() if key[0] == ("cw-l2", 7, True)]
    assert fn.experimental_get_tracing_count() <= 2
