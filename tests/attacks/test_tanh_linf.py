"""TanhLinf (the paper's Algorithm 1): constraints, Eq. 15's box semantics, one step in closed
form on a linear model, determinism, config, and that it breaks a trained model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfls.attacks as attacks
from tests.attacks.helpers import small_conv as _model
from tests.tiny_models import linear, make_prototype_data, trained_tiny_mlp
from tfls.attacks import TanhLinf, tanh_linf
from tfls.attacks.tanh_linf import tanh_box


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 4),
    size=st.integers(3, 6),
    eps=st.floats(0.01, 1.0),
    step_size=st.floats(0.0, 50.0),
    seed=st.integers(0, 1000),
)
def test_inside_ball_and_box(batch, size, eps, step_size, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    x[:, 0, 0] = 0.0
    x[:, -1, -1] = 1.0
    y = rng.integers(0, 10, batch).astype(np.int32)
    x_adv = np.asarray(TanhLinf(_model(), eps=eps, steps=5, step_size=step_size)(x, y))
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.abs(x_adv.astype(np.float64) - x).max() <= eps * (1 + 1e-6)


def test_zero_eps_returns_input_and_result_is_deterministic():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(16, seed=3)
    np.testing.assert_array_equal(TanhLinf(model, eps=0.0)(x, y), x)
    attack = TanhLinf(model, eps=0.1, steps=20)
    np.testing.assert_array_equal(attack(x, y), attack(x, y))


def test_config_round_trip_preset_and_l2_refused():
    attack = attacks.get("tanh-linf", _model(), eps=8 / 255)
    assert (attack.steps, attack.step_size, attack.loss) == (500, 0.1, "ce")
    config = attack.get_config()
    assert TanhLinf.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="norm='l2'"):
        TanhLinf(_model(), eps=0.5, norm="l2")


def test_eq15_maps_w_onto_the_clipped_box():
    x = np.array([[0.0, 0.02, 0.5, 0.97, 1.0]], np.float32)
    eps = 0.05
    lo, hi = np.maximum(x - eps, 0), np.minimum(x + eps, 1)
    np.testing.assert_allclose(tanh_box(np.zeros_like(x), lo, hi), (lo + hi) / 2, atol=1e-7)
    np.testing.assert_allclose(tanh_box(np.full_like(x, 20.0), lo, hi), hi, atol=1e-7)
    np.testing.assert_allclose(tanh_box(np.full_like(x, -20.0), lo, hi), lo, atol=1e-7)


def _two_class_linear(d, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d).astype(np.float32)
    kernel = np.zeros((d, 2), np.float32)
    kernel[:, 1] = w
    return linear(kernel, [0.0, -100.0]), w  # always class 0


def test_zero_step_returns_the_box_centre_when_it_beats_x():
    # With η = 0, every iterate is a₀ = the box centre (w = 0). The margin loss z₁ − z₀ = w·a − 100
    # is linear, so a₀ replaces x exactly where it has the higher loss (Algorithm 1, line 7).
    model, w = _two_class_linear(6)
    x = np.array([[0.0, 1.0, 0.01, 0.99, 0.5, 0.5], [1.0, 0.0, 0.99, 0.01, 0.5, 0.5]], np.float32)
    y = np.zeros(2, np.int32)
    eps = 0.1
    centre = (np.maximum(x - eps, 0) + np.minimum(x + eps, 1)) / 2
    got = np.asarray(tanh_linf(model, x, y, eps=eps, steps=3, step_size=0.0, loss="margin"))
    beats = centre @ w > x @ w
    assert beats.any() and not beats.all()  # both branches are exercised
    np.testing.assert_allclose(got, np.where(beats[:, None], centre, x), atol=1e-7)


def test_one_step_is_plain_gradient_descent_on_w():
    # Away from the [0, 1] edges the box is x ± ε and a(w) = x + ε·tanh(w). For the linear margin
    # loss ∇_w loss at w = 0 is ε·w_lin, so one step gives w₁ = η ε w_lin: not a sign step.
    d, eps, eta = 8, 0.05, 3.0
    model, w = _two_class_linear(d, seed=1)
    x = np.random.default_rng(2).uniform(0.2, 0.8, (3, d)).astype(np.float32)
    got = np.asarray(
        tanh_linf(model, x, np.zeros(3, np.int32), eps=eps, steps=1, step_size=eta, loss="margin")
    )
    np.testing.assert_allclose(got, x + eps * np.tanh(eta * eps * w), atol=1e-6)


def test_breaks_a_trained_model():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(128, seed=6)
    clean = float(np.mean(np.argmax(model(x), -1) == y))
    robust = float(
        np.mean(np.argmax(model(attacks.get("tanh-linf", model, eps=0.1)(x, y)), -1) == y)
    )
    assert robust <= clean - 0.2, (clean, robust)


def test_one_adam_step_moves_w_by_eta_along_the_gradient_sign():
    # Adam's first step is η·m̂/√v̂ = η·sign(g): on the linear margin, w₁ = η·sign(w_lin).
    d, eps, eta = 8, 0.05, 0.5
    model, w = _two_class_linear(d, seed=1)
    x = np.random.default_rng(2).uniform(0.2, 0.8, (3, d)).astype(np.float32)
    got = tanh_linf(
        model,
        x,
        np.zeros(3, np.int32),
        eps=eps,
        steps=1,
        step_size=eta,
        loss="margin",
        optimizer="adam",
    )
    np.testing.assert_allclose(np.asarray(got), x + eps * np.tanh(eta * np.sign(w)), atol=1e-5)


def test_adam_reading_is_stronger_at_a_fifth_of_the_steps():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(128, seed=6)

    def robust(name):
        x_adv = attacks.get(name, model, eps=0.1)(x, y)
        return float(np.mean(np.argmax(model(x_adv), -1) == y))

    assert robust("tanh-linf-adam") < robust("tanh-linf")
