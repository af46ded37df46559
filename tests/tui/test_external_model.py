"""`tfls-tui --model ... --dataset SPEC`: an outside model joins the defenses and is evaluated."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from textual.widgets import Input

from tests.tui.fakes import write_run
from tests.tui.helpers import finished, until
from tests.tui.test_audit_view import _open_audit, _ready, _statuses, _tiny_budget
from tfls.external import load_run, register
from tfls.model_options import check_model_options
from tui.app import TflsApp, parse_args
from tui.backend import Backend
from tui.capture import screen_text
from tui.runs import read_run
from tui.screens.run import RunScreen
from tui.widgets.attack_picker import AttackPicker
from tui.widgets.defense_list import DefenseList

N = 24


def softmax_model(path):
    """A tiny 8×8 grey-scale classifier that ends in softmax, saved as `.keras`."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ],
        name="soft",
    )
    model.save(path)
    return model


def write_npz(path, model):
    """`x` uint8 images and `y` = the model's own predictions, so that clean accuracy is 100%."""
    x = np.random.default_rng(0).integers(0, 256, size=(N, 8, 8, 1), dtype=np.uint8)
    y = np.argmax(np.asarray(model(x.astype("float32") / 255.0)), axis=1)
    np.savez(path, x=x, y=y.astype("int64"))


@pytest.mark.asyncio
async def test_outside_softmax_model_on_an_npz_is_listed_and_evaluated(tmp_path):
    model = softmax_model(tmp_path / "soft.keras")
    write_npz(tmp_path / "faces.npz", model)
    runs = tmp_path / "runs"
    args = parse_args(
        ["--runs", str(runs), "--model", str(tmp_path / "soft.keras")]
        + ["--dataset", str(tmp_path / "faces.npz"), "--outputs", "probs"]
    )
    assert args.external == runs / "soft"
    record = json.loads((args.external / "run.json").read_text())
    assert record["external"] is True and record["wrapper"]["outputs"] == "probs"
    assert record["dataset"] == str((tmp_path / "faces.npz").resolve())
    assert (
        parse_args(
            ["--runs", str(runs), "--model", str(tmp_path / "soft.keras")]
            + ["--dataset", str(tmp_path / "faces.npz"), "--outputs", "probs"]
        ).external
        == args.external
    )  # the same model again: the same entry, results reused
    info = read_run(args.external)
    assert info.external and "faces.npz" in info.summary and "external" in info.summary

    app = TflsApp(runs, backend=Backend())
    async with app.run_test(size=(110, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert "soft  external" in screen_text(app) and "faces.npz soft.keras probs" in (
            screen_text(app)
        )
        screen.query_one("#images", Input).value = str(N)
        screen.query_one("#batch", Input).value = "12"
        screen.query_one("#eps", Input).value = "0.05"
        screen.query_one(DefenseList).focus()
        await pilot.press("space", "tab", "space", "r")
        assert screen.query_one(AttackPicker).selected_names == ["fgsm"]
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        run_screen = app.screen
        await finished(run_screen)
        await pilot.pause()
        out = args.external / "results" / run_screen.plan.key(0.05)
        report = json.loads((out / "report.json").read_text())
        assert report["complete"] is True and report["images"] == N
        assert report["model"]["wrapper"]["outputs"] == "probs"
        column = run_screen.panel(0).columns[0]
        assert column.images == N
        assert column.clean == pytest.approx(report["clean_accuracy"]) == 1.0
        assert column.robust["fgsm"] == pytest.approx(report["attacks"]["fgsm"]["robust_accuracy"])
        text = screen_text(app)
        assert "soft external" in text and "faces.npz soft.keras" in text
        assert f"{100 * report['attacks']['fgsm']['robust_accuracy']:.1f}" in text
        assert "ε=0.05: done, 24 images" in text
        # The wrapper's one-line warning about probabilities is a notification, not stderr.
        notes = [n.message for n in app._notifications]
        assert any(n.startswith("soft: --outputs probs") for n in notes), notes


@pytest.mark.asyncio
async def test_a_audits_an_outside_model_on_its_dataset(tmp_path):
    model = softmax_model(tmp_path / "soft.keras")
    write_npz(tmp_path / "faces.npz", model)
    runs = tmp_path / "runs"
    entry = register(
        runs,
        tmp_path / "soft.keras",
        dataset=str(tmp_path / "faces.npz"),
        options=check_model_options(outputs="probs"),
    )
    app = TflsApp(runs, backend=Backend())
    async with app.run_test(size=(110, 30)) as pilot:
        await _ready(app, pilot, images="16")
        app.screen.query_one("#eps", Input).value = "0.1"
        app.screen.audit_budget = _tiny_budget()
        screen = await _open_audit(app, pilot)
        await finished(screen, timeout=300)
        await pilot.pause()
        assert screen.report is not None, screen.query_one("#audit-message").render()
        assert _statuses(screen)[0] in ("warn", "fail")  # check 1: probability outputs
        out = entry / "audits" / "tiny_linf_eps0.1_n16"
        assert json.loads((out / "audit.json").read_text())["verdict"] == screen.report.verdict


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--input-range", "5,1"], "input_range='5,1'"),
        (["--outputs", "scores"], "invalid choice: 'scores'"),
        (["--image-size", "0,8"], "image_size"),
    ],
)
def test_bad_outside_model_options_are_refused_before_the_app_starts(
    tmp_path, capsys, extra, expected
):
    (tmp_path / "m.keras").write_bytes(b"")
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.zeros(2, np.int64))
    argv = ["--runs", str(tmp_path / "runs"), "--model", str(tmp_path / "m.keras")]
    with pytest.raises(SystemExit) as e:
        parse_args([*argv, "--dataset", str(tmp_path / "d.npz"), *extra])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tfls-tui: error: ") and expected in err[-1]
    assert not (tmp_path / "runs").exists()  # nothing registered


@pytest.mark.parametrize(
    "item, expected", [("train.limit", "key=value"), ("=3", "needs a key before '='")]
)
def test_a_malformed_demo_override_is_refused_before_the_app_starts(
    tmp_path, capsys, item, expected
):
    with pytest.raises(SystemExit) as e:
        parse_args(["--runs", str(tmp_path / "runs"), "--demo-set", item])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tfls-tui: error: ") and expected in err[-1], err
    assert f"Received: {item!r}" in err[-1]


def test_outside_model_options_need_a_model(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--runs", str(tmp_path), "--outputs", "probs"])
    assert "--outputs describes an outside model: add --model PATH" in capsys.readouterr().err


def test_other_options_or_a_tfls_run_of_the_same_name_get_their_own_entry(tmp_path):
    source = tmp_path / "soft.keras"
    source.write_bytes(b"")
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.zeros(2, np.int64))
    runs = tmp_path / "runs"
    write_run(runs, "soft", alpha=0.1)  # a tfls run already called "soft"
    before = (runs / "soft" / "run.json").read_text()
    logits = register(runs, source, dataset=str(tmp_path / "d.npz"))
    probs = register(
        runs, source, dataset=str(tmp_path / "d.npz"), options=check_model_options(outputs="probs")
    )
    assert (runs / "soft" / "run.json").read_text() == before
    assert len({logits, probs, runs / "soft"}) == 3
    assert logits.name.startswith("soft-") and probs.name.startswith("soft-")
    source.unlink()
    with pytest.raises(FileNotFoundError, match="No model at"):
        load_run(probs)
