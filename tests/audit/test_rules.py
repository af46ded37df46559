"""The verdict rules and Pintor's incomplete-optimisation indicator against hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from tfls.audit import CheckResult
from tfls.audit.thresholds import allowed
from tfls.audit.trace import still_moving
from tfls.audit.verdict import decide


def checks(**statuses):
    """Fourteen checks, `ok` unless named (`c4="fail"`)."""
    return [
        CheckResult(i, f"check {i}", statuses.get(f"c{i}", "ok"), f"summary {i}")
        for i in range(1, 15)
    ]


def test_apgd_a_few_points_below_pgd20_is_no_masking_but_says_to_quote_it():
    v = decide(checks(), pgd20=0.46, strongest=("apgd-ce", 0.44), lowest=("apgd-ce", 0.44))
    assert v.verdict == "no masking found"
    assert "apgd-ce" in v.reason and "quote it" in v.reason
    assert v.recommended_suite[0] == "autoattack"


def test_strongest_at_most_half_of_pgd20_is_overestimated():
    v = decide(checks(), pgd20=0.46, strongest=("autoattack", 0.16), lowest=("autoattack", 0.16))
    assert v.verdict == "overestimated"
    assert "16.0%" in v.reason and "autoattack" in v.reason


def test_half_but_within_three_points_is_not_evidence():
    v = decide(checks(), pgd20=0.04, strongest=("apgd-ce", 0.01), lowest=("apgd-ce", 0.01))
    assert v.verdict == "no masking found"


@pytest.mark.parametrize("check_id", [4, 7, 8, 9, 10])
def test_evidence_checks_make_it_overestimated(check_id):
    v = decide(
        checks(**{f"c{check_id}": "fail"}),
        pgd20=0.5,
        strongest=("pgd20", 0.5),
        lowest=("square", 0.1),
    )
    assert v.verdict == "overestimated"
    assert "square" in v.reason


@pytest.mark.parametrize("check_id", [1, 2, 3, 5, 6, 11, 12, 13, 14])
def test_other_checks_make_it_suspicious(check_id):
    v = decide(
        checks(**{f"c{check_id}": "warn"}),
        pgd20=0.5,
        strongest=("pgd20", 0.5),
        lowest=("pgd20", 0.5),
    )
    assert v.verdict == "suspicious"
    assert "robust" not in v.verdict


def test_allowed_is_a_percentage_of_points_at_least_one():
    assert allowed(64, 1.0) == 1
    assert allowed(500, 1.0) == 5
    assert allowed(500, 0.2) == 1
    assert allowed(10_000, 0.2) == 20


def test_still_moving_follows_pintor():
    flat_end = np.array([[0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]], float)
    rising = np.arange(15, dtype=float)[None]
    oscillating = np.array([[0, 5, 10, 9, 10, 9, 10, 9, 10, 9, 10, 9, 10, 9, 10]], float)
    constant = np.ones((1, 15))
    kwargs = {"window": 10, "move": 0.05}
    assert not still_moving(flat_end, **kwargs)[0]
    assert still_moving(rising, **kwargs)[0]
    assert not still_moving(oscillating, **kwargs)[0]  # best-so-far is flat
    assert not still_moving(constant, **kwargs)[0]


def test_bench_table_counts_detections_and_control_false_positives():
    from tfls.audit.bench import summarise, to_markdown

    def row(name, control, expected, fired, verdict):
        status = {c: ("fail" if c in fired else "ok") for c in range(1, 15)}
        status[8] = "skipped"
        return {
            "fixture": name,
            "control": control,
            "expected": list(expected),
            "expected_verdict": "no masking found" if control else None,
            "verdict": verdict,
            "status": status,
        }

    rows = [
        row("a", False, (4, 7), (4,), "overestimated"),
        row("b", False, (2,), (2, 6), "suspicious"),
        row("c", True, (), (13,), "suspicious"),
    ]
    result = summarise(rows, "standard")
    assert (result["detected"], result["expected_pairs"]) == (2, 3)
    assert result["control_checks"] == 13 and result["control_fail_rate"] == 1 / 13
    assert result["verdicts_as_expected"] == "0/1"
    text = to_markdown(result)
    assert "| a | . | . | . | [F] | . | . | [.] |" in text
    assert "2/3 (67%)" in text
