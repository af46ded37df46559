"""One stored record's format: bit strings, batch digest, binding and checksum, its checks.

A record of `batches.jsonl` or `pending.jsonl` (`tfls.eval.store`) names the digest of the
evaluation it belongs to (`evaluation`) and carries a checksum over its whole content; a stored
line is trusted only if it parses, is bound to this evaluation, passes its checksum and keeps the
evaluator's invariants (`record_problem`).
"""

from __future__ import annotations

import json

import numpy as np

from tfls import io
from tfls.hashing import digest, digest_chunks

CHECKSUM = "checksum"
EVALUATION = "evaluation"  # a record's key holding its evaluation's fingerprint digest


def encode_bits(mask) -> str:
    """A boolean vector as a compact `"0110"` string (one character per example)."""
    return "".join("1" if b else "0" for b in np.asarray(mask, bool).ravel())


def decode_bits(bits: str) -> np.ndarray:
    return np.frombuffer(bits.encode("ascii"), np.uint8) == ord("1")


def batch_digest(x, y) -> str:
    """Hash of a batch's pixels and labels: detects a different dataset, order or batch size."""

    def chunks():
        for a in (np.ascontiguousarray(x), np.ascontiguousarray(y)):
            yield str((a.dtype.str, a.shape))
            yield a.tobytes()

    return digest_chunks(chunks(), algorithm="sha1")


def record_checksum(record: dict) -> str:
    """SHA-256 of a record's content (every key but the checksum itself, `evaluation` included)."""
    content = {k: v for k, v in record.items() if k != CHECKSUM}
    return digest(content, default=io._json_default)


def bind(record: dict, evaluation: str) -> dict:
    """`record` bound to the evaluation whose fingerprint digest is `evaluation`, checksummed."""
    content = {k: v for k, v in record.items() if k not in (CHECKSUM, EVALUATION)}
    content[EVALUATION] = evaluation
    return {**content, CHECKSUM: record_checksum(content)}


def binding_problem(record, evaluation: str) -> str | None:
    """Why `record` is not a record of the evaluation `evaluation` as written, or None."""
    if not isinstance(record, dict):
        return "is not a JSON record"
    if CHECKSUM not in record:
        return "has no checksum (not written by this tfls)"
    if record.get(EVALUATION) != evaluation:
        theirs = record.get(EVALUATION)
        shown = f"{theirs[:12]}…" if isinstance(theirs, str) else repr(theirs)
        return f"belongs to another evaluation ({shown}, this one is {evaluation[:12]}…)"
    if record[CHECKSUM] != record_checksum(record):
        return "fails its checksum (edited or damaged)"
    return None


def record_problem(record, index: int, evaluation: str) -> str | None:
    """Why a stored record cannot be trusted as batch `index` of `evaluation`, or None if it can.

    Checks that it is bound to `evaluation` with a valid checksum (`binding_problem`) and the
    invariants every evaluator record keeps: bit strings of one length (`n`), and robust only
    where clean-correct. The worst case is the AND of the stored bits, so it is a subset of
    every attack's by construction.
    """
    problem = binding_problem(record, evaluation)
    if problem is not None:
        return problem
    if record.get("batch") != index:
        return f"holds batch {record.get('batch')!r} where batch {index} belongs"
    clean, robust = record.get("clean"), record.get("robust")
    if not _is_bits(clean) or not isinstance(robust, dict):
        return "lacks valid `clean`/`robust` bits"
    n = record.get("n", len(clean))
    if n != len(clean):
        return f"has {len(clean)} clean bits for n={n!r} images"
    clean_mask = decode_bits(clean)
    for name, bits in robust.items():
        if not _is_bits(bits) or len(bits) != len(clean):
            return f"has invalid robust bits for {name!r}"
        if (decode_bits(bits) & ~clean_mask).any():
            return f"counts a point robust to {name!r} that is not clean-correct"
    return _draws_problem(record, len(clean)) if "draws" in record else None


def _draws_problem(record: dict, n: int) -> str | None:
    """The draw counts of a random model's record (`tfls.eval.draws`): in [0, draws], and no
    point scoring higher under an attack than clean."""
    draws = record["draws"]
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 2:
        return f"has draws={draws!r}, not an integer >= 2"
    clean, robust = record.get("clean_hits"), record.get("robust_hits")
    if not isinstance(clean, list) or not isinstance(robust, dict) or len(clean) != n:
        return "lacks valid `clean_hits`/`robust_hits` counts"
    clean_counts = np.asarray(clean)
    if clean_counts.dtype.kind not in "iu" or ((clean_counts < 0) | (clean_counts > draws)).any():
        return f"has clean counts outside [0, {draws}]"
    if set(robust) != set(record["robust"]):
        return "has counts for other attacks than its bits"
    for name, counts in robust.items():
        counts = np.asarray(counts)
        if counts.shape != (n,) or counts.dtype.kind not in "iu":
            return f"has invalid robust counts for {name!r}"
        if ((counts < 0) | (counts > clean_counts)).any():
            return f"counts more draws correct under {name!r} than clean (or fewer than 0)"
    return None


def trusted_lines(data: bytes, check) -> tuple[list[dict], int, tuple[int, str] | None]:
    """The longest prefix of JSON lines in `data` that `check(record, index)` accepts.

    Returns `(records, end, damage)`: the accepted records, the byte offset where they end, and
    `(line number, problem)` of the first refused complete line (None when every complete line
    is accepted; a torn last line, without its newline, is not damage).
    """
    records: list[dict] = []
    end = 0
    # The last element is b"" when the data ends in a newline, else a torn final line.
    for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
        try:
            record = json.loads(raw)
        except ValueError:
            return records, end, (number, "is not a valid JSON record")
        problem = check(record, len(records))
        if problem is not None:
            return records, end, (number, problem)
        records.append(record)
        end += len(raw) + 1
    return records, end, None


def _is_bits(bits) -> bool:
    return isinstance(bits, str) and set(bits) <= {"0", "1"}
