"""The training line and bar under the setup form: a model's epochs, or the demo pair's steps."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar


class TrainingProgress(Vertical):
    """Hidden until `begin`; `show_epoch` and `show_step` redraw it; `end` hides it again."""

    DEFAULT_CSS = """
    TrainingProgress { height: auto; padding: 0 1; display: none; }
    TrainingProgress.active { display: block; }
    TrainingProgress Label { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="train-label")
        yield ProgressBar(total=None, show_eta=False, id="train-bar")

    def begin(self, text: str, total: int | None) -> None:
        """Shown, saying `text`, its bar empty out of `total` (None: no total yet)."""
        self.add_class("active")
        self.say(text)
        self.query_one("#train-bar", ProgressBar).update(total=total, progress=0)

    def say(self, text: str) -> None:
        self.query_one("#train-label", Label).update(text)

    def show_epoch(self, head: str, epoch: int, epochs: int, logs: dict) -> None:
        """`<head>: epoch 2/5  loss 0.512  accuracy 0.871`, and the bar at `epoch` of `epochs`."""
        metrics = "  ".join(
            f"{k} {v:.3f}" for k, v in logs.items() if isinstance(v, float) and k != "wall_time_s"
        )
        self.say(f"{head}: epoch {epoch}/{epochs}  {metrics}")
        self.query_one("#train-bar", ProgressBar).update(total=epochs, progress=epoch)

    def show_step(self, text: str, total: int, progress: int) -> None:
        self.say(text)
        self.query_one("#train-bar", ProgressBar).update(total=total, progress=progress)

    def end(self) -> None:
        self.remove_class("active")
