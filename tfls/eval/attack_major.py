"""Attack-major scheduling: each attack runs over pools of points gathered from many batches.

Batch-major evaluation runs every attack on one batch before the next batch. With
`individual=False` the later (expensive) attacks then see only a batch's few still-robust points,
and per-step overhead dominates. Attack-major evaluation first predicts every batch clean, then
runs each attack in turn over *pools*: consecutive whole batches whose points to attack number at
most `pool_size` (at least one batch), as AutoAttack does.

Durability: every step (one batch's clean predictions, or one attack on one pool) is one line
appended to the store's `pending.jsonl`; a batch moves to `batches.jsonl`, as the same record
batch-major evaluation writes, once its last attack has run. A kill loses at most the step under
way, and the resumed run forms the same pools, so it computes what an uninterrupted run would.
Per-example results equal batch-major's for attacks whose answer on a point does not depend on
the other points of its batch (deterministic attacks); seeded random attacks draw differently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from tfls.eval.record_format import batch_digest, decode_bits, encode_bits

SCHEDULES = ("batch-major", "attack-major")
DEFAULT_POOL_SIZE = 512


class Step:
    """A finished pool, yielded between records so that the caller can report progress."""

    def __init__(self, stage: str):
        self.stage = stage


def run(
    batches: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]],
    attacks: dict,
    *,
    clean_step: Callable,
    attack_step: Callable,
    individual: bool,
    pool_size: int,
    done: int,
    stored_digests: list[str],
    pending: list[dict],
    append: Callable[[dict], None] | None,
    on_batch_x: Callable[[int, np.ndarray, np.ndarray], None],
) -> Iterator[tuple[int, dict] | Step]:
    """Yields `(index, record)` for every batch in order (from `done` on), and a `Step` per pool.

    Args:
        batches: returns a fresh iterator over the `(x, y)` batches (called once per attack).
        attacks: name -> attack, in order.
        clean_step: `(index, x, y) -> (clean mask, seconds)`.
        attack_step: `(name, attack, xs, ys) -> (robust, nonfinite)` masks of those points.
        individual: attack every clean-correct point, or only those still robust.
        pool_size: most points one pool attacks (a pool holds at least one batch).
        done: batches already finished in `batches.jsonl`; `stored_digests` their digests.
        pending: the store's `pending.jsonl` entries (steps already done).
        append: writes one step durably (`None`: in memory only).
        on_batch_x: called with every batch as it is read (for checks on the first batch).
    """
    names = tuple(attacks)
    partial = _restore(pending, done)
    emitted = done

    def finished() -> Iterator[tuple[int, dict]]:
        nonlocal emitted
        while emitted in partial and len(partial[emitted]["robust"]) == len(names):
            record = partial.pop(emitted)
            record["robust"] = {k: record["robust"][k] for k in names}
            record["batch"] = emitted
            yield emitted, _ordered(record, names)
            emitted += 1

    yield from finished()
    # Clean predictions, batch by batch (cheap; each batch its own step).
    count = 0
    for index, (x, y) in enumerate(batches()):
        count = index + 1
        digest = _checked_digest(index, x, y, done, stored_digests, partial)
        if index < done or index in partial or index < emitted:
            on_batch_x(index, x, y)
            continue
        clean, seconds = clean_step(index, x, y)
        on_batch_x(index, x, y)
        entry = {"step": "clean", "batch": index, "n": int(len(y)), "digest": digest}
        entry.update({"clean": encode_bits(clean), "seconds": seconds})
        if append is not None:
            append(entry)
        partial[index] = _new(entry)
        yield Step(f"clean: batch {index}")
    for position, name in enumerate(names):
        pool: list[tuple[int, np.ndarray]] = []
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        seen = 0
        for index, (x, y) in enumerate(batches()):
            seen = index + 1
            if index < emitted or name in partial[index]["robust"]:
                continue
            _checked_digest(index, x, y, done, stored_digests, partial)
            targets = np.flatnonzero(_to_attack(partial[index], names[:position], individual))
            if pool and sum(len(t) for _, t in pool) + len(targets) > pool_size:
                yield from _run_pool(
                    name, attacks[name], pool, xs, ys, partial, attack_step, append, individual
                )
                yield from finished()
                pool, xs, ys = [], [], []
            pool.append((index, targets))
            xs.append(x[targets])
            ys.append(y[targets])
        if seen != count:
            raise ValueError(
                f"`dataset` gave {seen} batches on pass {position + 2} but {count} on the first: "
                "schedule='attack-major' reads it once per attack, so it must be re-iterable "
                f"(a list or a tf.data.Dataset, not a generator). Received: {seen} != {count}"
            )
        if pool:
            yield from _run_pool(
                name, attacks[name], pool, xs, ys, partial, attack_step, append, individual
            )
            yield from finished()


def _run_pool(name, attack, pool, xs, ys, partial, attack_step, append, individual):
    start = time.perf_counter()
    sizes = [len(t) for _, t in pool]
    total = sum(sizes)
    robust_points = np.zeros(0, bool)
    nonfinite_points = np.zeros(0, bool)
    if total:
        robust_points, nonfinite_points = attack_step(
            name, attack, np.concatenate(xs), np.concatenate(ys)
        )
    seconds = time.perf_counter() - start
    results = []
    offset = 0
    for (index, targets), size in zip(pool, sizes):
        state = partial[index]
        clean = decode_bits(state["clean"])
        robust = np.zeros_like(clean) if individual else clean.copy()
        robust[targets] = robust_points[offset : offset + size]
        results.append(
            {
                "batch": index,
                "robust": encode_bits(robust),
                "attacked": size,
                "nonfinite": int(nonfinite_points[offset : offset + size].sum()),
                "seconds": seconds * size / total if total else 0.0,
            }
        )
        offset += size
    entry = {"step": "attack", "attack": name, "batches": results}
    if append is not None:
        append(entry)
    _apply(partial, entry)
    first, last = pool[0][0], pool[-1][0]
    yield Step(f"{name}: batches {first}-{last}, {total} points")


def _to_attack(state, earlier, individual) -> np.ndarray:
    mask = decode_bits(state["clean"])
    if not individual:
        for name in earlier:
            mask = mask & decode_bits(state["robust"][name])
    return mask


def _new(entry) -> dict:
    return {
        "n": entry["n"],
        "digest": entry["digest"],
        "clean": entry["clean"],
        "robust": {},
        "attacked": {},
        "nonfinite": {},
        "seconds": {"clean": entry["seconds"]},
    }


def _apply(partial, entry) -> None:
    name = entry["attack"]
    for result in entry["batches"]:
        state = partial.get(result["batch"])
        if state is None:
            continue  # already finished
        state["robust"][name] = result["robust"]
        state["attacked"][name] = result["attacked"]
        state["nonfinite"][name] = result["nonfinite"]
        state["seconds"][name] = result["seconds"]


def _restore(pending, done) -> dict[int, dict]:
    partial: dict[int, dict] = {}
    for entry in pending:
        if entry.get("step") == "clean" and entry["batch"] >= done:
            partial[entry["batch"]] = _new(entry)
        elif entry.get("step") == "attack":
            _apply(partial, entry)
    return partial


def _checked_digest(index, x, y, done, stored_digests, partial) -> str:
    digest = batch_digest(x, y)
    expected = stored_digests[index] if index < done else partial.get(index, {}).get("digest")
    if expected is not None and digest != expected:
        raise ValueError(
            f"Batch {index} of `dataset` differs from the one whose results are stored (different "
            "data, order or batch size, or a dataset that changes between passes); resuming "
            "would mix two evaluations. Use the same dataset and batch size, or start over "
            f"(resume=False). Received: batch {index}"
        )
    return digest


def _ordered(record, names) -> dict:
    """The record with the keys and per-attack entries in batch-major's order."""
    out = {"batch": record["batch"], "n": record["n"], "digest": record["digest"]}
    out["clean"] = record["clean"]
    for key in ("robust", "attacked", "nonfinite"):
        out[key] = {k: record[key][k] for k in names}
    out["seconds"] = {
        "clean": record["seconds"]["clean"],
        **{k: record["seconds"][k] for k in names},
    }
    return out
