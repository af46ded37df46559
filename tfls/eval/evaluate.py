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

import tensorflow as tf

from tfls import _validation as v
from tfls import exits, provenance
from tfls.eval import arguments, attack_major, cluster, gate, record_streams
from tfls.eval import checks as eval_checks
from tfls.eval import draws as score_draws
from tfls.eval.arrays import array_batches
from tfls.eval.fingerprint import attack_config, fingerprint_digest, model_fingerprint
from tfls.eval.progress import Cancelled, Progress
from tfls.eval.report import Report
from tfls.eval.scoring import evaluate_batch
from tfls.eval.store import BatchStore
from tfls.eval.tally import Tally
from tfls.eval.threat import threat_model


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
    attacks = arguments.check_attacks(attacks)
    meta = dict(meta or {})
    model_name = str(meta.get("model") or getattr(model, "name", "model"))
    if not callable(model):
        raise ValueError(f"`model` must be a Keras model. Received: model={model!r}")
    classes = v.model_classes(model, name=model_name)  # one (batch, classes) output
    dataset = array_batches(dataset)
    n = None if n is None else v.check_positive_int(n, name="n")
    arguments.check_in_memory(dataset, classes, n)
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
    gated = [name for name, a in attacks.items() if gate.is_gated(a)]
    if gated and schedule != "batch-major":
        raise ValueError(
            f"{gated[0]} is gated by the gradient checks batch by batch (tfls.eval.gate), which "
            f"runs with schedule='batch-major' only: drop --schedule. Received: schedule={schedule!r}"
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
    writer = cluster.writes(strategy)  # False only on a non-chief worker of a cluster
    store = BatchStore(out, writer=writer) if out is not None else None
    failed = True  # until the report is written: a failure leaves `out` as it was, if no batch
    try:
        if store is not None:
            for record in store.open(components, resume=resume):
                tally.add(record)
                if comparisons is not None:
                    comparisons.add(record)
                stored_digests.append(record["digest"])
            cluster.agree(strategy, len(stored_digests), what="finished batches", out=out)
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
            total = n if n is not None else arguments.known_size(dataset)
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
                passes={k: None if v is None else list(v) for k, v in tally.passes.items()},
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
        batches = lambda: arguments.batches(dataset, n)  # noqa: E731 - re-read once per pass
        if schedule == "batch-major":
            run_batch = evaluate_batch if autobatch is None else autobatch.wrap(evaluate_batch)
            if draws > 1:
                run_batch = functools.partial(run_batch, draws=draws)
            steps = record_streams.batch_major_records(
                model, batches, attacks, out=out, run_batch=run_batch, **common
            )
        else:
            steps = record_streams.attack_major_records(
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
        if out is not None and writer:
            report.write(out)
        failed = False
    finally:
        if store is not None:
            store.close(failed=failed)
    eval_checks.warn(report.checks)
    return report
