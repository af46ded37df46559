"""Reopen saved work: the app's evaluations inside the runs, and the recipes' outputs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.outputs import RecipeOutput
from tui.runs import SavedResult


class SavedResultsScreen(ModalScreen[SavedResult | RecipeOutput | None]):
    """Pick one saved evaluation or recipe output (Enter) to show it; Esc closes."""

    BINDINGS = [Binding("escape", "close", "Close")]

    DEFAULT_CSS = """
    SavedResultsScreen { align: center middle; }
    SavedResultsScreen > Vertical {
        width: 90%; height: 80%; border: round $primary; background: $surface;
    }
    SavedResultsScreen OptionList { height: 1fr; border: none; }
    SavedResultsScreen Label { padding: 0 1; color: $text-muted; }
    """

    def __init__(self, results: list[SavedResult], outputs: list[RecipeOutput] = ()) -> None:
        super().__init__()
        self.results = results
        self.outputs = list(outputs)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Saved results"
            if self.results or self.outputs:
                yield OptionList(
                    *[Option(r.summary, id=f"s{i}") for i, r in enumerate(self.results)],
                    *[Option(o.summary, id=f"r{i}") for i, o in enumerate(self.outputs)],
                )
                yield Label("Enter opens · Esc closes")
            else:
                yield Label("No saved results yet: run an evaluation first (r). Esc closes.")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        kind, index = event.option.id[0], int(event.option.id[1:])
        self.dismiss(self.results[index] if kind == "s" else self.outputs[index])

    def action_close(self) -> None:
        self.dismiss(None)
