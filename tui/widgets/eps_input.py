"""The threat model: ε (`8/255` or `0.031`), L∞/L2, an optional ε sweep, image and batch counts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select


class ThreatModelForm(Vertical):
    """Two compact rows of fields; `texts()` returns what was typed, parsed by `tui.request`."""

    DEFAULT_CSS = """
    ThreatModelForm {
        height: auto;
        border: round $primary 50%;
        padding: 0 1;
    }
    ThreatModelForm:focus-within { border: round $primary; }
    ThreatModelForm Horizontal { height: 1; }
    ThreatModelForm Label { width: auto; }
    ThreatModelForm #eps { width: 10; }
    ThreatModelForm #norm { width: 10; }
    ThreatModelForm #sweep { width: 1fr; }
    ThreatModelForm #images { width: 8; }
    ThreatModelForm #batch { width: 6; }
    """

    def __init__(
        self, *, eps: str = "8/255", images: str = "500", batch: str = "50", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.border_title = "Threat model"
        self._initial = {"eps": eps, "images": images, "batch": batch}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("ε ")
            yield Input(self._initial["eps"], placeholder="8/255", id="eps", compact=True)
            yield Label("  norm ")
            yield Select(
                [("L∞", "linf"), ("L2", "l2")],
                value="linf",
                allow_blank=False,
                id="norm",
                compact=True,
            )
            yield Label("  images ")
            yield Input(self._initial["images"], id="images", compact=True)
            yield Label("  batch ")
            yield Input(self._initial["batch"], id="batch", compact=True)
        with Horizontal():
            yield Label("sweep ε ")
            yield Input(placeholder="optional: 2/255, 4/255, 16/255", id="sweep", compact=True)

    def set_texts(self, **fields: str) -> None:
        """Fills fields by id (`eps`, `norm`, `sweep`, `images`, `batch`), e.g. from a recipe."""
        for name, text in fields.items():
            if name == "norm":
                self.query_one("#norm", Select).value = text
            else:
                self.query_one(f"#{name}", Input).value = text

    def texts(self) -> dict[str, str]:
        return {
            "eps_text": self.query_one("#eps", Input).value,
            "sweep_text": self.query_one("#sweep", Input).value,
            "norm": str(self.query_one("#norm", Select).value),
            "n_text": self.query_one("#images", Input).value,
            "batch_text": self.query_one("#batch", Input).value,
        }
