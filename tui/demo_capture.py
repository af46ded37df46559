"""Captures the demo pair's result screen: the app driven headless as a user would, `d` pressed.

    TFLS_RECIPES_DIR=/work/cache/recipes python -m tui.demo_capture --runs /tmp/tfls-demo \\
        --data-dir "$TFLS_DATA_DIR" --size 100x30 --out results/tui

Starts the real app on an (empty or not) runs folder, presses `d` (the demo pair: the natural and
the α = 0.9 cnn4 of the recipes, trained or loaded from the recipes' cache, then evaluated with
FGSM, PGD-20, APGD-CE, ODI and AutoAttack at the recipes' cpu-scale threat model), and measures
the time from the keypress to the first live numbers and to the final numbers. Prints the final
screen; with `--out`, also writes it there as `demo-<W>x<H>.txt`, `demo-<W>x<H>.svg` and the
timings as `demo-<W>x<H>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from tui.app import TflsApp
from tui.backend import Backend
from tui.capture import screen_text
from tui.screens.run import RunScreen


async def capture(app: TflsApp, size: tuple[int, int], *, out: Path | None, log=print) -> dict:
    """Runs the demo in `app` at `size`; returns the timings (and writes the capture to `out`)."""
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()  # tfls loaded (the user waits for "Ready" too)
        await pilot.pause()
        main = app.screen
        log(f"[demo] pressing d at {time.strftime('%H:%M:%S')}")
        await pilot.press("d")
        while not isinstance(app.screen, RunScreen):
            if not main.demo_active and main.demo_run is None:
                raise RuntimeError(f"the demo stopped: {main.query_one('#message').render()}")
            await pilot.pause(0.2)
        run = app.screen
        ready = time.perf_counter() - main.demo_started
        log(f"[demo] models ready after {ready:.1f} s")
        while run.first_numbers_s is None and not run.finished.is_set():
            await pilot.pause(0.2)
        log(f"[demo] first numbers after {run.first_numbers_s:.1f} s")
        await run.finished.wait()
        await pilot.pause()
        await pilot.pause(0.5)
        text = screen_text(app)
        timings = {
            "size": f"{size[0]}x{size[1]}",
            "keypress_to_models_ready_s": ready,
            "keypress_to_first_numbers_s": run.first_numbers_s,
            "keypress_to_final_numbers_s": run.final_numbers_s,
            "complete": all(
                c.state == "complete" for p in run.query("ResultsPanel") for c in p.columns
            ),
        }
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            stem = f"demo-{size[0]}x{size[1]}"
            (out / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
            app.save_screenshot(f"{stem}.svg", str(out))
            (out / f"{stem}.json").write_text(json.dumps(timings, indent=2) + "\n")
        return {"text": text, **timings}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tui.demo_capture", description=__doc__)
    parser.add_argument("--runs", type=Path, default=Path("runs-demo"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache-dir", default=None, help="default: $TFLS_RECIPES_DIR")
    parser.add_argument("--scale", default="cpu", choices=("smoke", "cpu"))
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--size", default="100x30")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.runs.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.size.split("x"))
    backend = Backend(
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        demo_scale=args.scale,
        demo_overrides=tuple(args.overrides),
    )
    result = asyncio.run(
        capture(TflsApp(args.runs, backend=backend), (width, height), out=args.out)
    )
    print(result.pop("text"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
