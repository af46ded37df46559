"""The audit on fixtures with known answers (`tests/audit/fixtures.py`): for every fixture and
control, at `quick` and `standard`, the exact set of checks that fire (evidence checks
significant after Holm, diagnostics that warn or fail) and the verdict are pinned (`PINNED`);
the checks each fixture exists for must fire and its verdict is the expected one (`EXPECTED`);
disabling a fixture's check makes its expectation fail; the engine self-test (check 12), which no
model can fire, fires when the engine is broken on purpose.

Default suite: one audit per case below (`DEFAULT`), XLA off. The rest (every fixture at both
budgets, controls over training seeds 1 and 2, every check disabled in turn) is `slow`.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.audit import fixtures as fx
from tfls.audit import BUDGETS, audit

BUDGET = {name: dataclasses.replace(BUDGETS[name], jit_compile=False) for name in fx.PINNED}
# (case, budget) pairs of the default suite (≤ 90 s with test_audit.py): fixtures for checks 1-7,
# 10, 13, 15 and 17 at quick, seed 0 of each control at both budgets, and the positive fixture
# of checks 11 and 18 (standard only).
DEFAULT = {
    ("softmax-output", "quick"),
    ("dropout-at-inference", "quick"),
    ("label-smoothing-loss", "quick"),
    ("zero-gradient", "quick"),
    ("rescaled-down", "quick"),
    ("natural-s0", "quick"),
    ("madry-s0", "quick"),
    ("natural-s0", "standard"),
    ("madry-s0", "standard"),
    ("bumpy-input", "standard"),
}
_REPORTS: dict = {}


def report_of(name, budget_name, budget=None):
    """The audit of case `name` at `budget_name` (or at `budget`, a variant), once per session."""
    budget = budget or BUDGET[budget_name]
    key = (name, budget.name, budget.checks)
    if key not in _REPORTS:
        f = fx.CASES[name]
        _REPORTS[key] = audit(f.model(), f.points(), budget=budget, **f.kwargs())
    return _REPORTS[key]


def fired(report) -> tuple[int, ...]:
    return tuple(c.id for c in report.checks if c.fired)


def assert_expected(report, name, budget_name, checks=None):
    """The fixture's must-fire checks (those the budget runs) fired, with its verdict."""
    f = fx.CASES[name]
    must = f.must_fire(BUDGET[budget_name].checks if checks is None else checks)
    missing = [c for c in must if not report.check(c).fired]
    assert not missing, f"{name} at {budget_name}: checks {missing} did not fire ({fired(report)})"
    verdict = f.expected_verdict(budget_name)
    assert report.verdict == verdict, f"{name} at {budget_name}: {report.verdict}: {report.reason}"


def assert_pinned(report, name, budget_name):
    """Exactly the pinned checks fire, and the verdict is the pinned one."""
    checks, verdict = fx.PINNED[budget_name][name]
    assert fired(report) == checks, f"{name} at {budget_name}: fired {fired(report)}, not {checks}"
    assert report.verdict == verdict, f"{name} at {budget_name}: {report.verdict}: {report.reason}"


def _cases(default: bool):
    out = []
    for budget_name in fx.PINNED:
        for name in fx.CASES:
            is_default = (name, budget_name) in DEFAULT
            if is_default == default:
                marks = () if default else (pytest.mark.slow,)
                out.append(pytest.param(name, budget_name, marks=marks, id=f"{name}-{budget_name}"))
    return out


@pytest.mark.parametrize("name, budget_name", _cases(True) + _cases(False))
def test_fixture_fires_its_checks_and_gets_its_verdict(name, budget_name):
    report = report_of(name, budget_name)
    assert_expected(report, name, budget_name)
    assert_pinned(report, name, budget_name)
    if fx.CASES[name].control:
        assert report.verdict == "no masking found"
        # The controls have the power to see a gap: ~26 points robust to PGD-20 are needed.
        assert report.gap["robust_to_pgd20"] >= 26
        assert report.gap["smallest_detectable_share"] <= 0.5


def test_every_check_has_a_positive_fixture():
    """Every check but 12 (the engine's self-test, `test_engine_self_test_can_fire`) is fired by
    some fixture, as its `EXPECTED` says and as `PINNED` measures."""
    claimed = {c for f in fx.FIXTURES.values() for c in f.checks}
    assert claimed == set(range(1, 19)) - {12}
    for f in fx.FIXTURES.values():
        for budget_name, pinned in fx.PINNED.items():
            checks, verdict = pinned[f.name]
            assert set(f.must_fire(BUDGET[budget_name].checks)) <= set(checks), f.name
            assert verdict == f.expected_verdict(budget_name), f.name
    for name, f in fx.CONTROLS.items():
        assert f.verdict == "no masking found" and f.n >= 300, name
    assert {f.seed for f in fx.CONTROLS.values()} == set(fx.SEEDS)


# -- disabling a check makes its fixture's test fail ---------------------------------------------


def without(budget_name, check_id):
    base = BUDGET[budget_name]
    checks = tuple(c for c in base.checks if c != check_id)
    return dataclasses.replace(base, name=f"{budget_name}-without-{check_id}", checks=checks)


def _disabled(default: bool):
    chosen = {("rescaled-down", 15, "quick")}
    out = []
    for name, f in fx.FIXTURES.items():
        for budget_name in fx.PINNED:
            for check_id in f.must_fire(BUDGET[budget_name].checks):
                if ((name, check_id, budget_name) in chosen) == default:
                    marks = () if default else (pytest.mark.slow,)
                    out.append(
                        pytest.param(
                            name,
                            check_id,
                            budget_name,
                            marks=marks,
                            id=f"{name}-without-{check_id}-{budget_name}",
                        )
                    )
    return out


@pytest.mark.parametrize("name, check_id, budget_name", _disabled(True) + _disabled(False))
def test_disabling_a_check_fails_its_fixture(name, check_id, budget_name):
    report = report_of(name, budget_name, without(budget_name, check_id))
    assert report.check(check_id).status == "skipped"
    with pytest.raises(AssertionError):
        assert_expected(report, name, budget_name, checks=BUDGET[budget_name].checks)
    with pytest.raises(AssertionError):
        assert_pinned(report, name, budget_name)


def test_disabling_the_only_evidence_changes_the_verdict():
    """rescaled-down at quick is `suspicious` on check 15 alone: without it nothing is
    significant, and the verdict falls to `no masking found`."""
    report = report_of("rescaled-down", "quick", without("quick", 15))
    assert report.verdict == "no masking found", report.reason
    assert report_of("rescaled-down", "quick").verdict == "suspicious"


# -- check 12: the engine's self-test can fire ---------------------------------------------------


class ReturnsClean:
    """An attack that returns its input: what an engine that loses every adversarial iterate
    it visits would return."""

    def __init__(self, attack):
        self._attack = attack

    def __getattr__(self, name):
        return getattr(self._attack, name)

    def __call__(self, x, y):
        return x


def test_engine_self_test_can_fire(monkeypatch):
    """No model can fire check 12; a broken engine does: the traced run's evaluation (label
    `pgd-trace`) is made to return the clean points, while the trace sees the adversarial
    iterates PGD visits."""
    from tfls.audit.workspace import Workspace

    budget = dataclasses.replace(BUDGET["standard"], name="test-12", checks=(12,), trace_steps=20)
    budget = dataclasses.replace(budget, whitebox=("fgsm", "pgd20"))
    f = fx.CASES["control"]
    honest = audit(f.model(), f.points(), budget=budget, eps=f.eps)
    assert honest.check(12).status == "ok", honest.check(12).summary
    original = Workspace.attacks

    def attacks(self, names, **kwargs):
        built = original(self, names, **kwargs)
        return {k: ReturnsClean(a) if k == "pgd-trace" else a for k, a in built.items()}

    monkeypatch.setattr(Workspace, "attacks", attacks)
    broken = audit(f.model(), f.points(), budget=budget, eps=f.eps)
    check = broken.check(12)
    assert check.status == "fail" and check.kind == "diagnostic"
    assert check.numbers["silent_successes"] == check.numbers["visited_adversarial"] > 26
    assert "tfls bug" in check.advice
    assert broken.verdict == honest.verdict  # a diagnostic: it never decides


def test_random_backward_pass_skips_the_engine_self_test():
    """The noisy-backward fixture's gradient draws noise: a trace cannot replay the engine's
    run there, so check 12 is skipped rather than blaming the engine."""
    budget = dataclasses.replace(BUDGET["standard"], name="test-12", checks=(12,), trace_steps=20)
    budget = dataclasses.replace(budget, whitebox=("fgsm", "pgd20"))
    f = fx.CASES["noisy-backward"]
    report = audit(f.model(), f.points(), budget=budget, eps=f.eps)
    assert report.check(12).status == "skipped"
    assert "backward pass is random" in report.check(12).summary
