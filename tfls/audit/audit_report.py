"""`AuditReport`: the checks, the verdict and the numbers, as JSON, Markdown (≤ 100 columns) and PNGs."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tfls import io
from tfls.checks.result import CheckResult

WIDTH = 100
FILES = ("audit.json", "audit.md")


@dataclass
class AuditReport:
    """The result of `tfls.audit.audit`.

    Attributes:
        checks: every check (1-18, `docs/audit.md`), skipped ones included, in order.
        verdict: `"overestimated"`, `"suspicious"`, `"inconclusive"` or `"no masking found"`
            (never "robust").
        reason: why, in one paragraph, with the gap, its interval and p-value.
        recommended_suite: the attack presets whose worst case the user should report.
        clean_accuracy: on the audited points.
        pgd20: PGD-20's robust accuracy (the number a user would report, the audit questions).
        lowest: `{"attack": label, "accuracy": fraction}`: the lowest single-attack number at ε.
        worst_case: robust accuracy over every attack the audit ran at ε, its adaptive
            follow-ups included (per example): the number to report.
        points_of_difference: `100 * (pgd20 - worst_case)`.
        accuracies: attack label -> robust accuracy at ε, for every attack run at ε.
        gap: the gap test (`tfls.audit.verdict.gap_test`): points, 95% interval (points),
            broken, robust_to_pgd20, p_value, p_adjusted, smallest_detectable_share.
        skipped_evidence: the evidence checks this budget (or a missing surrogate) skipped.
        meta: model (its path), eps, norm, budget, images, seed, draws, seconds.
        evaluator: a finished `tfls eval` of the same weights, ε and points, when one was found
            (`tfls.audit.alongside.Alongside.to_dict`): its attacks and worst case, else None.
    """

    checks: list[CheckResult]
    verdict: str
    reason: str
    recommended_suite: list[str]
    clean_accuracy: float
    pgd20: float
    lowest: dict
    worst_case: float
    points_of_difference: float
    accuracies: dict = field(default_factory=dict)
    gap: dict = field(default_factory=dict)
    skipped_evidence: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    evaluator: dict | None = None

    def check(self, check_id: int) -> CheckResult:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    @property
    def fired(self) -> list[int]:
        return [c.id for c in self.checks if c.fired]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["checks"] = [c.to_dict() for c in self.checks]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> AuditReport:
        d = dict(d)
        d["checks"] = [CheckResult.from_dict(c) for c in d["checks"]]
        return cls(**d)

    @classmethod
    def load(cls, path) -> AuditReport:
        path = Path(path)
        if path.is_dir():
            path = path / "audit.json"
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    # -- text ---------------------------------------------------------------------------------

    def worst_case_line(self) -> str:
        """Which attacks the audit's worst case covers."""
        return (
            f"Worst case {100 * self.worst_case:.1f}%, per example over the audit's "
            f"{len(self.accuracies)} attacks at ε: " + ", ".join(self.accuracies) + "."
        )

    def evaluator_line(self) -> str | None:
        """The evaluator's number for the same weights, ε and points, when there is one."""
        if not self.evaluator:
            return None
        from tfls.audit.alongside import Alongside

        return Alongside.from_dict(self.evaluator).sentence(self.worst_case)

    def to_markdown(self, width: int = WIDTH) -> str:
        """The report in Markdown whose every line fits in `width` (≤ 100) columns."""
        width = min(int(width), WIDTH)
        m = self.meta
        eps = m.get("eps", 0.0)
        threat = f"{m.get('norm', '?')} ε = {eps:.6g}"
        if m.get("norm") == "linf":
            threat += f" (= {eps * 255:.4g}/255)"
        lines = ["# Gradient-masking audit", ""]
        facts = [
            f"Model: {m.get('model', '?')}",
            f"Threat model: {threat}",
            f"Points: {m.get('images', '?')}; budget: {m.get('budget', '?')}; seed: {m.get('seed', 0)}",
            f"Clean accuracy: {100 * self.clean_accuracy:.1f}%",
        ]
        lines += [_fit(f, width) + "  " for f in facts]
        lines += ["", "## Verdict", ""]
        lines += textwrap.wrap(f"**{self.verdict}**. {self.reason}", width)
        lines += [""]
        lines += textwrap.wrap(self.worst_case_line(), width)
        if self.evaluator_line():
            lines += [""]
            lines += textwrap.wrap(self.evaluator_line(), width)
        lines += [""]
        lines += textwrap.wrap(
            "Report the worst case over: " + ", ".join(self.recommended_suite) + ".", width
        )
        if self.skipped_evidence:
            lines += [""]
            lines += textwrap.wrap(
                "Evidence checks this audit did not run: "
                + ", ".join(self.skipped_evidence)
                + ". A larger budget (or a surrogate) runs those the budget skipped.",
                width,
            )
        lines += [
            "",
            "## Checks",
            "",
            "| # | check | kind | status | p (Holm) | finding |",
            "|--:|---|---|---|--:|---|",
        ]
        for c in self.checks:
            p = "" if c.p_adjusted is None else f"{c.p_adjusted:.2g}"
            head = f"| {c.id} | {c.title} | {c.kind} | {c.status} | {p} | "
            lines.append(head + _fit(c.summary, width - len(head) - 2) + " |")
        lines += ["", "## What to do", ""]
        todo = [c for c in self.checks if c.fired and c.advice]
        if not todo:
            lines.append("Nothing fired. Still quote AutoAttack (or APGD), not PGD-20 alone.")
        for c in todo:
            lines += textwrap.wrap(
                f"- **{c.id}. {c.title}** ({c.status}): {c.advice}",
                width,
                subsequent_indent="  ",
            )
        lines += ["", "## Numbers", ""]
        for c in self.checks:
            if not c.numbers:
                continue
            text = ", ".join(f"{k}={_num(v)}" for k, v in c.numbers.items())
            lines += textwrap.wrap(f"- {c.id}. {text}", width, subsequent_indent="  ")
        lines += ["", "## Robust accuracy at ε, per attack", ""]
        for label, acc in self.accuracies.items():
            lines.append(_fit(f"- {label}: {100 * acc:.1f}%", width))
        lines += ["", "## Tests", ""]
        for c in self.checks:
            if c.test:
                raw = "" if c.p_value is None else f" p = {c.p_value:.2g}"
                lines += textwrap.wrap(f"- {c.id}. {c.test}.{raw}", width, subsequent_indent="  ")
        lines += ["", "## Sources", ""]
        for c in self.checks:
            lines += textwrap.wrap(f"- {c.id}. {c.source}", width, subsequent_indent="  ")
        return "\n".join(lines) + "\n"

    def write(self, out) -> dict[str, Path]:
        """Writes `audit.json`, `audit.md` and the PNGs into `out`, each atomically."""
        from tfls.audit.plots import write_plots

        out = Path(out)
        paths = {name: out / name for name in FILES}
        io.atomic_write_json(paths["audit.json"], self.to_dict())
        io.atomic_write_text(paths["audit.md"], self.to_markdown())
        paths.update(write_plots(self, out))
        return paths


def _fit(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _num(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
