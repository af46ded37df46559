"""Model-level checks (1-5, 13): properties of the model itself, measured without an attack suite.

1 probability outputs, 2 randomness, 3 compiled-loss mismatch, 4 gradient availability,
5 logit scale, 13 unstable predictions. Check 3 runs one extra evaluation through the workspace.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfls.attacks import losses
from tfls.checks import thresholds as th
from tfls.checks.result import CheckResult
from tfls.models.wrap import ThreatModel

AUTOATTACK = "AutoAttack checks.py (Croce & Hein 2020)"
PINTOR = "Pintor et al. 2022, Indicators of Attack Failure"


def _indices(mask) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def _logits(model, x, batch_size=100) -> np.ndarray:
    return np.concatenate(
        [
            np.asarray(model(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
    )


# -- 1 -----------------------------------------------------------------------------------------


def has_softmax_output(model, outputs) -> bool:
    """Softmax as the last layer or activation, or every output row in [0, 1] summing to 1."""
    layers = getattr(model, "layers", None) or []
    if layers:
        last = layers[-1]
        if isinstance(last, keras.layers.Softmax):
            return True
        if getattr(getattr(last, "activation", None), "__name__", "") == "softmax":
            return True
    out = np.asarray(outputs, np.float64)
    return bool(
        out.ndim == 2
        and out.shape[1] >= 2
        and out.min() >= 0.0
        and out.max() <= 1.0
        and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)
    )


def log_probabilities(model, name: str = "log_probabilities"):
    """A probability-output model as a logit model (`tfls.models.ThreatModel(outputs="probs")`).

    Log-probabilities differ from the logits by a per-example constant, so the argmax and every
    attack loss on differences of logits are unchanged; only saturation (probabilities rounded
    to 0 or 1 in float32) remains, and the audit's other checks report it. A model already
    wrapped with `outputs="probs"` is returned as it is.
    """
    if is_wrapped_probabilities(model):
        return model
    return ThreatModel(model, outputs="probs", name=name)


def is_wrapped_probabilities(model) -> bool:
    """A `ThreatModel` attacking the log of a softmax model's probabilities (`--outputs probs`)."""
    return isinstance(model, ThreatModel) and model.outputs_kind == "probs"


def probability_outputs(model, x) -> tuple[CheckResult, bool]:
    """Check 1; returns the result and whether the model outputs probabilities."""
    out = _logits(model, x[:100])
    if is_wrapped_probabilities(model):
        out = np.exp(out)  # the wrapped model's own probabilities
    probs = is_wrapped_probabilities(model) or has_softmax_output(model, out)
    numbers = {
        "min_output": float(out.min()),
        "max_output": float(out.max()),
        "max_row_sum_error": float(np.abs(out.sum(axis=1) - 1).max()),
    }
    if not probs:
        return CheckResult(
            1, "Probability outputs", "ok", "outputs are logits", numbers, source=AUTOATTACK
        ), False
    return CheckResult(
        1,
        "Probability outputs",
        "fail",
        "the model outputs probabilities (softmax); audited as log-probabilities",
        numbers,
        advice="Attack the logits: remove the final softmax (activation=None). Probabilities "
        "saturate in float32 and hide gradients; the audit ran on log-probabilities instead.",
        source=AUTOATTACK,
    ), True


# -- 2 -----------------------------------------------------------------------------------------


def randomness(model, x) -> CheckResult:
    """Check 2: five forward passes on one batch must agree (AutoAttack `is_randomized`)."""
    xb = tf.convert_to_tensor(x[:100])
    runs = [np.asarray(model(xb, training=False), np.float64) for _ in range(th.RANDOMNESS_PASSES)]
    preds = np.stack([r.argmax(axis=1) for r in runs])
    normed = np.stack([r / (np.linalg.norm(r, axis=1, keepdims=True) + 1e-10) for r in runs])
    moved = np.abs(normed - normed[0]).max(axis=(0, 2))
    flipped = (preds != preds[0]).any(axis=0)
    unstable = flipped | (moved > th.RANDOMNESS_LOGIT_TOL)
    numbers = {
        "passes": th.RANDOMNESS_PASSES,
        "points": int(len(xb)),
        "predictions_changed": int(flipped.sum()),
        "max_normalised_logit_change": float(moved.max()),
    }
    evidence = {"unstable": _indices(unstable)}
    if not unstable.any():
        return CheckResult(
            2, "Randomness", "ok", "deterministic over 5 passes", numbers, source=AUTOATTACK
        )
    return CheckResult(
        2,
        "Randomness",
        "fail",
        f"{int(unstable.sum())} of {len(xb)} points change between passes",
        numbers,
        evidence,
        advice="The model is random at inference (e.g. dropout left on): attack the expectation "
        "(EOT: average gradients over draws) or remove the randomness; single-draw numbers "
        "overestimate robustness.",
        source=AUTOATTACK,
    )


# -- 3 -----------------------------------------------------------------------------------------


def compiled_loss_settings(model, probability_model: bool) -> dict | None:
    """`{label_smoothing, from_logits, name}` of a Keras compiled loss, or `None` if not compiled."""
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (dict, list, tuple)):
        return None
    if isinstance(loss, str):
        # A loss named by string is built with Keras' defaults: from_logits=False, no smoothing.
        return {"name": loss, "label_smoothing": 0.0, "from_logits": False}
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    return {
        "name": type(loss).__name__,
        "label_smoothing": float(config.get("label_smoothing", 0.0) or 0.0),
        "from_logits": config.get("from_logits"),
    }


def compiled_loss(ws, model, main, *, probability_model: bool) -> CheckResult:
    """Check 3: a wrapper that reuses `model.loss` attacks a smoothed or mis-scaled loss."""
    title, source = "Compiled-loss mismatch", "ours (Keras-specific; ART issue #367)"
    settings = compiled_loss_settings(model, probability_model)
    if settings is None:
        return CheckResult(
            3, title, "ok", "not compiled with a single loss: nothing reuses it", {}, source=source
        )
    alpha = settings["label_smoothing"]
    wrong_scale = settings["from_logits"] is False and not probability_model
    numbers = {"label_smoothing": alpha, "from_logits": settings["from_logits"]}
    if alpha <= 0 and not wrong_scale:
        return CheckResult(
            3,
            title,
            "ok",
            f"compiled loss {settings['name']} matches the outputs",
            numbers,
            source=source,
        )
    advice = (
        "Attack with hard-label cross-entropy (or margin/DLR) on logits, never with model.loss; "
        "wrappers that reuse model.loss (e.g. ART's KerasClassifier, ART issue #367) report the "
        "compiled-loss number."
    )
    if alpha <= 0:
        return CheckResult(
            3,
            title,
            "warn",
            "compiled with from_logits=False on logit outputs (not measured)",
            numbers,
            advice=advice,
            source=source,
        )
    smoothed = ws.evaluation(
        "compiled-loss",
        {"pgd20-compiled": "pgd20"},
        overrides={"pgd20-compiled": {"loss": "ce-smoothed", "label_smoothing": alpha}},
    )
    hard_bits = main.evidence.robust["pgd20"]
    soft_bits = smoothed.evidence.robust["pgd20-compiled"]
    n = len(hard_bits)
    only_soft = soft_bits & ~hard_bits
    numbers.update(
        {
            "pgd20_hard_ce": float(hard_bits.mean()),
            "pgd20_compiled_loss": float(soft_bits.mean()),
            "points_only_compiled_loss_misses": int(only_soft.sum()),
        }
    )
    gap = int(soft_bits.sum()) - int(hard_bits.sum())
    status = "fail" if gap > th.allowed(n, th.ITERATIVE_POINTS) else "warn"
    return CheckResult(
        3,
        title,
        status,
        f"label_smoothing={alpha:g}: PGD-20 on the compiled loss {100 * soft_bits.mean():.1f}% "
        f"vs hard CE {100 * hard_bits.mean():.1f}%",
        numbers,
        {"robust_only_to_compiled_loss": _indices(only_soft)},
        advice=advice,
        source=source,
    )


# -- 4 -----------------------------------------------------------------------------------------


def _unavailable(grad) -> np.ndarray:
    g = np.asarray(grad, np.float64).reshape(len(grad), -1)
    return ~np.isfinite(g).all(axis=1) | (np.abs(np.nan_to_num(g)).sum(axis=1) == 0)


def input_gradients(model, x, y, loss_fn, batch_size=100) -> np.ndarray:
    """Per-example `dL/dx` (zeros where the graph cuts the input off)."""
    out = []
    for i in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[i : i + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = loss_fn(model(xb, training=False), tf.convert_to_tensor(y[i : i + batch_size]))
        out.append(np.asarray(tape.gradient(loss, xb, unconnected_gradients="zero")))
    return np.concatenate(out) if out else np.zeros_like(x)


def gradient_availability(model, x, y, clean) -> CheckResult:
    """Check 4: points whose CE or margin input gradient is zero, NaN, inf or missing."""
    title = "Gradient availability"
    source = (
        "ART loss_gradient_check; AutoAttack zero-gradient check; Pintor (unavailable gradients)"
    )
    idx = np.flatnonzero(clean)
    if idx.size == 0:
        return CheckResult(4, title, "skipped", "no correctly classified point", {}, source=source)
    ce_bad = _unavailable(input_gradients(model, x[idx], y[idx], losses.cross_entropy))
    margin_bad = _unavailable(input_gradients(model, x[idx], y[idx], losses.margin))
    saturated = ce_bad & ~margin_bad
    numbers = {
        "points": int(idx.size),
        "ce_unavailable": float(ce_bad.mean()),
        "margin_unavailable": float(margin_bad.mean()),
        "ce_saturated": int(saturated.sum()),
    }
    evidence = {
        "ce_unavailable": [int(i) for i in idx[ce_bad]],
        "margin_unavailable": [int(i) for i in idx[margin_bad]],
    }
    if not ce_bad.any() and not margin_bad.any():
        return CheckResult(
            4,
            title,
            "ok",
            "every gradient is finite and non-zero",
            numbers,
            evidence,
            source=source,
        )
    if margin_bad.any():
        summary = (
            f"{100 * margin_bad.mean():.0f}% of points have no margin gradient, "
            f"{100 * ce_bad.mean():.0f}% no CE gradient"
        )
        advice = (
            "Gradients do not reach the input (a non-differentiable or zero-gradient layer): "
            "white-box numbers are meaningless. Use BPDA/straight-through gradients for that "
            "layer and trust Square, transfer and noise numbers meanwhile."
        )
    else:
        summary = f"CE gradient is zero on {int(saturated.sum())} points (float32 saturation)"
        advice = (
            "Softmax saturates (very large logits): attack with margin or DLR losses "
            "(pgd-cw, apgd-dlr, AutoAttack), not cross-entropy."
        )
    return CheckResult(4, title, "fail", summary, numbers, evidence, advice=advice, source=source)


# -- 5 -----------------------------------------------------------------------------------------


def logit_scale(model, x) -> CheckResult:
    """Check 5: logit range and mean top-1 − top-2 margin (the paper's Table 2)."""
    from tfls.analysis import logit_stats_from_logits

    stats = logit_stats_from_logits(_logits(model, x))
    spread = stats["max"] - stats["min"]
    numbers = {**stats, "range": spread}
    source = "the paper's Table 2 (logit statistics); thresholds ours"
    if stats["mean_margin"] < th.SMALL_MARGIN:
        return CheckResult(
            5,
            "Logit scale",
            "warn",
            f"mean margin {stats['mean_margin']:.3g} < {th.SMALL_MARGIN:g}: label-smoothing-like",
            numbers,
            advice="Flat logits make CE gradients small and PGD weak (the label-smoothing "
            "effect): quote AutoAttack / margin-loss numbers.",
            source=source,
        )
    if spread > th.LARGE_RANGE:
        return CheckResult(
            5,
            "Logit scale",
            "warn",
            f"logit range {spread:.3g} > {th.LARGE_RANGE:g}: softmax saturates in float32",
            numbers,
            advice="Saturated softmax zeroes CE gradients: use margin or DLR losses.",
            source=source,
        )
    return CheckResult(
        5,
        "Logit scale",
        "ok",
        f"range {spread:.3g}, mean margin {stats['mean_margin']:.3g}",
        numbers,
        source=source,
    )


# -- 13 ----------------------------------------------------------------------------------------


def unstable_predictions(model, x, y, clean, *, eps, norm, gamma, seed) -> CheckResult:
    """Check 13: mean |L(x+δ) − L(x)| / |L(x)| over γ uniform δ in ±ε/2 (Pintor et al.)."""
    from tfls.attacks.geometry import random_start

    title = "Unstable predictions"
    idx = np.flatnonzero(clean)
    if idx.size == 0:
        return CheckResult(13, title, "skipped", "no correctly classified point", {}, source=PINTOR)
    xs, ys = tf.convert_to_tensor(x[idx]), tf.convert_to_tensor(y[idx])
    # The attacker's objective, as Pintor's code uses it: the margin (defined where CE saturates).
    ref = np.asarray(losses.margin(model(xs, training=False), ys), np.float64)
    denom = np.where(np.abs(ref) == 0, 1.0, np.abs(ref))
    total = np.zeros(idx.size)
    for g in range(gamma):
        # δ uniform in the ε/2-ball around x (clipped to [0, 1]), one stateless draw per γ.
        xd = random_start(xs, eps / 2, norm, [seed + 7919, g])
        total += np.abs(np.asarray(losses.margin(model(xd, training=False), ys)) - ref) / denom
    per_point = np.minimum(total / gamma, 1.0)
    metric = float(per_point.mean())
    numbers = {"gamma": gamma, "mean_relative_change": metric, "points": int(idx.size)}
    evidence = {"unstable": [int(i) for i in idx[per_point > th.UNSTABLE_RELATIVE]]}
    if metric <= th.UNSTABLE_RELATIVE:
        return CheckResult(
            13,
            title,
            "ok",
            f"mean relative loss change {metric:.3f}",
            numbers,
            evidence,
            source=PINTOR,
        )
    return CheckResult(
        13,
        title,
        "warn",
        f"mean relative loss change {metric:.3f} > {th.UNSTABLE_RELATIVE:g} within ±ε/2",
        numbers,
        evidence,
        advice="The loss jumps within a small neighbourhood (noisy or shattered model): "
        "average gradients over noise (EOT) or smooth the model before attacking.",
        source=PINTOR,
    )
