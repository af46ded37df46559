"""The whole app driven by Pilot against a fake backend: selection, run, live numbers, cancel."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from textual.widgets import Input, Label

from tests.tui.fakes import FakeBackend, write_run
from tests.tui.helpers import finished, until
from tui.app import TflsApp
from tui.capture import screen_text
from tui.request import DEFAULT_ATTACKS
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.screens.run import RunScreen
from tui.screens.saved import SavedResultsScreen
from tui.widgets.attack_picker import AttackPicker
from tui.widgets.defense_list import DefenseList

pytestmark = pytest.mark.asyncio


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "ls09", alpha=0.9, clean=0.91)
    write_run(root, "nat", alpha=0.0, clean=0.92)
    return root


async def _ready(app, pilot):
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert app.screen.library is not None


async def _select_two_defenses_and_attacks(app, pilot, *, images="50", batch="10"):
    app.screen.query_one("#images", Input).value = images
    app.screen.query_one("#batch", Input).value = batch
    app.screen.query_one(DefenseList).focus()
    await pilot.press("space", "down", "space")  # ls09, nat
    await pilot.press("tab", "down", "space", "down", "space")  # pgd20, pgd-cw
    assert [r.name for r in app.screen.query_one(DefenseList).selected_runs] == ["ls09", "nat"]
    assert app.screen.query_one(AttackPicker).selected_names == ["pgd20", "pgd-cw"]


def _message(app) -> str:
    return str(app.screen.query_one("#message", Label).render())


async def test_run_shows_numbers_per_batch_cancel_keeps_partial_and_r_resumes(runs):
    backend = FakeBackend(paced=True)
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await _select_two_defenses_and_attacks(app, pilot)
        eps = app.screen.query_one("#eps", Input)
        eps.focus()
        eps.value = ""
        await pilot.press(*"4/255", "enter")  # Enter in a field runs
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        screen = app.screen
        panel = screen.panel(0)

        backend.release(2)
        await until(pilot, lambda: panel.columns[0].images == 20, what="two batches")
        text = screen_text(app)
        # batch 2 of the fake: 18/20 clean, pgd20 16/20, pgd-cw 14/20, worst 14/20
        assert "90.0%" in text and "80.0%" in text and "70.0%" in text
        assert "20/50 images" in text
        assert "ε=4/255" in text

        await pilot.press("escape")
        backend.release(1)  # the batch in flight finishes, then the evaluator stops
        await finished(screen)
        await pilot.pause()
        assert panel.columns[0].state == "cancelled"
        assert panel.columns[0].images == 30
        assert screen.panel(1).columns[0].state == "waiting"  # nat never started
        out = screen.outputs[(0, 0)]
        assert out.parent == runs / "ls09" / "results"
        assert backend.stored[out] == 3  # partial results kept
        session = json.loads((out / "tui.json").read_text())
        assert session["eps_label"] == "4/255" and session["n"] == 50
        assert [a["name"] for a in session["attacks"]] == ["pgd20", "pgd-cw"]
        assert "Cancelled" in str(screen.query_one("#run-message", Label).render())

        backend.release(100)
        await pilot.press("r")
        await finished(screen)
        await pilot.pause()
        assert [p.columns[0].state for p in (screen.panel(0), screen.panel(1))] == ["complete"] * 2
        assert backend.calls[-2]["out"] == out  # resumed in the same folder
        assert screen.panel(0).columns[0].images == 50
        assert "100/100 images" in screen_text(app)  # both defenses, 50 images each
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


BAD_FIELDS = [
    ("#eps", "abc", "eps='abc'"),
    ("#eps", "-0.1", "eps=-0.1"),
    ("#eps", "8", "did you mean 8/255"),
    ("#sweep", "2/255, x", "sweep='x'"),
    ("#images", "0", "images=0"),
    ("#batch", "many", "batch='many'"),
]


async def test_bad_threat_model_fields_show_an_inline_message(runs):
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await _select_two_defenses_and_attacks(app, pilot)
        good = {field: app.screen.query_one(field, Input).value for field, _, _ in BAD_FIELDS}
        for field, text, expected in BAD_FIELDS:
            app.screen.query_one(field, Input).value = text
            app.screen.query_one(DefenseList).focus()
            await pilot.press("r")
            await pilot.pause()
            assert isinstance(app.screen, MainScreen), (field, text)
            assert expected in _message(app), (field, text, _message(app))
            app.screen.query_one(field, Input).value = good[field]


async def test_negative_steps_is_flagged_while_typing_and_blocks_the_run(runs):
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await _select_two_defenses_and_attacks(app, pilot)  # highlight is on pgd-cw
        steps = app.screen.query_one("#param-steps", Input)
        steps.focus()
        await pilot.press(*"-3")
        await pilot.pause()
        picker = app.screen.query_one(AttackPicker)
        assert "steps=-3" in str(picker.query_one("#param-error", Label).render())
        app.screen.query_one(DefenseList).focus()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert "pgd-cw" in _message(app) and "steps=-3" in _message(app)


async def test_no_defense_or_no_attack_or_wrong_norm_is_an_inline_message(runs):
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await pilot.press("r")
        assert "Select at least one defense" in _message(app)
        app.screen.query_one(DefenseList).focus()
        await pilot.press("space", "r")
        assert "Choose at least one attack" in _message(app)
        await pilot.press("tab", "end", "up", "space", "shift+tab", "r")  # cw-l2 is an L2 attack
        await pilot.pause()
        assert "cw-l2 is an l2 attack" in _message(app)
        assert isinstance(app.screen, MainScreen)


async def test_transfer_attack_needs_a_source_run_and_gets_its_model(runs):
    backend = FakeBackend()
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        app.screen.query_one("#images", Input).value = "10"
        app.screen.query_one("#batch", Input).value = "10"
        picker = app.screen.query_one(AttackPicker)
        app.screen.query_one(DefenseList).focus()
        await pilot.press("space", "tab", "end", "space", "shift+tab", "r")  # ls09 × transfer-pgd20
        assert "type a run name in its source field" in _message(app)
        picker.set_edit("transfer-pgd20", "source", "nowhere")
        await pilot.press("r")
        assert "source run 'nowhere'" in _message(app)
        picker.set_edit("transfer-pgd20", "source", "nat")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        await finished(app.screen)
        assert backend.built == [("transfer-pgd20", {"source": "model:nat"})]


async def test_empty_and_missing_runs_folders_welcome_a_first_start(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "nope"):
        app = TflsApp(folder, backend=FakeBackend())
        async with app.run_test(size=(80, 24)) as pilot:
            await _ready(app, pilot)
            label = app.screen.query_one("#message", Label)
            # A first start is not an error: it says how to get a model, and how long the demo takes.
            assert f"Welcome: no models in {folder} yet" in _message(app)
            assert "d: the demo pair" in _message(app) and "t: train" in _message(app)
            assert not label.has_class("error")
            await pilot.press("r")
            assert "Select at least one defense" in _message(app)
            assert label.has_class("error")
        assert not (tmp_path / "nope").exists()  # looking made nothing


@pytest.mark.default_attacks
async def test_a_start_ticks_a_small_suite_of_attacks(runs):
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        picker = app.screen.query_one(AttackPicker)
        assert picker.selected_names == [n for n in DEFAULT_ATTACKS if n in picker.library.presets]
        assert picker.selected_names  # the fake library has FGSM and PGD-20
        app.screen.query_one(DefenseList).focus()
        await pilot.press("space", "r")  # one defense and r: the default suite runs
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        await finished(app.screen)


async def test_an_attack_refusing_its_parameters_fails_only_in_its_panel(runs):
    backend = FakeBackend()
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await _select_two_defenses_and_attacks(app, pilot)
        app.screen.query_one(AttackPicker).set_edit("pgd-cw", "steps", "13")  # the fake refuses 13
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        await finished(app.screen)
        await pilot.pause()
        assert [app.screen.panel(i).columns[0].state for i in (0, 1)] == ["failed", "failed"]
        assert "steps=13" in screen_text(app)


async def test_train_a_quick_model_shows_epochs_and_adds_the_run(runs):
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        form = app.screen
        form.query_one("#t-alpha", Input).value = "1.5"
        form.query_one("#t-name", Input).focus()
        await pilot.press("enter")
        assert "label_smoothing=1.5" in str(form.query_one("#train-error", Label).render())
        form.query_one("#t-alpha", Input).value = "0.5"
        form.query_one("#t-epochs", Input).value = "3"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        names = [r.name for r in app.screen.query_one(DefenseList).runs]
        assert "quick-ls0.9" in names
        assert "Trained quick-ls0.9" in _message(app)


async def test_saved_results_reopen_with_their_numbers(runs):
    backend = FakeBackend()
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await _select_two_defenses_and_attacks(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        await finished(app.screen)
        await pilot.press("escape")
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, SavedResultsScreen)
        assert len(app.screen.results) == 2
        assert "complete" in screen_text(app)
        await pilot.press("enter")  # the OptionList highlights the first entry
        await pilot.pause()
        assert isinstance(app.screen, RunScreen) and not app.screen.running
        column = app.screen.panel(0).columns[0]
        assert (
            column.state == "complete"
            and column.images == 50
            and column.worst == pytest.approx(0.7)
        )


async def test_the_ui_answers_while_tfls_is_still_loading(runs):
    class SlowLoad(FakeBackend):
        def __init__(self):
            super().__init__()
            self.loaded = threading.Event()

        def load_library(self):
            assert self.loaded.wait(30), "the test never let loading finish"
            return super().load_library()

    backend = SlowLoad()
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Loading tfls" in _message(app)
        await pilot.press("r")  # refused inline, not blocked
        assert "still loading" in _message(app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        backend.loaded.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one(AttackPicker).library is not None


async def test_help_screen_opens_and_closes(runs):
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await until(pilot, lambda: "Setup screen" in screen_text(app), what="help text rendered")
        scroll = app.screen.query_one("#help-scroll")
        assert scroll.has_focus and scroll.max_scroll_y > 0  # longer than the screen
        await pilot.press("down", "down", "down")
        await until(pilot, lambda: scroll.scroll_y > 0, what="the arrow keys scroll the help")
        await pilot.press("end")
        await until(
            pilot, lambda: scroll.scroll_y == scroll.max_scroll_y, what="End: the last line"
        )
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_sigterm_quits_like_ctrl_q_and_the_batch_in_flight_is_kept(runs):
    """A scheduler's SIGTERM: the app quits, the evaluation worker is cancelled, and it stops
    after the batch under way, which is stored (the partial result `r` would resume)."""
    import os
    import signal

    backend = FakeBackend(paced=True)
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await _select_two_defenses_and_attacks(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        screen = app.screen
        backend.release(2)
        await until(pilot, lambda: screen.panel(0).columns[0].images == 20, what="two batches")
        os.kill(os.getpid(), signal.SIGTERM)
        await until(pilot, lambda: app._exit, what="the app to quit on SIGTERM")
        backend.release(1)  # the batch in flight finishes; then the worker sees it is cancelled
    worker_done = [w for w in app.workers if w.group == "eval"]
    assert all(w.is_cancelled for w in worker_done)
    out = next(iter(backend.stored))
    for _ in range(200):
        if backend.stored[out] == 3:
            break
        await asyncio.sleep(0.01)
    assert backend.stored[out] == 3, "the batch under way was lost or more batches ran"
    assert app._signals == []  # the handlers went with the app
