"""`tfls-tui`: the app object and its console entry point (screens live in `tui.screens`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from tui.backend import Backend
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class TflsApp(App):
    """Pick defenses, attacks and ε; watch robust accuracy update batch by batch.

    Args:
        runs_dir: folder holding run folders (`model.keras` + `run.json`).
        backend: the library calls (`tui.backend.Backend`); tests pass a fake.
        results_dir: the recipes' outputs (`results/<recipe>-<scale>/`) that `o` lists too;
            None lists only the app's own evaluations.
    """

    CSS_PATH = "app.tcss"
    TITLE = "tfls"
    ENABLE_COMMAND_PALETTE = False  # every action has a key; the footer needs the room at 80×24
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("s", "save_svg", "SVG"),
    ]

    def __init__(
        self,
        runs_dir: str | Path = "runs",
        *,
        backend: Backend | None = None,
        results_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.backend = backend or Backend()
        self.results_dir = None if results_dir is None else Path(results_dir)
        self._signals: list[int] = []

    def on_mount(self) -> None:
        self._stop_on_signals()
        self.push_screen(MainScreen(self.runs_dir, self.backend, results_dir=self.results_dir))

    def _stop_on_signals(self) -> None:
        """SIGTERM (and SIGHUP, a closed terminal) quit the app as ctrl+q does.

        Quitting cancels every worker; each stops at its next safe point (after the batch or the
        epoch under way, whose results are then durable) and the process waits for it, so a
        terminated app loses no more than an interrupted `tfls eval` or `tfls train`.
        """
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            try:
                loop.add_signal_handler(signum, self.exit)
            except (NotImplementedError, RuntimeError, ValueError):
                return  # not the main thread's loop, or no signals on this platform
            self._signals.append(signum)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals = []

    def action_save_svg(self) -> str:
        """Saves the current screen as SVG next to the results it shows; returns the path."""
        where = getattr(self.screen, "screenshot_dir", None)
        folder = Path(where()) if callable(where) else self.runs_dir
        folder.mkdir(parents=True, exist_ok=True)
        name = f"screen-{type(self.screen).__name__.removesuffix('Screen').lower()}.svg"
        path = self.save_screenshot(name, str(folder))
        self.notify(f"Saved {path}", timeout=4)
        return path

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def build_parser() -> argparse.ArgumentParser:
    """`tfls-tui`'s options (checked further by `parse_args`)."""
    parser = argparse.ArgumentParser(
        prog="tfls-tui",
        description="Pick defenses, attacks and ε; watch robust accuracy update batch by batch.",
    )
    parser.add_argument("--runs", default="runs", help="folder of trained runs (default: ./runs)")
    parser.add_argument(
        "--data-dir", default=None, help="offline data folder (default: $TFLS_DATA_DIR)"
    )
    parser.add_argument(
        "--results",
        default="results",
        help="recipe outputs to browse with o (default: ./results)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="the recipes' model cache (default: $TFLS_RECIPES_DIR, else ./runs/recipes)",
    )
    parser.add_argument(
        "--demo-scale",
        default="cpu",
        choices=("smoke", "cpu"),
        help="recipe scale of the demo pair (d): cpu (default) or smoke (seconds; a check)",
    )
    parser.add_argument(
        "--demo-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="recipe override for the demo pair's training, e.g. train.limit=256 (repeatable)",
    )
    add_external_options(parser)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked; `--model` is added to `--runs` here, before the app starts."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if Path(args.runs).exists() and not Path(args.runs).is_dir():
        parser.error(f"--runs must be a folder of runs, not a file. Received: runs={args.runs!r}")
    try:
        check_demo_overrides(args.demo_set)
        args.external = register_external(args)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    return args


def check_demo_overrides(items) -> None:
    """`--demo-set KEY=VALUE`: the form is checked now (the recipe checks the key when it runs),
    so that a typo is one line before the app starts rather than a failure on `d`."""
    from tfls.recipes.overrides import parse_override  # light: no TensorFlow import

    for item in items:
        parse_override(item)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # TensorFlow's C++ logging writes straight to the terminal, under the app's screen.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tui.native_log import log_path, native_stderr_to

    backend = Backend(
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        demo_scale=args.demo_scale,
        demo_overrides=tuple(args.demo_set),
    )
    with native_stderr_to(log_path()):
        TflsApp(args.runs, backend=backend, results_dir=args.results).run()
    return 0


def add_external_options(parser: argparse.ArgumentParser) -> None:
    """`--model` and the options of `tfls eval` that put an outside model into the threat model."""
    from tfls._validation import OUTPUTS  # light: no TensorFlow import

    group = parser.add_argument_group(
        "an outside model", "add any classifier to the defenses, evaluated on --dataset"
    )
    group.add_argument(
        "--model",
        default=None,
        help="a tfls run folder, a .keras or .h5 file, or a TensorFlow SavedModel directory",
    )
    group.add_argument(
        "--dataset",
        default=None,
        help="its data: a built-in name, tfds:NAME[:config], an image-folder path or .tar.gz, or "
        "a .npz (required unless --model is a tfls run folder)",
    )
    group.add_argument("--split", default="test", help="dataset split, e.g. test or 'test[:1000]'")
    group.add_argument("--signature", default=None, help="SavedModel signature to call")
    group.add_argument(
        "--input-range", default=None, metavar="LO,HI", help="pixel range the model expects"
    )
    group.add_argument(
        "--preprocess", default=None, metavar="MODULE.FUNCTION", help="applied inside the model"
    )
    group.add_argument(
        "--outputs", choices=OUTPUTS, default="logits", help="logits, or probs (ends in softmax)"
    )
    group.add_argument("--image-size", default=None, metavar="H,W", help="resize every image")


EXTERNAL_ONLY = ("dataset", "signature", "input_range", "preprocess", "image_size")


def register_external(args) -> Path | None:
    """Checks the outside-model options (`tfls.model_options`) and adds the model to `--runs`.

    Returns the entry's folder (`tfls.external.register`), or None without `--model`.
    """
    if args.model is None:
        given = [o for o in EXTERNAL_ONLY if getattr(args, o) is not None]
        if args.outputs != "logits":
            given.append("outputs")
        if given:
            flag = given[0].replace("_", "-")
            raise ValueError(
                f"--{flag} describes an outside model: add --model PATH. "
                f"Received: {given[0]}={getattr(args, given[0])!r}"
            )
        return None
    from tfls.external import register
    from tfls.model_options import check_model_options

    options = check_model_options(
        input_range=args.input_range,
        preprocess=args.preprocess,
        outputs=args.outputs,
        signature=args.signature,
        image_size=args.image_size,
        dataset=args.dataset,
    )
    return register(args.runs, args.model, dataset=args.dataset, options=options, split=args.split)


if __name__ == "__main__":
    raise SystemExit(main())
