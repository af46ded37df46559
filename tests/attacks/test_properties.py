"""Properties every exported attack preset must have: inside the ε-ball and [0, 1], ε=0 is the
identity, robust accuracy never above clean accuracy, config round-trips, bad input refused."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfls.attacks as attacks

# Cheap settings per preset so the property test covers every preset in seconds. Anything not
# listed runs with its preset defaults, which must then be cheap enough already.
CHEAP = {
    "mt": {"restarts": 3, "steps": 3},
    "odi": {"restarts": 2, "steps": 3},
    "apgd-ce": {"steps": 5},
    "apgd-dlr": {"steps": 5},
    "apgd-t": {"steps": 5, "n_targets": 2},
    "fab-t": {"steps": 5, "n_targets": 2},
    "square": {"n_queries": 20},
    "autoattack": {"cheap": True},
    "cw-l2": {"max_iterations": 10, "binary_search_steps": 2},
    "tanh-linf": {"steps": 5},
    "tanh-linf-adam": {"steps": 5},
}


def _overrides(name):
    over = dict(CHEAP.get(name, {}))
    if over.pop("cheap", False):
        over["overrides"] = {
            k: v for k, v in CHEAP.items() if k in ("apgd-ce", "apgd-t", "fab-t", "square")
        }
    return over


def _norm_of(name):
    spec = attacks.PRESETS[name]
    return spec.get("norm", "linf")


@functools.cache
def _model(channels: int, num_classes: int = 10):
    keras.utils.set_random_seed(channels)
    return keras.Sequential(
        [
            keras.Input((None, None, channels)),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(num_classes),
        ]
    )


def _build(name, model, eps, **extra):
    try:
        return attacks.get(name, model, eps=eps, **_overrides(name), **extra)
    except TypeError as e:  # a CHEAP key the attack does not take: fail loudly, naming it
        raise AssertionError(f"preset {name!r} rejected its cheap overrides: {e}") from e


def _distance(x_adv, x, norm):
    d = np.asarray(x_adv, np.float64) - np.asarray(x, np.float64)
    d = d.reshape(d.shape[0], -1)
    return np.abs(d).max(axis=1) if norm == "linf" else np.sqrt((d**2).sum(axis=1))


PRESET_NAMES = sorted(n for n in attacks.PRESETS if not n.startswith("transfer"))


@pytest.mark.parametrize("name", PRESET_NAMES)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 5),
    size=st.integers(4, 7),
    channels=st.sampled_from([1, 3]),
    eps_frac=st.floats(0.01, 0.5),
    seed=st.integers(0, 2**16),
)
def test_output_inside_ball_and_box(name, batch, size, channels, eps_frac, seed):
    norm = _norm_of(name)
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, channels), dtype=np.float32)
    # Some pixels sit on the box boundary, where projection bugs show.
    x[:, 0, 0, :] = 0.0
    x[:, -1, -1, :] = 1.0
    y = rng.integers(0, 10, batch).astype(np.int32)
    eps = eps_frac if norm == "linf" else eps_frac * 4
    attack = _build(name, _model(channels), eps, seed=seed % 1000)
    x_adv = np.asarray(attack(x, y))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert np.all(x_adv >= 0.0) and np.all(x_adv <= 1.0)
    assert np.all(_distance(x_adv, x, norm) <= eps * (1 + 1e-5) + 1e-6)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_zero_eps_returns_input(name):
    rng = np.random.default_rng(1)
    x = rng.random((4, 6, 6, 1), dtype=np.float32)
    y = rng.integers(0, 10, 4).astype(np.int32)
    x_adv = _build(name, _model(1), 0.0)(x, y)
    np.testing.assert_array_equal(np.asarray(x_adv), x)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_robust_accuracy_not_above_clean(name):
    rng = np.random.default_rng(2)
    x = rng.random((16, 6, 6, 3), dtype=np.float32)
    model = _model(3)
    # Label each point with the model's own prediction: clean accuracy 100%, so any success shows.
    y = np.argmax(model(x), -1).astype(np.int32)
    eps = 0.3 if _norm_of(name) == "linf" else 2.0
    x_adv = _build(name, model, eps)(x, y)
    clean = np.mean(np.argmax(model(x), -1) == y)
    robust = np.mean(np.argmax(model(x_adv), -1) == y)
    assert robust <= clean


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_config_round_trip(name):
    attack = _build(name, _model(1), 0.1 if _norm_of(name) == "linf" else 1.0)
    config = attack.get_config()
    clone = type(attack).from_config(config)
    assert clone.get_config() == config


def test_every_exported_attack_is_a_layer_with_a_preset():
    for cls in attacks.ATTACKS.values():
        assert issubclass(cls, keras.layers.Layer)
    used = {spec["attack"] for spec in attacks.PRESETS.values()}
    assert used <= set(attacks.ATTACKS), used - set(attacks.ATTACKS)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eps": -0.1}, "eps=-0.1"),
        ({"eps": 8.0}, "8/255"),
        ({"eps": 0.1, "norm": "l1"}, "norm"),
        ({"eps": 0.1, "loss": "hinge"}, "loss"),
        ({"eps": 0.1, "steps": 0}, "steps=0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        attacks.PGD(_model(1), **kwargs)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="pgd20"):
        attacks.get("pgd-21", _model(1), eps=0.1)


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.full((2, 6, 6, 1), 2.0, np.float32), np.zeros(2, np.int32), r"\[0, 1\]"),
        (np.full((2, 6, 6, 1), 0.5, np.float32), np.array([0, 10], np.int32), "Labels must lie"),
        (np.full((2, 6, 6, 1), 0.5, np.float32), np.zeros(3, np.int32), "same batch size"),
        (np.full((2, 6, 6, 1), 128, np.uint8), np.zeros(2, np.int32), "floating point"),
    ],
)
def test_bad_inputs_are_refused_before_work(x, y, match):
    with pytest.raises(ValueError, match=match):
        attacks.PGD(_model(1), eps=0.1)(x, y)


def test_softmax_model_is_refused():
    probs = keras.Sequential([_model(1), keras.layers.Softmax()])
    x = np.full((2, 6, 6, 1), 0.5, np.float32)
    with pytest.raises(ValueError, match="probabilities"):
        attacks.PGD(probs, eps=0.1)(x, np.zeros(2, np.int32))


def test_attack_inside_a_functional_model():
    model = _model(1)
    x_in = keras.Input((6, 6, 1))
    y_in = keras.Input((), dtype="int32")
    x_adv = attacks.PGD(model, eps=0.1, steps=3)(x_in, y_in)
    adv_logits = model(x_adv)
    pipeline = keras.Model([x_in, y_in], adv_logits)
    x = np.random.default_rng(0).random((3, 6, 6, 1), dtype=np.float32)
    out = pipeline([x, np.zeros(3, np.int32)])
    assert tuple(out.shape) == (3, 10)
    assert tf.reduce_all(tf.math.is_finite(out))
