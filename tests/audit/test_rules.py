"""The verdict's tests and Pintor's incomplete-optimisation indicator against hand-made cases."""

from __future__ import annotations

import numpy as np

from tfls.audit import CheckResult
from tfls.audit.trace import still_moving
from tfls.audit.verdict import decide, gap_test
from tfls.checks.thresholds import allowed


def bits(n, robust, subset=None):
    """`n` points, the first `robust` robust (or the first `subset` of them)."""
    out = np.zeros(n, bool)
    out[: robust if subset is None else subset] = True
    return out


def evidence(check_id, p, status="ok"):
    return CheckResult(check_id, f"check {check_id}", status, f"summary {check_id}", p_value=p)


def test_a_gap_of_the_stated_size_is_overestimated_and_says_what_to_report():
    # 300 points; PGD-20 leaves 140 robust; the rest of the attacks break 93 of them (LS-like).
    gap = gap_test(bits(300, 140), bits(300, 140, subset=47))
    assert gap.broken == 93 and gap.robust_to_reported == 140 and gap.p_value < 1e-6
    v = decide([evidence(6, 0.5)], gap)
    assert v.verdict == "overestimated"
    assert "Report 15.7%, not 46.7%" in v.reason and "95% interval" in v.reason


def test_a_few_points_more_is_what_stronger_attacks_find_on_any_model():
    # Natural cnn4 here: 13 of PGD-20's 75 robust points broken by stronger attacks (17%).
    gap = gap_test(bits(300, 75), bits(300, 75, subset=62))
    v = decide([evidence(6, 0.4), evidence(14, 0.3)], gap)
    assert gap.p_value > 0.05 and v.verdict == "no masking found"
    assert "would have found" in v.reason


def test_a_large_relative_gap_within_three_points_is_not_enough():
    # 10 of 300 robust to PGD-20, 8 of them broken: 80% of them, but 2.7 points of accuracy.
    gap = gap_test(bits(300, 10), bits(300, 10, subset=2))
    v = decide([], gap)
    assert v.verdict != "overestimated"


def test_too_few_robust_points_is_inconclusive_and_names_the_detectable_gap():
    gap = gap_test(bits(16, 3), bits(16, 3, subset=3))
    v = decide([evidence(6, 0.9)], gap)
    assert v.verdict == "inconclusive" and "smallest gap the audit could have found" in v.reason


def test_nothing_left_to_break_is_no_masking_found():
    v = decide([], gap_test(bits(100, 0), bits(100, 0)))
    assert v.verdict == "no masking found" and "breaks every point" in v.reason


def test_a_significant_evidence_check_without_a_gap_is_suspicious():
    gap = gap_test(bits(300, 100), bits(300, 100, subset=95))
    v = decide([evidence(7, 1e-6), evidence(14, 0.5)], gap)
    assert v.verdict == "suspicious" and "check 7" in v.reason


def test_holm_corrects_across_checks_and_sets_the_final_status():
    gap = gap_test(bits(300, 100), bits(300, 100, subset=95))
    checks = [evidence(i, 0.02) for i in (6, 7, 9, 10, 14)]  # each alone below 0.05
    v = decide(checks, gap)
    assert all(c.p_adjusted >= 0.05 and c.status == "ok" for c in checks)
    assert v.verdict == "no masking found"


def test_diagnostics_never_decide():
    gap = gap_test(bits(300, 100), bits(300, 100, subset=98))
    diagnostics = [CheckResult(i, "d", "fail", "s") for i in (1, 2, 3, 4, 5, 12, 13, 16, 18)]
    assert all(c.kind == "diagnostic" for c in diagnostics)
    assert decide(diagnostics, gap).verdict == "no masking found"


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
    from tfls.bench.detection_table import CHECKS, cell, summarise, to_markdown

    def row(name, control, expected, fired, verdict, expected_verdict):
        checks = {}
        for c in CHECKS:
            evidence = c in (6, 7, 8, 9, 10, 11, 14, 15, 17)
            status = "fail" if c in fired else "ok"
            checks[str(c)] = {
                "status": "skipped" if c == 8 else status,
                "kind": "evidence" if evidence else "diagnostic",
                "p": None,
                "p_adjusted": (3e-8 if c in fired else 0.41) if evidence and c != 8 else None,
                "fired": c in fired and c != 8,
            }
        return {
            "fixture": name,
            "control": control,
            "eps": 0.1,
            "n": 128,
            "expected": list(expected),
            "expected_verdict": expected_verdict,
            "verdict": verdict,
            "fired": sorted(fired),
            "checks": checks,
            "pgd20": 0.5,
            "worst_case": 0.25,
            "seconds": 1.0,
        }

    rows = [
        row("a", False, (4, 7), (4,), "overestimated", "overestimated"),
        row("b", False, (2,), (2, 6), "suspicious", "overestimated"),
        row("c", True, (), (13,), "suspicious", "no masking found"),
    ]
    result = summarise(rows, "standard")
    assert (result["detected"], result["expected_pairs"]) == (2, 3)
    assert result["control_checks"] == 17 and result["control_fail_rate"] == 1 / 17
    assert result["verdicts_as_expected"] == "1/3"
    assert cell(rows[0], 4) == "F*" and cell(rows[0], 7) == ".* 0.41"
    assert cell(rows[1], 6) == "F 3e-8" and cell(rows[0], 8) == "-"
    text = to_markdown(result)
    assert "| a | 0.1 | 128 | . | . | . | F* | . | . 0.41 | .* 0.41 | - |" in text
    assert "2/3 (67%)" in text and "suspicious (!)" in text
