"""Scoring points: clean masks, attacked points inside the threat model, one batch's record."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import passes
from tfls.attacks.base import Attack
from tfls.attacks.compiling import compiled
from tfls.eval import cluster, gate
from tfls.eval import draws as score_draws
from tfls.eval.record_format import encode_bits
from tfls.eval.threat import check_threat_model
from tfls.models import randomness
from tfls.models.wrap import check_wrapped_outputs


def evaluate_batch(
    model,
    x,
    y,
    attacks,
    *,
    individual=True,
    strategy=None,
    check_outputs=True,
    model_name=None,
    draws=1,
) -> dict:
    """Evaluates one batch; returns per-example bits (`clean`, `robust[name]`) and timings.

    `nonfinite[name]` counts the attacked points where the model's logits at the adversarial
    point are NaN or inf: they count as broken (the prediction there is garbage). With
    `draws > 1` (a random model, `tfls.eval.draws`) every point is scored over that many
    forward draws: the record adds the counts `clean_hits` and `robust_hits[name]`, and its
    bits are the majority votes.
    """
    start = time.perf_counter()
    predict = predictor(model)
    clean = predict_clean(
        model,
        x,
        y,
        predict=predict,
        strategy=strategy,
        check_outputs=check_outputs,
        model_name=model_name,
    )
    if draws > 1:
        clean_hits = _hits(predict, strategy, x, y, draws)
        clean = clean_hits > 0  # attacked: every point some draw classifies correctly
        still = clean_hits.copy()
    seconds = {"clean": time.perf_counter() - start}
    still_robust = clean.copy()
    robust_bits, robust_hits, attacked, nonfinite, gates, spent = {}, {}, {}, {}, {}, {}
    for name, attack in attacks.items():
        start = time.perf_counter()
        counted = isinstance(attack, Attack)  # a plain callable has no pass counters
        before = passes.read(attack.model) if counted else None
        targets = np.flatnonzero(clean if individual else still_robust)
        # individual=False: points skipped because an earlier attack broke them are not known to
        # fool this one, so they count as robust to it (an upper bound, flagged in the report).
        robust = np.zeros_like(clean) if individual else clean.copy()
        if draws > 1:
            hits = np.zeros_like(clean_hits) if individual else still.copy()
        if targets.size:
            gated = gate.is_gated(attack)
            if gated:  # a cheap attack stands alone only where gradients hold
                attack, gates[name] = gate.choose(attack, model, x[targets], y[targets])
                sent_on = passes.escalated(attack.model)
            found, broken = attack_points(
                name,
                attack,
                x[targets],
                y[targets],
                model=model,
                predict=predict,
                strategy=strategy,
                draws=draws,
            )
            if draws > 1:
                # The attacker may always submit the clean point: never above its clean score.
                hits[targets] = np.minimum(found, clean_hits[targets])
                found = hits[targets] > 0
            robust[targets] = found
            nonfinite[name] = int(broken.sum())
            if gated:  # points its own probe sent on to full AutoAttack
                gates[name]["escalated"] = passes.escalated(attack.model) - sent_on
        if counted:
            spent[name] = [int(a - b) for a, b in zip(passes.read(attack.model), before)]
        still_robust &= robust
        if draws > 1:
            still = np.minimum(still, hits)
            robust_hits[name] = score_draws.encode(hits)
            robust = score_draws.majority(hits, draws)
        robust_bits[name] = encode_bits(robust)
        attacked[name] = int(targets.size)
        nonfinite.setdefault(name, 0)
        seconds[name] = time.perf_counter() - start
    record = {
        "clean": encode_bits(clean if draws == 1 else score_draws.majority(clean_hits, draws)),
        "robust": robust_bits,
        "attacked": attacked,
        "nonfinite": nonfinite,
        "seconds": seconds,
    }
    if spent:
        record["passes"] = spent
    if gates:
        record["gates"] = gates
    if draws > 1:
        record.update(
            draws=int(draws), clean_hits=score_draws.encode(clean_hits), robust_hits=robust_hits
        )
    return record


def _hits(predict, strategy, x, y, draws) -> np.ndarray:
    """Per point of `x`, the draws of `draws` forward passes that classify it as `y`."""
    return randomness.hits(
        lambda xs: run_sharded(strategy, lambda t: (predict(t),), xs)[0], x, y, draws
    )


def predict_clean(
    model, x, y, *, predict=None, strategy=None, check_outputs=True, model_name=None
) -> np.ndarray:
    """The boolean mask of `x`'s points the model classifies as `y`, after the input checks."""
    model_name = model_name or getattr(model, "name", "model")
    v.check_model_input(model, x, model_name=model_name)
    if check_outputs:
        check_wrapped_outputs(model, x, name=model_name)
    predict = predict or predictor(model)
    (logits,) = run_sharded(strategy, lambda xs: (predict(xs),), x)
    if check_outputs:
        v.check_output_structure(logits, name=model_name)
    v.check_finite_logits(logits, name=model_name)  # every batch: argmax(NaN) would score
    if check_outputs:
        v.check_logits(logits, name=model_name)
    v.check_labels(y, num_classes=int(logits.shape[-1]), batch_size=len(x))
    return np.argmax(logits, axis=-1) == y


def attack_points(name, attack, xs, ys, *, model, predict=None, strategy=None, draws=1):
    """Attacks `(xs, ys)` and checks the threat model: `(robust, nonfinite)` boolean masks.

    A point whose adversarial logits are NaN or inf counts as broken (its prediction is garbage).
    With `draws > 1`, `robust` is the count of `draws` forward draws classifying each
    adversarial point correctly (`nonfinite`: its first draw's logits were not finite).
    """
    predict = predict or predictor(model)
    x_adv, adv_logits = craft(name, attack, xs, ys, model=model, predict=predict, strategy=strategy)
    finite = np.isfinite(adv_logits.reshape(len(ys), -1)).all(axis=1)
    if draws > 1:
        return _hits(predict, strategy, x_adv, ys, draws), ~finite
    return (np.argmax(adv_logits, axis=-1) == ys) & finite, ~finite


def craft(name, attack, xs, ys, *, model, predict=None, strategy=None):
    """`(x_adv, logits)`: `attack`'s points for `(xs, ys)` and `model`'s logits there, numpy.

    The one place an evaluation calls an attack (`tfls.eval.replay` crafts through it too, so a
    replayed attack sees exactly the tensors the evaluation gave it); raises
    `ThreatModelViolation` for a point outside the ε-ball or [0, 1].
    """
    predict = predict or predictor(model)

    def attack_and_predict(xb, yb):
        x_adv = attack(xb, yb)
        return x_adv, predict(x_adv)

    x_adv, adv_logits = run_sharded(strategy, attack_and_predict, xs, ys)
    check_threat_model(name, attack, xs, x_adv, model=model, y=ys)
    return x_adv, adv_logits


def predictor(model):
    """`model(x, training=False)` as one cached `tf.function` (an eager Keras call costs ~10 ms)."""
    return compiled(model, ("eval-predict",), lambda: lambda x: model(x, training=False), False)


def run_sharded(strategy, fn, *arrays) -> tuple[np.ndarray, ...]:
    """Runs `fn(*tensors)` with the rows of `arrays` split across `strategy`'s replicas.

    Returns `fn`'s outputs (a tuple of tensors) gathered back into numpy arrays in row order.
    Without a strategy, or with fewer rows than replicas, `fn` runs once on everything. On a
    multi-worker cluster every worker gets every row's outputs (the same arrays everywhere).
    """
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    rows = len(arrays[0])
    if replicas == 1 or rows < replicas:
        return tuple(np.asarray(o) for o in fn(*[tf.convert_to_tensor(a) for a in arrays]))
    bounds = np.linspace(0, rows, replicas + 1).astype(int)

    def shard(ctx):
        i = ctx.replica_id_in_sync_group
        return tuple(tf.convert_to_tensor(a[bounds[i] : bounds[i + 1]]) for a in arrays)

    distributed = strategy.experimental_distribute_values_from_function(shard)
    outputs = strategy.run(lambda *t: tuple(fn(*t)), args=tuple(distributed))
    return tuple(cluster.gathered(strategy, o) for o in outputs)
