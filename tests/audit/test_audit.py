"""The audit on fixtures with known answers: each masked model is flagged by its named check, the
control is not, the report is consistent, and an interrupted audit resumes to the same report."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.audit import fixtures as fx
from tfls.audit import BUDGETS, AuditReport, audit

# The standard budget's checks at a fraction of its cost: the fixtures are tiny and seconds count.
SMALL = dataclasses.replace(
    BUDGETS["standard"],
    name="test",
    whitebox=("fgsm", "pgd20", "apgd-ce", "pgd-cw"),
    overrides={"apgd-ce": {"steps": 20}},
    square_queries=300,
    noise_draws=100,
    restarts=3,
    trace_steps=20,
    gamma=20,
    jit_compile=False,  # tiny models audited many times: XLA compilation would dominate
)


def only(*checks):
    """`SMALL` restricted to `checks`, with the fewest white-box attacks those checks need."""
    whitebox = ("fgsm", "pgd20", "pgd-cw") if 14 in checks else ("fgsm", "pgd20")
    return dataclasses.replace(
        SMALL, name="test-" + "-".join(map(str, checks)), checks=checks, whitebox=whitebox
    )


_AUDITS = {}


def cached_audit(name, checks):
    """One audit per (fixture, checks) per test session: several tests read the same report.

    The zero-gradient model is also audited with its unmasked twin as surrogate (check 8).
    """
    kwargs = {}
    if name == "zero-gradient":
        checks, kwargs = (4, 7, 8), {"surrogate": fx.build("control")}
    key = (name, checks)
    if key not in _AUDITS:
        budget = SMALL if checks == "all" else only(*checks)
        _AUDITS[key] = audit(fx.build(name), fx.data(), eps=fx.EPS, budget=budget, **kwargs)
    return _AUDITS[key]


@pytest.fixture(scope="module")
def points():
    return fx.data()


def control_report(points):
    return cached_audit("control", "all")


@pytest.mark.parametrize(
    "name",
    [
        "zero-gradient",
        "quantised-input",
        "dropout-at-inference",
        "saturated-logits",
        "softmax-output",
        "label-smoothing-loss",
    ],
)
def test_masked_fixture_is_flagged_by_its_check(name, points):
    expected = fx.EXPECTED[name]
    report = cached_audit(name, expected)
    for check_id in expected:
        check = report.check(check_id)
        assert check.fired, f"{name}: check {check_id} did not fire: {check.summary}"
    assert report.verdict != "no masking found"


def test_gradient_masking_fixtures_are_overestimated(points):
    report = cached_audit("zero-gradient", fx.EXPECTED["zero-gradient"])
    assert report.verdict == "overestimated"
    assert report.lowest["attack"] in ("square", "transfer")
    assert report.lowest["accuracy"] < report.pgd20
    # Evidence is per example: the points Square alone breaks are listed and are really robust
    # to the white-box attacks.
    only_square = report.check(7).evidence["broken_only_by_square"]
    assert len(only_square) == report.check(7).numbers["points_only_it_breaks"] > 1
    assert "square" in report.recommended_suite


def test_control_is_clean(points):
    report = control_report(points)
    assert report.verdict == "no masking found", report.reason
    assert not [c.id for c in report.checks if c.status == "fail"]
    ran = {c.id for c in report.checks if c.status != "skipped"}
    assert ran == set(range(1, 15)) - {8}  # 8 needs a surrogate
    assert report.check(8).status == "skipped" and "surrogate" in report.check(8).summary
    assert report.recommended_suite[0] == "autoattack"


def test_worst_case_never_exceeds_any_single_attack(points):
    report = control_report(points)
    assert report.accuracies
    for label, acc in report.accuracies.items():
        assert report.worst_case <= acc + 1e-12, label
    assert report.lowest["accuracy"] == min(report.accuracies.values())
    assert report.points_of_difference == pytest.approx(100 * (report.pgd20 - report.worst_case))


def test_report_round_trips_and_fits_100_columns(points, tmp_path):
    report = control_report(points)
    again = AuditReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()
    text = report.to_markdown()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "robust" not in report.verdict
    paths = report.write(tmp_path)
    assert (tmp_path / "audit.json").is_file() and (tmp_path / "audit.md").is_file()
    assert (tmp_path / "accuracy_vs_eps.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "loss_traces.png").is_file()
    assert set(paths) >= {"audit.json", "audit.md"}


def test_resume_after_interruption_gives_the_same_report(points, tmp_path):
    budget = only(4, 7, 12)
    model = fx.build("zero-gradient")
    seen = []
    first = audit(model, points, eps=fx.EPS, budget=budget, out=tmp_path, on_check=seen.append)
    assert [c.id for c in seen] == [1, 2, 3, 4, 5, 6, 12, 13, 7, 8, 9, 10, 11, 14]
    # An interruption: some checks and part of an evaluation were never written.
    for check_id in (4, 7):
        (tmp_path / "checks" / f"{check_id}.json").unlink()
    batches = tmp_path / "evals" / "square-q300" / "batches.jsonl"
    lines = batches.read_text().splitlines(keepends=True)
    batches.write_text("".join(lines[:-1]) + lines[-1][:10])  # a torn last line
    second = audit(model, points, eps=fx.EPS, budget=budget, out=tmp_path)
    a, b = first.to_dict(), second.to_dict()
    a["meta"].pop("seconds"), b["meta"].pop("seconds")
    assert a == b
    assert json.loads((tmp_path / "audit.json").read_text())["verdict"] == second.verdict


def test_a_finished_audit_is_read_back_not_recomputed(points, tmp_path, monkeypatch):
    budget = only(4)
    model = fx.build("control")
    audit(model, points, eps=fx.EPS, budget=budget, out=tmp_path)
    import tfls.audit.model_checks as mc

    def boom(*a, **k):
        raise AssertionError("recomputed a finished check")

    monkeypatch.setattr(mc, "gradient_availability", boom)
    report = audit(model, points, eps=fx.EPS, budget=budget, out=tmp_path)
    assert report.check(4).status == "ok"


def test_another_audit_in_the_same_folder_is_refused(points, tmp_path):
    model = fx.build("control")
    audit(model, points, eps=fx.EPS, budget=only(6), out=tmp_path)
    with pytest.raises(ValueError, match="eps"):
        audit(model, points, eps=fx.EPS / 2, budget=only(6), out=tmp_path)


def test_probability_model_is_reported_not_a_crash(points):
    report = cached_audit("softmax-output", fx.EXPECTED["softmax-output"])
    assert report.check(1).status == "fail"
    assert "softmax" in report.check(1).advice
    assert report.pgd20 < report.clean_accuracy  # the attacks ran, on log-probabilities


def test_tf_data_dataset_and_n(points):
    import tensorflow as tf

    x, y = points
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    report = audit(fx.build("control"), ds, eps=fx.EPS, budget=only(6), n=40)
    assert report.meta["images"] == 40


# -- bad input: one line, before any work ------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"budget": "fast"}, "budget='fast'"),
        ({"eps": -0.1}, "eps=-0.1"),
        ({"norm": "l1"}, "norm='l1'"),
        ({"n": 0}, "n=0"),
    ],
)
def test_bad_arguments_are_refused_before_work(points, tmp_path, kwargs, match):
    out = tmp_path / "audit"
    args = {"eps": fx.EPS, **kwargs}
    with pytest.raises(ValueError, match=match) as info:
        audit(fx.build("control"), points, out=out, **args)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_surrogate_of_another_task_is_refused(points, tmp_path):
    import keras

    model = fx.build("control")
    other_shape = keras.Sequential(
        [keras.Input((9, 9, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    other_classes = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    for surrogate, match in ((other_shape, "input"), (other_classes, "classes")):
        with pytest.raises(ValueError, match=match):
            audit(model, points, eps=fx.EPS, surrogate=surrogate, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_transfer_check_runs_with_a_surrogate(points):
    report = cached_audit("zero-gradient", (4, 7, 8))
    # Points crafted on the unmasked twin fool the zero-gradient model its own gradients cannot.
    assert report.check(8).status == "fail"
    assert report.check(8).evidence["broken_only_by_transfer"]
    assert "transfer-pgd20" in report.recommended_suite


def test_labels_out_of_range_are_refused(points):
    x, y = points
    with pytest.raises(ValueError, match="Labels must lie"):
        audit(fx.build("control"), (x, np.full_like(y, 12)), eps=fx.EPS)


def test_train_surrogate_trains_once_and_runs_the_transfer_check(points, tmp_path):
    model = fx.build("control")
    report = audit(model, points, eps=fx.EPS, budget=only(8), out=tmp_path, train_surrogate=True)
    assert report.check(8).status in ("ok", "fail")
    assert "transfer" in report.accuracies
    saved = tmp_path / "surrogate.keras"
    assert saved.is_file()
    stamp = saved.stat().st_mtime_ns
    again = audit(model, points, eps=fx.EPS, budget=only(8), out=tmp_path, train_surrogate=True)
    assert saved.stat().st_mtime_ns == stamp  # read back, not retrained
    assert again.check(8).to_dict() == report.check(8).to_dict()
