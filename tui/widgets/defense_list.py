"""The list of trained models (run folders) with what their run.json says; space selects."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import SelectionList
from textual.widgets.selection_list import Selection

from tui.audit_store import BADGE_STYLES
from tui.runs import RunInfo, read_run


class DefenseList(SelectionList[int]):
    """Multi-select of `RunInfo`s: select one to evaluate, several to compare side by side."""

    DEFAULT_CSS = """
    DefenseList {
        height: 1fr;
        border: round $primary 50%;
        border-title-color: $text;
    }
    DefenseList:focus { border: round $primary; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[RunInfo] = []
        self.border_title = "Defenses"

    def set_runs(self, runs: list[RunInfo], *, keep: set[str] | None = None) -> None:
        """Replaces the list; runs whose names are in `keep` stay selected."""
        keep = keep or set()
        self.runs = list(runs)
        self.clear_options()
        self.add_options(
            [
                Selection(self._prompt(run), i, run.name in keep, disabled=bool(run.error))
                for i, run in enumerate(self.runs)
            ]
        )
        if self.runs:
            self.highlighted = 0  # so that the first Space selects the first run

    @property
    def highlighted_run(self) -> RunInfo | None:
        index = self.highlighted
        return None if index is None or not self.runs else self.runs[index]

    def refresh_run(self, index: int) -> None:
        """Re-reads one run folder (e.g. after an audit wrote its verdict) in place."""
        self.runs[index] = read_run(self.runs[index].path)
        self.replace_option_prompt_at_index(index, self._prompt(self.runs[index]))

    def select_only(self, names) -> None:
        """Selects the runs called `names` (in the list's order) and nothing else."""
        self.deselect_all()
        for i, run in enumerate(self.runs):
            if run.name in names:
                self.select(i)

    @property
    def selected_runs(self) -> list[RunInfo]:
        return [self.runs[i] for i in sorted(self.selected)]

    @staticmethod
    def _prompt(run: RunInfo) -> Text:
        text = Text(run.name, style="bold")
        if run.error:
            text.append("  unreadable run.json", style="red")
            return text
        # α and clean accuracy first: they are what tells defenses apart in a narrow terminal.
        text.append(f"  {run.kind_text}", style="magenta" if run.external else "cyan")
        text.append(f"  {run.clean_text}", style="green")
        if run.verdict:
            text.append("  ")
            text.append(f" {run.verdict} ", style=BADGE_STYLES.get(run.verdict, "reverse"))
        if run.external:
            probs = " probs" if run.outputs == "probs" else ""
            text.append(f"  {run.dataset_text} {run.model or '?'}{probs}", style="dim")
        else:
            text.append(f"  {run.dataset or '?'} {run.model or '?'} {run.method_text}", style="dim")
        return text
