"""`tfls-tui`: the app object and its console entry point (screens live in `tui.screens`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from tui.backend import Backend
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen


class TflsApp(App):
    """Pick defenses, attacks and ε; watch robust accuracy update batch by batch.

    Args:
        runs_dir: folder holding run folders (`model.keras` + `run.json`).
        backend: the library calls (`tui.backend.Backend`); tests pass a fake.
    """

    CSS_PATH = "app.tcss"
    TITLE = "tfls"
    ENABLE_COMMAND_PALETTE = False  # every action has a key; the footer needs the room at 80×24
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
    ]

    def __init__(self, runs_dir: str | Path = "runs", *, backend: Backend | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.backend = backend or Backend()

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.runs_dir, self.backend))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tfls-tui",
        description="Pick defenses, attacks and ε; watch robust accuracy update batch by batch.",
    )
    parser.add_argument("--runs", default="runs", help="folder of trained runs (default: ./runs)")
    parser.add_argument(
        "--data-dir", default=None, help="offline data folder (default: $TFLS_DATA_DIR)"
    )
    args = parser.parse_args(argv)
    if Path(args.runs).exists() and not Path(args.runs).is_dir():
        parser.error(f"--runs must be a folder of runs, not a file. Received: runs={args.runs!r}")
    # TensorFlow's C++ logging writes straight to the terminal, under the app's screen.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    TflsApp(args.runs, backend=Backend(data_dir=args.data_dir)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
