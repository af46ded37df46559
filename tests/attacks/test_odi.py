"""ODI: constraints, determinism, config, the ODI step's closed form on a linear model, nested
restarts, and strength against PGD on the same budget per restart."""

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
from tfls.attacks import ODI, odi
from tfls.attacks.odi import odi_init


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
    x_adv = np.asarray(ODI(_model(), eps=eps, norm=norm, restarts=2, steps=3, seed=seed)(x, y))
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.all(_distance(x_adv, x, norm) <= eps * (1 + 1e-5) + 1e-7)


def test_zero_eps_returns_input():
    x, y = make_prototype_data(6, seed=3)
    np.testing.assert_array_equal(ODI(_model(), eps=0.0)(x, y), x)


def test_seed_fixes_the_result():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(32, seed=4)

    def run(seed):
        return np.asarray(odi(model, x, y, eps=0.1, restarts=2, steps=5, seed=seed))

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_config_round_trip_and_preset():
    attack = attacks.get("odi", _model(), eps=8 / 255, seed=3)
    assert (attack.restarts, attack.odi_steps, attack.steps, attack.loss) == (20, 2, 20, "margin")
    assert attack.step_size == pytest.approx(8 / 255 / 10)
    assert attack.odi_step_size is None  # ε, resolved at call time
    config = attack.get_config()
    assert ODI.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="loss"):
        ODI(_model(), eps=0.1, loss="hinge")


def test_odi_steps_follow_sign_of_w_times_jacobian_on_a_linear_model():
    # f(x) = Wᵀx + b ⇒ ∇ₓ wᵀf(x) = W w: a constant direction; two steps of ε from anywhere in
    # the ball end on the corner x + ε·sign(W w), clipped to [0, 1].
    rng = np.random.default_rng(0)
    d, k = 12, 5
    kernel = rng.normal(size=(d, k)).astype(np.float32)
    model = linear(kernel)
    x = rng.uniform(0, 1, (6, d)).astype(np.float32)
    eps = 0.1
    start = np.clip(x + rng.uniform(-eps, eps, x.shape), 0, 1).astype(np.float32)
    w = rng.uniform(-1, 1, (6, k)).astype(np.float32)
    got = odi_init(model, x, start, w, eps=eps, odi_steps=2, odi_step_size=eps, norm="linf")
    expected = np.clip(x + eps * np.sign(w @ kernel.T), 0, 1)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_more_restarts_never_break_fewer_points():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(64, seed=5)
    broken = {}
    for r in (1, 3):
        x_adv = odi(model, x, y, eps=0.06, restarts=r, steps=10, seed=0)
        broken[r] = np.argmax(model(x_adv), -1) != y
    assert np.all(broken[3] >= broken[1])


def test_at_least_as_strong_as_pgd_cw_on_a_trained_model():
    model = trained_tiny_mlp()
    x, y = make_prototype_data(128, seed=6)
    eps = 0.06
    clean = _accuracy(model, x, y)
    pgd_cw = _accuracy(model, attacks.get("pgd-cw", model, eps=eps)(x, y), y)
    odi_acc = _accuracy(model, attacks.get("odi", model, eps=eps)(x, y), y)
    assert odi_acc <= pgd_cw < clean
