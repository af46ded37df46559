"""Per-example evidence of a finished evaluation: which points each attack broke, from its store.

`tfls.eval.evaluate` appends one line per batch to `batches.jsonl` holding a bit per example
(clean-correct, robust to each attack). Counts alone cannot say *which* points an attack broke
and another did not; the gradient-masking audit needs exactly that, so it reads the bits back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfls.eval.record_format import decode_bits
from tfls.eval.store import BATCHES, read_records


@dataclass
class Evidence:
    """Per-example bits of one evaluation, in dataset order.

    Attributes:
        clean: `(n,)` bool, the model classifies the clean point correctly.
        robust: attack name -> `(n,)` bool, correct clean and after that attack.
    """

    clean: np.ndarray
    robust: dict[str, np.ndarray]

    @property
    def images(self) -> int:
        return int(self.clean.size)

    @property
    def worst_case(self) -> np.ndarray:
        """Robust to every attack (and correct clean)."""
        out = self.clean.copy()
        for bits in self.robust.values():
            out &= bits
        return out

    def broken(self, name: str) -> np.ndarray:
        """Points correct clean that attack `name` broke."""
        return self.clean & ~self.robust[name]


def read_evidence(out: str | Path) -> Evidence:
    """Reads the per-example bits of the evaluation stored in `out` (its `batches.jsonl`).

    Only the records the store itself trusts are read (`tfls.eval.store.read_records`: bound to
    the stored fingerprint, checksummed, in order), exactly those `evaluate` would resume from.

    Raises:
        FileNotFoundError: `out` holds no `batches.jsonl`.
    """
    path = Path(out) / BATCHES
    if not path.is_file():
        raise FileNotFoundError(
            f"No evaluation results at {str(path)!r}. Received: out={str(out)!r}"
        )
    clean, robust = [], {}
    for record in read_records(out):
        clean.append(decode_bits(record["clean"]))
        for name, bits in record["robust"].items():
            robust.setdefault(name, []).append(decode_bits(bits))
    if not clean:
        return Evidence(np.zeros(0, bool), {})
    return Evidence(
        clean=np.concatenate(clean),
        robust={name: np.concatenate(parts) for name, parts in robust.items()},
    )
