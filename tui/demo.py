"""Reproduces the captured screen of the notes: a live run comparing an α=0.9 and an α=0 model.

    python -m tui.demo --runs /tmp/tfls-demo/runs --data-dir ../shared/data

Trains two quick Fashion-MNIST models (natural training, label smoothing α=0.9 and α=0) unless
they exist, then drives the app headless, as a user would, and prints the screen mid-run and at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from textual.widgets import Input, SelectionList

from tui.app import TflsApp
from tui.backend import Backend
from tui.capture import screen_text


def train_models(runs: Path, *, model: str, epochs: int, limit: int, data_dir) -> None:
    from tfls.training import TrainConfig, train

    for alpha, name in ((0.9, "ls0.9"), (0.0, "natural")):
        if not (runs / name / "run.json").is_file():
            config = TrainConfig(
                "fashion_mnist",
                model,
                label_smoothing=alpha,
                epochs=epochs,
                limit=limit,
                data_dir=data_dir,
            )
            train(config, runs / name)


async def capture(
    runs: Path, *, attacks: list[str], eps: str, n: int, batch: int, data_dir, size
) -> list[str]:
    app = TflsApp(runs, backend=Backend(data_dir=data_dir))
    screens = []
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        main = app.screen
        main.query_one("#eps", Input).value = eps
        main.query_one("#images", Input).value = str(n)
        main.query_one("#batch", Input).value = str(batch)
        presets = main.query_one("#attack-list", SelectionList)
        for name in attacks:
            presets.select(name)
        main.query_one("#defenses", SelectionList).select_all()
        await pilot.pause()
        screens.append(screen_text(app))
        main.action_run()
        await pilot.pause()
        run = app.screen
        # Mid-run: the second defense half done (polled at the app's pace; the run goes on).
        while not run.running and not run.finished.is_set():
            await pilot.pause(0.05)
        while run.running and run.panel(1).columns[0].images < n // 2:
            await pilot.pause(0.05)
        await pilot.pause()
        screens.append(screen_text(app))
        await run.finished.wait()
        await pilot.pause()
        screens.append(screen_text(app))
    return screens


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tui.demo", description=__doc__)
    parser.add_argument("--runs", type=Path, default=Path("runs-demo"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="cnn4")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--attacks", default="fgsm,pgd20,apgd-ce")
    parser.add_argument("--eps", default="0.1")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--size", default="100x30")
    args = parser.parse_args(argv)
    train_models(
        args.runs, model=args.model, epochs=args.epochs, limit=args.limit, data_dir=args.data_dir
    )
    width, height = (int(v) for v in args.size.split("x"))
    for text in asyncio.run(
        capture(
            args.runs,
            attacks=args.attacks.split(","),
            eps=args.eps,
            n=args.n,
            batch=args.batch,
            data_dir=args.data_dir,
            size=(width, height),
        )
    ):
        print(text, end="\n\n")


if __name__ == "__main__":
    main()
