"""One defense's results as a figure-like table: accuracy, 95% interval, Δ, images/s, backward
passes per image and a bar.

The layout adapts to the width it gets: at 120 columns every column and long attack names; at
80×24 with two defenses side by side, abbreviated names and compact intervals, then fewer
columns, never a wrapped line. Every defense shows the same rows in the same order, so tables
placed side by side line up row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.bar import Bar
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

# Display names of the presets: (full, abbreviated). Others show their preset name.
NAMES = {
    "fgsm": ("FGSM", "FGSM"),
    "pgd10": ("PGD-10", "PGD10"),
    "pgd20": ("PGD-20", "PGD20"),
    "pgd40": ("PGD-40", "PGD40"),
    "pgd-cw": ("PGD-CW", "CW"),
    "apgd-ce": ("APGD-CE", "APGD"),
    "apgd-dlr": ("APGD-DLR", "DLR"),
    "odi": ("ODI", "ODI"),
    "mt": ("MT", "MT"),
    "autoattack": ("AutoAttack", "AA"),
    "autoattack-fast": ("AA-fast", "AAf"),
    "square": ("Square", "Sq"),
}
FULL_NAME_WIDTH = 10
SHORT_NAME_WIDTH = 5
MIN_BAR = 6
MARK = "◀"  # after the bar of the attack that found the lowest accuracy (visible without colour)
MARK_WIDTH = 2  # the mark and the space before it
PASSES_WIDTH = 6  # backward passes per image: "2,190"


def display_name(name: str, *, short: bool = False) -> str:
    full, abbr = NAMES.get(name, (name, name))
    if short:
        return abbr if len(abbr) <= SHORT_NAME_WIDTH else abbr[: SHORT_NAME_WIDTH - 1] + "…"
    return full if len(full) <= FULL_NAME_WIDTH else full[: FULL_NAME_WIDTH - 1] + "…"


@dataclass(frozen=True)
class Row:
    """One measure: its accuracy (a fraction), Wilson 95% interval, images/s and backward passes
    per image (`tfls.attacks.passes`; None: unknown)."""

    name: str
    accuracy: float | None = None
    interval: tuple[float, float] | None = None
    rate: float | None = None
    passes: float | None = None


@dataclass(frozen=True)
class Layout:
    """Which columns fit, and how wide the bar is."""

    short_names: bool
    compact_ci: bool
    show_ci: bool
    show_delta: bool
    show_rate: bool
    bar: int  # 0: no bar
    show_passes: bool = False


def choose_layout(width: int, *, passes: bool = False) -> Layout:
    """The richest layout whose bar still gets `MIN_BAR` cells at `width` (text cells); with
    `passes` (some row knows its passes) the richest has a passes column too."""
    if passes:
        used = _fixed_width(False, False, True, True, True) + PASSES_WIDTH + 1
        if width - used - 1 - MARK_WIDTH >= MIN_BAR:
            return Layout(False, False, True, True, True, width - used - 1 - MARK_WIDTH, True)
    tiers = [
        (False, False, True, True, True),
        (False, True, True, True, True),
        (True, True, True, True, True),
        (True, True, True, True, False),
        (True, True, True, False, False),
        (True, True, False, False, False),
    ]
    for short, compact, ci, delta, rate in tiers:
        used = _fixed_width(short, compact, ci, delta, rate)
        bar = width - used - 1 - MARK_WIDTH
        if bar >= MIN_BAR:
            return Layout(short, compact, ci, delta, rate, bar)
    return Layout(True, True, False, False, False, 0)  # the mark column still fits


def _fixed_width(short, compact, ci, delta, rate) -> int:
    widths = [SHORT_NAME_WIDTH if short else FULL_NAME_WIDTH, 6]
    if ci:
        widths.append(5 if compact else 9)
    if delta:
        widths.append(5)
    if rate:
        widths.append(5)
    return sum(widths) + len(widths) - 1  # one space between columns


def worst_attack(attacks: list[Row]) -> str | None:
    """The attack with the lowest robust accuracy (the first of a tie: it found it cheapest)."""
    known = [r for r in attacks if r.accuracy is not None]
    return min(known, key=lambda r: r.accuracy).name if known else None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _ci(interval, compact: bool) -> str:
    if interval is None:
        return "–"
    lo, hi = (100 * v for v in interval)
    return f"{lo:.0f}–{hi:.0f}" if compact else f"{lo:.1f}–{hi:.1f}"


def _delta(value: float | None, first: float | None) -> str:
    if value is None or first is None:
        return "–"
    return f"{100 * (value - first):+.1f}"


def _rate(rate: float | None) -> str:
    if rate is None:
        return "…"
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"


def _passes(value: float | None) -> str:
    return "…" if value is None else f"{value:,.0f}"


def build_table(clean: Row, attacks: list[Row], worst: Row, width: int) -> Table:
    """The table for one defense at `width` cells (the widget's content width)."""
    layout = choose_layout(width, passes=any(r.passes is not None for r in attacks))
    table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, pad_edge=False, expand=False)
    name_width = SHORT_NAME_WIDTH if layout.short_names else FULL_NAME_WIDTH
    table.add_column(
        "atk" if layout.short_names else "attack",
        width=name_width,
        no_wrap=True,
        overflow="ellipsis",
    )
    table.add_column("acc", width=6, justify="right", no_wrap=True)
    if layout.show_ci:
        table.add_column(
            "95%CI" if layout.compact_ci else "95% CI",
            width=5 if layout.compact_ci else 9,
            justify="right",
            no_wrap=True,
        )
    if layout.show_delta:
        table.add_column("Δ", width=5, justify="right", no_wrap=True)
    if layout.show_rate:
        table.add_column("img/s", width=5, justify="right", no_wrap=True)
    if layout.show_passes:
        table.add_column("bwd/im", width=PASSES_WIDTH, justify="right", no_wrap=True)
    if layout.bar:
        table.add_column("", width=layout.bar, no_wrap=True)
    table.add_column("", width=1, no_wrap=True)
    first = attacks[0].accuracy if attacks else None
    lowest = worst_attack(attacks)

    def cells(row: Row, label, *, delta: bool, rate: bool, colour: str, mark: str = ""):
        out = [label, _pct(row.accuracy)]
        if layout.show_ci:
            out.append(_ci(row.interval, layout.compact_ci))
        if layout.show_delta:
            out.append(_delta(row.accuracy, first) if delta else "")
        if layout.show_rate:
            out.append(_rate(row.rate) if rate else "")
        if layout.show_passes:
            out.append(_passes(row.passes) if rate else "")
        if layout.bar:
            size = 0.0 if row.accuracy is None else row.accuracy
            out.append(Bar(1.0, 0.0, size, width=layout.bar, color=colour))
        out.append(mark)
        return out

    table.add_row(*cells(clean, "clean", delta=False, rate=False, colour="green"), style="dim")
    for row in attacks:
        is_worst = row.name == lowest
        table.add_row(
            *cells(
                row,
                display_name(row.name, short=layout.short_names),
                delta=True,
                rate=True,
                colour="red" if is_worst else "cyan",
                mark=MARK if is_worst else "",
            ),
            style="bold red" if is_worst else None,
        )
    label = Text("worst", style="bold")
    table.add_row(*cells(worst, label, delta=True, rate=False, colour="red"), style="bold")
    return table


class ResultsTable(Widget):
    """Renders `build_table` at its own width; `update(clean, attacks, worst)` redraws it."""

    DEFAULT_CSS = """
    ResultsTable { height: auto; width: 1fr; }
    """

    def __init__(self, attacks: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.clean = Row("clean")
        self.attacks = [Row(name) for name in attacks]
        self.worst = Row("worst")

    def update(self, clean: Row, attacks: list[Row], worst: Row) -> None:
        self.clean, self.attacks, self.worst = clean, list(attacks), worst
        self.refresh(layout=True)

    @property
    def worst_attack(self) -> str | None:
        return worst_attack(self.attacks)

    def render(self) -> Table:
        return build_table(self.clean, self.attacks, self.worst, self.content_size.width or 40)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.attacks) + 3  # header, clean, attacks, worst
