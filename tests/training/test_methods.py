"""The three training objectives and their inner maximisations, checked against hand computation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import tiny_conv
from tfls.training import methods
from tfls.training.trainer import AdversarialTrainer


def _np_log_softmax(z):
    z = np.asarray(z, np.float64)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_kl_from_logits_matches_the_definition():
    p, q = np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 1.0, 0.5]])
    lp, lq = _np_log_softmax(p), _np_log_softmax(q)
    expected = float((np.exp(lp) * (lp - lq)).sum())
    assert float(methods.kl_from_logits(p, q)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(methods.kl_from_logits(p, p)[0]) == pytest.approx(0.0, abs=1e-6)
    both = np.concatenate([p, q]), np.concatenate([q, q])
    assert float(methods.TradesKL()(*both)) == pytest.approx(expected / 2, rel=1e-5)


def test_natural_loss_is_label_smoothed_cross_entropy():
    # α = 0.5 with 2 classes: targets (0.75, 0.25) for y = 0.
    net = keras.Sequential([keras.Input((2,)), keras.layers.Identity()])
    logits = np.array([[2.0, 0.0]], np.float32)
    ce = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.5)
    loss, _ = methods.training_loss(
        "natural", net, logits, np.array([0]), None, num_classes=2, ce=ce
    )
    expected = -(np.array([0.75, 0.25]) * _np_log_softmax(logits[0])).sum()
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_madry_examples_stay_in_the_ball_and_raise_the_loss(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    eps = 0.1
    x_adv = methods.madry_examples(
        tiny_cnn, x, y, eps=eps, steps=5, step_size=0.03, seed=tf.constant([0, 1])
    )
    x_adv = np.asarray(x_adv)
    assert np.abs(x_adv - x).max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    ce = keras.losses.sparse_categorical_crossentropy
    clean = np.asarray(ce(y, tiny_cnn(x), from_logits=True))
    adv = np.asarray(ce(y, tiny_cnn(x_adv), from_logits=True))
    assert adv.mean() > clean.mean() + 0.05


def test_trades_examples_maximise_the_kl_within_the_ball(tiny_cnn, tiny_batch):
    x, _ = tiny_batch
    eps = 0.1
    x_adv = np.asarray(
        methods.trades_examples(
            tiny_cnn, x, eps=eps, steps=5, step_size=0.03, seed=tf.constant([0, 1])
        )
    )
    assert np.abs(x_adv - x).max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    kl = np.asarray(methods.kl_from_logits(tiny_cnn(x), tiny_cnn(x_adv)))
    noise = np.clip(x + 0.001 * np.random.default_rng(0).standard_normal(x.shape), 0, 1).astype(
        np.float32
    )
    kl_noise = np.asarray(methods.kl_from_logits(tiny_cnn(x), tiny_cnn(noise)))
    assert kl.mean() > 100 * max(kl_noise.mean(), 1e-9)


@pytest.mark.parametrize("method", ["natural", "madry", "trades"])
def test_each_method_learns_a_separable_task(method):
    rng = np.random.default_rng(0)
    x = rng.random((128, 8, 8, 1), dtype=np.float32) * 0.5
    y = rng.integers(0, 2, 128).astype(np.int32)
    x[y == 1, :4] += 0.5  # class 1 is bright on top: robust to ε = 0.05
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    net = tiny_conv(num_classes=2)
    trainer = AdversarialTrainer(
        net,
        method=method,
        num_classes=2,
        label_smoothing=0.1,
        eps=0.05,
        attack_steps=3,
        attack_step_size=0.02,
        trades_beta=1.0,
    )
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = trainer.fit(ds, epochs=6, verbose=0, shuffle=False).history
    assert history["loss"][-1] < history["loss"][0]
    assert float(np.mean(np.argmax(net(x), 1) == y)) > 0.9
