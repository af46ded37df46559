"""Random noise in the ε-ball: the baseline every gradient attack must beat (Athalye et al. §3.1).

Draws `draws` uniform points in the threat model's ball per example and keeps the first
misclassified one, else the one with the highest margin loss. On a model whose gradients are
useful it breaks far fewer points than PGD; when it breaks points PGD does not, the gradients
mislead the attacks (Athalye et al., 2018, sign 4).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import losses
from tfls.attacks.base import Attack
from tfls.attacks.compiling import compiled
from tfls.attacks.geometry import random_start
from tfls.attacks.gradients import forward
from tfls.attacks.params import Param, declare, positive_int
from tfls.attacks.pgd import track_answer


def make_noise_loop(model, *, norm: str, draws: int):
    """The compiled search: `(x, y, eps, seed) -> x_best` over `draws` uniform draws."""

    def loop(x, y, eps, seed):
        batch = tf.shape(x)[0]
        state = (x, tf.zeros([batch], tf.bool), tf.fill([batch], float("-inf")))
        for i in tf.range(draws):
            x_cand = random_start(x, eps, norm, tf.stack([seed, i]))
            logits = forward(model, x_cand)
            state = track_answer(state, x_cand, logits, losses.margin(logits, y), y)
        return state[0]

    return loop


@declare(draws=Param(100, positive_int))
def random_noise(model, x, y, *, eps, draws, norm="linf", seed=0, jit_compile="auto"):
    """Returns, per example, the first misclassified of `draws` uniform points in the ε-ball.

    Args:
        model: Keras model from [0, 1] inputs to logits (only its outputs are used).
        x: float32 inputs in [0, 1]. y: int labels.
        eps: radius. draws: uniform points tried per example (≥ 100 for the audit).
        norm: `"linf"` (uniform in the box) or `"l2"` (uniform radius, uniform direction).
        seed: fixes every draw. jit_compile: `True`, `False` or `"auto"`.

    Returns:
        A tensor of `x`'s shape inside the ε-ball and [0, 1]: misclassified where a draw was,
        else the highest-margin draw.

    Reference:
        Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML
        2018, §3.1 ("random sampling finds adversarial examples").
    """
    norm = v.check_norm(norm)
    eps = v.check_eps(eps, norm=norm)
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int32)
    if eps == 0.0:
        return tf.identity(x)
    loop = compiled(
        model,
        ("noise", norm, draws),
        lambda: make_noise_loop(model, norm=norm, draws=draws),
        jit_compile,
    )
    return loop(x, y, tf.constant(eps, tf.float32), tf.constant(int(seed), tf.int32))


@keras.saving.register_keras_serializable(package="tfls")
class RandomNoise(Attack, register=True):
    """Uniform random noise in the ε-ball as a Keras layer (a sanity baseline, not an attack).

    Args:
        model: Keras model from [0, 1] inputs to logits.
        eps: ball radius. draws: uniform points tried per example. norm: `"linf"` or `"l2"`.
        seed: fixes the draws. jit_compile: `True`, `False` or `"auto"`.

    Call arguments:
        x: inputs in [0, 1]. y: integer labels.

    Returns:
        Perturbed inputs of `x`'s shape.

    Example:
        >>> x_noisy = tfls.attacks.suite(model, "noise", eps=8 / 255)["noise"](x, y)

    Reference:
        Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML
        2018, §3.1.
    """

    function = random_noise
