"""A recipe's saved output: one results table per evaluated model, then the claims checked."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui.outputs import RecipeOutput
from tui.widgets.results_panel import ResultsPanel

VERDICT_STYLES = {"held": "bold green", "not held": "bold red"}


def claims_table(claims: list[dict]) -> Table:
    """The recipe's claims: id, verdict (coloured), the statement and what was measured."""
    table = Table(box=None, padding=(0, 1, 0, 0), expand=True, show_edge=False, pad_edge=False)
    table.add_column("claim", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("statement · measured", ratio=1)
    for claim in claims:
        verdict = str(claim.get("verdict", "held" if claim.get("held") else "not held"))
        text = Text(str(claim.get("statement", "")))
        if claim.get("variant"):
            text.append(f" ({claim['variant']})", style="italic")
        if claim.get("detail"):
            text.append(f"\n{claim['detail']}", style="dim")
        table.add_row(
            str(claim.get("id", "?")), Text(verdict, style=VERDICT_STYLES.get(verdict, "")), text
        )
    return table


class RecipeScreen(Screen):
    """Shows `output` read-only; Esc goes back, s saves the screen as SVG in the output folder."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    DEFAULT_CSS = """
    RecipeScreen #evals { height: auto; max-height: 70%; }
    RecipeScreen ResultsPanel { height: auto; min-width: 36; }
    RecipeScreen #claims { height: 1fr; border: round $primary 50%; padding: 0 1; }
    """

    def __init__(self, output: RecipeOutput) -> None:
        super().__init__()
        self.output = output
        self.evaluations = output.evaluations()

    def compose(self) -> ComposeResult:
        yield Header()
        with HorizontalScroll(id="evals"):
            for i, ev in enumerate(self.evaluations):
                eps = ev.report.get("eps")
                yield ResultsPanel(
                    ev.run,
                    tuple(ev.report.get("attacks") or {}),
                    (f"{eps:g}" if isinstance(eps, int | float) else str(eps),),
                    n=int(ev.report.get("images", 0)),
                    title=ev.label,
                    chart=False,
                    id=f"eval-{i}",
                )
        with VerticalScroll(id="claims") as claims:
            claims.border_title = "Claims checked"
            if self.output.claims:
                yield Static(claims_table(self.output.claims))
            else:
                yield Static("This recipe checks no claims.")
        yield Footer()

    def on_mount(self) -> None:
        data = self.output.data
        self.sub_title = (
            f"{self.output.name} · {data.get('n', '?')} images · {data.get('title', '')}"
        )
        for i, ev in enumerate(self.evaluations):
            self.query_one(f"#eval-{i}", ResultsPanel).show_report(0, ev.report)

    def screenshot_dir(self) -> Path:
        return self.output.folder
