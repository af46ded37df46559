"""Charts of a defense's numbers: worst case as batches arrive, and accuracy vs ε for a sweep."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline
from textual_plotext import PlotextPlot

from tui.widgets.results_table import display_name


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


class SweepPlot(PlotextPlot):
    """Robust accuracy (%) vs ε, one line per attack plus the worst case (textual-plotext)."""

    DEFAULT_CSS = """
    SweepPlot { height: 1fr; min-height: 8; }
    """

    def __init__(self, attacks: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.attacks = attacks
        self.series: dict[str, list[tuple[int, float]]] = {}

    def show(self, eps_labels: tuple[str, ...], columns: list[dict]) -> None:
        """`columns[i]` maps attack names (and `"worst"`) to accuracies at `eps_labels[i]`."""
        self.series = {
            name: [(i, 100 * c[name]) for i, c in enumerate(columns) if c.get(name) is not None]
            for name in (*self.attacks, "worst")
        }
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xticks(list(range(len(eps_labels))), list(eps_labels))
        plt.ylim(0, 100)
        plt.ylabel("acc %")
        plt.xlabel("ε")
        for name, points in self.series.items():
            if points:
                xs, ys = zip(*points, strict=True)
                label = "worst" if name == "worst" else display_name(name, short=True)
                plt.plot(list(xs), list(ys), label=label, marker="braille")
        self.refresh()
