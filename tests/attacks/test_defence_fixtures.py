"""The defence fixtures of `tests.defences`, measured: each keeps a high clean accuracy, plain PGD-20
overestimates its robustness by at least 25 points against the matching hand-written adaptive
attack (`tests.adaptive_references`), and the references are sound on the undefended control.

`python -m tests.attacks.test_defence_fixtures` prints the table kept in `tests/defences.py`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import defences
from tests.adaptive_references import eot_pgd, score_over_draws, straight_through_pgd
from tests.attacks.helpers import distance
from tfls.attacks import PGD, pgd

STEPS = 20
EOT_DRAWS = 10  # gradient passes averaged per EOT step
SCORE_DRAWS = 20  # forward passes per final point when scoring a random fixture
SEED = 0
MIN_CLEAN = 0.85
MIN_GAP = 0.25
DEFENDED = [name for name, kind in defences.KIND.items() if kind != "plain"]
RANDOM = [name for name, kind in defences.KIND.items() if kind == "random"]
NONDIFF = [name for name, kind in defences.KIND.items() if kind == "nondiff"]


def step_size(name):
    return defences.EPS[name] / 10  # PGD-20's ε/10, as tfls' default


def score_draws(name):
    return SCORE_DRAWS if defences.KIND[name] == "random" else 1


def adaptive(name, model, x, y, *, draws=EOT_DRAWS):
    """The reference matching the fixture's kind: EOT-PGD if random, straight-through if not."""
    eps = defences.EPS[name]
    common = {"eps": eps, "steps": STEPS, "step_size": step_size(name), "seed": SEED}
    if defences.KIND[name] == "random":
        return eot_pgd(model, x, y, draws=draws, **common)
    return straight_through_pgd(model, x, y, layer_name=defences.DEFENCE_LAYER[name], **common)


@dataclass(frozen=True)
class Measured:
    clean: float
    plain_pgd: float
    adaptive: float
    x: np.ndarray
    x_adaptive: np.ndarray

    @property
    def gap(self):
        return self.plain_pgd - self.adaptive


@functools.cache
def measure(name) -> Measured:
    """Clean, plain PGD-20 and adaptive-reference accuracy of fixture `name` on `data()`, each the
    mean over `score_draws(name)` forward passes per point; in one fixed order, so reproducible."""
    model = defences.build(name)
    x, y = defences.data()
    draws = score_draws(name)
    clean = score_over_draws(model, x, y, draws).mean()
    x_pgd = PGD(model, eps=defences.EPS[name], steps=STEPS, seed=SEED)(x, y)
    x_adaptive = np.asarray(adaptive(name, model, x, y))
    return Measured(
        clean=float(clean),
        plain_pgd=float(score_over_draws(model, x_pgd, y, draws).mean()),
        adaptive=float(score_over_draws(model, x_adaptive, y, draws).mean()),
        x=x,
        x_adaptive=x_adaptive,
    )


@pytest.mark.parametrize("name", list(defences.KIND))
def test_clean_accuracy_is_high(name):
    clean = measure(name).clean
    assert clean >= MIN_CLEAN, f"{name}: clean accuracy {clean:.3f} < {MIN_CLEAN}"


@pytest.mark.parametrize("name", DEFENDED)
def test_plain_pgd_overestimates_robustness(name):
    m = measure(name)
    assert m.gap >= MIN_GAP, (
        f"{name}: plain PGD-20 leaves {m.plain_pgd:.3f}, the adaptive reference {m.adaptive:.3f} "
        f"(gap {m.gap:.3f} < {MIN_GAP})"
    )


@pytest.mark.parametrize("name", list(defences.KIND))
def test_references_stay_in_the_ball_and_box(name):
    m = measure(name)
    eps = defences.EPS[name]
    assert m.x_adaptive.dtype == np.float32 and m.x_adaptive.shape == m.x.shape
    assert m.x_adaptive.min() >= 0.0 and m.x_adaptive.max() <= 1.0
    assert np.all(distance(m.x_adaptive, m.x, "linf") <= eps * (1 + 1e-6))
    # The attack moved: a reference stuck at its start would pass the bounds trivially.
    assert np.mean(distance(m.x_adaptive, m.x, "linf")) > 0.5 * eps


def test_references_agree_with_plain_pgd_on_the_control():
    """On the undefended model: EOT with one draw, EOT with three (identical) draws, BPDA on no
    layer and tfls' PGD returning its last iterate are one algorithm, and take the same steps."""
    name = "plain"
    model = defences.build(name)
    x, y = defences.data(32)
    eps = defences.EPS[name]
    common = {"eps": eps, "steps": STEPS, "step_size": step_size(name), "seed": SEED}
    one_draw = np.asarray(eot_pgd(model, x, y, draws=1, **common))
    np.testing.assert_array_equal(np.asarray(eot_pgd(model, x, y, draws=3, **common)), one_draw)
    plain = np.asarray(straight_through_pgd(model, x, y, layer_name=None, **common))
    np.testing.assert_array_equal(plain, one_draw)
    # tfls draws its start eagerly as the references do; outside XLA it runs the very same ops.
    library = pgd(model, x, y, keep_best=False, jit_compile=False, **common)
    np.testing.assert_array_equal(np.asarray(library), plain)
    # And the radius is one where the control is clearly breakable.
    m = measure(name)
    assert m.plain_pgd <= 0.6 and m.adaptive <= 0.6, m


def test_straight_through_on_a_defence_uses_the_classifier_gradient():
    """BPDA's gradient on `threshold` is the classifier's at the binarised input, by hand."""
    name = "threshold"
    model = defences.build(name)
    x, y = defences.data(8)
    eps = defences.EPS[name]
    common = {"eps": eps, "steps": 1, "step_size": eps, "seed": SEED}
    x_st = straight_through_pgd(model, x, y, layer_name=defences.DEFENCE_LAYER[name], **common)
    start = tf.clip_by_value(x + tf.random.stateless_uniform(x.shape, [SEED, 0], -1, 1) * eps, 0, 1)
    with tf.GradientTape() as tape:
        binary = model.get_layer(defences.DEFENCE_LAYER[name])(start)
        tape.watch(binary)
        loss = keras.losses.sparse_categorical_crossentropy(
            y, defences.classifier(name)(binary), from_logits=True
        )
    by_hand = tf.clip_by_value(start + eps * tf.sign(tape.gradient(loss, binary)), x - eps, x + eps)
    np.testing.assert_array_equal(np.asarray(x_st), np.asarray(tf.clip_by_value(by_hand, 0, 1)))


@pytest.mark.parametrize("name", RANDOM)
def test_random_defences_draw_afresh_per_example_and_call(name):
    """Every call and every example gets its own draw, eagerly, in a `tf.function` loop and in an
    XLA-compiled one (tfls compiles small-MLP attacks with XLA on CPU)."""
    layer = defences.DEFENCES[name](defences.DEFENCE_LAYER[name])
    x = tf.fill([4, *defences.INPUT], 0.5)

    def three_calls():
        out = tf.TensorArray(tf.float32, size=3)
        for i in tf.range(3):
            out = out.write(i, layer(x))
        return out.stack()

    for run in (three_calls, tf.function(three_calls), tf.function(three_calls, jit_compile=True)):
        outs = np.asarray(run()).reshape(3, 4, -1)
        for a, b in ((0, 1), (0, 2), (1, 2)):
            assert not np.array_equal(outs[a], outs[b]), f"{run}: calls {a} and {b} drew alike"
        for call in outs:
            assert len({row.tobytes() for row in call}) == 4, f"{run}: examples drew alike"


@pytest.mark.parametrize("name", NONDIFF)
def test_nondifferentiable_defences_have_no_gradient(name):
    """TensorFlow registers no gradient (None, not zeros) for `tf.round` and a cast comparison."""
    model = defences.build(name)
    x = tf.constant(defences.data(4)[0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)
    assert tape.gradient(logits, x) is None


@pytest.mark.parametrize("name", DEFENDED)
def test_defence_config_round_trips(name):
    layer = defences.build(name).get_layer(defences.DEFENCE_LAYER[name])
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    if defences.KIND[name] == "nondiff":
        x = defences.data(4)[0]
        np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(layer(x)))


def test_area_resize_matrices_by_hand():
    scale = tf.constant([1.0, 0.5, 0.5])
    offset = tf.constant([0.0, 0.0, 1.0])
    m = np.asarray(defences.area_resize_matrices(scale, offset, 4))
    np.testing.assert_allclose(m[0], np.eye(4), atol=1e-7)
    half = [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]]
    np.testing.assert_allclose(m[1], half, atol=1e-7)
    np.testing.assert_allclose(m[2], np.roll(half, 1, axis=0), atol=1e-7)


def test_jpeg_like_by_hand():
    d = defences.dct_matrix(8)
    np.testing.assert_allclose(d @ d.T, np.eye(8), atol=1e-6)
    x = defences.data(4)[0]
    # Quality 100: every step is 1/255, so each of the 64 coefficients is off by ≤ 1/510, and no
    # basis image has an entry above 1/4: no pixel moves by more than 64 · 1/4 · 1/510 = 8/255.
    near = np.asarray(defences.JpegLike(100)(x))
    assert np.abs(near - x).max() <= 8 / 255
    # A flat image is its DC coefficient alone: 8 · 21/255 above grey, which quality 25's step of
    # 32/255 rounds to 5 steps, 160/255, i.e. 20/255 per pixel.
    flat = np.full((1, 8, 8, 1), 0.5 + 21 / 255, np.float32)
    np.testing.assert_allclose(np.asarray(defences.JpegLike(25)(flat)), 0.5 + 20 / 255, atol=1e-6)


def _table():
    """The fixture table of `tests/defences.py`, with two diagnostics for the random fixtures:
    tfls PGD-20 returning its last iterate instead of its first misclassified point, and EOT-PGD
    with one draw."""
    head = f"{'fixture':18} {'kind':8} {'clean':>6} {'PGD-20':>7} {'adaptive':>9} {'gap':>6}"
    print(head + f" {'PGD last':>9} {'EOT-1':>6}")
    for name in defences.KIND:
        m = measure(name)
        row = f"{name:18} {defences.KIND[name]:8} {m.clean:6.3f} {m.plain_pgd:7.3f}"
        row += f" {m.adaptive:9.3f} {m.gap:+6.3f}"
        if defences.KIND[name] == "random":
            model = defences.build(name)
            x, y = defences.data()
            eps = defences.EPS[name]
            last = pgd(model, x, y, eps=eps, steps=STEPS, seed=SEED, keep_best=False)
            one = adaptive(name, model, x, y, draws=1)
            row += f" {score_over_draws(model, last, y, SCORE_DRAWS).mean():9.3f}"
            row += f" {score_over_draws(model, one, y, SCORE_DRAWS).mean():6.3f}"
        print(row)


if __name__ == "__main__":
    _table()
