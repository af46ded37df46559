"""`tfls <command>`: each command lives in its own module exposing `add_parser` and `run`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# TensorFlow's C++ start-up chatter drowns the CLI's own output; users can still raise it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        # Bad input is reported as one line naming the problem, never as a traceback.
        print(f"tfls {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tfls {args.command}: interrupted; partial results are kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
