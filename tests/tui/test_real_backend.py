"""The app on the real library: tiny Keras models, Fashion-MNIST, `tfls.eval.evaluate` on disk."""

from __future__ import annotations

import json
import threading

import pytest
from textual.widgets import Input, ProgressBar

from tests.tiny_models import tiny_conv
from tests.tui.helpers import finished, until
from tui.app import TflsApp
from tui.backend import Backend
from tui.capture import screen_text
from tui.screens.run import RunScreen
from tui.widgets.attack_picker import AttackPicker
from tui.widgets.defense_list import DefenseList

pytestmark = pytest.mark.asyncio


def _tiny_run(root, name, *, alpha, seed):
    model = tiny_conv(input_shape=(28, 28, 1), seed=seed)
    folder = root / name
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    (folder / "run.json").write_text(
        json.dumps(
            {
                "dataset": "fashion_mnist",
                "model": "tiny",
                "method": "natural",
                "label_smoothing": alpha,
                "eps": 0.0,
                "epochs": 0,
                "seed": seed,
                "clean_accuracy": None,
                "logit_stats": {"min": 0.0, "max": 0.0, "mean_margin": 0.0},
            }
        )
    )


class HoldFirstBatch(Backend):
    """The real backend, but the first batch waits until the test has pressed Esc."""

    def __init__(self, data_dir):
        super().__init__(data_dir=data_dir)
        self.first_batch = threading.Event()
        self.proceed = threading.Event()

    def evaluate(self, model, dataset, attacks, *, out, on_batch, n, meta):
        def held(progress):
            if not self.first_batch.is_set():
                self.first_batch.set()
                assert self.proceed.wait(30), "the test never let the first batch finish"
            return on_batch(progress)

        return super().evaluate(model, dataset, attacks, out=out, on_batch=held, n=n, meta=meta)


def _matches_report(column, report):
    assert column.images == report["images"]
    assert column.clean == pytest.approx(report["clean_accuracy"])
    assert column.worst == pytest.approx(report["worst_case_accuracy"])
    for name, result in report["attacks"].items():
        assert column.robust[name] == pytest.approx(result["robust_accuracy"])


async def test_real_evaluation_cancels_keeps_partial_results_and_resumes(tmp_path, shared_data_dir):
    runs = tmp_path / "runs"
    _tiny_run(runs, "a0", alpha=0.0, seed=1)
    _tiny_run(runs, "a09", alpha=0.9, seed=2)
    backend = HoldFirstBatch(shared_data_dir)
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert "pgd10" in screen.library.presets  # the real presets were loaded
        screen.query_one("#images", Input).value = "32"
        screen.query_one("#batch", Input).value = "16"
        screen.query_one("#eps", Input).value = "0.1"
        screen.query_one(DefenseList).focus()
        await pilot.press("space", "down", "space", "tab", "space", "down", "space", "r")
        assert screen.query_one(AttackPicker).selected_names == ["fgsm", "pgd10"]
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        run_screen = app.screen

        await until(pilot, backend.first_batch.is_set, what="first batch", timeout=60)
        await pilot.press("escape")
        backend.proceed.set()
        await finished(run_screen)
        await pilot.pause()
        out = run_screen.outputs[(0, 0)]
        partial = json.loads((out / "report.json").read_text())
        assert partial["complete"] is False and partial["images"] == 16
        column = run_screen.panel(0).columns[0]
        assert column.state == "cancelled"
        _matches_report(column, partial)

        await pilot.press("r")
        await finished(run_screen)
        await pilot.pause()
        for index, name in enumerate(["a0", "a09"]):
            out = runs / name / "results" / run_screen.plan.key(0.1)
            report = json.loads((out / "report.json").read_text())
            assert report["complete"] is True and report["images"] == 32
            _matches_report(run_screen.panel(index).columns[0], report)
        assert "ε=0.1: done, 32 images" in screen_text(app)


async def test_train_a_quick_model_for_real_adds_it_to_the_defenses(tmp_path, shared_data_dir):
    runs = tmp_path / "runs"
    runs.mkdir()
    app = TflsApp(runs, backend=Backend(data_dir=shared_data_dir))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        main = app.screen
        await pilot.press("t")
        await pilot.pause()
        form = app.screen
        form.query_one("#t-name", Input).value = "tiny-ls0.9"
        form.query_one("#t-epochs", Input).value = "2"
        form.query_one("#t-limit", Input).value = "128"
        form.query_one("#t-name", Input).focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        (run,) = main.query_one(DefenseList).runs
        assert (
            run.name == "tiny-ls0.9"
            and run.label_smoothing == 0.9
            and run.dataset == "fashion_mnist"
        )
        assert run.clean_accuracy is not None and 0.0 <= run.clean_accuracy <= 1.0
        bar = main.query_one("#train-bar", ProgressBar)  # the live epoch bar reached 2 of 2
        assert (bar.progress, bar.total) == (2, 2)
        assert (runs / "tiny-ls0.9" / "model.keras").is_file()
