"""The audit's fourteen checks, listed up front as pending and filled in as their results arrive."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

STATUS_STYLES = {
    "ok": "bold green",
    "warn": "bold yellow",
    "fail": "bold red",
    "skipped": "dim",
    "pending": "dim italic",
}


def format_number(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def check_text(check_id: int, title: str, result=None) -> Text:
    """One check as rich text: number, title, coloured status and summary; then numbers, advice."""
    status = "pending" if result is None else result.status
    dim = status in ("skipped", "pending")
    text = Text(f"{check_id:>2} ", style="dim")
    text.append(f"{title:<28} ", style="dim" if dim else "bold")
    text.append(f"{status:<8}", style=STATUS_STYLES.get(status, ""))
    if result is None:
        return text
    text.append(f" {result.summary}", style="dim" if dim else "")
    if result.numbers:
        numbers = "  ".join(f"{k}={format_number(v)}" for k, v in result.numbers.items())
        text.append(f"\n   {numbers}", style="cyan" if not dim else "dim")
    if result.advice and result.fired:
        text.append(f"\n   → {result.advice}", style="italic")
    return text


class CheckList(VerticalScroll):
    """`show(result)` fills in one check (a `tfls.audit.CheckResult`); `reset()` empties them all.

    Args:
        titles: check number -> title (`tfls.audit.TITLES`), in the order they are listed.
    """

    DEFAULT_CSS = """
    CheckList {
        height: 1fr;
        border: round $primary 50%;
        border-title-color: $text;
        padding: 0 1;
    }
    CheckList:focus { border: round $primary; }
    CheckList > Static { height: auto; }
    """

    def __init__(self, titles: dict[int, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.titles = dict(titles)
        self.results: dict[int, object] = {}
        self.border_title = "Checks"

    def compose(self) -> ComposeResult:
        for check_id, title in self.titles.items():
            yield Static(check_text(check_id, title), id=f"check-{check_id}")

    def show(self, result) -> None:
        self.results[result.id] = result
        title = self.titles.get(result.id, result.title)
        self.query_one(f"#check-{result.id}", Static).update(check_text(result.id, title, result))
        self._retitle()

    def reset(self) -> None:
        self.results.clear()
        for check_id, title in self.titles.items():
            self.query_one(f"#check-{check_id}", Static).update(check_text(check_id, title))
        self._retitle()

    def status(self, check_id: int) -> str:
        result = self.results.get(check_id)
        return "pending" if result is None else result.status

    def _retitle(self) -> None:
        done = len(self.results)
        fired = sum(1 for r in self.results.values() if r.fired)
        self.border_title = f"Checks {done}/{len(self.titles)} · {fired} fired"
