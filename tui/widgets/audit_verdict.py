"""The audit's verdict (overestimated / suspicious / inconclusive / no masking found), why, and what to report."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.audit_store import BADGE_STYLES


def verdict_text(report) -> Text:
    """A finished `tfls.audit.AuditReport` as rich text (never the word "robust" as a verdict)."""
    text = Text("Verdict ", style="bold")
    text.append(f" {report.verdict} ", style=BADGE_STYLES.get(report.verdict, "reverse"))
    text.append(f"\n{report.reason}")
    lowest = report.lowest
    text.append(
        f"\nClean {100 * report.clean_accuracy:.1f}% · PGD-20 {100 * report.pgd20:.1f}% · "
        f"lowest {100 * lowest['accuracy']:.1f}% ({lowest['attack']}) · ",
        style="cyan",
    )
    text.append(
        f"worst case over the audit's {len(report.accuracies)} attacks "
        f"{100 * report.worst_case:.1f}%, {report.points_of_difference:.1f} points below PGD-20",
        style="bold cyan",
    )
    text.append("\nWorst case over: " + ", ".join(report.accuracies))
    if report.evaluator_line():
        text.append("\n" + report.evaluator_line())
    text.append("\nReport the worst case over: ", style="bold")
    text.append(", ".join(report.recommended_suite))
    return text


class AuditVerdict(VerticalScroll):
    """`waiting(done, total)` while checks run; `show(report)` at the end; `note(text)` otherwise."""

    DEFAULT_CSS = """
    AuditVerdict {
        height: auto;
        max-height: 40%;
        border: round $primary 50%;
        border-title-color: $text;
        padding: 0 1;
    }
    AuditVerdict > Static { height: auto; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Verdict"
        self.verdict: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting for the checks…", style="dim"), id="verdict-text")

    def waiting(self, done: int, total: int) -> None:
        self.verdict = None
        self.note(f"{done}/{total} checks done; the verdict comes when all have run.")

    def note(self, text: str) -> None:
        self.query_one("#verdict-text", Static).update(Text(text, style="dim"))

    def show(self, report) -> None:
        self.verdict = report.verdict
        self.query_one("#verdict-text", Static).update(verdict_text(report))
