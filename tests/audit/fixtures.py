"""Tiny models with known gradient-masking defects, and controls, for the audit's tests and bench.

Every masked fixture is one small classifier on 8×8 synthetic prototype images
(`tests.tiny_models.make_prototype_data`) with one defect added: a layer before it, after it or
inside it, a loss it was compiled with, or the surrogate the audit is given. `FIXTURES` says, for
each, how it is built, its ε, how many points are audited, which surrogate checks 8 and 16 get,
and (`EXPECTED`) the checks that must fire on it and its verdict; `PINNED` holds, per budget, the
exact set of checks that fire (evidence checks significant after Holm, diagnostics warn or
fail) and the verdict, as `tests/audit/test_verdicts.py` asserts and `python -m tfls.bench.detection`
tabulates.

The controls (`CONTROLS`) must come out `no masking found` at `quick` and `standard`: the natural
tiny MLP and a Madry-trained one, each over training seeds 0, 1 and 2, on 300 points at
ε = `CONTROL_EPS` = 0.1, where PGD-20 leaves ~33% (natural) and ~50% (Madry) of the points robust.

Nothing here depends on the audit's API (only on Keras and `tfls.training.methods.madry_examples`),
so the bench can feed the same models to the audit before its rebuild (`--before-after`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tests.tiny_models import make_prototype_data, tiny_mlp, trained_tiny_mlp

# The ε of `tests/eval/test_checks.py`'s cheap checks on these fixtures (the natural MLP keeps ~3%
# of the points at 0.15); the audit's fixtures each state their own (`FIXTURES`).
EPS = float(os.environ.get("AUDIT_EPS", "0.15"))
INPUT = (8, 8, 1)
DATA_SEED = 2  # the audited points
SURROGATE_DATA_SEED = 3  # the standard surrogate's training images
CONTROL_EPS = 0.1
CONTROL_N = 300
FIXTURE_N = 128
SEEDS = (0, 1, 2)


@keras.saving.register_keras_serializable(package="tfls_tests")
class ZeroGradient(keras.layers.Layer):
    """Identity forward, zero gradient backward (`tf.custom_gradient`)."""

    def call(self, x):
        @tf.custom_gradient
        def identity(t):
            return tf.identity(t), lambda dy: tf.zeros_like(dy)

        return identity(x)


@keras.saving.register_keras_serializable(package="tfls_tests")
class Quantise(keras.layers.Layer):
    """Rounds inputs to `levels` steps: piecewise constant, so gradients are shattered."""

    def __init__(self, levels=4, **kwargs):
        super().__init__(**kwargs)
        self.levels = levels

    def call(self, x):
        return tf.round(x * self.levels) / self.levels

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


@keras.saving.register_keras_serializable(package="tfls_tests")
class AlwaysDropout(keras.layers.Layer):
    """Dropout that stays on at inference (a random model)."""

    def __init__(self, rate=0.3, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return keras.random.dropout(x, self.rate, seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfls_tests")
class Scale(keras.layers.Layer):
    """Multiplies by a constant (logits × 1e4 saturate the softmax)."""

    def __init__(self, factor=1e4, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="tfls_tests")
class InputNoise(keras.layers.Layer):
    """Adds N(0, `stddev`²) to every pixel at every call, at inference too (a random model)."""

    def __init__(self, stddev=0.1, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return x + self.stddev * keras.random.normal(tf.shape(x), seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


def data(n=64, seed=DATA_SEED):
    """`n` synthetic prototype images (the natural MLP gets ~99% of them right)."""
    return make_prototype_data(n, seed=seed)


def _wrap(name, before=(), after=()):
    base = trained_tiny_mlp()
    return keras.Sequential([keras.Input(INPUT), *before, base, *after], name=name)


_LS: dict = {}


def label_smoothing_model(alpha=0.9, seed=0, epochs=10):
    """A small MLP trained and compiled with `CategoricalCrossentropy(label_smoothing=alpha)`.

    The default 10 epochs leave it at ~68% clean accuracy (check 15's honest control); the
    audit's fixture trains 30 (~96%), so PGD-20 leaves enough points robust to test the gap.
    """
    key = (alpha, seed, epochs)
    if key in _LS:
        return _LS[key]
    keras.utils.set_random_seed(seed)
    x, y = make_prototype_data(512, seed=1)
    model = keras.Sequential(
        [
            keras.Input(INPUT),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="label_smoothing_loss",
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=alpha),
    )
    model.fit(x, keras.utils.to_categorical(y, 10), epochs=epochs, batch_size=64, verbose=0)
    if epochs != 10:
        _LS[key] = model  # the default keeps building a fresh model, as it always did
    return model


_MADRY: dict = {}


def madry_model(seed=0, *, eps=0.1, steps=10, epochs=30, hidden=64):
    """A tiny MLP adversarially trained (Madry et al. 2018: CE on PGD-`steps` examples at L∞
    `eps`, step 2.5·eps/steps, random start) on 512 prototype images; ~1 s, cached.

    At ε = 0.1 on `data(300)`: clean ~99%, PGD-20 ~50%, APGD-CE/DLR ~48% (seed 0).
    """
    key = (seed, eps, steps, epochs, hidden)
    if key not in _MADRY:
        from tests.audit.lying_fixtures import madry_mlp

        _MADRY[key] = madry_mlp(eps=eps, steps=steps, epochs=epochs, seed=seed, hidden=hidden)
    return _MADRY[key]


def bumpy_model():
    """The natural MLP behind x + 0.05·sin(100·x): a honest gradient (the wiggle is far slower
    than check 15's finite-difference step, ω·h = 0.02) but a loss surface with ~16 bumps per
    pixel across the ε = 0.1 ball, so where an attack ends depends on its start and budget."""
    from tests.audit.lying_fixtures import Shattered

    return _wrap("bumpy_input", before=[Shattered(0.05, 100.0, name="bumpy")])


def random_surrogate():
    """An untrained `tiny_mlp` (random weights): a surrogate unrelated to any target."""
    return tiny_mlp(INPUT, 10, hidden=64, seed=7)


def _lying(name):
    def make():
        from tests.audit.lying_fixtures import lying

        return lying(name)

    return make


def _old(name):
    """The fixtures of the first audit, by their old names (`build`)."""
    if name == "control":
        return trained_tiny_mlp()
    if name == "zero-gradient":
        return _wrap("zero_gradient", before=[ZeroGradient()])
    if name == "quantised-input":
        return _wrap("quantised_input", before=[Quantise(4)])
    if name == "dropout-at-inference":
        return _wrap("dropout_at_inference", before=[AlwaysDropout(0.3)])
    if name == "saturated-logits":
        return _wrap("saturated_logits", after=[Scale(1e4)])
    if name == "softmax-output":
        return _wrap("softmax_output", after=[keras.layers.Softmax()])
    if name == "label-smoothing-loss":
        return label_smoothing_model(0.9, epochs=30)
    raise KeyError(name)


@dataclass(frozen=True)
class Fixture:
    """One audited case.

    Attributes:
        name: its name (the key of `FIXTURES`).
        make: builds the model (a fresh wrapper per call; trained parts are cached).
        defect: what is wrong with it, in words.
        eps: the L∞ radius it is audited at. n: the audited points, `data(n)`.
        surrogate: `"standard"` (`surrogate()`), `"random"` (`random_surrogate()`) or None.
        checks: the checks it is there to fire (the "positive fixture" of each); those of them a
            budget runs must fire at that budget (`must_fire`).
        verdict: the verdict it must get at every budget, or `{budget: verdict}` where the
            budgets differ (`quick` runs fewer attacks: where it finds no significant gap but an
            evidence check, `suspicious` is its right answer).
        control: a control (must come out `no masking found`).
        seed: the training seed (controls).
    """

    name: str
    make: Callable[[], keras.Model]
    defect: str
    eps: float = 0.1
    n: int = FIXTURE_N
    surrogate: str | None = "standard"
    checks: tuple[int, ...] = ()
    verdict: str | dict = "overestimated"
    control: bool = False
    seed: int = 0

    def expected_verdict(self, budget: str) -> str:
        return self.verdict if isinstance(self.verdict, str) else self.verdict[budget]

    def must_fire(self, checks) -> tuple[int, ...]:
        """The checks of `checks` (a budget's) this fixture must fire."""
        return tuple(c for c in self.checks if c in checks)

    def model(self):
        return self.make()

    def points(self):
        return data(self.n)

    def surrogate_model(self):
        if self.surrogate == "standard":
            return surrogate()
        if self.surrogate == "random":
            return random_surrogate()
        return None

    def kwargs(self) -> dict:
        """`audit(model, points, **kwargs)` for this case (ε, surrogate)."""
        out = {"eps": self.eps}
        if self.surrogate is not None:
            out["surrogate"] = self.surrogate_model()
        return out


def _f(name, make, defect, checks, verdict="overestimated", **kw):
    return Fixture(name, make, defect, checks=tuple(checks), verdict=verdict, **kw)


_FIXTURES = [
    _f(
        "softmax-output",
        lambda: _old("softmax-output"),
        "softmax as the last layer",
        (1,),
        "no masking found",
    ),
    _f(
        "dropout-at-inference",
        lambda: _old("dropout-at-inference"),
        "dropout (rate 0.3) left on at inference, before the MLP",
        (2, 6, 17),
    ),
    _f(
        "input-noise",
        lambda: _wrap("input_noise", before=[InputNoise(0.1, seed=0)]),
        "Gaussian noise (σ = 0.1) added to the input at inference",
        (2, 13),
    ),
    _f(
        "label-smoothing-loss",
        lambda: _old("label-smoothing-loss"),
        "trained and compiled with label smoothing α = 0.9 (flat logits)",
        (3, 5),
        {"quick": "suspicious", "standard": "overestimated"},
    ),
    _f(
        "zero-gradient",
        lambda: _old("zero-gradient"),
        "identity forward, zero gradient backward, before the MLP",
        (4, 7, 8, 10, 17),
    ),
    _f(
        "quantised-input",
        lambda: _old("quantised-input"),
        "inputs rounded to 4 levels (tf.round: no gradient)",
        (4, 9, 17),
        eps=0.15,
    ),
    _f(
        "saturated-logits",
        lambda: _old("saturated-logits"),
        "logits × 1e4: float32 softmax saturates, CE gradients vanish",
        (4, 5, 14),
    ),
    _f(
        "bumpy-input",
        bumpy_model,
        "x + 0.05·sin(100·x) before the MLP: bumps at the scale of ε",
        (11, 18),
    ),
    _f(
        "unrelated-surrogate",
        trained_tiny_mlp,
        "the natural MLP, given an untrained (random) surrogate",
        (16,),
        "no masking found",
        surrogate="random",
    ),
    _f("reversed", _lying("reversed"), "backward pass reversed (−dy)", (15,)),
    _f(
        "noisy-backward",
        _lying("noisy"),
        "backward dy plus noise 10× its RMS, inside the MLP",
        (15,),
    ),
    _f("rescaled-down", _lying("rescaled-down"), "backward dy × 1e-3", (15,), "suspicious"),
    _f("rescaled-up", _lying("rescaled-up"), "backward dy × 1e3", (15,), "suspicious"),
    _f("shattered", _lying("shattered"), "x + 0.02·sin(20000·x): shattered gradients", (15,)),
    _f(
        "partial-stop-gradient",
        _lying("half-stopped"),
        "no gradient reaches the left half of the image's columns",
        (15,),
    ),
    _f(
        "stopped-branch",
        _lying("stopped-branch"),
        "one of two branches behind stop_gradient",
        (15,),
        {"quick": "suspicious", "standard": "overestimated"},
    ),
    _f(
        "control",
        trained_tiny_mlp,
        "none (the natural MLP behind every wrapper)",
        (),
        "no masking found",
    ),
]
FIXTURES: dict[str, Fixture] = {f.name: f for f in _FIXTURES}

CONTROLS: dict[str, Fixture] = {}
for _seed in SEEDS:
    CONTROLS[f"natural-s{_seed}"] = Fixture(
        f"natural-s{_seed}",
        (lambda s=_seed: trained_tiny_mlp(seed=s)),
        "none: natural training",
        eps=CONTROL_EPS,
        n=CONTROL_N,
        verdict="no masking found",
        control=True,
        seed=_seed,
    )
    CONTROLS[f"madry-s{_seed}"] = Fixture(
        f"madry-s{_seed}",
        (lambda s=_seed: madry_model(s)),
        "none: Madry PGD-10 training at ε = 0.1",
        eps=CONTROL_EPS,
        n=CONTROL_N,
        verdict="no masking found",
        control=True,
        seed=_seed,
    )
CASES: dict[str, Fixture] = {**FIXTURES, **CONTROLS}

# fixture -> (the checks that must fire on it, the verdict it must get): the proof table.
EXPECTED = {name: (f.checks, f.verdict) for name, f in CASES.items()}

# budget -> fixture -> (the exact checks that fire, the verdict), measured at the fixture's ε and
# n with `python -m tfls.bench.detection` (XLA off; 2 CPU cores, TF 2.21). Evidence checks count when
# significant after Holm; diagnostics when they warn or fail.
# Checks 16 and 18 (diagnostics) fire on every case at `standard`, the controls included: PGD-20
# transfers poorly between two tiny MLPs (check 16: 69-72% of what fools the surrogate does not
# fool the target) and the strongest attack's five runs disagree on 4-9% of the points (check 18
# warns above 1%). They are pinned as measured; they never decide the verdict.
PINNED: dict[str, dict[str, tuple[tuple[int, ...], str]]] = {
    "quick": {
        "softmax-output": ((1,), "no masking found"),
        "dropout-at-inference": ((2, 6, 10, 13, 17), "overestimated"),
        "input-noise": ((2, 6, 10, 13), "overestimated"),
        "label-smoothing-loss": ((3, 5, 17), "suspicious"),
        "zero-gradient": ((4, 7, 10, 15, 17), "overestimated"),
        "quantised-input": ((4, 7, 10, 13, 15, 17), "overestimated"),
        "saturated-logits": ((4, 5, 7, 10, 17), "overestimated"),
        "bumpy-input": ((7, 10, 13), "overestimated"),
        "unrelated-surrogate": ((), "no masking found"),
        "reversed": ((7, 10, 15, 17), "overestimated"),
        "noisy-backward": ((15, 17), "overestimated"),
        "rescaled-down": ((15,), "suspicious"),
        "rescaled-up": ((15,), "suspicious"),
        "shattered": ((7, 10, 15, 17), "overestimated"),
        "partial-stop-gradient": ((7, 15, 17), "overestimated"),
        "stopped-branch": ((15, 17), "suspicious"),
        "control": ((), "no masking found"),
        **{
            f"{kind}-s{s}": ((), "no masking found") for kind in ("natural", "madry") for s in SEEDS
        },
    },
    "standard": {
        "softmax-output": ((1, 16, 18), "no masking found"),
        "dropout-at-inference": ((2, 6, 10, 13, 17), "overestimated"),
        "input-noise": ((2, 6, 13, 16), "overestimated"),
        "label-smoothing-loss": ((3, 5, 14, 16, 18), "overestimated"),
        "zero-gradient": ((4, 7, 8, 10, 15, 16, 17, 18), "overestimated"),
        "quantised-input": ((4, 7, 8, 9, 10, 13, 15, 16, 17, 18), "overestimated"),
        "saturated-logits": ((4, 5, 10, 14, 16, 18), "overestimated"),
        "bumpy-input": ((7, 10, 11, 13, 16, 18), "overestimated"),
        "unrelated-surrogate": ((16, 18), "no masking found"),
        "reversed": ((7, 10, 14, 15, 16, 17, 18), "overestimated"),
        "noisy-backward": ((7, 15, 16, 17, 18), "overestimated"),
        "rescaled-down": ((15, 16, 18), "suspicious"),
        "rescaled-up": ((15, 16, 18), "suspicious"),
        "shattered": ((7, 8, 10, 15, 16, 17, 18), "overestimated"),
        "partial-stop-gradient": ((7, 8, 15, 16, 17, 18), "overestimated"),
        "stopped-branch": ((7, 15, 16, 17, 18), "overestimated"),
        "control": ((16, 18), "no masking found"),
        **{
            f"{kind}-s{s}": ((16, 18), "no masking found")
            for kind in ("natural", "madry")
            for s in SEEDS
        },
    },
}


def build(name: str):
    """The model of fixture or control `name` (a key of `CASES`, or an old name)."""
    if name in CASES:
        return CASES[name].model()
    try:
        return _old(name)
    except KeyError:
        raise ValueError(f"Unknown fixture {name!r}. Expected one of: {', '.join(CASES)}") from None


def accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(np.asarray(model(x)), axis=-1) == y))


_SURROGATES: dict = {}


def surrogate(seed=1, hidden=64, epochs=10):
    """A standard surrogate for the 8×8 fixtures (the small-scale stand-in of
    `tfls.audit.surrogate.standard_surrogate`): a `tiny_mlp` of its own width and seed, trained
    naturally on 512 prototype images of the same distribution drawn with their own seed (3),
    so neither the audited points (`data()`, seed 2) nor the fixtures' training images (seed 1).
    """
    key = (seed, hidden, epochs)
    if key not in _SURROGATES:
        x, y = make_prototype_data(512, seed=SURROGATE_DATA_SEED)
        model = tiny_mlp(INPUT, 10, hidden=hidden, seed=seed)
        model.compile(
            keras.optimizers.Adam(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
        _SURROGATES[key] = model
    return _SURROGATES[key]
