"""`CheckResult`: what one gradient-masking check found, with its numbers, evidence and advice."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUSES = ("ok", "warn", "fail", "skipped")
# "evidence": a statistical test on per-example outcomes (attacks compared on the same points, or
# an attack failing where it cannot fail); its p-value enters the verdict, Holm-corrected.
# "diagnostic": a property of the model or the engine; shown, with what the audit did about it
# (`follow_up`), never deciding the verdict.
KINDS = ("evidence", "diagnostic")
# The checks that are diagnostics (docs/audit.md): probability outputs, randomness, compiled
# loss, gradient availability, logit scale, the engine's self-test, unstable predictions,
# transfer failure, restart spread. A check's kind follows its id unless given.
DIAGNOSTIC_IDS = (1, 2, 3, 4, 5, 12, 13, 16, 18)


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
        kind: `"evidence"` (a test whose p-value decides the verdict) or `"diagnostic"`.
        p_value: an evidence check's one-sided p-value, before correction (None otherwise).
        p_adjusted: the same after Holm's correction across the audit's evidence checks (set
            by the verdict; its `status` then follows it: "fail" when below the level).
        test: the test and its null hypothesis, in words.
        follow_up: what the audit ran because of a diagnostic, e.g. `{"eot": 20}`,
            `{"bpda": ["quantize"]}`, `{"losses": ["apgd-dlr", "pgd-cw"]}`.
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
    kind: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    test: str = ""
    follow_up: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(
                f"Unknown check status {self.status!r}. Expected one of: {', '.join(STATUSES)}. "
                f"Received: status={self.status!r}"
            )
        if self.kind is None:
            self.kind = "diagnostic" if self.id in DIAGNOSTIC_IDS else "evidence"
        if self.kind not in KINDS:
            raise ValueError(
                f"Unknown check kind {self.kind!r}. Expected one of: {', '.join(KINDS)}. "
                f"Received: kind={self.kind!r}"
            )

    @property
    def fired(self) -> bool:
        return self.status in ("warn", "fail")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CheckResult:
        return cls(**d)
