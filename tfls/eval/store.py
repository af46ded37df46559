"""Durable, append-only storage of per-batch results, so that a killed evaluation resumes.

An output folder holds:

* `fingerprint.json`: the store's `format` (`FORMAT`) and what is being evaluated (model weights
  hash, attack configs, dataset metadata, `n`, mode) with its `digest`. A later run with a
  different fingerprint is refused, never mixed in; a store of a format this tfls does not know is
  refused by name; one of the first format (whose records are not bound to an evaluation) is
  recomputed, with a warning saying so.
* `batches.jsonl`: one JSON line per finished batch with per-example results, the digest of the
  evaluation it belongs to (`evaluation`) and a checksum over both, appended and fsync'ed. A
  line torn by a crash mid-write is the only damage a kill can do; it is dropped (and truncated
  away) silently. A complete line that lacks its checksum, fails it, belongs to another
  evaluation (copied or merged in) or breaks an invariant (robust only where clean-correct) is
  damage of another kind: it and every later line are dropped and recomputed, with a warning
  naming the line and the reason. No such line is ever scored.
* `pending.jsonl` (attack-major schedule only): the results of batches not finished yet, one
  JSON line per step (a batch's clean predictions, or one attack's results on one pool of
  batches), bound and checksummed like `batches.jsonl`; a batch moves to `batches.jsonl` once
  every attack has run on it. A kill loses at most the step under way.
* `.lock`: held while an evaluation writes, so two processes never append to the same file.

Nothing in the folder changes until the evaluation commits to it (its first durable batch, or a
normal `close`): a run that fails before that leaves the folder exactly as it found it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from tfls import TflsWarning, io
from tfls.eval.fingerprint import differences, fingerprint_digest, normalise
from tfls.eval.record_format import bind, binding_problem, record_problem, trusted_lines

BATCHES = "batches.jsonl"
PENDING = "pending.jsonl"
FINGERPRINT = "fingerprint.json"
LOCK = io.LOCK_FILE
# 1: records checksummed on their own content only (before evaluations were bound); 2: each
# record names its evaluation's digest and its checksum covers it.
FORMAT = 2


def read_fingerprint(out: str | os.PathLike) -> dict | None:
    """The parsed `fingerprint.json` of `out`, or None if it is absent or unreadable."""
    try:
        stored = json.loads((Path(out) / FINGERPRINT).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return stored if isinstance(stored, dict) else None


def read_records(out: str | os.PathLike) -> list[dict]:
    """The finished batch records of the store in `out` that an evaluation would resume from.

    Exactly what `BatchStore.open` trusts: bound to the stored fingerprint's digest, checksummed,
    in order, up to the first torn or refused line. A store without a readable fingerprint of
    this `FORMAT` trusts nothing.
    """
    stored = read_fingerprint(out)
    if (
        stored is None
        or stored.get("format") != FORMAT
        or not isinstance(stored.get("digest"), str)
    ):
        return []
    try:
        data = (Path(out) / BATCHES).read_bytes()
    except FileNotFoundError:
        return []
    evaluation = stored["digest"]
    return trusted_lines(data, lambda r, i: record_problem(r, i, evaluation))[0]


def _problem_line(path: Path, number: int, problem: str, kept: int) -> str:
    return (
        f"{str(path)!r} line {number} {problem}: kept the {kept} batch(es) before it; that line "
        "and every later one will be recomputed."
    )


class BatchStore:
    """The results folder of one evaluation: fingerprint check, resume, durable appends.

    Args:
        out: the output folder (created on `open`).
        writer: False for a reader that resumes from the same records and refuses the same
            folders, but never writes: a non-chief worker of a multi-worker cluster
            (`tfls.eval.cluster`). It takes no lock, creates nothing and warns of nothing (the
            writer does); `append*` and `close` do nothing.

    Example:
        >>> store = BatchStore(out)
        >>> for record in store.open(components, resume=True): ...   # finished batches
        >>> store.append({"batch": 0, ...})
        >>> store.close()
    """

    def __init__(self, out: str | os.PathLike, *, writer: bool = True):
        self.out = io.resolve_out(out)  # once: a later chdir cannot move the store
        self.writer = writer
        self.batches_path = self.out / BATCHES
        self.fingerprint_path = self.out / FINGERPRINT
        self.pending_path = self.out / PENDING
        self._pending_end: int | None = None  # where `pending.jsonl`'s good lines end
        self._lock = io.FolderLock(self.out, busy="Another evaluation is writing to")
        self._pending: dict | None = None  # what `_commit` does to the folder before writing
        self._committed = False  # once True the folder holds this evaluation's results
        self._top: Path | None = None  # the outermost folder `open` created, removed if unused
        self.evaluation: str | None = None  # the digest records are bound to, set by `open`

    def open(self, components: dict, *, resume: bool = True) -> Iterator[dict]:
        """Locks the folder, checks the fingerprint and yields the finished batch records.

        With `resume=False` earlier results in the folder are discarded (on the first append or
        a normal `close`; a failure before that leaves them as they were).

        Raises:
            ValueError: the folder holds results of a different evaluation, another process is
                writing to it, or its `fingerprint.json` is unreadable while results exist.
        """
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"`out` must be a folder. Received: out={str(self.out)!r}")
        if self.writer:
            if not self.out.exists():
                self._top = io.first_missing(self.out)
                self.out.mkdir(parents=True)
            try:
                self._lock.acquire()
            except ValueError:
                self._cleanup()
                raise
        # A reader decides as the writer does, from the same files: the writer commits nothing
        # before its first append, which comes after every worker has opened (the first batch
        # is a collective). Its deferred changes (`_pending`) are simply never applied.
        digest = fingerprint_digest(components)
        self.evaluation = digest
        fingerprint = {"format": FORMAT, "digest": digest, "components": components}
        if not resume:
            self._pending = {"reset": fingerprint}
            return iter(())
        stored = self._stored_fingerprint()
        if stored is None:
            if self._finished_lines():
                self._warn(
                    f"{str(self.out)!r} holds results but no {FINGERPRINT}, so they cannot be "
                    "matched to this evaluation: every batch will be recomputed."
                )
            self._pending = {"reset": fingerprint}
            return iter(())
        version = stored.get("format", 1)
        if version == 1 and self._finished_lines():
            self._warn(
                f"{str(self.out)!r} was written by an older tfls (store format 1), whose records "
                "are not bound to their evaluation: every batch will be recomputed."
            )
            self._pending = {"reset": fingerprint}
            return iter(())
        if version not in (1, FORMAT):
            self.close(failed=True)
            raise ValueError(
                f"{str(self.fingerprint_path)!r} is of store format {version!r}, which this tfls "
                f"does not read (it reads format {FORMAT}); use the tfls that wrote it, or another "
                f"output folder. Received: out={str(self.out)!r}"
            )
        if stored.get("digest") != digest:
            if not self._finished_lines():
                # No finished batch: the folder of a run that failed early; simply reuse it.
                self._pending = {"reset": fingerprint}
                return iter(())
            diffs = differences(stored.get("components", {}), normalise(components))
            shown = "; ".join(diffs[:6]) + (
                f"; and {len(diffs) - 6} more" if len(diffs) > 6 else ""
            )
            self.close(failed=True)
            raise ValueError(
                f"{str(self.out)!r} holds results of a different evaluation, so it cannot be "
                f"resumed: {shown or 'fingerprint differs'}. Use another output folder, or "
                "start over (resume=False, `tfls eval --overwrite`). "
                f"Received: out={str(self.out)!r}"
            )
        return self._read()

    def _stored_fingerprint(self) -> dict | None:
        """The stored fingerprint; None if absent (or unreadable while no batch is finished)."""
        if not self.fingerprint_path.exists():
            return None
        try:
            stored = json.loads(self.fingerprint_path.read_text(encoding="utf-8"))
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            if not self._finished_lines():
                return None
            self.close(failed=True)
            reason = "it is empty" if not self.fingerprint_path.stat().st_size else str(e)
            raise ValueError(
                f"{str(self.fingerprint_path)!r} is unreadable ({reason}), so the results next "
                "to it cannot be matched to this evaluation. Start over (resume=False, "
                f"`tfls eval --overwrite`) or use another output folder. "
                f"Received: out={str(self.out)!r}"
            ) from None
        return stored

    def _finished_lines(self) -> bool:
        """Whether `batches.jsonl` or `pending.jsonl` holds a complete (newline-ended) line."""
        for path in (self.batches_path, self.pending_path):
            try:
                with open(path, "rb") as f:
                    if b"\n" in f.read():
                        return True
            except FileNotFoundError:
                pass
        return False

    def _warn(self, message: str) -> None:
        if not self.writer:
            return
        warnings.warn(message, TflsWarning, stacklevel=4)

    def _read(self) -> Iterator[dict]:
        if not self.batches_path.exists():
            return iter(())
        data = self.batches_path.read_bytes()
        evaluation = self.evaluation
        records, good_end, damage = trusted_lines(
            data, lambda record, index: record_problem(record, index, evaluation)
        )
        if damage is not None:
            # Damage of a kind a kill cannot cause: recover by recomputing from there.
            self._warn(_problem_line(self.batches_path, *damage, len(records)))
        if good_end != len(data):
            # A torn write (silently) or damage (warned above): cut it off before the next append.
            self._pending = {"truncate": good_end}
        return iter(records)

    def read_pending(self) -> list[dict]:
        """The attack-major steps stored for unfinished batches, in the order they were written.

        Call after `open`. A torn last line is dropped silently; a line that is not bound to
        this evaluation or fails its checksum is dropped with every later one, with a warning
        (those steps are redone).
        """
        if self._pending is not None and "reset" in self._pending:
            return []
        try:
            data = self.pending_path.read_bytes()
        except FileNotFoundError:
            return []
        evaluation = self.evaluation
        entries, good_end, damage = trusted_lines(
            data, lambda entry, index: binding_problem(entry, evaluation)
        )
        if damage is not None:
            number, problem = damage
            self._warn(
                f"{str(self.pending_path)!r} line {number} {problem}: kept the {len(entries)} "
                "step(s) before it; that line and every later one will be recomputed."
            )
        if good_end != len(data):
            self._pending_end = good_end
        return entries

    def append_pending(self, entry: dict) -> None:
        """Durably appends one attack-major step (see `read_pending`)."""
        if not self.writer:
            return
        self._commit()
        if self._pending_end is not None:
            with open(self.pending_path, "r+b") as f:
                f.truncate(self._pending_end)
                f.flush()
                os.fsync(f.fileno())
            self._pending_end = None
        line = json.dumps(bind(entry, self.evaluation), default=io._json_default)
        io.append_line(self.pending_path, line)

    def append(self, record: dict) -> None:
        if not self.writer:
            return
        self._commit()
        line = json.dumps(bind(record, self.evaluation), default=io._json_default)
        io.append_line(self.batches_path, line)

    def _commit(self) -> None:
        """Applies what `open` deferred (discarding old results, cutting damage); once."""
        pending, self._pending = self._pending, None
        self._committed = True  # from here on the folder is this evaluation's
        if pending is None:
            return
        if "reset" in pending:
            for path in (self.batches_path, self.pending_path):
                path.unlink(missing_ok=True)
            io.atomic_write_json(self.fingerprint_path, pending["reset"])
        if "truncate" in pending:
            with open(self.batches_path, "r+b") as f:
                f.truncate(pending["truncate"])
                f.flush()
                os.fsync(f.fileno())

    def close(self, *, failed: bool = False) -> None:
        """Releases the folder. Unless `failed`, first applies anything `open` deferred.

        After a failure before the first append, the folder is left as `open` found it: the
        lock file and folder it created are removed again.
        """
        if not self._lock.held:
            return
        if not failed:
            self._commit()
        # Nothing committed: the lock file goes too if this run made it (the folder as found).
        self._lock.release(remove=not self._committed and self._lock.created)
        self._cleanup()

    def _cleanup(self) -> None:
        if not self._committed:
            io.remove_created(self.out, self._top)  # only if empty: never delete anything else
        self._top = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(failed=exc_type is not None)
