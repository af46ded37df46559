"""Pilot helpers shared by the TUI tests."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot


async def until(pilot: Pilot, condition, *, what: str, tries: int = 500) -> None:
    """Lets the app process messages until `condition()` holds (bounded; fails loudly)."""
    for _ in range(tries):
        if condition():
            await pilot.pause()  # let the widgets repaint before anyone reads the screen
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for: {what}")


async def finished(screen, timeout: float = 60) -> None:
    """Waits for a RunScreen's run to end (its worker thread posts PlanFinished)."""
    await asyncio.wait_for(screen.finished.wait(), timeout)
