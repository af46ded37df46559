"""Properties every exported attack preset must have: inside the ε-ball and [0, 1], ε=0 is the
identity, broken exactly where a linear model's closed form says, config round-trips, bad input
refused."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfls.attacks as attacks
from tests import tiny_models as models

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
def _model(channels: int):
    return models.any_size_conv(channels)


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


@functools.cache
def _defended_model(channels: int):
    """`_model(channels)` behind input noise (random: EOT) and rounding named "q" (BPDA)."""
    from tests.audit.fixtures import Quantise
    from tests.defences import GaussianNoise

    inner = _model(channels)
    return keras.Sequential(
        [keras.Input((None, None, channels)), GaussianNoise(0.05), Quantise(8, name="q"), inner]
    )


@pytest.mark.parametrize("name", PRESET_NAMES)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 4),
    size=st.integers(4, 6),
    channels=st.sampled_from([1, 3]),
    eps_frac=st.floats(0.01, 0.5),
    seed=st.integers(0, 2**16),
    adapt=st.sampled_from([{"eot": 2}, {"bpda": ["q"]}, {"eot": 3, "bpda": "auto"}]),
)
def test_adaptive_output_inside_ball_and_box(name, batch, size, channels, eps_frac, seed, adapt):
    """The same property with EOT and BPDA, on a model both random and non-differentiable."""
    norm = _norm_of(name)
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, channels), dtype=np.float32)
    x[:, 0, 0, :] = 0.0
    x[:, -1, -1, :] = 1.0
    y = rng.integers(0, 10, batch).astype(np.int32)
    eps = eps_frac if norm == "linf" else eps_frac * 4
    attack = _build(name, _defended_model(channels), eps, seed=seed % 1000, **adapt)
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


def _linear_case(seed=0, n=48, shape=(6, 6, 1)):
    """A linear model on 6×6 images whose runner-up is always class 0 or 1 (classes 2 and 3 sit
    1000 logits lower, so DLR and targeted presets have classes to use), points in [0.3, 0.7] so
    the box never binds at the ε used here, labelled with the model's own predictions (so every
    point starts correctly classified and each break shows)."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(shape))
    kernel = np.zeros((d, 4), np.float32)
    kernel[:, :2] = rng.normal(size=(d, 2))
    bias = np.array([0.0, 0.0, -1e3, -1e3], np.float32)
    x = rng.uniform(0.3, 0.7, (n, *shape)).astype(np.float32)
    logits = x.reshape(n, -1) @ kernel + bias
    y = np.argmax(logits, -1).astype(np.int32)
    return models.linear(kernel, bias, input_shape=shape), x, y, kernel, logits


def minimal_adversarial_eps(kernel, logits, y, norm):
    """The closed form for a linear model without box: min over j ≠ y of
    (z_y − z_j) / ‖w_y − w_j‖_*, with ‖·‖_* = L1 for L∞ and L2 for L2."""
    diff = kernel[:, y].T[:, None, :] - kernel.T[None]  # (n, classes, d): w_y − w_j
    dual = np.abs(diff).sum(-1) if norm == "linf" else np.sqrt((diff**2).sum(-1))
    margin = logits[np.arange(len(y)), y][:, None] - logits
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.arange(logits.shape[1])[None] == y[:, None], np.inf, margin / dual)
    return ratio.min(axis=1)


# Where "every point with minimal ε below 0.9·ε is broken" is not a property of the algorithm:
NOT_GUARANTEED = {
    ("cw-l2", "l2"): "CW-L2 minimises ‖δ‖² + c·f with one fixed c and κ = 50 and only then asks "
    "whether it lies within ε: nothing makes it reach every point inside the ball",
    ("tanh-linf", "linf"): "plain gradient steps of fixed size in tanh space slow down as tanh "
    "saturates; the paper's Figure 3 is about exactly how many steps it needs",
    ("square", "l2"): "random search; in L2 the optimum is not one of the vertices it samples, and "
    "5,000 queries miss a few points at 0.9·ε here",
    ("noise", "linf"): "uniform noise is the audit's baseline, not an optimiser: it must never "
    "break an unbreakable point, and is expected to miss most breakable ones",
    ("noise", "l2"): "uniform noise is the audit's baseline, not an optimiser (as for L∞)",
}

# Each preset in its own norm, and the L∞ presets that take `norm="l2"` also in L2.
CLOSED_FORM_CASES = [(n, _norm_of(n)) for n in PRESET_NAMES] + [
    (n, "l2")
    for n in PRESET_NAMES
    if _norm_of(n) == "linf" and attacks.PRESETS[n]["attack"] != "TanhLinf"
]


@pytest.mark.parametrize(
    "name, norm", CLOSED_FORM_CASES, ids=[f"{n}-{m}" for n, m in CLOSED_FORM_CASES]
)
def test_attack_breaks_exactly_where_the_linear_closed_form_says(name, norm):
    """Points whose minimal adversarial ε is below 0.9·ε must be broken, points above ε never."""
    model, x, y, kernel, logits = _linear_case()
    eps = 0.1 if norm == "linf" else 0.4
    over = {} if norm == _norm_of(name) else {"norm": "l2"}
    # Preset defaults, not CHEAP: the claim is about the preset as shipped.
    x_adv = np.asarray(attacks.get(name, model, eps=eps, seed=0, **over)(x, y))
    broken = np.argmax(model(x_adv), -1) != y
    needed = minimal_adversarial_eps(kernel, logits, y, norm)
    breakable, unbreakable = needed < 0.9 * eps, needed > eps * (1 + 1e-4)
    assert breakable.sum() >= 10 and unbreakable.sum() >= 10  # the case has both kinds
    assert not np.any(broken & unbreakable), needed[broken & unbreakable]
    if (name, norm) in NOT_GUARANTEED:
        pytest.skip(NOT_GUARANTEED[(name, norm)])
    missed = breakable & ~broken
    assert not np.any(missed), f"{missed.sum()} of {breakable.sum()} breakable points survived"


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
