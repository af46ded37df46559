"""One defense's live numbers: a figure-like table per ε, and a chart (by batch, or vs ε)."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.audit_store import BADGE_STYLES
from tui.runs import RunInfo
from tui.widgets.accuracy_chart import AccuracyChart, SweepPlot
from tui.widgets.results_table import ResultsTable, Row, display_name


@dataclass
class Column:
    """The numbers of one ε so far (fractions of `images`), with intervals and speeds."""

    images: int = 0
    clean: float | None = None
    robust: dict[str, float] = field(default_factory=dict)
    worst: float | None = None
    state: str = "waiting"  # waiting, running, complete, cancelled, failed
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # incl. clean, worst
    rates: dict[str, float] = field(default_factory=dict)  # images/s per attack (from the report)
    passes: dict[str, float] = field(default_factory=dict)  # backward passes per image, per attack


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _wilson(count: int, total: int) -> tuple[float, float]:
    from tfls.stats import wilson_interval  # loaded by the time numbers arrive

    return wilson_interval(count, total)


class ResultsPanel(Vertical):
    """The table of the ε being shown for `run`, updated after every batch.

    Args:
        run: the defense (its name, α and audit verdict make the title).
        attacks: attack names, in the order they run (the first is the Δ reference).
        eps_labels: one or more ε (a sweep adds a plot of accuracy vs ε per attack).
        n: images per ε.
        title: the border title (default: the run's name and α).
        chart: False leaves out the chart (a saved report has no per-batch history).
    """

    DEFAULT_CSS = """
    ResultsPanel {
        width: 1fr;
        min-width: 36;
        height: 1fr;
        border: round $secondary;
        padding: 0 1;
    }
    ResultsPanel .eps { height: 1; color: $text-muted; display: none; }
    ResultsPanel .eps.sweep { display: block; }
    ResultsPanel .state { height: auto; width: 1fr; color: $text-muted; }
    ResultsPanel .error { height: auto; width: 1fr; color: $error; }
    """

    def __init__(
        self,
        run: RunInfo,
        attacks: tuple[str, ...],
        eps_labels: tuple[str, ...],
        *,
        n: int,
        title: str | None = None,
        chart: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.chart = chart
        self.run = run
        self.attacks = attacks
        self.eps_labels = eps_labels
        self.n = n
        self.columns = [Column() for _ in eps_labels]
        self.shown = 0  # the ε whose table is shown: the latest one with numbers
        self.history: list[float] = []  # worst case after each batch (of the current ε)
        self.border_title = title or f"{run.name} {run.kind_text}"
        self.border_subtitle = self._subtitle()

    def _subtitle(self):
        from rich.text import Text

        kind = self.run.model if self.run.external else self.run.method_text
        text = Text(f"{self.run.dataset_text} {kind or '?'}")
        if self.run.verdict:  # the audit's verdict (tui.audit_store), as in the defense list
            text.append(" ")
            text.append(
                f" {self.run.verdict} ", style=BADGE_STYLES.get(self.run.verdict, "reverse")
            )
        return text

    def compose(self) -> ComposeResult:
        sweep = len(self.eps_labels) > 1
        yield Label(f"ε={self.eps_labels[0]}", classes="eps sweep" if sweep else "eps")
        yield ResultsTable(self.attacks)
        if self.chart:
            yield SweepPlot(self.attacks) if sweep else AccuracyChart()
        yield Label("waiting", classes="state")
        yield Label("", classes="error")

    @property
    def table(self) -> ResultsTable:
        return self.query_one(ResultsTable)

    # --- updates -------------------------------------------------------------------------

    def show_progress(self, eps_index: int, progress) -> None:
        """Takes a `tfls.eval.progress.Progress` snapshot."""
        col = self.columns[eps_index]
        if col.state != "running":
            self.history = []
        col.state = "running"
        n = col.images = progress.images_done
        col.clean = progress.clean_accuracy
        col.robust = {name: progress.robust_accuracy(name) for name in progress.robust}
        col.worst = progress.worst_case_accuracy
        col.intervals = {name: _wilson(c, n) for name, c in progress.robust.items()}
        col.intervals["clean"] = _wilson(progress.clean_correct, n)
        col.intervals["worst"] = _wilson(progress.worst_case, n)
        col.passes = {
            name: spent[1] / n for name, spent in (progress.passes or {}).items() if spent and n
        }
        self.history.append(col.worst)
        restored = f" ({progress.restored_images} restored)" if progress.restored_images else ""
        self._state(f"ε={self.eps_labels[eps_index]}: {col.images}/{self.n} images{restored}")
        self._redraw(eps_index)

    def show_report(self, eps_index: int, report: dict, *, complete: bool | None = None) -> None:
        """Takes a report dict (`report.json`) of a finished or cancelled evaluation."""
        col = self.columns[eps_index]
        n = col.images = int(report.get("images", 0))
        col.clean = report.get("clean_accuracy")
        attacks = report.get("attacks") or {}
        col.robust = {name: r.get("robust_accuracy") for name, r in attacks.items()}
        col.worst = report.get("worst_case_accuracy")
        col.rates = {
            name: r["images_per_s"] for name, r in attacks.items() if r.get("images_per_s")
        }
        col.passes = {
            name: r["backward_passes"] / n
            for name, r in attacks.items()
            if r.get("backward_passes") is not None and n
        }

        def interval(saved, accuracy):
            if saved is not None:
                return tuple(saved)
            if accuracy is None or not n:
                return None
            return _wilson(round(accuracy * n), n)  # an old report without intervals

        col.intervals = {
            name: interval(r.get("interval"), r.get("robust_accuracy"))
            for name, r in attacks.items()
        }
        col.intervals["clean"] = interval(report.get("clean_interval"), col.clean)
        col.intervals["worst"] = interval(report.get("worst_case_interval"), col.worst)
        done = report.get("complete", True) if complete is None else complete
        self.finish(eps_index, complete=done)

    def finish(self, eps_index: int, *, complete: bool) -> None:
        col = self.columns[eps_index]
        col.state = "complete" if complete else "cancelled"
        label = self.eps_labels[eps_index]
        if complete:
            self._state(f"ε={label}: done, {col.images} images{self._worst_note(col)}")
        else:
            self._state(f"ε={label}: cancelled at {col.images}/{self.n} images (kept, r resumes)")
        self._redraw(eps_index)

    def fail(self, eps_index: int, error: str) -> None:
        self.columns[eps_index].state = "failed"
        self.query_one(".error", Label).update(f"ε={self.eps_labels[eps_index]}: {error}")
        self._redraw(eps_index)

    # --- drawing -------------------------------------------------------------------------

    def _worst_note(self, col: Column) -> str:
        known = {k: v for k, v in col.robust.items() if v is not None}
        if not known:
            return ""
        name = min(known, key=known.get)  # first of a tie, as the table highlights it
        return f" · lowest: {display_name(name)}"

    def _state(self, text: str) -> None:
        self.query_one(".state", Label).update(text)

    def rows(self, eps_index: int) -> tuple[Row, list[Row], Row]:
        col = self.columns[eps_index]
        clean = Row("clean", col.clean, col.intervals.get("clean"))
        attacks = [
            Row(
                name,
                col.robust.get(name),
                col.intervals.get(name),
                col.rates.get(name),
                col.passes.get(name),
            )
            for name in self.attacks
        ]
        return clean, attacks, Row("worst", col.worst, col.intervals.get("worst"))

    def _redraw(self, eps_index: int) -> None:
        if self.columns[eps_index].images or not self.columns[self.shown].images:
            self.shown = eps_index
        self.query_one(".eps", Label).update(f"ε={self.eps_labels[self.shown]}")
        self.table.update(*self.rows(self.shown))
        if not self.chart:
            return
        if len(self.eps_labels) > 1:
            self.query_one(SweepPlot).show(
                self.eps_labels,
                [{**c.robust, "worst": c.worst} if c.images else {} for c in self.columns],
            )
        elif self.history:
            self.query_one(AccuracyChart).plot(
                self.history,
                f"worst by batch: {_pct(self.history[0])} → {_pct(self.history[-1])}",
            )
