"""One defense's live numbers: clean, each attack's robust accuracy, the cumulative worst case."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from tui.runs import RunInfo
from tui.widgets.accuracy_chart import AccuracyChart


@dataclass
class Column:
    """The numbers of one ε so far (fractions of `images`)."""

    images: int = 0
    clean: float | None = None
    robust: dict[str, float] = field(default_factory=dict)
    worst: float | None = None
    state: str = "waiting"  # waiting, running, complete, cancelled, failed


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


class ResultsPanel(Vertical):
    """Numbers per ε (one column each) for `run`, updated after every batch."""

    DEFAULT_CSS = """
    ResultsPanel {
        width: 1fr;
        min-width: 36;
        height: 1fr;
        border: round $secondary;
        padding: 0 1;
    }
    ResultsPanel .table { height: auto; }
    ResultsPanel .state { height: auto; color: $text-muted; }
    ResultsPanel .error { height: auto; color: $error; }
    """

    def __init__(
        self,
        run: RunInfo,
        attacks: tuple[str, ...],
        eps_labels: tuple[str, ...],
        *,
        n: int,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.attacks = attacks
        self.eps_labels = eps_labels
        self.n = n
        self.columns = [Column() for _ in eps_labels]
        self.history: list[float] = []  # worst case after each batch (of the current ε)
        self.border_title = f"{run.name} α={run.alpha_text}"
        self.border_subtitle = f"{run.dataset or '?'} {run.method or '?'}"

    def compose(self) -> ComposeResult:
        yield Static(self._table(), classes="table")
        yield AccuracyChart()
        yield Label("waiting", classes="state")
        yield Label("", classes="error")

    # --- updates -------------------------------------------------------------------------

    def show_progress(self, eps_index: int, progress) -> None:
        """Takes a `tfls.eval.progress.Progress` snapshot."""
        col = self.columns[eps_index]
        if col.state != "running":
            self.history = []
        col.state = "running"
        col.images = progress.images_done
        col.clean = progress.clean_accuracy
        col.robust = {name: progress.robust_accuracy(name) for name in progress.robust}
        col.worst = progress.worst_case_accuracy
        self.history.append(col.worst)
        restored = f" ({progress.restored_images} restored)" if progress.restored_images else ""
        self._state(f"ε={self.eps_labels[eps_index]}: {col.images}/{self.n} images{restored}")
        self._redraw(eps_index)

    def show_report(self, eps_index: int, report: dict, *, complete: bool | None = None) -> None:
        """Takes a report dict (`report.json`) of a finished or cancelled evaluation."""
        col = self.columns[eps_index]
        col.images = int(report.get("images", 0))
        col.clean = report.get("clean_accuracy")
        col.robust = {
            name: r.get("robust_accuracy") for name, r in (report.get("attacks") or {}).items()
        }
        col.worst = report.get("worst_case_accuracy")
        done = report.get("complete", True) if complete is None else complete
        self.finish(eps_index, complete=done)

    def finish(self, eps_index: int, *, complete: bool) -> None:
        col = self.columns[eps_index]
        col.state = "complete" if complete else "cancelled"
        label = self.eps_labels[eps_index]
        if complete:
            self._state(f"ε={label}: done, {col.images} images")
        else:
            self._state(f"ε={label}: cancelled at {col.images}/{self.n} images (kept, r resumes)")
        self._redraw(eps_index)

    def fail(self, eps_index: int, error: str) -> None:
        self.columns[eps_index].state = "failed"
        self.query_one(".error", Label).update(f"ε={self.eps_labels[eps_index]}: {error}")
        self._redraw(eps_index)

    # --- drawing -------------------------------------------------------------------------

    def _state(self, text: str) -> None:
        self.query_one(".state", Label).update(text)

    def _redraw(self, eps_index: int) -> None:
        self.query_one(".table", Static).update(self._table())
        chart = self.query_one(AccuracyChart)
        if len(self.eps_labels) > 1:
            points = [
                (lab, c.worst)
                for lab, c in zip(self.eps_labels, self.columns, strict=True)
                if c.worst is not None
            ]
            caption = "worst vs ε: " + "  ".join(f"{lab} {_pct(w)}" for lab, w in points)
            chart.plot([w for _, w in points], caption)
        elif self.history:
            chart.plot(
                self.history,
                f"worst by batch: {_pct(self.history[0])} → {_pct(self.history[-1])}",
            )

    def _table(self) -> Table:
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
        table.add_column("ε", no_wrap=True, overflow="ellipsis", min_width=10)
        for label in self.eps_labels:
            table.add_column(label, justify="right", no_wrap=True)
        table.add_row("images", *(str(c.images) for c in self.columns), style="dim")
        table.add_row("clean", *(_pct(c.clean) for c in self.columns))
        for name in self.attacks:
            table.add_row(name, *(_pct(c.robust.get(name)) for c in self.columns))
        table.add_row("worst case", *(_pct(c.worst) for c in self.columns), style="bold")
        return table
