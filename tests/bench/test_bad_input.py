"""`tfls bench attacks|autoattack`: every count, budget and model is checked before anything is
built or timed; each bad one is exit 2 and one line naming the flag and the value."""

from __future__ import annotations

import re

import pytest

from tests.eval.test_faults import save_heads, save_model
from tfls.bench import attacks as bench_attacks
from tfls.bench import autoattack as bench_autoattack
from tfls.cli.main import main


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-models")
    return {
        "good": save_model(root / "good.keras"),
        "multi": save_heads(root / "multi.keras", "list"),
        "five": save_model(root / "five.keras", classes=5),
    }


def one_error_line(capsys, args, pattern):
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("tfls bench: error: "), err
    assert re.search(pattern, err[0]), err[0]


@pytest.mark.parametrize(
    "extra, pattern",
    [
        (["--repeats", "0"], r"`--repeats` must be an integer >= 1\. Received: --repeats=0"),
        (["--repeats=-2"], r"Received: --repeats=-2"),
        (
            ["--batch-size", "0"],
            r"`--batch-size` must be an integer >= 1\. Received: --batch-size=0",
        ),
        (["--batch-size=-3"], r"Received: --batch-size=-3"),
        (["--attacks", ","], r"--attacks needs at least one preset\. Received: --attacks=,"),
    ],
)
def test_bench_attacks_counts(tmp_path, capsys, monkeypatch, extra, pattern):
    # Nothing may be built before the counts are checked: building a model would fail the test.
    monkeypatch.setattr(bench_attacks, "models_for", lambda name: pytest.fail("built a model"))
    out = tmp_path / "b.json"
    one_error_line(capsys, ["bench", "attacks", *extra, "--out", str(out)], pattern)
    assert not out.exists()


def test_bench_attacks_run_checks_its_counts():
    with pytest.raises(ValueError, match=r"Received: repeats=0"):
        bench_attacks.run(["fgsm"], repeats=0, models={})
    with pytest.raises(ValueError, match=r"Received: batch_size=0"):
        bench_attacks.run(["fgsm"], batch_size=0, models={})


def autoattack_args(model, data_dir, out, *extra):
    return [
        "bench",
        "autoattack",
        "--no-art",
        "--model",
        str(model),
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        str(data_dir),
        "--n",
        "4",
        "--components",
        "apgd-ce",
        "--budget",
        "apgd-ce.steps=2",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.parametrize(
    "extra, pattern",
    [
        (["--n", "0"], r"`n` must be an integer >= 1\. Received: n=0"),
        (["--budget", "apgd-ce.steps=0"], r"Received: steps=0"),
        (["--budget", "apgd-ce.restarts=-1"], r"Received: restarts=-1"),
        (
            ["--budget", "apgd-ce.steps=abc"],
            r"VALUE must be a number.*Received: 'apgd-ce\.steps=abc'",
        ),
        (["--budget", "apgd-ce.steps=nan"], r"Received: 'apgd-ce\.steps=nan'"),
        (
            ["--components", ","],
            r"--components needs at least one component\. Received: --components=,",
        ),
        (["--eps=-1"], r"Received: eps=-1"),
    ],
)
def test_bench_autoattack_counts_and_budgets(
    models, shared_data_dir, tmp_path, capsys, extra, pattern
):
    out = tmp_path / "aa.json"
    one_error_line(capsys, autoattack_args(models["good"], shared_data_dir, out, *extra), pattern)
    assert not out.exists()


@pytest.mark.parametrize(
    "key, pattern",
    [
        ("multi", r"multi\.keras` has 2 outputs \(\(None, 10\), \(None, 10\)\)"),
        ("five", r"five\.keras outputs 5 classes but fashion_mnist has 10"),
    ],
)
def test_bench_autoattack_model_that_does_not_fit(
    models, shared_data_dir, tmp_path, capsys, monkeypatch, key, pattern
):
    monkeypatch.setattr(bench_autoattack, "measure", lambda *a, **k: pytest.fail("measured"))
    out = tmp_path / "aa.json"
    one_error_line(capsys, autoattack_args(models[key], shared_data_dir, out), pattern)
    assert not out.exists()
