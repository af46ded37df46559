"""`tfls <command>`: each command lives in its own module exposing `add_parser` and `run`."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings

from tfls.exits import one_line, run_command
from tfls.startup import import_quietly

# command name -> module under tfls.cli; each module defines add_parser(subparsers) and run(args).
COMMANDS = {
    "train": "tfls.cli.train",
    "eval": "tfls.cli.eval",
    "bench": "tfls.cli.bench",
    "audit": "tfls.cli.audit",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfls",
        description="Train Keras models with label smoothing / Madry / TRADES and evaluate their "
        "adversarial robustness honestly.",
    )
    parser.add_argument(
        "--version", action="version", version=f"tfls {package_version()}", help="print the version"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's native start-up lines (also: set TF_CPP_MIN_LOG_LEVEL)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # command not built yet
        module.add_parser(sub)
    return parser


def package_version() -> str:
    """The installed distribution's version (`importlib.metadata`), or why there is none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tfls")
    except PackageNotFoundError:  # a checkout on PYTHONPATH, never installed
        return "(not installed: no package metadata for tfls)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def command():
        with one_line_warnings(args.command):
            import_quietly(args.verbose)  # TensorFlow's native start-up lines, unless asked
            return args.run(args)

    return run_command(f"tfls {args.command}", command)


@contextlib.contextmanager
def one_line_warnings(command: str):
    """Shows tfls' own warnings as `tfls <command>: warning: ...`, one line each."""
    from tfls import TflsWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("always", category=TflsWarning)  # shown, even under pytest
        default = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, TflsWarning):
                print(f"tfls {command}: warning: {one_line(str(message))}", file=sys.stderr)
            else:
                default(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


if __name__ == "__main__":
    sys.exit(main())
