"""The "train a quick model" form; the training itself runs in the main screen's worker."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from tui.backend import TrainRequest
from tui.fields import parse_positive_int


class TrainScreen(ModalScreen[TrainRequest | str | None]):
    """Dataset, model, method, α, epochs and training images; Enter trains, Esc cancels.

    F2 (or the demo button) dismisses with `"demo"`: the main screen then trains the demo pair.
    """

    BINDINGS = [
        Binding("escape", "close", "Cancel"),
        Binding("f2", "demo", "Demo pair"),
    ]

    DEFAULT_CSS = """
    TrainScreen { align: center middle; }
    TrainScreen > Vertical {
        width: 64; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    TrainScreen Horizontal { height: 1; margin-bottom: 1; }
    TrainScreen Label.field { width: 16; }
    TrainScreen Input, TrainScreen Select { width: 1fr; }
    TrainScreen #train-error { color: $error; height: auto; }
    TrainScreen Button { margin-top: 1; margin-right: 2; }
    TrainScreen #t-buttons { height: auto; margin-bottom: 0; }
    """

    def __init__(self, library, existing: set[str]) -> None:
        super().__init__()
        self.library = library
        self.existing = existing

    def compose(self) -> ComposeResult:
        datasets = self.library.datasets or ("fashion_mnist",)
        default_ds = "fashion_mnist" if "fashion_mnist" in datasets else datasets[0]
        models = self.library.models or ("cnn4",)
        with Vertical() as box:
            box.border_title = "Train a quick model"
            yield from self._row("name", Input("quick-ls0.9", id="t-name", compact=True))
            yield from self._row(
                "dataset",
                Select(
                    [(d, d) for d in datasets],
                    value=default_ds,
                    allow_blank=False,
                    id="t-dataset",
                    compact=True,
                ),
            )
            yield from self._row(
                "model",
                Select(
                    [(m, m) for m in models],
                    value=models[0],
                    allow_blank=False,
                    id="t-model",
                    compact=True,
                ),
            )
            yield from self._row(
                "method",
                Select(
                    [(m, m) for m in self.library.methods],
                    value="natural",
                    allow_blank=False,
                    id="t-method",
                    compact=True,
                ),
            )
            yield from self._row("α (smoothing)", Input("0.9", id="t-alpha", compact=True))
            yield from self._row("epochs", Input("1", id="t-epochs", compact=True))
            yield from self._row("train images", Input("2000", id="t-limit", compact=True))
            yield Label("", id="train-error")
            with Horizontal(id="t-buttons"):
                yield Button("Train (Enter)", id="t-go", variant="primary", compact=True)
                yield Button("Demo pair: natural + LS α=0.9 (F2)", id="t-demo", compact=True)

    @staticmethod
    def _row(label: str, field):
        with Horizontal():
            yield Label(label, classes="field")
            yield field

    def request(self) -> TrainRequest:
        """The form as a `TrainRequest`; raises `ValueError` naming a bad field."""
        name = self.query_one("#t-name", Input).value.strip()
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"`name` must be a plain folder name. Received: name={name!r}")
        if name in self.existing:
            raise ValueError(f"A run called {name!r} already exists. Received: name={name!r}")
        alpha_text = self.query_one("#t-alpha", Input).value.strip()
        try:
            alpha = float(alpha_text)
        except ValueError:
            raise ValueError(
                f"α must be a number in [0, 1). Received: label_smoothing={alpha_text!r}"
            ) from None
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"α must be a number in [0, 1). Received: label_smoothing={alpha}")
        return TrainRequest(
            name=name,
            dataset=str(self.query_one("#t-dataset", Select).value),
            model=str(self.query_one("#t-model", Select).value),
            method=str(self.query_one("#t-method", Select).value),
            label_smoothing=alpha,
            epochs=parse_positive_int(self.query_one("#t-epochs", Input).value, name="epochs"),
            limit=parse_positive_int(self.query_one("#t-limit", Input).value, name="train images"),
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#t-go")
    def submit(self) -> None:
        try:
            request = self.request()
        except ValueError as e:
            self.query_one("#train-error", Label).update(str(e))
            return
        self.dismiss(request)

    @on(Button.Pressed, "#t-demo")
    def action_demo(self) -> None:
        self.dismiss("demo")

    def action_close(self) -> None:
        self.dismiss(None)
