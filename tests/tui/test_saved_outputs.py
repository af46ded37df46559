"""`o` browses the recipes' committed outputs; `s` saves the screen as SVG; sweeps get a plot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from tests.tui.fakes import FakeBackend, write_run
from tests.tui.helpers import finished, until
from tui.app import TflsApp
from tui.capture import screen_text
from tui.outputs import recipe_outputs
from tui.screens.recipe import RecipeScreen
from tui.screens.run import RunScreen
from tui.screens.saved import SavedResultsScreen
from tui.widgets.accuracy_chart import SweepPlot

RESULTS = Path(__file__).parents[2] / "results"


@pytest.fixture
def results(tmp_path):
    """A copy of the committed table4 cpu output (the app writes its SVG next to it)."""
    shutil.copytree(RESULTS / "table4-cpu", tmp_path / "results" / "table4-cpu")
    (tmp_path / "results" / "not-a-recipe").mkdir()
    return tmp_path / "results"


def test_recipe_outputs_read_the_committed_table4():
    (table4,) = [o for o in recipe_outputs(RESULTS) if o.name == "table4-cpu"]
    labels = [e.label for e in table4.evaluations()]
    assert labels == ["Madry linf", "TRADES (Zhang) linf", "LS α=0.9 linf"]
    ls = table4.evaluations()[2]
    assert ls.report["attacks"]["autoattack"]["robust_accuracy"] == pytest.approx(0.16)
    assert [c["id"] for c in table4.claims] == ["C4", "C5", "C5", "C5"]
    assert "claims held 0/4" in table4.summary


@pytest.mark.asyncio
async def test_o_opens_a_recipe_output_with_its_tables_and_claims_and_s_saves_svg(
    tmp_path, results
):
    runs = tmp_path / "runs"
    write_run(runs, "nat", alpha=0.0)
    app = TflsApp(runs, backend=FakeBackend(), results_dir=results)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, SavedResultsScreen)
        assert [o.name for o in app.screen.outputs] == ["table4-cpu"]
        assert "recipe table4-cpu" in screen_text(app)
        options = app.screen.query_one(OptionList)
        options.focus()
        await pilot.press("enter")  # the only entry
        await until(pilot, lambda: isinstance(app.screen, RecipeScreen), what="recipe screen")
        text = screen_text(app)
        for needle in ("LS α=0.9 linf", "Madry linf", "16.0%", "46.3%", "Claims checked", "C5"):
            assert needle in text, needle
        assert "not held" in text
        ls = app.screen.query_one("#eval-2")
        assert ls.table.worst_attack == "autoattack"
        await pilot.press("s")
        await pilot.pause()
        assert (results / "table4-cpu" / "screen-recipe.svg").is_file()
        await pilot.press("escape")
        assert not isinstance(app.screen, RecipeScreen)


@pytest.mark.asyncio
async def test_an_eps_sweep_plots_accuracy_vs_eps_per_attack(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "ls09", alpha=0.9)
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        main = app.screen
        main.query_one("#images", Input).value = "20"
        main.query_one("#batch", Input).value = "10"
        main.query_one("#sweep", Input).value = "2/255, 4/255"
        await pilot.press("space", "tab", "space", "down", "space", "r")  # ls09 × fgsm, pgd20
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        await finished(app.screen)
        await pilot.pause()
        plot = app.screen.panel(0).query_one(SweepPlot)
        # Three ε (2/255, 4/255, 8/255), the fake's fractions: fgsm 80%, pgd20 70%, worst 70%.
        assert plot.series["fgsm"] == [(0, 80.0), (1, 80.0), (2, 80.0)]
        assert [y for _, y in plot.series["worst"]] == [70.0, 70.0, 70.0]
        assert "ε=8/255" in screen_text(app)
