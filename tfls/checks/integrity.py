"""Check 15, gradient integrity: does the backward pass tell the truth about the forward pass?

The analytic directional derivative of the attack loss, a = ∇L(x)·v, is compared with the central
difference of the forward pass, d = [L(x + h·v) − L(x − h·v)] / 2h, along seeded Rademacher
directions v (every pixel moves by ±h). A backward pass that lies (reversed, rescaled, noisy, cut
off from part of the input, or describing wiggles finer than h) disagrees with d far more often
than the kinks of a ReLU net make an honest one disagree. When the check fires, each leaf layer
is probed alone on the activations it receives, and the layers whose own backward pass disagrees
with their own forward are named for BPDA.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy.stats import binomtest

from tfls._validation import check_positive_int
from tfls.attacks import losses
from tfls.attacks.adaptive import floating_step, leaf_layers, probed_calls
from tfls.checks import thresholds as th
from tfls.checks.result import CheckResult
from tfls.models import randomness

TITLE = "Gradient integrity"
SOURCE = (
    "ART loss_gradient_check (the idea: compare the loss gradient with the loss); finite-difference "
    "gradient checking (Nocedal & Wright, Numerical Optimization, 2nd ed., §8.1); Athalye, "
    "Carlini & Wagner 2018 (gradients that lie: shattered gradients, BPDA). Thresholds ours."
)
ADVICE = (
    "The backward pass does not describe the forward pass: gradient attacks follow a false "
    "slope. Attack straight through the named layers (BPDA: bpda=[...] keeps their forward and "
    "replaces their backward by the identity or a differentiable approximation), and report "
    "Square and transfer numbers, which need no gradient."
)
LOSS_FUNCTIONS = {"ce": losses.cross_entropy, "margin": losses.margin}
FLOAT32_EPS = float(np.finfo(np.float32).eps)
BATCH = 512


def gradient_integrity(model, x, y, clean, *, seed=0, points=64, directions=8) -> CheckResult:
    """Check 15: the input gradient of CE and of the margin loss against finite differences.

    On the first `points` clean-correct points, `directions` Rademacher directions each (seeded),
    a pair (point, direction, loss) is judged when its central difference exceeds float32
    round-off, and disagrees when the signs differ or |a/d| leaves `INTEGRITY_RATIO_BAND`. The
    share of judged pairs that disagree is tested against the allowance for kinks
    (`INTEGRITY_ALLOWANCE`) with a one-sided exact binomial test. A model random at inference is
    skipped: its finite differences measure the noise, not the slope (check 2 reports it).

    Args:
        model: Keras model, inputs in [0, 1], logits out.
        x, y: the audited points and their integer labels (numpy).
        clean: boolean mask of the clean-correct points.
        seed: seed of the directions. points: at most this many points. directions: per point.

    Returns:
        A `CheckResult` of kind "evidence"; `follow_up={"bpda": [layer names]}` when it fires and
        layers are found to lie.
    """
    points = check_positive_int(points, name="points")
    directions = check_positive_int(directions, name="directions")
    idx = np.flatnonzero(np.asarray(clean, bool))[:points]
    if idx.size == 0:
        return _result("skipped", "no correctly classified point", {}, {}, None)
    xs = np.asarray(x, np.float32)[idx]
    ys = np.asarray(y).astype(np.int32)[idx]
    if randomness.is_random(model, xs):
        return _result(
            "skipped",
            "the model is random at inference: finite differences of one draw measure the noise, "
            "not the slope (check 2 reports the randomness; attack with EOT)",
            {"points": int(idx.size)},
            {},
            None,
        )
    xs = _jittered(xs, seed)
    grads = input_gradients(model, xs, ys)
    pairs = directional_pairs(model, xs, ys, grads, seed=seed, directions=directions)
    numbers = {"points": int(idx.size), "directions": directions, "step": th.INTEGRITY_STEP}
    totals = dict.fromkeys(("judged", "sign", "magnitude", "disagree"), 0)
    ratios, disagreeing = [], np.zeros(len(xs), bool)
    for name, (a, d, floor) in pairs.items():
        judged, sign_bad, magnitude_bad = compare(a, d, floor)
        bad = sign_bad | magnitude_bad
        for key, mask in zip(totals, (judged, sign_bad, magnitude_bad, bad)):
            totals[key] += int(mask.sum())
        numbers[f"{name}_judged_pairs"] = int(judged.sum())
        numbers[f"{name}_disagreements"] = int(bad.sum())
        ratios.append(np.abs(a[judged]) / np.abs(d[judged]))
        disagreeing |= bad.any(axis=1)
    probed, descended = ascent_probe(model, xs, ys, grads)
    n, k = totals["judged"], totals["disagree"]
    ratios = np.concatenate(ratios)
    numbers.update(
        {
            "judged_pairs": n,
            "sign_disagreements": totals["sign"],
            "magnitude_disagreements": totals["magnitude"],
            "disagreements": k,
            "share": k / n if n else 0.0,
            "allowance": th.INTEGRITY_ALLOWANCE,
            "median_abs_ratio": float(np.median(ratios)) if ratios.size else 0.0,
            "ascent_probed": int(probed.sum()),
            "ascent_failures": int(descended.sum()),
            "ascent_failure_share": float(descended.sum() / max(int(probed.sum()), 1)),
        }
    )
    evidence = {
        "disagreeing": [int(i) for i in idx[disagreeing]],
        "ascent_fails": [int(i) for i in idx[descended]],
    }
    if n == 0:
        return _result(
            "skipped",
            "no finite difference rose above float32 round-off (the loss is flat or piecewise "
            "constant at this step: check 4's business)",
            numbers,
            evidence,
            None,
        )
    p_value = float(binomtest(k, n, th.INTEGRITY_ALLOWANCE, alternative="greater").pvalue)
    share = f"{k} of {n} judged pairs ({100 * k / n:.1f}%) disagree"
    if p_value >= th.INTEGRITY_LEVEL:
        return _result("ok", f"{share}: within the allowance for kinks", numbers, evidence, p_value)
    layers = lying_layers(model, xs, seed=seed, directions=directions)
    numbers["layers_probed"] = len(layers)
    named = [row["name"] for row in layers if row["lies"]]
    found = f"the backward pass of {', '.join(named)} lies" if named else "no single layer lies"
    return _result(
        "fail",
        f"{share} (sign {totals['sign']}, magnitude {totals['magnitude']}); {found}",
        numbers,
        evidence,
        p_value,
        follow_up={"bpda": named} if named else {},
        data={"layers": layers},
    )


def directional_pairs(model, x, y, grads, *, seed=0, directions=8) -> dict[str, tuple]:
    """Per loss, `(a, d, floor)` of shape `(points, directions)`: the analytic slopes ∇L·v, the
    central differences along the seeded directions v, and the round-off floor of each d."""
    h = th.INTEGRITY_STEP
    v = _directions(seed, len(x), directions, x.shape[1:])
    plus, minus = _perturbed(x, v, h)
    z_plus, z_minus = _logits(model, plus), _logits(model, minus)
    labels = np.repeat(y, directions)
    loss_plus, loss_minus = loss_values(z_plus, labels), loss_values(z_minus, labels)
    # Both losses move by at most twice the largest logit change, so their round-off scales with
    # the largest |logit| of the pair (the logits' own rounding, measured on the controls).
    scale = np.maximum(np.abs(z_plus).max(axis=1), np.abs(z_minus).max(axis=1))
    floor = th.INTEGRITY_NOISE_ULPS * FLOAT32_EPS * scale.reshape(len(x), directions) / h
    flat_v = v.reshape(len(x), directions, -1)
    return {
        name: (
            np.einsum("pd,pkd->pk", g.reshape(len(x), -1), flat_v),
            (loss_plus[name] - loss_minus[name]).reshape(len(x), directions) / (2 * h),
            floor,
        )
        for name, g in grads.items()
    }


def ascent_probe(model, x, y, grads):
    """Per point, `(probed, descended)`: a step of L2 length h·√D (a direction's length) along
    +∇L/‖∇L‖ moved some loss by more than round-off, and lowered it by more than round-off."""
    length = th.INTEGRITY_STEP * np.sqrt(np.prod(x.shape[1:]))
    base = _logits(model, x)
    before = loss_values(base, y)
    probed = np.zeros(len(x), bool)
    descended = np.zeros(len(x), bool)
    for name, g in grads.items():
        flat = g.reshape(len(x), -1)
        norm = np.linalg.norm(flat, axis=1)
        usable = np.isfinite(norm) & (norm > 0)
        step = (flat / np.where(usable, norm, 1.0)[:, None]).reshape(x.shape)
        moved = _logits(model, (x + length * step).astype(np.float32))
        change = loss_values(moved, y)[name] - before[name]
        scale = np.maximum(np.abs(base).max(axis=1), np.abs(moved).max(axis=1))
        floor = th.INTEGRITY_NOISE_ULPS * FLOAT32_EPS * scale
        probed |= usable & (np.abs(change) > floor)
        descended |= usable & (change < -floor)
    return probed, descended


def compare(a, d, floor):
    """`(judged, sign_bad, magnitude_bad)` boolean arrays for analytic `a` vs finite `d`.

    A pair is judged when |d| exceeds `floor`; its sign disagrees when sign(a) ≠ sign(d) (a zero
    gradient disagrees with a slope the forward shows); its magnitude when |a/d| is outside
    `INTEGRITY_RATIO_BAND`.
    """
    a, d = np.asarray(a, np.float64), np.asarray(d, np.float64)
    judged = np.isfinite(d) & (np.abs(d) > floor)
    finite = judged & np.isfinite(a)
    lo, hi = th.INTEGRITY_RATIO_BAND
    ratio = np.abs(a) / np.where(judged, np.abs(d), 1.0)
    sign_bad = judged & (~finite | (np.sign(a) != np.sign(d)))
    magnitude_bad = judged & (~finite | (ratio < lo) | (ratio > hi))
    return judged, sign_bad, magnitude_bad


def input_gradients(model, x, y) -> dict[str, np.ndarray]:
    """`{"ce": dCE/dx, "margin": dmargin/dx}` per example, float64 (zeros where cut off)."""
    out = {name: [] for name in LOSS_FUNCTIONS}
    for i in range(0, len(x), BATCH):
        xb, yb = tf.convert_to_tensor(x[i : i + BATCH]), tf.convert_to_tensor(y[i : i + BATCH])
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xb)
            logits = model(xb, training=False)
            values = {name: loss_fn(logits, yb) for name, loss_fn in LOSS_FUNCTIONS.items()}
        for name, loss in values.items():
            grad = tape.gradient(loss, xb, unconnected_gradients="zero")
            out[name].append(np.asarray(grad, np.float64))
        del tape
    return {name: np.concatenate(parts) for name, parts in out.items()}


def loss_values(logits, y) -> dict[str, np.ndarray]:
    """CE and margin computed in float64 from (float32) logits, so only the logits' rounding is
    left in a finite difference."""
    z = np.asarray(logits, np.float64)
    rows = np.arange(len(z))
    z_true = z[rows, y]
    top = z.max(axis=1)
    ce = top + np.log(np.exp(z - top[:, None]).sum(axis=1)) - z_true
    others = z.copy()
    others[rows, y] = -np.inf
    return {"ce": ce, "margin": others.max(axis=1) - z_true}


def lying_layers(model, x, *, seed=0, directions=8) -> list[dict]:
    """Every leaf layer probed alone: its VJP against finite differences of its own forward.

    The model runs on `x`, `x + h·v` and `x − h·v` at once (the check's points and directions),
    so each leaf layer (nested models included) sees its input t and the perturbation
    Δ = (t₊ − t₋)/2 the model's own forward carries to it: dead ReLU units stay dead and tied
    pooling inputs stay tied, as in the model. Δ is rescaled to the step the layer's input
    deserves, RMS h·rms(t)/rms(x) (upstream layers may amplify it, a shattering one a hundredfold),
    and with a random output direction u per point, a = VJP_t(u)·Δ is compared with
    d = u·[layer(t + Δ) − layer(t − Δ)]/2 like the model's pairs (`compare`). A layer lies when
    its share of disagreeing pairs exceeds `INTEGRITY_LAYER_ALLOWANCE` at level
    `INTEGRITY_LEVEL / layers probed` (Bonferroni). Layers called with several tensors (`Add`,
    `Concatenate`) are not probed.

    Returns:
        One dict per probed layer in call order: name, judged, disagreements, share, p_value, lies.
    """
    x = np.asarray(x, np.float32)
    h = th.INTEGRITY_STEP
    v = _directions(seed, len(x), directions, x.shape[1:])
    k = v.shape[1]
    rng = np.random.default_rng([int(seed), 17])
    stats: dict[int, dict] = {}
    chunk: dict = {}  # the points of the forward pass under way: their number and input RMS

    def observe(layer, t, out, rerun):
        if not (floating_step(t, out) and t.shape[0] == chunk["points"] * (1 + 2 * k)):
            return
        a, d, floor = _layer_pairs(rerun, t, chunk["points"], k, chunk["rms"], h, rng)
        judged, sign_bad, magnitude_bad = compare(a, d, floor)
        row = stats.setdefault(id(layer), {"name": layer.name, "judged": 0, "disagreements": 0})
        row["judged"] += int(judged.sum())
        row["disagreements"] += int((sign_bad | magnitude_bad).sum())

    per_pass = max(1, BATCH // (1 + 2 * k))  # points per forward pass of ≤ BATCH images
    with probed_calls(leaf_layers(model), observe):
        for start in range(0, len(x), per_pass):
            xc, vc = x[start : start + per_pass], v[start : start + per_pass]
            plus, minus = _perturbed(xc, vc, h)
            chunk.update(points=len(xc), rms=_rms(xc.reshape(len(xc), -1)))
            model(tf.convert_to_tensor(np.concatenate([xc, plus, minus])), training=False)
    rows = list(stats.values())  # dicts keep insertion order: the order of the calls
    for row in rows:
        n, bad = row["judged"], row["disagreements"]
        row["share"] = bad / n if n else 0.0
        row["p_value"] = (
            float(binomtest(bad, n, th.INTEGRITY_LAYER_ALLOWANCE, alternative="greater").pvalue)
            if n
            else 1.0
        )
        row["lies"] = bool(row["p_value"] < th.INTEGRITY_LEVEL / max(len(rows), 1))
    return rows


def _layer_pairs(layer_call, t, p, k, x_rms, h, rng):
    """`(a, d, floor)`, each `(p, k)`, for one layer called on `[t; t₊; t₋]` (see `lying_layers`)."""
    t0 = t[:p]
    flat = np.asarray(t, np.float64).reshape(len(t), -1)
    delta = ((flat[p : p + p * k] - flat[p + p * k :]) / 2).reshape(p, k, -1)
    target = (h * _rms(flat[:p]) / np.where(x_rms > 0, x_rms, 1.0))[:, None]
    size = _rms(delta)
    delta *= (target / np.where(size > 0, size, 1.0))[..., None]
    with tf.GradientTape() as tape:
        tape.watch(t0)
        out0 = layer_call(t0)
    u = rng.standard_normal(out0.shape.as_list())
    try:
        vjp = tape.gradient(out0, t0, output_gradients=tf.constant(u, out0.dtype))
    except LookupError:  # "No gradient defined for operation ...": no gradient at all
        vjp = None
    vjp = np.zeros(flat[:p].shape) if vjp is None else np.asarray(vjp, np.float64).reshape(p, -1)
    centre = np.repeat(flat[:p], k, axis=0)
    shape = (p * k, *t.shape[1:])
    steps = delta.reshape(p * k, -1)
    o_plus = _flat(layer_call(tf.constant((centre + steps).reshape(shape), t.dtype)), p, k)
    o_minus = _flat(layer_call(tf.constant((centre - steps).reshape(shape), t.dtype)), p, k)
    un = u.reshape(p, 1, -1)
    a = np.einsum("pd,pkd->pk", vjp, delta)
    d = np.einsum("pkd,pkd->pk", np.broadcast_to(un, o_plus.shape), o_plus - o_minus) / 2
    # The rounding of o₊ and o₋ adds up with random signs in u·(o₊ − o₋): its size is that of
    # sqrt(Σ u²·(o₊² + o₋²)) (measured: at most 7.4 ε of it on cnn4's layers).
    power = np.square(o_plus) + np.square(o_minus)
    scale = np.sqrt(np.einsum("pkd,pkd->pk", np.broadcast_to(np.square(un), power.shape), power))
    return a, d, th.INTEGRITY_NOISE_ULPS * FLOAT32_EPS * scale


def _flat(tensor, p, k) -> np.ndarray:
    return np.asarray(tensor, np.float64).reshape(p, k, -1)


def _rms(values) -> np.ndarray:
    """Root mean square over the last axis."""
    return np.sqrt(np.mean(np.square(values), axis=-1))


# --------------------------------------------------------------------------------------------


def _jittered(x, seed) -> np.ndarray:
    """`x` moved to a seeded uniform point of its L∞ ball of radius `INTEGRITY_JITTER`, clipped to
    [0, 1], as PGD's random start moves it: off the exact ties (a constant background makes
    max-pooling windows tie exactly) where a ReLU net has no derivative at any step size."""
    rng = np.random.default_rng([int(seed), 16])
    noise = rng.uniform(-1.0, 1.0, x.shape).astype(np.float32)
    return np.clip(x + th.INTEGRITY_JITTER * noise, 0.0, 1.0).astype(np.float32)


def _directions(seed, points, directions, shape) -> np.ndarray:
    """`(points, directions, *shape)` seeded Rademacher signs: every pixel moves by ±1."""
    rng = np.random.default_rng([int(seed), 15])
    return rng.choice(np.array([-1.0, 1.0], np.float32), size=(points, directions, *shape))


def _perturbed(x, v, h):
    """`(x + h·v, x − h·v)` flattened to `(points · directions, *shape)`; not clipped to [0, 1]
    (the backward pass is checked against the forward as a function, wherever it is defined)."""
    centre = x[:, None]
    shape = (-1, *x.shape[1:])
    return (centre + h * v).reshape(shape), (centre - h * v).reshape(shape)


def _logits(model, x) -> np.ndarray:
    return np.concatenate(
        [np.asarray(model(x[i : i + BATCH], training=False)) for i in range(0, len(x), BATCH)]
    )


def _result(status, summary, numbers, evidence, p_value, *, follow_up=None, data=None):
    return CheckResult(
        15,
        TITLE,
        status,
        summary,
        numbers,
        evidence,
        advice=ADVICE if status == "fail" else "",
        source=SOURCE,
        data=data or {},
        kind="evidence",
        p_value=p_value,
        test=(
            "One-sided exact binomial test on the judged (point, direction, loss) pairs; H0: the "
            f"share whose analytic and finite-difference slopes disagree is at most "
            f"{th.INTEGRITY_ALLOWANCE:g} (the allowance for ReLU kinks and round-off)."
        ),
        follow_up=follow_up or {},
    )
