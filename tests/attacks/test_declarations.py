"""Every attack is declared once: its function's declaration, its layer's signature, checks and
config agree; presets serialise exactly as before the declarations; old `.keras` files load."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import keras
import numpy as np
import pytest

import tfls.attacks as attacks
from tests.tiny_models import tiny_conv
from tfls.attacks.autoattack import SETTINGS, STANDARD, VERSIONS, build_components
from tfls.attacks.params import Param, declare, positive_int

DATA = Path(__file__).parent / "data"
COMMON = ("eps", "norm", "seed", "jit_compile", "eot", "bpda")
DECLARED = sorted(
    (cls for cls in attacks.ATTACKS.values() if cls.function is not None), key=lambda c: c.__name__
)


def _tiny(seed, classes=10):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(classes)],
        name=f"tiny{seed}",
    )


def test_every_attack_but_transfer_is_declared():
    assert {c.__name__ for c in DECLARED} == set(attacks.ATTACKS) - {"TransferAttack"}


@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.__name__)
def test_declaration_signature_and_config_agree(cls):
    declared = dict(cls.function.params)
    layer_sig = inspect.signature(cls).parameters
    common = ["norm", "seed", "jit_compile", "eot", "bpda"]
    assert list(layer_sig) == ["model", "eps", *declared, *common, "kwargs"]
    for name, param in declared.items():
        assert layer_sig[name].default == param.default
        assert inspect.signature(cls.function).parameters[name].default == param.default
    # The TUI reads the constructor's signature.
    assert set(declared) <= set(inspect.signature(cls.__init__).parameters)

    attack = cls(_tiny(0))
    config = attack.get_config()
    assert set(config) == {"name", "trainable", "dtype", "model", *COMMON, *declared}
    for name, param in declared.items():
        assert getattr(attack, name) == param.validate(param.default, name)
    clone = cls.from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.__name__)
def test_unknown_argument_is_refused(cls):
    with pytest.raises(ValueError, match="stepz"):
        cls(_tiny(0), stepz=3)


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (attacks.MultiTargeted, {"restarts": 0}, "restarts=0"),
        (attacks.ODI, {"odi_steps": -1}, "odi_steps=-1"),
        (attacks.APGD, {"rho": 1.5}, "rho=1.5"),
        (attacks.FAB, {"eta": 0.5}, "eta=0.5"),
        (attacks.FAB, {"beta": 0.0}, "beta=0.0"),
        (attacks.Square, {"p_init": 0.0}, "p_init=0.0"),
        (attacks.CarliniWagnerL2, {"x0": "black"}, "x0='black'"),
        (attacks.TanhLinf, {"optimizer": "rmsprop"}, "optimizer='rmsprop'"),
        (attacks.AutoAttack, {"version": "plus"}, "version"),
        (attacks.AutoAttack, {"attacks": "square"}, "list of component names"),
    ],
)
def test_bad_declared_values_fail_at_construction_and_in_the_function(cls, kwargs, match):
    model = _tiny(0)
    with pytest.raises(ValueError, match=match):
        cls(model, **kwargs)
    x = np.full((2, 4, 4, 1), 0.5, np.float32)
    with pytest.raises(ValueError, match=match):
        cls.function(model, x, np.zeros(2, np.int32), eps=0.1, **kwargs)


def test_declare_refuses_a_default_in_the_function_signature():
    with pytest.raises(TypeError, match="steps"):

        @declare(steps=Param(20, positive_int))
        def attack(model, x, y, *, eps, steps=20):  # the default would be written twice
            return x


def test_preset_configs_are_unchanged():
    """`get_config()` of every preset equals the one recorded before the declarations."""
    recorded = json.loads((DATA / "preset_configs.json").read_text())
    assert sorted(recorded) == sorted(attacks.PRESETS)
    target, source = _tiny(0), _tiny(1)
    for name, spec in attacks.PRESETS.items():
        eps = 8 / 255 if spec.get("norm", "linf") == "linf" else 0.5
        extra = {"source": source} if name.startswith("transfer") else {}
        config = attacks.get(name, target, eps=eps, **extra).get_config()
        config.pop("model", None)
        config.pop("source_model", None)
        if isinstance(config.get("attack"), dict):
            config["attack"]["config"].pop("model", None)
        # Recorded before EOT and BPDA existed: every preset adds them at their defaults.
        held = config["attack"]["config"] if "attack" in config else config
        assert (held.pop("eot"), held.pop("bpda")) == (1, None), name
        assert json.loads(json.dumps(config, sort_keys=True, default=repr)) == recorded[name], name


def test_pgd_saved_by_the_old_layer_loads_and_attacks_the_same():
    """`pgd_pipeline.keras`: a model + PGD layer saved by the hand-written PGD (before #9), with
    `data/make_pgd_pipeline.py`."""
    pipeline = keras.models.load_model(DATA / "pgd_pipeline.keras")
    attack = pipeline.get_layer("pgd")
    assert isinstance(attack, attacks.PGD)
    assert (attack.eps, attack.steps, attack.step_size, attack.restarts) == (0.1, 3, 0.05, 2)
    assert (attack.loss, attack.seed, attack.jit_compile) == ("margin", 7, False)
    x = np.random.default_rng(0).random((5, 4, 4, 1), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1], np.int32)
    logits = np.load(DATA / "pgd_pipeline_logits.npy")
    np.testing.assert_allclose(np.asarray(attack.model(x)), logits, rtol=1e-6, atol=1e-6)
    expected = np.load(DATA / "pgd_pipeline_out.npy")
    np.testing.assert_allclose(np.asarray(attack(x, y)), expected, atol=1e-6)


def test_presets_are_read_only_and_get_copies():
    with pytest.raises(TypeError):
        attacks.PRESETS["pgd20"] = {"attack": "PGD"}
    before = dict(attacks.PRESETS["pgd20"])
    attacks.get("pgd20", _tiny(0), eps=0.1, steps=3)
    assert attacks.PRESETS["pgd20"] == before


def test_autoattack_standard_protocol_is_fixed_in_code():
    assert VERSIONS["standard"] == ("apgd-ce", "apgd-t", "fab-t", "square")
    components = build_components(_tiny(0), eps=8 / 255)
    assert [name for name, _ in components] == list(STANDARD)
    apgd_t = dict(components)["apgd-t"]
    assert (apgd_t.loss, apgd_t.targeted, apgd_t.n_targets, apgd_t.steps) == ("dlr", True, 9, 100)
    square = dict(components)["square"]
    assert (square.n_queries, square.p_init, square.restarts) == (5000, 0.8, 1)
    # The presets of the same names are built from the protocol, not the other way round.
    for name, (cls, settings) in SETTINGS.items():
        assert attacks.PRESETS[name] == {"attack": cls.__name__, **settings}


def test_square_restarts_keep_the_first_answer_unless_a_later_one_succeeds():
    """Square on the shared restart driver: later runs only on still-robust points, and a later
    run replaces the first run's answer only where it succeeds."""
    model = tiny_conv((6, 6, 1), 10, seed=4, filters=4)
    x = np.random.default_rng(4).random((16, 6, 6, 1), dtype=np.float32)
    y = np.argmax(model(x), -1).astype(np.int32)
    kwargs = {"eps": 0.05, "n_queries": 8, "seed": 3, "jit_compile": False}
    first = np.asarray(attacks.square(model, x, y, restarts=1, **kwargs))
    more = np.asarray(attacks.square(model, x, y, restarts=4, **kwargs))
    broken_first = np.argmax(model(first), -1) != y
    broken_more = np.argmax(model(more), -1) != y
    assert 0 < broken_first.sum() < len(y)  # both cases occur
    np.testing.assert_array_equal(more[broken_first], first[broken_first])
    replaced = np.any(more != first, axis=(1, 2, 3))
    assert replaced.any() and not replaced.all()
    assert np.all(broken_more[replaced])  # replaced only by a success
    assert np.all(broken_more >= broken_first)
