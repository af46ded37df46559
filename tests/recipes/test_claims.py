"""The claims check C1–C8 on synthetic numbers: each claim held in one case, not held in another."""

from __future__ import annotations

import pytest

from tfls.recipes import claim_entries
from tfls.recipes import claims as c


def test_c1_held_and_not_held():
    assert c.c1_ls_above_natural({"cifar10": (0.0, 0.75)}).held is True
    result = c.c1_ls_above_natural({"cifar10": (0.0, 0.75), "cifar100": (0.10, 0.25)})
    assert result.held is False  # one row with a 15-point gap is not "far above"
    assert "cifar100" in result.detail and "+15.0" in result.detail


def test_c2_peak_near_point_nine():
    rising = {0.0: 0.01, 0.1: 0.02, 0.3: 0.05, 0.5: 0.30, 0.7: 0.50, 0.9: 0.74, 0.95: 0.60}
    assert c.c2_alpha_peak(rising).held is True
    early_peak = {0.0: 0.01, 0.3: 0.05, 0.5: 0.60, 0.9: 0.40}
    assert c.c2_alpha_peak(early_peak).held is False
    flat = {0.0: 0.00, 0.3: 0.01, 0.9: 0.02}
    assert c.c2_alpha_peak(flat).held is False  # peaks at 0.9 but rises by 1 point only
    assert c.c2_alpha_peak({0.5: 0.3, 0.9: 0.7}).held is None  # no α ≤ 0.3 to compare with


def test_c3_logit_range():
    paper = {0.0: (-5.0, 15.0), 0.5: (-0.3, 2.2), 0.9: (-0.08, 0.7)}
    assert c.c3_logit_range_shrinks(paper).held is True
    growing = {0.0: (-1.0, 1.0), 0.5: (-2.0, 2.0), 0.9: (-3.0, 3.0)}
    assert c.c3_logit_range_shrinks(growing).held is False
    barely = {0.0: (-1.0, 1.0), 0.9: (-0.9, 0.9)}  # shrinks, but not to half
    assert c.c3_logit_range_shrinks(barely).held is False


def test_c4_pgd_steps():
    assert c.c4_more_steps(0.6401, 0.7483, 0.7315).held is True  # the paper's LS row
    assert c.c4_more_steps(0.5232, 0.5124, 0.5114).held is False  # the paper's Madry row


def test_c5_strong_attacks():
    ls = {"pgd20": 0.7483, "mt": 0.2502, "odi": 0.0015, "aa": 0.0686}
    adv = {"madry": {"pgd20": 0.5124, "mt": 0.5034, "odi": 0.4913, "aa": 0.4935}}
    kw = {"baseline": "pgd20", "strong": ["mt", "odi", "aa"]}
    assert c.c5_strong_attacks(ls, adv, **kw).held is True
    moved = {"madry": {"pgd20": 0.5124, "mt": 0.30, "odi": 0.4913, "aa": 0.4935}}
    assert c.c5_strong_attacks(ls, moved, **kw).held is False
    already_broken = {"pgd20": 0.02, "mt": 0.0, "odi": 0.0, "aa": 0.0}  # nothing to collapse
    assert c.c5_strong_attacks(already_broken, adv, **kw).held is False
    assert c.c5_strong_attacks({"pgd20": 0.7}, adv, **kw).held is None


def test_c6_cw_start():
    paper = c.c6_cw_start((0.0849, 0.3783), {"madry": (0.4212, 0.4314), "trades": (0.5129, 0.5273)})
    assert paper.held is True
    same = c.c6_cw_start((0.30, 0.32), {"madry": (0.42, 0.43)})
    assert same.held is False


def test_c7_tanh():
    held = c.c7_tanh(
        {0.01: 0.60, 0.05: 0.40, 0.1: 0.20},
        {"eta=0.01": {50: 0.7, 500: 0.5}, "eta=0.1": {50: 0.2, 500: 0.2}},
    )
    assert held.held is True
    flat = c.c7_tanh({0.01: 0.30, 0.1: 0.29}, {"eta=0.01": {50: 0.30, 500: 0.29}})
    assert flat.held is False
    assert c.c7_tanh({0.01: 0.3}, {}).held is None


def test_c8_transfer():
    ls = (0.9474, 0.0815)
    adv = {"madry": (0.8683, 0.8515), "trades": (0.8492, 0.8863)}
    assert c.c8_transfer(ls, adv).held is True
    assert c.c8_transfer((0.90, 0.85), adv).held is False  # LS keeps 94% of its accuracy
    assert c.c8_transfer(ls, {"madry": (0.87, 0.30)}).held is False


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"id": "C4", "model": "ls", "attacks": ["pgd10", "pgd20", "pgd40"]}, True),
        ({"id": "C4", "model": "madry", "attacks": ["pgd10", "pgd20", "pgd40"]}, False),
        ({"id": "C4", "model": "nobody", "attacks": ["pgd10", "pgd20", "pgd40"]}, None),
    ],
)
def test_evaluate_claim_reads_measures(entry, expected):
    measures = {
        "ls": {"pgd10": 0.64, "pgd20": 0.75, "pgd40": 0.73},
        "madry": {"pgd10": 0.52, "pgd20": 0.51, "pgd40": 0.51},
    }
    result = claim_entries.evaluate_claim(entry, measures, {"models": {}, "attacks": {}})
    assert result.held is expected
    assert result.verdict == {True: "held", False: "not held", None: "n/a"}[expected]


def test_evaluate_claim_alpha_sweep_uses_groups():
    measures = {"ls@0": {"pgd20": 0.0}, "ls@0.3": {"pgd20": 0.02}, "ls@0.9": {"pgd20": 0.7}}
    groups = {"models": {"ls": {0.0: "ls@0", 0.3: "ls@0.3", 0.9: "ls@0.9"}}, "attacks": {}}
    result = claim_entries.evaluate_claim(
        {"id": "C2", "model": "ls", "attack": "pgd20", "variant": "v"}, measures, groups
    )
    assert result.held is True and result.variant == "v"


def test_claim_spec_validation_names_the_problem():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        claim_entries.check_claim_spec(
            {"id": "C3", "model": "nope"}, model_ids={"ls"}, attack_ids=set(), where="x"
        )
    with pytest.raises(ValueError, match="missing \\['attack'\\]"):
        claim_entries.check_claim_spec(
            {"id": "C2", "model": "ls"}, model_ids={"ls"}, attack_ids=set(), where="x"
        )
    with pytest.raises(ValueError, match="pairs"):
        claim_entries.check_claim_spec(
            {"id": "C1", "rows": [["a", "b", "a"]], "attack": "x"},
            model_ids={"a", "b"},
            attack_ids={"x"},
            where="x",
        )
    with pytest.raises(ValueError, match="empty list"):
        claim_entries.check_claim_spec(
            {"id": "C8", "ls": "a", "adversarial": ["b"], "attacks": []},
            model_ids={"a", "b"},
            attack_ids=set(),
            where="x",
        )
