"""Snapshots of the main screens at 80×24 (the smallest supported terminal) and the results
tables at 80×24 and 120×40, fake backend.

Update after an intended change with `pytest tests/tui --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.tui.fakes import FakeBackend, write_run
from tests.tui.helpers import finished, until
from tfls.recipes.demo import LOOK_FOR
from tui.app import TflsApp
from tui.capture import screen_text
from tui.request import AttackChoice, EvalPlan
from tui.runs import read_run
from tui.screens.run import RunScreen
from tui.widgets.results_table import display_name

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


@pytest.mark.default_attacks
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


# --- the first minutes: an empty runs folder, the demo's epochs, the help scrolled -------------


@pytest.mark.default_attacks
def test_first_start_on_an_empty_runs_folder(tmp_path, monkeypatch, snap_compare):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(
        TflsApp("runs", backend=FakeBackend()), terminal_size=SIZE, run_before=_ready
    )


def test_demo_training_shows_its_duration_and_epochs(tmp_path, monkeypatch, snap_compare):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    backend = FakeBackend(paced=True, cache=tmp_path / "cache")

    async def first_epoch(pilot):
        await _ready(pilot)
        await pilot.press("d")
        backend.release_epochs(1)
        bar = pilot.app.screen.query_one("#train-bar")
        await until(pilot, lambda: bar.progress == 1, what="first epoch on the bar")

    try:
        assert snap_compare(
            TflsApp("runs", backend=backend), terminal_size=SIZE, run_before=first_epoch
        )
    finally:
        backend.release_epochs(10)  # let the worker thread finish


def test_help_screen_scrolled_with_the_arrow_keys(app, snap_compare):
    async def scrolled(pilot):
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press(*["down"] * 8)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=scrolled)


# --- the results tables: two defenses side by side, numbers of a committed recipe output -------

# Copies of table4's cpu-scale evaluations of its LS α=0.9 and Madry models (as committed at
# 1f88841), kept here so that regenerating `results/` never changes the snapshots.
TABLE4 = Path(__file__).parent / "data" / "table4-cpu-reports"
REPORTS = {"ls09": TABLE4 / "ls09-report.json", "madry": TABLE4 / "madry-report.json"}
DEMO_ATTACKS = ("fgsm", "pgd20", "apgd-ce", "odi", "autoattack")


def results_app(tmp_path, monkeypatch):
    """The app, and a `run_before` that opens a RunScreen showing the two saved reports."""
    monkeypatch.chdir(tmp_path)
    runs = [
        read_run(write_run(tmp_path / "runs", "ls09", alpha=0.9, clean=0.93)),
        read_run(
            write_run(tmp_path / "runs", "madry", alpha=0.0, clean=0.79, method="madry", eps=0.1)
        ),
    ]
    plan = EvalPlan(
        defenses=tuple(runs),
        attacks=tuple(AttackChoice(name) for name in DEMO_ATTACKS),
        eps_values=(0.03,),
        eps_labels=("0.03",),
        n=300,
        batch_size=100,
    )
    saved = {(i, 0): json.loads(REPORTS[r.name].read_text()) for i, r in enumerate(runs)}
    app = TflsApp("runs", backend=FakeBackend())

    async def show(pilot):
        await _ready(pilot)
        screen = RunScreen(plan, pilot.app.backend, saved=saved, autostart=False, look_for=LOOK_FOR)
        await pilot.app.push_screen(screen)
        await pilot.pause()

    return app, show


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_results_tables_side_by_side(tmp_path, monkeypatch, snap_compare, size):
    app, show = results_app(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=size, run_before=show)


@pytest.mark.asyncio
async def test_results_rows_align_and_never_wrap_at_80x24(tmp_path, monkeypatch):
    size = (80, 24)  # the tightest case; the 120×40 layout is pinned by its snapshot
    app, show = results_app(tmp_path, monkeypatch)
    async with app.run_test(size=size) as pilot:
        await show(pilot)
        screen = pilot.app.screen
        lines = screen_text(pilot.app).splitlines()
        short = size[0] < 100
        for name in DEMO_ATTACKS:
            label = display_name(name, short=short)
            row = re.compile(rf"│ {re.escape(label)} +\d+\.\d%")
            rows = [line for line in lines if row.search(line)]
            assert len(rows) == 1 and len(row.findall(rows[0])) == 2, (name, rows)
        assert all(len(line) <= size[0] for line in lines)
        # The worst attack of the LS model is marked, with its own number (table4: AA 16.0%).
        ls = screen.panel(0)
        assert ls.table.worst_attack == "autoattack"
        (aa_row,) = [
            line for line in lines if f"│ {display_name('autoattack', short=short)} " in line
        ]
        assert "16.0%" in aa_row.split("││")[0] and "◀" in aa_row.split("││")[0]
        # Δ vs the first attack (FGSM 69.7% → AutoAttack 16.0%) and the Wilson interval.
        assert "-53.7" in aa_row
        assert "12–21" in aa_row or "12.3–20.6" in aa_row
