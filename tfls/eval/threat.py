"""The threat model an evaluation holds attacks to: one shared (norm, ε), every point inside."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

# Float32 rounding of `x ± eps` and of L2 rescaling stays far inside these; 1/255 is 4e-3.
EPS_RTOL = 1e-5
ATOL = 1e-6


class ThreatModelViolation(RuntimeError):
    """An attack returned a point outside its ε-ball or outside [0, 1]: its numbers would lie."""


def check_threat_model(name, attack, x, x_adv, *, model=None, y=None) -> None:
    """Raises `ThreatModelViolation` unless every `x_adv` is in [0, 1] and its ε-ball around `x`.

    Non-finite `x_adv` is blamed on the model rather than the attack when the model's logits or
    loss gradients at those clean points are themselves non-finite (give `model` and `y`).
    """
    x_adv = np.asarray(x_adv)
    if x_adv.shape != x.shape:
        raise ThreatModelViolation(
            f"Attack {name!r} returned shape {x_adv.shape} for inputs of shape {x.shape}."
        )
    bad = ~np.isfinite(x_adv.reshape(len(x_adv), -1)).all(axis=1)
    if bad.any():
        count = f"{int(bad.sum())} of {len(x_adv)} points"
        if model is not None and y is not None and not _finite_gradients(model, x[bad], y[bad]):
            raise ThreatModelViolation(
                f"Attack {name!r} returned non-finite values at {count} because the model "
                f"{getattr(model, 'name', 'model')!r} has NaN or inf logits or gradients there: "
                f"the model is broken, not the attack. Received: model="
                f"{getattr(model, 'name', 'model')!r}"
            )
        raise ThreatModelViolation(f"Attack {name!r} returned non-finite values at {count}.")
    lo, hi = float(x_adv.min()), float(x_adv.max())
    if lo < -ATOL or hi > 1 + ATOL:
        raise ThreatModelViolation(
            f"Attack {name!r} left the valid input box [0, 1]: values in [{lo:.6g}, {hi:.6g}]."
        )
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    dist = np.abs(delta).max(axis=1) if attack.norm == "linf" else np.sqrt((delta**2).sum(axis=1))
    limit = attack.eps * (1 + EPS_RTOL) + ATOL
    if dist.size and float(dist.max()) > limit:
        worst = int(np.argmax(dist))
        raise ThreatModelViolation(
            f"Attack {name!r} left its {attack.norm} ball: perturbation {float(dist[worst]):.6g} > "
            f"eps={attack.eps:.6g} (example {worst} of the attacked subset). Its robust accuracy "
            "would be meaningless."
        )


def _finite_gradients(model, x, y) -> bool:
    """Whether the model's logits and cross-entropy input gradients at `x` are all finite."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), logits)
    grad = tape.gradient(loss, x)
    return bool(np.isfinite(logits).all()) and (grad is None or bool(np.isfinite(grad).all()))


def threat_model(attacks: Mapping) -> tuple[str | None, float | None]:
    """The one (norm, eps) all attacks share; a worst case over different balls means nothing."""
    models = {(a.norm, float(a.eps)) for a in attacks.values()}
    if len(models) > 1:
        listing = ", ".join(f"{k}: {a.norm} eps={float(a.eps):.6g}" for k, a in attacks.items())
        raise ValueError(
            "All attacks of one evaluation must share a threat model (norm and eps); evaluate "
            f"each separately. Received: {listing}"
        )
    return next(iter(models)) if models else (None, None)
