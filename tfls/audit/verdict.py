"""The verdict: can white-box gradient attacks be trusted on this model? Never "robust".

* `overestimated`: evidence of gradient masking: gradients unavailable (4), a black-box,
  transfer or noise attack beats the white-box ones (7, 8, 9), the unbounded attack fails or
  accuracy rises with ε (10), or the strongest white-box attack finds at most half of PGD-20's
  robust accuracy (and more than 3 points less: APGD finding 1–3 points more is normal).
* `suspicious`: a check fired that proves nothing alone (randomness, flat or huge logits, loss
  still moving, unstable predictions, FGSM beating PGD, loss imbalance, a compiled-loss trap, ...).
* `no masking found`: nothing fired; the report says what was tried.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfls.audit import thresholds as th

VERDICTS = ("overestimated", "suspicious", "no masking found")
EVIDENCE_CHECKS = (4, 7, 8, 9, 10)


@dataclass
class Verdict:
    verdict: str
    reason: str
    recommended_suite: list[str]


def decide(
    checks,
    *,
    pgd20: float,
    strongest: tuple[str, float],
    lowest: tuple[str, float],
    worst_case: float | None = None,
) -> Verdict:
    """Applies the rules above to finished checks and the main evaluation's accuracies.

    Args:
        checks: the `CheckResult`s.
        pgd20: PGD-20's robust accuracy (fraction).
        strongest: `(attack, accuracy)` of the strongest white-box attack of the budget.
        lowest: `(attack, accuracy)` of the lowest number any single attack found at ε.
        worst_case: the per-example worst case over every attack at ε (the number to report);
            defaults to `lowest`'s accuracy.
    """
    worst_case = lowest[1] if worst_case is None else worst_case
    by_id = {c.id: c for c in checks}
    evidence = [c for c in checks if c.id in EVIDENCE_CHECKS and c.status == "fail"]
    reasons = [f"check {c.id} ({c.title}): {c.summary}" for c in evidence]
    name, acc = strongest
    gap = 100 * (pgd20 - acc)
    if acc <= 0.5 * pgd20 and gap > th.NORMAL_GAP_POINTS:
        reasons.append(
            f"{name} finds {100 * acc:.1f}%, at most half of PGD-20's {100 * pgd20:.1f}% "
            f"({gap:.1f} points lower)"
        )
    suite = _suite(by_id, lowest[0])
    if reasons:
        return Verdict(
            "overestimated",
            "; ".join(reasons)
            + f". The lower number is the worst case over every attack, {100 * worst_case:.1f}% "
            f"({100 * (pgd20 - worst_case):.1f} points below PGD-20; best single attack "
            f"{lowest[0]}, {100 * lowest[1]:.1f}%).",
            suite,
        )
    fired = [c for c in checks if c.fired]
    if fired:
        return Verdict(
            "suspicious",
            "; ".join(f"check {c.id} ({c.title}): {c.summary}" for c in fired)
            + ". None of these proves masking alone.",
            suite,
        )
    ran = [c for c in checks if c.status != "skipped"]
    gap_note = (
        f" {name} finds {gap:.1f} points more than PGD-20: quote it, not PGD-20." if gap > 0 else ""
    )
    return Verdict(
        "no masking found",
        f"{len(ran)} checks ran and none fired (checks {', '.join(str(c.id) for c in ran)})."
        + gap_note,
        suite,
    )


def _suite(by_id, lowest_attack: str) -> list[str]:
    """The attacks to report: AutoAttack always, plus every attack that found what it missed."""
    suite = ["autoattack"]

    def fired(i):
        return i in by_id and by_id[i].fired

    if fired(4) or fired(14) or fired(5):
        suite += ["apgd-dlr", "pgd-cw"]
    if fired(7):
        suite.append("square")
    if fired(8):
        suite.append("transfer-pgd20")
    if fired(9):
        suite.append("noise")
    base = lowest_attack.split("@")[0]
    if base in ("apgd-t", "fab-t", "mt", "odi") and base not in suite:
        suite.append(base)
    return list(dict.fromkeys(suite))
