"""`evaluate(model, dataset, attacks)`: per-example worst-case robust accuracy, resumable.

For every batch: predict clean; run each attack on the clean-correct points (or, with
`individual=False`, only on points no earlier attack broke); check that every adversarial point
lies inside the threat model; predict again; append the per-example results durably; report
progress. Memory does not grow with the number of images: only counts are kept in memory.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfls import _validation as v
from tfls import exits, provenance
from tfls.attacks.compiling import compiled
from tfls.data.reading import elements
from tfls.eval import attack_major
from tfls.eval import checks as eval_checks
from tfls.eval import draws as score_draws
from tfls.eval.arrays import array_batches
from tfls.eval.progress import Cancelled, Progress
from tfls.eval.report import Report, Tally
from tfls.eval.store import BatchStore, batch_digest, encode_bits, fingerprint_digest
from tfls.hashing import digest_chunks
from tfls.models import randomness
from tfls.models.wrap import check_wrapped_outputs, options_of

# Float32 rounding of `x ± eps` and of L2 rescaling stays far inside these; 1/255 is 4e-3.
EPS_RTOL = 1e-5
ATOL = 1e-6


class ThreatModelViolation(RuntimeError):
    """An attack returned a point outside its ε-ball or outside [0, 1]: its numbers would lie."""


def evaluate(
    model,
    dataset: Iterable,
    attacks: Mapping[str, Callable],
    *,
    out: str | Path | None = None,
    resume: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    on_batch: Callable[[Progress], object] | None = None,
    individual: bool = True,
    n: int | None = None,
    meta: Mapping | None = None,
    checks: bool = True,
    autobatch=None,
    schedule: str = "batch-major",
    pool_size: int | None = None,
    draws: int | None = None,
) -> Report:
    """Measures clean, per-attack and worst-case robust accuracy of `model` on `dataset`.

    Every attack runs only on points the model classifies correctly. With `individual=True`
    each attack runs on all of them, so its own robust accuracy is exact; with
    `individual=False` an attack runs only on points still robust to the earlier ones (cheaper,
    AutoAttack-style) and the per-attack numbers are upper bounds (flagged in the report). The
    worst case (robust only if every attack failed) is exact either way.

    Args:
        model: Keras model from [0, 1] inputs to logits. Under a `strategy`, build or load it
            inside `strategy.scope()`.
        dataset: iterable of `(images, labels)` batches, e.g. `tfls.data.load(...)`; the same
            order every time it is iterated (resuming checks this batch by batch). Or one
            `(x, y)` pair of numpy arrays (`tfls.eval.arrays`, batches of 100).
        attacks: mapping name -> attack (`tfls.attacks.Attack`), run in this order. All must
            share one threat model (`norm`, `eps`).
        out: folder for durable per-batch results and `report.json/.md/.csv`; `None` keeps
            everything in memory (no resume).
        resume: continue from the finished batches in `out` (refused, with the differences
            listed, if `out` holds a different evaluation); `False` discards them.
        strategy: a `tf.distribute.Strategy`; each batch is split across its replicas.
        on_batch: called with a `Progress` after every evaluated batch. Returning `False` or
            raising `tfls.eval.Cancelled` stops after that batch; the finished batches are kept
            and the same call resumes.
        individual: see above.
        n: evaluate only the first `n` images.
        meta: JSON-able facts recorded in the report and the fingerprint (dataset name, split,
            seed, model path, ...).
        checks: run the gradient-masking audit's cheap checks (`tfls.eval.checks`): 1, 2 and 4
            on the first batch, 6 when the suite has FGSM and PGD, 7 when it has Square and a
            gradient attack. Each one that fires raises a `tfls.TflsWarning`; all are listed in
            `Report.checks`. `tfls.audit` turns them off (it runs every check itself).
        autobatch: a `tfls.eval.autobatch.AutoBatch`: each batch runs in chunks that halve on
            out-of-memory (`--batch-size auto`); batches, store and resume are unchanged.
            Batch-major only.
        schedule: `"batch-major"` runs every attack on a batch before the next batch;
            `"attack-major"` predicts every batch clean, then runs each attack in turn over
            pools of points gathered from consecutive batches (`tfls.eval.attack_major`), so
            that with `individual=False` the expensive late attacks see large batches, as in
            AutoAttack. Both store the same per-batch records and resume exactly; attack-major
            reads `dataset` once per attack (it must be re-iterable) and reports progress per
            pool (`Progress.stage`). Per-example results are equal for deterministic attacks.
        pool_size: attack-major only: the most points one pool attacks (a pool holds at least
            one batch); default 512.
        draws: forward draws each point is scored over. `None` (default): 1 for a
            deterministic model, `tfls.models.randomness.DEFAULT_DRAWS` for one found random at
            inference on the first batch (`tfls.eval.draws`): every accuracy is then the mean
            over the points of the share of draws classified correctly, with an interval for
            both the images and the draws, and the report says so (`Report.draws`).
            Batch-major only.

    Returns:
        A `Report` (`complete=False` if cancelled).

    Warns:
        tfls.TflsWarning: a check fired (one line: check, numbers, what to do), once the
            report is written.

    Raises:
        ValueError: bad arguments or a mismatching `out` folder, before any work.
        ThreatModelViolation: an attack returned a point outside its ε-ball or [0, 1].

    Example:
        >>> attacks = tfls.attacks.suite(model, "fgsm,pgd20,apgd-ce", eps=8 / 255)
        >>> report = evaluate(model, tfls.data.load("cifar10", "test", batch_size=100),
        ...                   attacks, out="runs/eval", n=1000)
        >>> report.worst_case_accuracy
    """
    attacks = _check_attacks(attacks)
    meta = dict(meta or {})
    model_name = str(meta.get("model") or getattr(model, "name", "model"))
    if not callable(model):
        raise ValueError(f"`model` must be a Keras model. Received: model={model!r}")
    classes = v.model_classes(model, name=model_name)  # one (batch, classes) output
    dataset = array_batches(dataset)
    n = None if n is None else v.check_positive_int(n, name="n")
    _check_in_memory(dataset, classes, n)
    if on_batch is not None and not callable(on_batch):
        raise ValueError(f"`on_batch` must be callable or None. Received: on_batch={on_batch!r}")
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(
            f"`strategy` must be a tf.distribute.Strategy or None. Received: strategy={strategy!r}"
        )
    schedule = v.check_choice(schedule, attack_major.SCHEDULES, name="schedule")
    if pool_size is not None and schedule != "attack-major":
        raise ValueError(
            f"`pool_size` is only read with schedule='attack-major'. Received: pool_size={pool_size}"
        )
    if autobatch is not None and schedule != "batch-major":
        raise ValueError(
            "`autobatch` (--batch-size auto) runs with schedule='batch-major' only; give a batch "
            f"size for attack-major pools. Received: schedule={schedule!r}"
        )
    draws, dataset = score_draws.resolve(model, dataset, draws, model_name=model_name)
    if draws > 1 and schedule != "batch-major":
        raise ValueError(
            f"{model_name} is scored over {draws} draws (it is random at inference, or draws= "
            "says so), which runs with schedule='batch-major' only: drop --schedule (or pass "
            f"draws=1 to score single draws). Received: schedule={schedule!r}, draws={draws}"
        )
    if schedule == "attack-major":
        pool_size = v.check_positive_int(
            attack_major.DEFAULT_POOL_SIZE if pool_size is None else pool_size, name="pool_size"
        )
    norm, eps = threat_model(attacks)
    names = tuple(attacks)
    configs = {name: attack_config(a, model) for name, a in attacks.items()}
    model_info = model_fingerprint(model)
    components = {
        "model": model_info,
        "attacks": configs,
        "individual": bool(individual),
        "n": n,
        "meta": meta,
    }
    if schedule == "attack-major":
        # Seeded random attacks draw differently on pools than on batches: not resumable across.
        components["schedule"] = {"order": schedule, "pool_size": pool_size}
    if draws > 1:  # only then: the fingerprints of deterministic evaluations are unchanged
        components["draws"] = draws
    fingerprint = fingerprint_digest(components)
    versions = provenance.versions()

    tally = Tally(names, draws=draws)
    comparisons = eval_checks.Comparisons(attacks, individual=individual) if checks else None
    model_results: list = []
    stored_digests: list[str] = []
    store = BatchStore(out) if out is not None else None
    failed = True  # until the report is written: a failure leaves `out` as it was, if no batch
    try:
        if store is not None:
            for record in store.open(components, resume=resume):
                tally.add(record)
                if comparisons is not None:
                    comparisons.add(record)
                stored_digests.append(record["digest"])
        restored_images = tally.images
        complete = True
        session_start = time.perf_counter()
        new_images = 0
        batches_read = 0

        def read(index, x, y):
            nonlocal batches_read, model_results
            batches_read = max(batches_read, index + 1)
            if index == 0 and checks:
                model_results = eval_checks.model_checks(model, x, y)

        def keep_going(stage=""):
            if on_batch is None:
                return True
            elapsed = time.perf_counter() - session_start
            rate = new_images / elapsed if elapsed > 0 else 0.0
            total = n if n is not None else _known_size(dataset)
            eta = (total - tally.images) / rate if (total is not None and rate > 0) else None
            progress = Progress(
                images_done=tally.images,
                images_total=total,
                batches_done=tally.batches,
                clean_correct=tally.clean,
                robust=dict(tally.robust),
                worst_case=tally.worst,
                elapsed_s=elapsed,
                images_per_s=rate,
                eta_s=None if eta is None else max(0.0, eta),
                attacks=names,
                restored_images=restored_images,
                stage=stage,
            )
            try:
                return on_batch(progress) is not False
            except Cancelled:
                return False

        common = dict(
            individual=individual,
            strategy=strategy,
            model_name=model_name,
            stored_digests=stored_digests,
            read=read,
        )
        batches = lambda: _batches(dataset, n)  # noqa: E731 - re-read once per pass
        if schedule == "batch-major":
            run_batch = evaluate_batch if autobatch is None else autobatch.wrap(evaluate_batch)
            if draws > 1:
                run_batch = functools.partial(run_batch, draws=draws)
            steps = _batch_major(model, batches, attacks, out=out, run_batch=run_batch, **common)
        else:
            steps = _attack_major(
                model, batches, attacks, store=store, pool_size=pool_size, **common
            )
        # A stop (Ctrl-C, SIGTERM) takes effect between steps, each durable once it is written.
        with exits.stop_at_safe_points():
            for step in steps:
                if isinstance(step, attack_major.Step):
                    if not keep_going(step.stage):
                        complete = False
                        break
                    exits.check_stop()
                    continue
                record = step
                if store is not None:
                    store.append(record)
                tally.add(record)
                if comparisons is not None:
                    comparisons.add(record)
                new_images += record["n"]
                if not keep_going():
                    complete = False
                    break
                exits.check_stop()
        if complete and batches_read < len(stored_digests):
            raise ValueError(
                f"`dataset` has {batches_read} batches but {str(out)!r} holds results for "
                f"{len(stored_digests)}: it is not the dataset those results came from. "
                f"Received: out={str(out)!r}"
            )
        if complete and tally.images == 0:
            raise ValueError("`dataset` is empty: nothing to evaluate. Received: dataset=<empty>")
        if complete and n is not None and tally.images < n:
            raise ValueError(
                f"`dataset` has only {tally.images} images, fewer than requested. Received: n={n}"
            )
        report = tally.report(
            configs=configs,
            individual=individual,
            complete=complete,
            norm=norm,
            eps=eps,
            meta=meta,
            model={"name": getattr(model, "name", "?"), **model_info},
            versions=versions,
            fingerprint=fingerprint,
        )
        if checks:
            found = model_results + (comparisons.results() if complete else [])
            report.checks = [eval_checks.summarise(c) for c in sorted(found, key=lambda c: c.id)]
        if out is not None:
            report.write(out)
        failed = False
    finally:
        if store is not None:
            store.close(failed=failed)
    eval_checks.warn(report.checks)
    return report


def _batch_major(
    model,
    batches,
    attacks,
    *,
    individual,
    strategy,
    model_name,
    stored_digests,
    read,
    out,
    run_batch,
):
    """Yields each new batch's record, every attack run on one batch before the next."""
    checked_outputs = False
    for index, (x, y) in enumerate(batches()):
        digest = batch_digest(x, y)
        if index < len(stored_digests):
            if digest != stored_digests[index]:
                raise ValueError(
                    f"Batch {index} of `dataset` differs from the one whose results are "
                    f"stored in {str(out)!r} (different data, order or batch size); resuming "
                    "would mix two evaluations. Use the same dataset and batch size, or start "
                    f"over (resume=False). Received: out={str(out)!r}"
                )
            read(index, x, y)
            continue
        record = run_batch(
            model,
            x,
            y,
            attacks,
            individual=individual,
            strategy=strategy,
            check_outputs=not checked_outputs,
            model_name=model_name,
        )
        checked_outputs = True
        read(index, x, y)
        yield {"batch": index, "n": int(len(y)), "digest": digest, **record}


def _attack_major(
    model,
    batches,
    attacks,
    *,
    individual,
    strategy,
    model_name,
    stored_digests,
    read,
    store,
    pool_size,
):
    """Yields each batch's record (and a `Step` per pool), each attack run over pooled batches."""
    predict = predictor(model)
    checked_outputs = False

    def clean_step(index, x, y):
        nonlocal checked_outputs
        start = time.perf_counter()
        clean = predict_clean(
            model,
            x,
            y,
            predict=predict,
            strategy=strategy,
            check_outputs=not checked_outputs,
            model_name=model_name,
        )
        checked_outputs = True
        return clean, time.perf_counter() - start

    def attack_step(name, attack, xs, ys):
        return attack_points(name, attack, xs, ys, model=model, predict=predict, strategy=strategy)

    for step in attack_major.run(
        batches,
        attacks,
        clean_step=clean_step,
        attack_step=attack_step,
        individual=individual,
        pool_size=pool_size,
        done=len(stored_digests),
        stored_digests=stored_digests,
        pending=store.read_pending() if store is not None else [],
        append=store.append_pending if store is not None else None,
        on_batch_x=read,
    ):
        yield step if isinstance(step, attack_major.Step) else step[1]


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
    robust_bits, robust_hits, attacked, nonfinite = {}, {}, {}, {}
    for name, attack in attacks.items():
        start = time.perf_counter()
        targets = np.flatnonzero(clean if individual else still_robust)
        # individual=False: points skipped because an earlier attack broke them are not known to
        # fool this one, so they count as robust to it (an upper bound, flagged in the report).
        robust = np.zeros_like(clean) if individual else clean.copy()
        if draws > 1:
            hits = np.zeros_like(clean_hits) if individual else still.copy()
        if targets.size:
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
    Without a strategy, or with fewer rows than replicas, `fn` runs once on everything.
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
    return tuple(
        np.concatenate([np.asarray(p) for p in strategy.experimental_local_results(o)], axis=0)
        for o in outputs
    )


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


def attack_config(attack, model) -> dict:
    """The attack's `get_config()` with serialized models replaced by a short description.

    A model other than the evaluated one (a transfer attack's source) is described by its
    weights hash, so that its identity is part of the fingerprint. Layer names ("pgd_3") and
    `trainable` are dropped at every level: Keras numbers unnamed layers per process, and
    neither says anything about what was computed, so both would only break resuming. So are
    `eot=1` and `bpda=None`, the attack without adaptation: fingerprints of evaluations that do
    not use EOT or BPDA are those they had before these options existed.
    """
    config = dict(attack.get_config()) if hasattr(attack, "get_config") else {}
    config.setdefault("eps", float(attack.eps))
    config.setdefault("norm", attack.norm)
    config = {"class": type(attack).__name__, **config}
    for key in list(config):
        held = getattr(attack, key, None)
        if held is model:
            config[key] = "<the evaluated model>"
        elif isinstance(held, keras.Model):
            info = model_fingerprint(held)
            config[key] = f"<model {info['class']} sha256:{info['weights_sha256'][:16]}>"
    return _without_models_and_names(config)


def _unadapted(key, value) -> bool:
    """An attack's EOT or BPDA setting at its default (no adaptation)."""
    return (key == "eot" and value == 1) or (key == "bpda" and value is None)


def _without_models_and_names(value):
    if isinstance(value, dict):
        if _is_serialized_model(value):
            return "<model>"
        return {
            k: _without_models_and_names(v)
            for k, v in value.items()
            if k not in ("name", "trainable") and not _unadapted(k, v)
        }
    if isinstance(value, (list, tuple)):
        return [_without_models_and_names(v) for v in value]
    return value


def _is_serialized_model(value: dict) -> bool:
    if "class_name" not in value or "config" not in value:
        return False
    if value["class_name"] in ("Sequential", "Functional", "Model"):
        return True
    registered = value.get("registered_name")
    cls = keras.saving.get_registered_object(registered) if isinstance(registered, str) else None
    return isinstance(cls, type) and issubclass(cls, keras.Model)


def model_fingerprint(model) -> dict:
    """Class, parameter count and a SHA-256 over every weight's shape, dtype and values.

    Names are left out on purpose: Keras numbers unnamed models and layers per process
    ("sequential_5/dense_7/kernel"), so the same weights must hash the same whatever they are
    called.
    """
    params = 0

    def chunks():
        nonlocal params
        for w in getattr(model, "weights", []):
            value = np.asarray(w.numpy() if hasattr(w, "numpy") else keras.ops.convert_to_numpy(w))
            params += value.size
            yield f"{value.dtype.str}{value.shape}"
            yield np.ascontiguousarray(value).tobytes()

    weights_sha256 = digest_chunks(chunks())
    return {
        "class": type(model).__name__,
        "params": int(params),
        "weights_sha256": weights_sha256,
        **options_of(model),  # a wrapped model's input range, preprocessing and outputs
    }


def _check_attacks(attacks) -> dict:
    if not isinstance(attacks, Mapping):
        raise ValueError(
            "`attacks` must be a mapping name -> attack, e.g. "
            "tfls.attacks.suite(model, ['pgd20'], eps=8/255). "
            f"Received: attacks={attacks!r}"
        )
    for name, attack in attacks.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Attack names must be non-empty strings. Received: name={name!r}")
        if name in ("clean", "worst-case"):
            raise ValueError(
                f"Attack name {name!r} is reserved for the report. Received: name={name!r}"
            )
        if not callable(attack) or not hasattr(attack, "eps") or not hasattr(attack, "norm"):
            raise ValueError(
                f"Attack {name!r} must be callable as attack(x, y) and have `eps` and `norm` "
                f"attributes (a tfls.attacks.Attack). Received: {attack!r}"
            )
        v.check_norm(attack.norm)
        v.check_eps(attack.eps, norm=attack.norm)
    return dict(attacks)


def _check_in_memory(dataset, classes: int | None, n: int | None) -> None:
    """Batches held in memory (a list, as `array_batches` makes): their labels fit the model's
    classes and they hold images, checked before any batch is attacked."""
    if not isinstance(dataset, (list, tuple)) or not all(
        isinstance(e, (tuple, list)) and len(e) == 2 for e in dataset
    ):
        return
    labels = [np.asarray(y) for _, y in dataset]
    if n is not None:  # only the first `n` images are evaluated
        kept, seen = [], 0
        for y in labels:
            kept.append(y[: max(0, n - seen)])
            seen += len(y)
        labels = kept
    if not any(y.size for y in labels):
        raise ValueError("`dataset` is empty: nothing to evaluate. Received: dataset=<empty>")
    if classes is None or not all(
        y.ndim == 1 and np.issubdtype(y.dtype, np.integer) for y in labels
    ):
        return  # unknown class count, or labels the per-batch checks will describe
    v.check_labels(np.concatenate(labels), num_classes=classes)


def _batches(dataset, n):
    """Yields `(x, y)` numpy batches, truncated to the first `n` images."""
    seen = 0
    for element in elements(dataset):
        if not isinstance(element, (tuple, list)) or len(element) != 2:
            raise ValueError(
                "`dataset` must yield (images, labels) batches. Received an element of type "
                f"{type(element).__name__}"
            )
        x, y = (np.asarray(t) for t in element)
        if n is not None:
            if seen >= n:
                return
            x, y = x[: n - seen], y[: n - seen]
        seen += len(y)
        yield x, y


def _known_size(dataset) -> int | None:
    try:
        return sum(len(y) for _, y in dataset) if isinstance(dataset, (list, tuple)) else None
    except TypeError:
        return None
