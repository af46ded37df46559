"""Fast gradient sign method (Goodfellow et al., 2015): one signed step from the original point."""

from __future__ import annotations

import keras

from tfls import _validation as v
from tfls.attacks import losses
from tfls.attacks.base import Attack
from tfls.attacks.params import Param, choice, declare
from tfls.attacks.pgd import pgd


@declare(loss=Param("ce", choice(losses.LOSSES)), label_smoothing=Param(None))
def fgsm(
    model, x, y, *, eps, loss, label_smoothing, norm="linf", keep_best=False, jit_compile="auto"
):
    """One step of size 2ε along the gradient sign from `x`, projected back to the ε-ball.

    The paper's Table 3 lists FGSM as "1 step of 2ε" from the original point; after projection
    this equals the classic `x + ε·sign(∇)` wherever the gradient is non-zero.
    `label_smoothing` is α for `loss="ce-smoothed"` only (default 0.9).

    Reference:
        Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR 2015.
    """
    eps = v.check_eps(eps, norm=norm)
    return pgd(
        model,
        x,
        y,
        eps=eps,
        steps=1,
        step_size=2.0 * eps,
        loss=loss,
        label_smoothing=label_smoothing,
        init="none",
        norm=norm,
        keep_best=keep_best,
        jit_compile=jit_compile,
    )


@keras.saving.register_keras_serializable(package="tfls")
class FGSM(Attack, register=True):
    """Fast gradient sign method as a Keras layer.

    Args:
        model: Keras model from [0, 1] inputs to logits.
        eps: ball radius. loss: attack loss name (maximised). norm: `"linf"` or `"l2"`.
        label_smoothing: α for `loss="ce-smoothed"` only.

    Returns:
        `x` moved one step of 2ε along the loss gradient, projected onto the ε-ball and [0, 1].

    Example:
        >>> x_adv = FGSM(model, eps=0.1)(x, y)

    Reference:
        Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR 2015.
    """

    function = fgsm
