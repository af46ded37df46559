"""Hand-written adaptive attacks (EOT and straight-through BPDA PGD) that tfls' own must match.

Plain TensorFlow, no tfls attack code, so that a test can hold tfls' EOT/BPDA options to an
independent reference. Both attacks are L∞ PGD with sign steps and the same random start as tfls
(`stateless_uniform` with seed `[seed, 0]`, outside XLA), and both return the last iterate.

Reference:
    Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security:
    Circumventing Defenses to Adversarial Examples", ICML 2018 (sections 4.1 and 4.3).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

ZERO = tf.UnconnectedGradients.ZERO


def cross_entropy(logits, y):
    """Per-example cross-entropy with the true label (what every attack here maximises)."""
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def random_start(x, eps, seed):
    """A uniform point of the L∞ ε-ball around `x`, clipped to [0, 1]: tfls' first random start.

    Drawn eagerly, as tfls draws it: stateless ops pick another generator under XLA, so the same
    seed gives other numbers inside an XLA-compiled function.
    """
    noise = tf.random.stateless_uniform(tf.shape(x), [seed, 0], -1.0, 1.0) * eps
    return tf.clip_by_value(x + noise, 0.0, 1.0)


def _pgd(gradient, x, y, *, eps, steps, step_size, seed):
    """L∞ PGD driven by `gradient(x_adv, y)`: sign steps, projected onto the ε-ball ∩ [0, 1]."""
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int32)
    lo = tf.maximum(x - eps, 0.0)
    hi = tf.minimum(x + eps, 1.0)

    @tf.function
    def run(x_adv):
        # `tf.range` makes this a graph loop: each iteration calls the model afresh, so a random
        # layer drawing through a `keras.random.SeedGenerator` draws anew at every step.
        for _ in tf.range(steps):
            x_adv = tf.clip_by_value(x_adv + step_size * tf.sign(gradient(x_adv, y)), lo, hi)
        return x_adv

    return run(random_start(x, eps, seed))


def eot_pgd(model, x, y, *, eps, steps, step_size, draws, seed):
    """PGD on the expectation over the model's randomness (EOT), returning the last iterate.

    Each step's gradient is the mean over `draws` forward and backward passes of
    ∇ₓ CE(model(x), y), each pass drawing the model's randomness afresh.

    Args:
        model: Keras model from [0, 1] inputs to logits, random or not.
        x: float32 inputs in [0, 1]. y: int labels.
        eps: L∞ radius. steps: iterations. step_size: the size of each sign step.
        draws: forward passes averaged per step (`draws=1` is plain PGD on one draw).
        seed: fixes the random start (the model's own randomness is its own).

    Returns:
        The last iterate, inside the ε-ball and [0, 1]. Not the best one: telling which iterate
        is best would need more draws of a random model than the attack spends.

    Reference:
        Athalye et al., ICML 2018, section 4.3 (Expectation over Transformation).
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1. Received: draws={draws}")

    def gradient(x_adv, y):
        total = tf.zeros_like(x_adv)
        for _ in range(draws):  # unrolled when traced: `draws` independent passes
            with tf.GradientTape() as tape:
                tape.watch(x_adv)
                loss = cross_entropy(model(x_adv, training=False), y)
            total += tape.gradient(loss, x_adv, unconnected_gradients=ZERO)
        return total / draws

    return _pgd(gradient, x, y, eps=eps, steps=steps, step_size=step_size, seed=seed)


def split_at(model, layer_name):
    """`(before, layer, after)`: the layers of a chain-shaped model around the one named."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [layer.name for layer in layers]
    if layer_name not in names:
        raise ValueError(
            f"{model.name!r} has no top-level layer {layer_name!r} (layers: {', '.join(names)}). "
            f"Received: layer_name={layer_name!r}"
        )
    at = names.index(layer_name)
    return layers[:at], layers[at], layers[at + 1 :]


def _chain(layers, x):
    for layer in layers:
        x = layer(x, training=False)
    return x


def straight_through_pgd(model, x, y, *, eps, steps, step_size, seed, layer_name):
    """PGD whose backward pass takes the layer `layer_name` for the identity (BPDA), returning the
    last iterate.

    The forward pass is the model's own: logits = after(layer(before(x))). The gradient is
    chained by hand, ∂L/∂x := (∂before/∂x)ᵀ · ∂L/∂layer_output, i.e. the layer's Jacobian is
    replaced by the identity, so a defence without a useful gradient (rounding, thresholding,
    JPEG) is attacked through the classifier after it. `layer_name=None` is plain PGD.

    Args:
        model: a Keras model whose top-level layers form a chain (e.g. `keras.Sequential`).
        x, y, eps, steps, step_size, seed: as in `eot_pgd`.
        layer_name: the name of a top-level layer whose input and output shapes agree, or None.

    Returns:
        The last iterate, inside the ε-ball and [0, 1].

    Reference:
        Athalye et al., ICML 2018, section 4.1 (Backward Pass Differentiable Approximation).
    """
    if layer_name is None:

        def gradient(x_adv, y):
            with tf.GradientTape() as tape:
                tape.watch(x_adv)
                loss = cross_entropy(model(x_adv, training=False), y)
            return tape.gradient(loss, x_adv, unconnected_gradients=ZERO)

    else:
        before, layer, after = split_at(model, layer_name)

        def gradient(x_adv, y):
            with tf.GradientTape() as tape_before:
                tape_before.watch(x_adv)
                h = _chain(before, x_adv)
            d = layer(h, training=False)
            with tf.GradientTape() as tape_after:
                tape_after.watch(d)
                loss = cross_entropy(_chain(after, d), y)
            grad_d = tape_after.gradient(loss, d, unconnected_gradients=ZERO)
            # Straight through: the gradient at the layer's output is used as the one at its input.
            return tape_before.gradient(
                h, x_adv, output_gradients=grad_d, unconnected_gradients=ZERO
            )

    return _pgd(gradient, x, y, eps=eps, steps=steps, step_size=step_size, seed=seed)


def score_over_draws(model, x, y, draws):
    """Per example, the fraction of `draws` forward passes that classify it correctly."""
    x = tf.convert_to_tensor(x, tf.float32)
    y = np.asarray(y)
    right = [np.argmax(np.asarray(model(x, training=False)), axis=-1) == y for _ in range(draws)]
    return np.mean(right, axis=0)
