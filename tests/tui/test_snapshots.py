"""Snapshots of the main screens at 80×24 (the smallest supported terminal), fake backend.

Update after an intended change with `pytest tests/tui --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.tui.fakes import FakeBackend, write_run
from tests.tui.helpers import finished, until
from tui.app import TflsApp
from tui.screens.run import RunScreen

SIZE = (80, 24)


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the runs path shows in the title: keep it the same every time
    write_run(tmp_path / "runs", "ls09", alpha=0.9, clean=0.91)
    write_run(tmp_path / "runs", "nat", alpha=0.0, clean=0.92)
    return TflsApp("runs", backend=FakeBackend())


async def _ready(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_main_screen(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready)


def test_run_screen_after_a_run(app, snap_compare):
    async def run(pilot):
        await _ready(pilot)
        screen = pilot.app.screen
        screen.query_one("#images", Input).value = "50"
        screen.query_one("#batch", Input).value = "10"
        await pilot.press("space", "down", "space", "tab", "down", "space", "down", "space", "r")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen), what="run screen")
        await finished(pilot.app.screen)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_help_screen(app, snap_compare):
    async def help_(pilot):
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=help_)
