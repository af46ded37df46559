"""`CheckResult`: what one gradient-masking check found, with its numbers, evidence and advice."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUSES = ("ok", "warn", "fail", "skipped")


@dataclass
class CheckResult:
    """The outcome of one audit check.

    Attributes:
        id: the check's number (1-14, as in `docs/audit.md`).
        title: short name ("Gradient availability").
        status: `"ok"`, `"warn"` (fired, proves nothing alone), `"fail"` (fired) or `"skipped"`.
        summary: one line saying what was found (or why the check was skipped).
        numbers: the measurements behind the status (JSON scalars).
        evidence: name -> indices of the audited points that show the finding (per example).
        advice: what to do about it ("" when there is nothing to do).
        source: the paper or tool the check comes from.
        data: series for the plots (loss traces, accuracy vs ε); not shown in tables.
    """

    id: int
    title: str
    status: str
    summary: str
    numbers: dict = field(default_factory=dict)
    evidence: dict[str, list[int]] = field(default_factory=dict)
    advice: str = ""
    source: str = ""
    data: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(
                f"Unknown check status {self.status!r}. Expected one of: {', '.join(STATUSES)}. "
                f"Received: status={self.status!r}"
            )

    @property
    def fired(self) -> bool:
        return self.status in ("warn", "fail")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CheckResult:
        return cls(**d)
