"""Each schedule as a stream of new batch records: the batch-major loop, the attack-major glue."""

from __future__ import annotations

import time

from tfls.eval import attack_major, cluster
from tfls.eval.record_format import batch_digest
from tfls.eval.scoring import attack_points, predict_clean, predictor


def batch_major_records(
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


def attack_major_records(
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

    pending = store.read_pending() if store is not None else []
    if store is not None:
        cluster.agree(strategy, len(pending), what="pending attack steps", out=store.out)
    for step in attack_major.run(
        batches,
        attacks,
        clean_step=clean_step,
        attack_step=attack_step,
        individual=individual,
        pool_size=pool_size,
        done=len(stored_digests),
        stored_digests=stored_digests,
        pending=pending,
        append=store.append_pending if store is not None else None,
        on_batch_x=read,
    ):
        yield step if isinstance(step, attack_major.Step) else step[1]
