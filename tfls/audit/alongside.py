"""The evaluator's number beside the audit's: a finished `tfls eval` of the same weights and points.

An audit and an evaluation of the same model at the same ε compute the same thing, the
per-example worst case, over different attacks. When a user has both, the audit's summary shows
the evaluator's number with the attacks it covers, so the two never read as two meanings of
"worst case": each is the worst case over the attacks named beside it, and the lower one is the
better upper bound on the robustness.

`find(roots, ...)` looks for `report.json` files of complete evaluations in the given folders and
their direct subfolders (a run folder holds its evaluations: `runs/ls09/eval-0.03/`). A report
matches when its weights digest, norm, ε, number of images and (when known) dataset and split
are the audit's; of several matches the lowest worst case is shown.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Alongside:
    """A matching evaluation: where it is, the attacks it ran and its per-example worst case."""

    path: str
    attacks: tuple[str, ...]
    worst_case: float
    interval: tuple[float, float]
    images: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Alongside:
        return cls(
            path=str(d["path"]),
            attacks=tuple(d["attacks"]),
            worst_case=float(d["worst_case"]),
            interval=(float(d["interval"][0]), float(d["interval"][1])),
            images=int(d["images"]),
        )

    def sentence(self, audit_worst_case: float) -> str:
        """One sentence for the audit's summary: the evaluator's number and which is lower."""
        lo, hi = self.interval
        text = (
            f"tfls eval on the same weights, ε and {self.images} images ({self.path}) found a "
            f"worst case over {', '.join(self.attacks)} of {100 * self.worst_case:.1f}% "
            f"[{100 * lo:.1f}%, {100 * hi:.1f}%]"
        )
        if self.worst_case < audit_worst_case:
            return text + f": lower than the audit's; report {100 * self.worst_case:.1f}%."
        return text + "."


def find(
    roots,
    *,
    weights_sha256: str,
    eps: float,
    norm: str,
    images: int,
    dataset: str | None = None,
    split: str | None = None,
) -> Alongside | None:
    """The matching complete evaluation under `roots` with the lowest worst case, or None."""
    found = []
    seen = set()
    for root in roots:
        if root is None:
            continue
        root = Path(root)
        if not root.is_dir():
            continue
        for path in [root / "report.json", *sorted(root.glob("*/report.json"))]:
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            match = _match(path, weights_sha256, eps, norm, images, dataset, split)
            if match is not None:
                found.append(match)
    return min(found, key=lambda a: (a.worst_case, a.path)) if found else None


def _match(path, weights_sha256, eps, norm, images, dataset, split) -> Alongside | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        meta = d.get("meta") or {}
        same = (
            d.get("complete") is True
            and (d.get("model") or {}).get("weights_sha256") == weights_sha256
            and d.get("norm") == norm
            and d.get("eps") is not None
            and abs(float(d["eps"]) - float(eps)) <= 1e-9 * max(1.0, float(eps))
            and int(d.get("images", -1)) == int(images)
            and (dataset is None or meta.get("dataset") in (None, dataset))
            and (split is None or meta.get("split") in (None, split))
        )
        if not same:
            return None
        return Alongside(
            path=str(path.parent),
            attacks=tuple(d["attacks"]),
            worst_case=float(d["worst_case_accuracy"]),
            interval=(float(d["worst_case_interval"][0]), float(d["worst_case_interval"][1])),
            images=int(d["images"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # not a tfls report, or not one this version reads: nothing to show
