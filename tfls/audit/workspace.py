"""The audit's workspace: the audited points, the model, and durable storage of evaluations and checks.

Every attack the audit runs goes through `tfls.eval.evaluate` into `<out>/evals/<key>` (so an
interrupted audit resumes: a finished evaluation is read back, not recomputed) and each finished
check is saved atomically as `<out>/checks/<id>.json`. Without `out` everything lives in a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfls import io
from tfls.checks.result import CheckResult
from tfls.eval import cluster
from tfls.eval.evidence import Evidence, read_evidence
from tfls.eval.report import Report

FINGERPRINT = "audit-fingerprint.json"


@dataclass
class Evaluation:
    """One finished evaluation: its report and per-example bits."""

    report: Report
    evidence: Evidence


def data_digest(x, y) -> str:
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x), np.ascontiguousarray(y)):
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Workspace:
    """Points, model, threat model and the folder an audit keeps its evidence in.

    Args:
        model: the model audited, outputting logits (a probability model already wrapped).
        x, y: the audited points (numpy), in order; evidence indices refer to them.
        eps, norm, seed: the threat model and the seed of every attack.
        out: the audit's folder, or `None` for a temporary one.
        batch_size: images per evaluated batch.
        strategy: the evaluations' `tf.distribute.Strategy` (None: one device). On a
            multi-worker cluster only the chief writes; the other workers read what it wrote
            (`tfls.eval.cluster`), so `out` must be a folder every worker sees.
    """

    def __init__(
        self,
        model,
        x,
        y,
        *,
        eps,
        norm,
        seed,
        out=None,
        batch_size=100,
        jit_compile="auto",
        strategy=None,
    ):
        if out is None and cluster.is_multi_worker(strategy):
            raise ValueError(
                "An audit on a multi-worker cluster needs `out`, a folder every worker sees "
                "(the chief writes it, the others read it). Received: out=None"
            )
        self.strategy = strategy
        self.writer = cluster.writes(strategy)
        self.model = model
        self.x, self.y = x, y
        self.eps, self.norm, self.seed = float(eps), norm, int(seed)
        self.batch_size = int(batch_size)
        self.temporary = out is None
        self.root = (
            Path(tempfile.mkdtemp(prefix="tfls-audit-")) if out is None else io.resolve_out(out)
        )
        self.jit_compile = jit_compile
        self._evaluations: dict[str, Evaluation] = {}
        self.used: list[str] = []

    @property
    def n(self) -> int:
        return int(len(self.y))

    def batches(self) -> list[tuple[np.ndarray, np.ndarray]]:
        bs = self.batch_size
        return [(self.x[i : i + bs], self.y[i : i + bs]) for i in range(0, self.n, bs)]

    def claim(self, facts: dict) -> None:
        """Records what this folder audits; refuses a folder that holds another audit."""
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"`out` must be a folder. Received: out={str(self.root)!r}")
        path = self.root / FINGERPRINT
        facts = json.loads(json.dumps(facts, sort_keys=True, default=io._json_default))
        if path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored != facts:
                keys = sorted(k for k in set(stored) | set(facts) if stored.get(k) != facts.get(k))
                raise ValueError(
                    f"{str(self.root)!r} holds an audit of something else (differs in: "
                    f"{', '.join(keys)}); use another output folder. Received: out={str(self.root)!r}"
                )
        elif self.writer:
            self.root.mkdir(parents=True, exist_ok=True)
            io.atomic_write_json(path, facts)

    # -- evaluations --------------------------------------------------------------------------

    def attacks(self, names, *, eps=None, overrides=None, source_model=None) -> dict:
        """The attacks `evaluation(key, names, ...)` runs, built exactly as it builds them."""
        from tfls.attacks import suite

        eps = self.eps if eps is None else float(eps)
        if self.jit_compile != "auto":
            labels = names.split(",") if isinstance(names, str) else list(names)
            overrides = {
                label: {"jit_compile": self.jit_compile, **(overrides or {}).get(label, {})}
                for label in labels
            }
        return suite(
            self.model,
            names,
            eps=eps,
            norm=self.norm,
            overrides=overrides,
            seed=self.seed,
            source_model=source_model,
        )

    def evaluation(self, key, names, *, eps=None, overrides=None, source_model=None) -> Evaluation:
        """Runs (or reads back) the attacks `names` on every point, stored under `evals/<key>`."""
        from tfls.eval import evaluate

        self.used.append(key)
        if key in self._evaluations:
            return self._evaluations[key]
        built = self.attacks(names, eps=eps, overrides=overrides, source_model=source_model)
        out = self.root / "evals" / key
        report = evaluate(
            self.model,
            self.batches(),
            built,
            out=out,
            meta={"audit": key},
            checks=False,
            strategy=self.strategy,
        )
        cluster.barrier(self.strategy)  # the chief's store is complete before anyone reads it
        result = Evaluation(report, read_evidence(out))
        if result.evidence.images != report.images:
            raise ValueError(
                f"{str(out)!r} holds per-example results for {result.evidence.images} images but "
                f"the evaluation covered {report.images}; delete that folder and run the audit "
                f"again. Received: out={str(self.root)!r}"
            )
        self._evaluations[key] = result
        return result

    def stored(self, key) -> Evaluation:
        """A finished evaluation read back from `evals/<key>` (no model or attack needed)."""
        if key not in self._evaluations:
            out = self.root / "evals" / key
            self._evaluations[key] = Evaluation(Report.load(out), read_evidence(out))
        return self._evaluations[key]

    # -- checks -------------------------------------------------------------------------------

    def _check_path(self, check_id: int) -> Path:
        return self.root / "checks" / f"{check_id}.json"

    def load_check(self, check_id: int, key: str) -> CheckResult | None:
        """The saved result of check `check_id` if it was computed under the same `key`."""
        path = self._check_path(check_id)
        if not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("key") != key:
                return None
            return CheckResult.from_dict(stored["result"])
        except (ValueError, KeyError, TypeError):
            return None  # damaged: recompute

    def save_check(self, result: CheckResult, key: str) -> None:
        if not self.writer:
            return
        io.atomic_write_json(self._check_path(result.id), {"key": key, "result": result.to_dict()})

    def close(self) -> None:
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)
