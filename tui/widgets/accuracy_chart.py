"""A small chart: worst-case accuracy as batches arrive, or accuracy against ε for a sweep."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline


class AccuracyChart(Vertical):
    """A sparkline plus a caption giving the first and last values (a sparkline has no axis)."""

    DEFAULT_CSS = """
    AccuracyChart { height: auto; }
    AccuracyChart Sparkline { height: 3; }
    AccuracyChart Label { height: auto; width: 1fr; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Sparkline([], summary_function=min, min_color="red", max_color="green")
        yield Label("", id="chart-caption")

    def plot(self, values: list[float], caption: str) -> None:
        self.query_one(Sparkline).data = list(values)
        self.query_one("#chart-caption", Label).update(caption)
