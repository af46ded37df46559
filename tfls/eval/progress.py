"""What `tfls.eval.evaluate` tells its caller after every batch: counts so far, speed, ETA."""

from __future__ import annotations

from dataclasses import dataclass, field


class Cancelled(Exception):
    """Raise from `on_batch` (or return `False`) to stop an evaluation after the current batch.

    The finished batches stay on disk and the same call resumes from them.
    """


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running evaluation, passed to `on_batch` after every batch.

    Counts include batches restored from a previous (interrupted) run of the same evaluation;
    `images_per_s` and `eta_s` are measured on this session's work only.

    Attributes:
        images_done: images evaluated so far (restored + new).
        images_total: images the evaluation will cover, or `None` when the dataset's size is
            unknown.
        batches_done: batches evaluated so far.
        clean_correct: images the model classifies correctly without attack.
        robust: per attack name, images on which that attack failed (and clean was correct).
        worst_case: images on which every attack failed.
        elapsed_s: seconds spent in this session.
        images_per_s: this session's throughput.
        eta_s: estimated seconds left, or `None` when unknown.
        attacks: the attack names, in the order they run.
        restored_images: images taken from a previous run's results instead of recomputed.
        stage: with `schedule="attack-major"`, the pool just finished ("square: batches 0-9,
            412 points"); empty after a finished batch.
        passes: per attack name, `[forward, backward]` passes so far (`tfls.attacks.passes`),
            `None` where a record lacks them.
    """

    images_done: int
    images_total: int | None
    batches_done: int
    clean_correct: int
    robust: dict[str, int] = field(default_factory=dict)
    worst_case: int = 0
    elapsed_s: float = 0.0
    images_per_s: float = 0.0
    eta_s: float | None = None
    attacks: tuple[str, ...] = ()
    restored_images: int = 0
    stage: str = ""
    passes: dict[str, list[int] | None] = field(default_factory=dict)

    def __str__(self) -> str:
        """One line: `images 300/500 · clean 91.0% · worst case 16.7% · 45 img/s · 4 s left`."""
        total = f"/{self.images_total}" if self.images_total else ""
        parts = [
            f"images {self.images_done}{total}",
            f"clean {100 * self.clean_accuracy:.1f}%",
            f"worst case {100 * self.worst_case_accuracy:.1f}%",
            f"{self.images_per_s:.0f} img/s",
        ]
        if self.eta_s is not None:
            parts.append(f"{self.eta_s:.0f} s left")
        if self.stage:
            parts.append(self.stage)
        return " · ".join(parts)

    @property
    def fraction(self) -> float | None:
        """Share of the evaluation done, in [0, 1], or `None` if the total is unknown."""
        if not self.images_total:
            return None
        return min(1.0, self.images_done / self.images_total)

    @property
    def clean_accuracy(self) -> float:
        return self.clean_correct / self.images_done if self.images_done else 0.0

    @property
    def worst_case_accuracy(self) -> float:
        return self.worst_case / self.images_done if self.images_done else 0.0

    def robust_accuracy(self, name: str) -> float:
        return self.robust[name] / self.images_done if self.images_done else 0.0
