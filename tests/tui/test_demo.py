"""The demo pair on a fake backend: one key trains both, evaluates them, and cancel keeps work."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label

from tests.tui.fakes import FakeBackend
from tests.tui.helpers import finished, until
from tfls.recipes.demo import DURATION
from tui.app import TflsApp
from tui.capture import screen_text
from tui.screens.main import MainScreen
from tui.screens.run import RunScreen
from tui.screens.train import TrainScreen
from tui.widgets.attack_picker import AttackPicker
from tui.widgets.defense_list import DefenseList


@pytest.fixture
def empty(tmp_path):
    (tmp_path / "runs").mkdir()
    return tmp_path


@pytest.mark.asyncio
async def _ready(app, pilot):
    await app.workers.wait_for_complete()
    await pilot.pause()


def _message(app) -> str:
    return str(app.screen.query_one("#message", Label).render())


@pytest.mark.asyncio
async def test_one_key_trains_the_pair_with_live_epochs_then_shows_numbers(empty):
    backend = FakeBackend(paced=True, cache=empty / "cache")
    app = TflsApp(empty / "runs", backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        assert "d: the demo pair" in _message(app)
        assert DURATION in _message(app)
        main = app.screen
        await pilot.press("d")
        backend.release_epochs(1)
        bar = main.query_one("#train-bar")
        await until(pilot, lambda: bar.progress == 1, what="first epoch on the bar")
        assert "Demo pair 1/2: natural" in screen_text(app)
        assert "epoch 1/2" in screen_text(app)
        backend.release_epochs(3)
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="the demo's run")
        run = app.screen
        # The threat model became the demo's: ε, images, batch and exactly its attacks.
        assert main.query_one("#eps", Input).value == "0.03"
        assert main.query_one("#images", Input).value == "30"
        assert main.query_one(AttackPicker).selected_names == ["fgsm", "pgd20", "pgd-cw"]
        assert [r.name for r in main.query_one(DefenseList).selected_runs] == [
            "demo-ls0.9",
            "demo-natural",
        ]
        backend.release(100)
        await finished(run)
        await pilot.pause()
        text = screen_text(app)
        assert "Look for: PGD-20 vs AutoAttack on the α = 0.9 model" in text
        # The fake's last batch: 27/30 clean, fgsm 24, pgd20 21, pgd-cw 18 robust, worst 18.
        for number in ("90.0%", "80.0%", "70.0%", "60.0%"):
            assert number in text
        assert run.first_numbers_s is not None and run.final_numbers_s >= run.first_numbers_s
        assert "Keypress → first numbers" in text
        await pilot.press("escape")  # back to the setup screen: it says what is saved
        await until(pilot, lambda: app.screen is main, what="the setup screen")
        assert "Demo pair evaluated" in _message(app)
        # The recipe's parameters reached the attack, and the models came from the cache.
        assert ("pgd-cw", {"restarts": 2}) in backend.built
        assert backend.demo_trained == ["demo-natural", "demo-ls0.9"]
        for name, digest in (
            ("demo-natural", "fakehash-natural"),
            ("demo-ls0.9", "fakehash-ls0.9"),
        ):
            link = empty / "runs" / name / "model.keras"
            assert link.resolve() == (empty / "cache" / digest / "model.keras").resolve()


@pytest.mark.asyncio
async def test_cancel_mid_demo_keeps_the_finished_model_and_d_resumes(empty):
    backend = FakeBackend(paced=True, cache=empty / "cache")
    app = TflsApp(empty / "runs", backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        main = app.screen
        await pilot.press("t")  # the train dialog offers the demo too
        assert isinstance(app.screen, TrainScreen)
        await pilot.press("f2")
        backend.release_epochs(3)  # natural done, α=0.9 one epoch in
        await until(
            pilot,
            lambda: [r.name for r in main.query_one(DefenseList).runs] == ["demo-natural"],
            what="the natural model in the list",
        )
        await until(pilot, lambda: "(demo-ls0.9): epoch 1/2" in screen_text(app), what="2nd model")
        await pilot.press("escape")
        backend.release_epochs(1)  # the epoch in flight ends, then the worker stops
        await until(pilot, lambda: "Demo stopped" in _message(app), what="cancelled")
        assert "kept demo-natural" in _message(app)
        assert [r.name for r in main.query_one(DefenseList).runs] == ["demo-natural"]
        assert isinstance(app.screen, MainScreen)

        backend.release_epochs(2)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="the demo's run")
        assert backend.demo_trained == ["demo-natural", "demo-ls0.9"]  # natural was not retrained
        run = app.screen
        await pilot.press("escape")  # cancel the evaluation too: what finished is kept
        backend.release(1)
        await finished(run)
        await pilot.pause()
        assert run.panel(0).columns[0].state == "cancelled"
        assert run.panel(0).columns[0].images == 10


def test_the_pair_shares_the_recipes_cache_keys_and_table4s_threat_model(monkeypatch):
    import tfls.recipes.plan
    from tfls.recipes.configs import train_config
    from tfls.recipes.demo import demo_pair, demo_threat
    from tfls.recipes.plan import resolve
    from tfls.recipes.spec_files import load_spec
    from tfls.training.model_cache import config_hash

    def no_tfds(name, data_dir=None):
        # It would import TFDS, whose lazy imports patch builtins.__import__ process-wide and
        # broke an import in the app's UI thread while the demo worker resolved the spec.
        raise AssertionError(f"the demo asked whether {name} is available offline")

    monkeypatch.setattr(tfls.recipes.plan, "dataset_available_offline", no_tfds)
    natural, ls = demo_pair()
    assert (natural.config.label_smoothing, ls.config.label_smoothing) == (0.0, 0.9)
    assert natural.config.model == ls.config.model == "cnn4"
    # table4's own α = 0.9 model is the same cache entry: running either recipe fills it.
    table4 = resolve(load_spec("table4"), "cpu", available=lambda name: True)
    assert config_hash(train_config(table4.model("ls"))) == ls.hash
    assert natural.hash != ls.hash
    threat = demo_threat()
    assert (threat.eps, threat.n, threat.dataset) == (0.03, table4.n, "fashion_mnist")
    assert [a.preset for a in threat.attacks] == ["fgsm", "pgd20", "apgd-ce", "odi", "autoattack"]
    (aa,) = [a for a in threat.attacks if a.preset == "autoattack"]
    assert aa.params == {"overrides": {"square": {"n_queries": 1000}}}
    smoke = demo_pair(scale="smoke", overrides=("train.limit=128",))
    assert smoke[0].config.limit == 128 and smoke[0].hash != natural.hash


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_demo_on_the_real_library_at_smoke_scale(tmp_path, shared_data_dir):
    """Tiny stand-ins: table1's smoke-scale pair on 256 images, table4's smoke threat model."""
    from tui.backend import Backend

    (tmp_path / "runs").mkdir()
    backend = Backend(
        data_dir=shared_data_dir,
        cache_dir=tmp_path / "cache",
        demo_scale="smoke",
        demo_overrides=("train.limit=256",),
    )
    app = TflsApp(tmp_path / "runs", backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run", timeout=300)
        run = app.screen
        await finished(run, timeout=600)
        await pilot.pause()
        assert all(p.columns[0].state == "complete" for p in run.query("ResultsPanel"))
        text = screen_text(app)
        assert "AutoAttack" in text and "PGD-20" in text and "Keypress → first numbers" in text
        for model in backend.demo_pair():
            assert (tmp_path / "cache" / model.hash / "model.keras").is_file()
