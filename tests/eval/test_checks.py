"""`evaluate` runs the audit's cheap checks (1, 2, 4, 6, 7): warnings, the report's `checks` section."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from tests.audit import fixtures as fx
from tests.eval.helpers import dataset, tiny_data, tiny_model
from tfls import TflsWarning
from tfls.attacks import FGSM, PGD, suite
from tfls.eval import Report, evaluate
from tfls.eval.checks import Comparisons
from tfls.eval.record_format import encode_bits


@pytest.fixture(scope="module")
def points():
    return fx.data()


def statuses(report):
    return {c["id"]: c["status"] for c in report.checks}


def test_clean_natural_model_warns_nothing_and_every_check_is_ok(tmp_path):
    model = tiny_model()
    x, y = tiny_data(model, n=48)
    attacks = {"fgsm": FGSM(model, eps=0.05), "pgd5": PGD(model, eps=0.05, steps=5)}
    with warnings.catch_warnings():
        warnings.simplefilter("error", TflsWarning)
        report = evaluate(model, dataset(x, y), attacks, out=tmp_path)
    assert statuses(report) == {1: "ok", 2: "ok", 4: "ok", 6: "ok"}
    assert Report.load(tmp_path).checks == report.checks
    assert "## Checks" in (tmp_path / "report.md").read_text()


def test_zero_gradient_model_warns_check_4_and_square_check_7(points, tmp_path):
    x, y = points
    model = fx.build("zero-gradient")
    attacks = suite(
        model, ["pgd20", "square"], eps=fx.EPS, overrides={"square": {"n_queries": 200}}, seed=0
    )
    with pytest.warns(TflsWarning) as caught:
        report = evaluate(model, dataset(x, y, 32), attacks, out=tmp_path)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("check 4 (Gradient availability) fail") for m in messages)
    assert any(m.startswith("check 7 (Black-box beats white-box) fail") for m in messages)
    assert all("\n" not in m for m in messages)
    assert statuses(report)[4] == "fail" and statuses(report)[7] == "fail"
    check4 = next(c for c in report.checks if c["id"] == 4)
    assert check4["numbers"]["margin_unavailable"] == 1.0 and "BPDA" in check4["advice"]
    text = (tmp_path / "report.md").read_text()
    assert "Gradient availability: **fail**" in text


def test_dropout_at_inference_warns_check_2_and_single_step_check_6(points):
    x, y = points
    model = fx.build("dropout-at-inference")
    attacks = suite(model, ["fgsm", "pgd20"], eps=fx.EPS, seed=0)
    with pytest.warns(TflsWarning) as caught:
        report = evaluate(model, dataset(x, y, 32), attacks)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("check 2 (Randomness) fail") for m in messages)
    assert any(m.startswith("check 6 (Single-step beats iterative) fail") for m in messages)
    assert statuses(report)[2] == "fail"
    check6 = next(c for c in report.checks if c["id"] == 6)
    assert check6["status"] == "fail" and check6["numbers"]["only_a"] > check6["numbers"]["only_b"]
    assert check6["p_adjusted"] < 0.05 and "McNemar" in check6["test"]


def test_probability_outputs_are_refused_before_work(points, tmp_path):
    # Check 1 in the evaluator is this refusal; `tfls audit` reports it instead.
    x, y = points
    model = fx.build("softmax-output")
    with pytest.raises(ValueError, match="outputs probabilities"):
        evaluate(model, dataset(x, y, 32), {"fgsm": FGSM(model, eps=fx.EPS)}, out=tmp_path)
    assert not (tmp_path / "report.json").exists()


def test_checks_false_runs_none(points):
    x, y = points
    model = fx.build("zero-gradient")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TflsWarning)
        report = evaluate(model, dataset(x, y, 32), {"fgsm": FGSM(model, eps=fx.EPS)}, checks=False)
    assert report.checks == []


def test_resume_gives_identical_checks(points, tmp_path):
    x, y = points
    model = fx.build("zero-gradient")
    attacks = {"fgsm": FGSM(model, eps=fx.EPS), "pgd5": PGD(model, eps=fx.EPS, steps=5)}
    with pytest.warns(TflsWarning, match="check 4"):
        partial = evaluate(
            model, dataset(x, y, 16), attacks, out=tmp_path, on_batch=lambda p: p.batches_done < 2
        )
    assert not partial.complete and 6 not in statuses(partial)  # 6 waits for the last batch
    with pytest.warns(TflsWarning, match="check 4"):
        resumed = evaluate(model, dataset(x, y, 16), attacks, out=tmp_path)
    with pytest.warns(TflsWarning, match="check 4"):
        fresh = evaluate(model, dataset(x, y, 16), attacks)
    with pytest.warns(TflsWarning, match="check 4"):
        reread = evaluate(model, dataset(x, y, 16), attacks, out=tmp_path)  # every batch stored
    assert resumed.checks == fresh.checks == reread.checks
    assert set(statuses(resumed)) == {1, 2, 4, 6}


def test_old_reports_without_checks_still_load(tmp_path):
    model = tiny_model()
    x, y = tiny_data(model, n=16)
    report = evaluate(model, dataset(x, y), {"fgsm": FGSM(model, eps=0.05)}, checks=False)
    old = report.to_dict()
    del old["checks"]
    assert Report.from_dict(old).checks == []


def record(clean, **robust):
    return {
        "n": len(clean),
        "clean": encode_bits(np.array(clean, bool)),
        "robust": {k: encode_bits(np.array(v, bool)) for k, v in robust.items()},
    }


def comparisons(**kwargs):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    return Comparisons(
        {"fgsm": FGSM(model, eps=0.1), "pgd": PGD(model, eps=0.1, steps=2)}, **kwargs
    )


@pytest.mark.parametrize(
    "fgsm_only, pgd_only, status", [(4, 0, "ok"), (5, 0, "fail"), (9, 3, "ok")]
)
def test_single_step_is_an_exact_mcnemar_test(fgsm_only, pgd_only, status):
    # One-sided exact McNemar on the discordant points: 5 of 5 gives p = 1/32 < 0.05, 4 of 4
    # p = 1/16; 9 against 3 gives p = 0.073.
    counter = comparisons(individual=True)
    clean = [True] * 100
    fgsm = [i >= fgsm_only for i in range(100)]
    pgd = [not (fgsm_only <= i < fgsm_only + pgd_only) for i in range(100)]
    counter.add(record(clean, fgsm=fgsm, pgd=pgd))
    (result,) = counter.results()
    assert (result.id, result.status) == (6, status)
    assert (result.numbers["only_a"], result.numbers["only_b"]) == (fgsm_only, pgd_only)


def test_single_step_is_skipped_when_pgd_skipped_fgsm_points():
    # individual=False with FGSM first: PGD never ran on the points FGSM broke.
    counter = comparisons(individual=False)
    counter.add(record([True] * 10, fgsm=[False] * 10, pgd=[True] * 10))
    (result,) = counter.results()
    assert result.status == "skipped" and "individual=False" in result.summary


def test_cli_prints_each_fired_check_on_one_line(shared_data_dir, tmp_path, capsys):
    from tests.eval.test_cli import eval_args
    from tests.tiny_models import tiny_conv
    from tfls.cli.main import main

    inner = tiny_conv((28, 28, 1), 10, seed=0, filters=4, strides=2)
    model = keras.Sequential([keras.Input((28, 28, 1)), fx.ZeroGradient(), inner])
    path = tmp_path / "zero_gradient.keras"
    model.save(path)
    code = main(eval_args(path, tmp_path / "ev", shared_data_dir, attacks="fgsm", n="20"))
    err = capsys.readouterr().err
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("tfls eval: warning: check")]
    assert len(lines) == 1 and "check 4 (Gradient availability) fail" in lines[0]
