"""Reopen saved results: every results folder the app wrote inside the runs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.runs import SavedResult


class SavedResultsScreen(ModalScreen[SavedResult | None]):
    """Pick one saved evaluation (Enter) to show it again; Esc closes."""

    BINDINGS = [Binding("escape", "close", "Close")]

    DEFAULT_CSS = """
    SavedResultsScreen { align: center middle; }
    SavedResultsScreen > Vertical {
        width: 90%; height: 80%; border: round $primary; background: $surface;
    }
    SavedResultsScreen OptionList { height: 1fr; border: none; }
    SavedResultsScreen Label { padding: 0 1; color: $text-muted; }
    """

    def __init__(self, results: list[SavedResult]) -> None:
        super().__init__()
        self.results = results

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Saved results"
            if self.results:
                yield OptionList(
                    *[Option(r.summary, id=str(i)) for i, r in enumerate(self.results)]
                )
                yield Label("Enter opens · Esc closes")
            else:
                yield Label("No saved results yet: run an evaluation first (r). Esc closes.")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.results[int(event.option.id)])

    def action_close(self) -> None:
        self.dismiss(None)
