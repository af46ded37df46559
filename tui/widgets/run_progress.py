"""The run's progress bar with images/s and ETA, as measured by the evaluator."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar


def format_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunProgress(Vertical):
    """`update_counts(done, total, images_per_s, note)` redraws the bar and the line under it."""

    DEFAULT_CSS = """
    RunProgress { height: 2; padding: 0 1; }
    RunProgress ProgressBar { width: 1fr; }
    RunProgress ProgressBar Bar { width: 1fr; }
    RunProgress Label { height: 1; width: 1fr; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=None, show_eta=False, id="bar")
        yield Label("waiting…", id="rate")

    def update_counts(self, done: int, total: int, images_per_s: float, note: str = "") -> None:
        self.query_one("#bar", ProgressBar).update(total=max(total, 1), progress=min(done, total))
        eta = (total - done) / images_per_s if images_per_s > 0 else None
        rate = f"{done}/{total} images · {images_per_s:.1f} img/s · ETA {format_seconds(eta)}"
        self.query_one("#rate", Label).update(f"{rate}  {note}".rstrip())

    def show_saved(self, done: int, total: int) -> None:
        """A run reopened from disk: the bar at what was saved (no speed, nothing running)."""
        self.query_one("#bar", ProgressBar).update(total=max(total, 1), progress=min(done, total))
        self.query_one("#rate", Label).update(f"{done}/{total} images saved")

    def set_note(self, text: str) -> None:
        self.query_one("#rate", Label).update(text)
