"""The audit's mechanics on the fixtures: the worst case and the gap, the report (JSON round trip,
≤ 100 columns, PNGs), resuming an interrupted audit, reading a finished one back, refusing bad
input before any work, probability models and `tf.data` input. What each fixture must fire and
its verdict: `test_verdicts.py`."""

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
    spread_seeds=1,
    trace_steps=20,
    gamma=20,
    integrity_points=32,
    eot=5,
    jit_compile=False,  # tiny models audited many times: XLA compilation would dominate
)
EPS = fx.CONTROL_EPS


def only(*checks):
    """`SMALL` restricted to `checks`, with the fewest white-box attacks those checks need."""
    whitebox = ("fgsm", "pgd20", "pgd-cw") if 14 in checks else ("fgsm", "pgd20")
    return dataclasses.replace(
        SMALL, name="test-" + "-".join(map(str, checks)), checks=checks, whitebox=whitebox
    )


@pytest.fixture(scope="module")
def points():
    return fx.data(64)


@pytest.fixture(scope="module")
def control_report(points):
    """Every check of `SMALL` on the natural MLP, with the standard surrogate."""
    return audit(fx.build("control"), points, eps=EPS, budget=SMALL, surrogate=fx.surrogate())


def test_every_check_of_the_budget_runs_and_is_reported(control_report):
    ids = [c.id for c in control_report.checks]
    assert ids == list(range(1, 19))
    ran = {c.id for c in control_report.checks if c.status != "skipped"}
    assert ran == set(range(1, 19)) - {17}  # 17: no diagnostic called for a follow-up
    assert "no diagnostic" in control_report.check(17).summary
    for c in control_report.checks:
        assert c.kind == ("evidence" if c.id in (6, 7, 8, 9, 10, 11, 14, 15, 17) else "diagnostic")
        assert (c.p_adjusted is not None) == (c.kind == "evidence" and c.status != "skipped")
    assert control_report.recommended_suite[0] == "autoattack"
    assert "robust" not in control_report.verdict


def test_worst_case_never_exceeds_any_single_attack(control_report):
    report = control_report
    assert report.accuracies
    for label, acc in report.accuracies.items():
        assert report.worst_case <= acc + 1e-12, label
    assert report.lowest["accuracy"] == min(report.accuracies.values())
    assert report.points_of_difference == pytest.approx(100 * (report.pgd20 - report.worst_case))
    gap = report.gap
    assert gap["robust_to_pgd20"] == round(report.pgd20 * 64)
    assert gap["broken"] == round((report.pgd20 - report.worst_case) * 64)
    assert gap["interval"][0] <= gap["points"] <= gap["interval"][1]
    assert gap["p_value"] <= gap["p_adjusted"] <= 1


def test_holm_adjusted_p_values_are_monotone_and_never_below_the_raw(control_report):
    evidence = [c for c in control_report.checks if c.p_adjusted is not None]
    assert evidence
    for c in evidence:
        assert c.p_value <= c.p_adjusted <= 1
        assert c.status == ("fail" if c.p_adjusted < 0.05 else "ok")
    ordered = sorted(evidence, key=lambda c: c.p_value)
    adjusted = [c.p_adjusted for c in ordered]
    assert adjusted == sorted(adjusted)


def test_report_round_trips_and_fits_100_columns(control_report, tmp_path):
    report = control_report
    again = AuditReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()
    text = report.to_markdown()
    assert max(len(line) for line in text.splitlines()) <= 100
    paths = report.write(tmp_path)
    assert (tmp_path / "audit.json").is_file() and (tmp_path / "audit.md").is_file()
    assert (tmp_path / "accuracy_vs_eps.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "loss_traces.png").is_file()
    assert set(paths) >= {"audit.json", "audit.md"}
    assert AuditReport.load(tmp_path).verdict == report.verdict


def test_resume_after_interruption_gives_the_same_report(points, tmp_path):
    budget = only(4, 7, 12)
    model = fx.build("zero-gradient")
    seen = []
    first = audit(model, points, eps=EPS, budget=budget, out=tmp_path, on_check=seen.append)
    assert [c.id for c in seen] == [1, 2, 5, 4, 15, 3, 13, 6, 17, 7, 10, 14, 9, 8, 16, 11, 18, 12]
    assert first.verdict == "overestimated" and first.check(7).status == "fail"
    # An interruption: some checks and part of an evaluation were never written.
    for check_id in (4, 7):
        (tmp_path / "checks" / f"{check_id}.json").unlink()
    batches = tmp_path / "evals" / "square-q300" / "batches.jsonl"
    lines = batches.read_text().splitlines(keepends=True)
    batches.write_text("".join(lines[:-1]) + lines[-1][:10])  # a torn last line
    second = audit(model, points, eps=EPS, budget=budget, out=tmp_path)
    a, b = first.to_dict(), second.to_dict()
    a["meta"].pop("seconds"), b["meta"].pop("seconds")
    assert a == b
    assert json.loads((tmp_path / "audit.json").read_text())["verdict"] == second.verdict


def test_a_finished_audit_is_read_back_not_recomputed(points, tmp_path, monkeypatch):
    budget = only(4)
    model = fx.build("control")
    audit(model, points, eps=EPS, budget=budget, out=tmp_path)
    import tfls.checks.model_checks as mc

    def boom(*a, **k):
        raise AssertionError("recomputed a finished check")

    monkeypatch.setattr(mc, "gradient_availability", boom)
    report = audit(model, points, eps=EPS, budget=budget, out=tmp_path)
    assert report.check(4).status == "ok"


def test_another_audit_in_the_same_folder_is_refused(points, tmp_path):
    model = fx.build("control")
    audit(model, points, eps=EPS, budget=only(6), out=tmp_path)
    with pytest.raises(ValueError, match="eps"):
        audit(model, points, eps=EPS / 2, budget=only(6), out=tmp_path)


def test_probability_model_is_reported_and_audited_on_log_probabilities(points):
    report = audit(fx.build("softmax-output"), points, eps=EPS, budget=only(1, 6))
    logits = audit(fx.build("control"), points, eps=EPS, budget=only(1, 6))
    assert report.check(1).status == "fail" and "softmax" in report.check(1).advice
    assert logits.check(1).status == "ok"
    # log-softmax differs from the logits by a constant per example: the same attacks agree.
    assert report.pgd20 == pytest.approx(logits.pgd20, abs=2 / 64)
    assert report.pgd20 < report.clean_accuracy


def test_tf_data_dataset_and_n(points):
    import tensorflow as tf

    x, y = points
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    report = audit(fx.build("control"), ds, eps=EPS, budget=only(6), n=40)
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
    args = {"eps": EPS, **kwargs}
    with pytest.raises(ValueError, match=match) as info:
        audit(fx.build("control"), points, out=out, **args)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_a_budget_without_fgsm_or_pgd20_is_refused(points):
    budget = dataclasses.replace(SMALL, whitebox=("apgd-ce",))
    with pytest.raises(ValueError, match="fgsm and pgd20"):
        audit(fx.build("control"), points, eps=EPS, budget=budget)


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
            audit(model, points, eps=EPS, surrogate=surrogate, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_labels_out_of_range_are_refused(points):
    x, y = points
    with pytest.raises(ValueError, match="Labels must lie"):
        audit(fx.build("control"), (x, np.full_like(y, 12)), eps=EPS)


def test_without_a_surrogate_the_transfer_checks_are_skipped_and_named(points):
    report = audit(fx.build("control"), points, eps=EPS, budget=only(6, 8, 16))
    for check_id in (8, 16):
        assert report.check(check_id).status == "skipped"
        assert "surrogate" in report.check(check_id).summary
    assert any(s.startswith("8 ") for s in report.skipped_evidence)
