"""Evidence checks that compare attacks on the same points: exact one-sided McNemar tests.

A check asks whether attack A breaks significantly more points than B where the two disagree:
`b` points A breaks and B misses, `c` the reverse; p = P(X ≥ b), X ~ Binomial(b + c, ½). The
checks: 6 (FGSM beats PGD-20), 7 (Square beats the gradient attacks), 9 (uniform noise does),
14 (margin/DLR losses beat cross-entropy), 17 (the adaptive follow-ups beat the plain attacks).
Each is built from counts by `compared`, which `tfls.eval.evaluate`'s cheap checks share.
"""

from __future__ import annotations

import numpy as np

from tfls import stats
from tfls.checks.result import CheckResult

ATHALYE = "Athalye et al. 2018, §3.1"
MARGIN_PRESETS = ("apgd-dlr", "pgd-cw", "apgd-t")
CE_PRESETS = ("fgsm", "pgd20", "apgd-ce")
# Main attacks whose ensemble holds a black-box part (AutoAttack runs Square): left out of the
# gradient-only worst case that checks 7, 8 and 9 compare with, or Square's wins would count as
# white-box ones and hide the masking those checks exist to show.
HOLDS_BLACKBOX = ("autoattack",)
BLACKBOX_TITLE = "Black-box beats white-box"
BLACKBOX_SOURCE = "AutoAttack check_square_sr; " + ATHALYE + " (sign 2)"
BLACKBOX_ADVICE = (
    "Gradients mislead the white-box attacks: report Square (more queries and restarts) and "
    "AutoAttack, and find the layer that masks gradients (checks 4, 15)."
)


def indices(mask) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def compared(
    check_id,
    title,
    *,
    a: str,
    b_label: str,
    b: int,
    c: int,
    n: int,
    source: str,
    advice: str,
    accuracies: dict | None = None,
    evidence: dict | None = None,
) -> CheckResult:
    """The McNemar check "`a` beats `b_label`": `b` points only `a` breaks, `c` only the other."""
    p = stats.mcnemar_greater(b, c)
    numbers = {"only_a": int(b), "only_b": int(c), "points": int(n)}
    numbers.update({k: float(v) for k, v in (accuracies or {}).items()})
    fired = p < 0.05  # before correction; the verdict sets the final status after Holm's
    summary = f"{a} breaks {int(b)} points {b_label} misses, {b_label} {int(c)} that {a} misses"
    return CheckResult(
        check_id,
        title,
        "fail" if fired else "ok",
        summary,
        numbers,
        evidence or {},
        advice=advice if fired else "",
        source=source,
        kind="evidence",
        p_value=p,
        test=f"exact McNemar, one-sided: {a} breaks more of the points the two disagree on than "
        f"{b_label}",
    )


def _mcnemar(check_id, title, a_robust, b_robust, *, a, b_label, source, advice, clean):
    only_a = clean & b_robust & ~a_robust  # A breaks, B misses
    only_b = clean & a_robust & ~b_robust
    return compared(
        check_id,
        title,
        a=a,
        b_label=b_label,
        b=int(only_a.sum()),
        c=int(only_b.sum()),
        n=int(clean.size),
        source=source,
        advice=advice,
        accuracies={a: float(np.mean(a_robust)), b_label: float(np.mean(b_robust))},
        evidence={f"broken_only_by_{a}": indices(only_a)},
    )


def gradient_worst_case(evidence):
    """Per example: clean-correct and robust to every gradient-only attack of the evaluation."""
    bits = evidence.clean.copy()
    for label, robust in evidence.robust.items():
        if label not in HOLDS_BLACKBOX:
            bits &= robust
    return bits


def single_step(main) -> CheckResult:
    """Check 6 (Athalye sign 1): FGSM breaks more points than PGD-20 where they disagree."""
    ev = main.evidence
    return _mcnemar(
        6,
        "Single-step beats iterative",
        ev.robust["fgsm"],
        ev.robust["pgd20"],
        a="fgsm",
        b_label="pgd20",
        source=ATHALYE + " (sign 1)",
        advice="Iterative attacks get stuck (a sign of masked or noisy gradients): use random "
        "restarts, margin losses and APGD; report the worst case.",
        clean=ev.clean,
    )


def beats_whitebox(check_id, title, main, robust, label, *, source, advice) -> CheckResult:
    """7, 8, 9: `label` (robust bits `robust`) against the gradient attacks' worst case."""
    ev = main.evidence
    return _mcnemar(
        check_id,
        title,
        robust,
        gradient_worst_case(ev),
        a=label,
        b_label="the white-box worst case",
        source=source,
        advice=advice,
        clean=ev.clean,
    )


def blackbox(ws, main, queries) -> CheckResult:
    """Check 7 (AutoAttack, Athalye sign 2): Square against the gradient attacks."""
    evaluation = ws.evaluation(
        f"square-q{queries}", {"square": "square"}, overrides={"square": {"n_queries": queries}}
    )
    return beats_whitebox(
        7,
        BLACKBOX_TITLE,
        main,
        evaluation.evidence.robust["square"],
        "square",
        source=BLACKBOX_SOURCE,
        advice=BLACKBOX_ADVICE,
    )


def noise(ws, main, draws) -> CheckResult:
    """Check 9 (Athalye sign 4): uniform noise in the ε-ball against the gradient attacks."""
    evaluation = ws.evaluation(
        f"noise-d{draws}", {"noise": "noise"}, overrides={"noise": {"draws": draws}}
    )
    return beats_whitebox(
        9,
        "Random noise beats white-box",
        main,
        evaluation.evidence.robust["noise"],
        "noise",
        source=ATHALYE + " (sign 4)",
        advice="Random sampling finds adversarial points the gradient attacks miss: the "
        "gradients are shattered or zero. Report the noise and Square numbers.",
    )


def loss_imbalance(main) -> CheckResult:
    """Check 14 (Jiang et al. 2020): margin/DLR attacks against the cross-entropy ones."""
    ev = main.evidence
    margin = [k for k in MARGIN_PRESETS if k in ev.robust]
    ce = [k for k in CE_PRESETS if k in ev.robust]
    title, source = "Loss imbalance", "Jiang et al. 2020, imbalanced gradients"
    if not margin:
        return CheckResult(
            14, title, "skipped", "no margin/DLR attack in this budget", source=source
        )
    ce_robust, margin_robust = ev.clean.copy(), ev.clean.copy()
    for k in ce:
        ce_robust &= ev.robust[k]
    for k in margin:
        margin_robust &= ev.robust[k]
    return _mcnemar(
        14,
        title,
        margin_robust,
        ce_robust,
        a="+".join(margin),
        b_label="+".join(ce),
        source=source,
        advice="CE gradients are imbalanced or saturated: report margin/DLR attacks "
        "(apgd-dlr, apgd-t, AutoAttack), not CE-only PGD.",
        clean=ev.clean,
    )


def follow_up(main, evaluation, triggers: dict) -> CheckResult:
    """Check 17: the adaptive follow-ups (EOT, BPDA, margin losses) against the plain attacks."""
    ev = evaluation.evidence
    robust = ev.clean.copy()
    for bits in ev.robust.values():
        robust &= bits
    done = "; ".join(
        f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in triggers.items()
    )
    return _mcnemar(
        17,
        "Adaptive follow-up",
        robust & main.evidence.clean,
        gradient_worst_case(main.evidence),
        a=f"the follow-up attacks ({done})",
        b_label="the plain white-box worst case",
        source="Athalye et al. 2018 (EOT, BPDA); Croce & Hein 2020 (margin/DLR losses)",
        advice="The adaptive attacks break what the plain ones could not: report their worst "
        "case, and attack this model with the same options.",
        clean=main.evidence.clean,
    )
