"""The verdict, from tests on per-example outcomes: can PGD-20's number be trusted? Never "robust".

* `overestimated`: the worst case over every attack the audit ran (its adaptive follow-ups
  included) is significantly below PGD-20, the number a user would report, by a gap of the
  stated size (`thresholds.GAP_SHARE_NULL` of PGD-20's robust points and
  `thresholds.GAP_POINTS_NULL` points of accuracy), after Holm's correction.
* `suspicious`: the gap is not significant, but some other evidence check is (FGSM beating PGD,
  a black-box or transfer attack beating the white-box ones, an unbounded attack failing, a
  backward pass that disagrees with the forward pass, ...).
* `inconclusive`: nothing is significant, and too few points are robust to PGD-20 to have found
  a gap of `thresholds.DESIGN_SHARE` of them with `thresholds.POWER` probability; the report
  gives the smallest gap it could have found.
* `no masking found`: nothing is significant and the audit had the power to see a gap.

Diagnostics (randomness, logit scale, compiled loss, unstable predictions, the engine's
self-test, ...) are shown with what the audit did about them, and never decide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfls import stats
from tfls.checks import thresholds as th

VERDICTS = ("overestimated", "suspicious", "inconclusive", "no masking found")
GAP = "gap"  # the gap test's name in the Holm family


@dataclass
class Gap:
    """PGD-20 against the worst case over every attack, on the same points.

    Attributes:
        reported: PGD-20's robust accuracy. worst_case: the worst case's. n: points.
        broken: points PGD-20 leaves robust that some other attack breaks.
        robust_to_reported: points PGD-20 leaves robust.
        interval: 95% interval of `reported − worst_case` (Newcombe's paired interval).
        p_value: the intersection-union test's p-value (the larger of the two binomial ones).
        detectable: the smallest share of PGD-20's robust points the test finds with `POWER`
            probability (None: not even all of them).
    """

    reported: float
    worst_case: float
    n: int
    broken: int
    robust_to_reported: int
    interval: tuple[float, float]
    p_value: float
    detectable: float | None

    @property
    def points(self) -> float:
        return 100.0 * (self.reported - self.worst_case)


def gap_test(reported_bits, worst_bits) -> Gap:
    """The gap test on per-example robustness bits (`worst ⊆ reported` by construction)."""
    reported_bits = np.asarray(reported_bits, bool)
    worst_bits = np.asarray(worst_bits, bool) & reported_bits
    n = int(reported_bits.size)
    m = int(reported_bits.sum())
    b = int((reported_bits & ~worst_bits).sum())
    p_share = stats.binomial_greater(b, m, th.GAP_SHARE_NULL)
    p_points = stats.binomial_greater(b, n, th.GAP_POINTS_NULL / 100.0)
    both = int(worst_bits.sum())
    return Gap(
        reported=m / n if n else 0.0,
        worst_case=both / n if n else 0.0,
        n=n,
        broken=b,
        robust_to_reported=m,
        interval=stats.paired_difference_interval(b, 0, n, both=both),
        p_value=max(p_share, p_points),
        detectable=stats.smallest_detectable_share(
            m, th.GAP_SHARE_NULL, alpha=th.ALPHA, power=th.POWER
        ),
    )


@dataclass
class Verdict:
    verdict: str
    reason: str
    recommended_suite: list[str]
    p_adjusted: dict


def decide(checks, gap: Gap, *, report_attack: str = "PGD-20") -> Verdict:
    """Applies the rules above; sets each evidence check's `p_adjusted` and final `status`."""
    evidence = [c for c in checks if c.kind == "evidence" and c.p_value is not None]
    family = {GAP: gap.p_value, **{c.id: c.p_value for c in evidence}}
    adjusted = stats.holm(family)
    for c in evidence:
        c.p_adjusted = adjusted[c.id]
        c.status = "fail" if c.p_adjusted < th.ALPHA else "ok"
    suite = _suite({c.id: c for c in checks})
    lo, hi = gap.interval
    gap_text = (
        f"{report_attack} {100 * gap.reported:.1f}%, worst case over the audit's attacks "
        f"{100 * gap.worst_case:.1f}%: {gap.points:.1f} points lower (95% interval "
        f"{100 * lo:.1f} to {100 * hi:.1f}), {gap.broken} of the {gap.robust_to_reported} points "
        f"{report_attack} leaves robust broken"
    )
    if adjusted[GAP] < th.ALPHA:
        return Verdict(
            "overestimated",
            f"{gap_text} (p = {adjusted[GAP]:.2g} after Holm). Report "
            f"{100 * gap.worst_case:.1f}%, not {100 * gap.reported:.1f}%.",
            suite,
            adjusted,
        )
    significant = [c for c in evidence if c.p_adjusted < th.ALPHA]
    if significant:
        found = "; ".join(
            f"check {c.id} ({c.title}): {c.summary} (p = {c.p_adjusted:.2g})" for c in significant
        )
        return Verdict(
            "suspicious",
            f"{found}. The gap itself is not significant: {gap_text} (p = {adjusted[GAP]:.2g}).",
            suite,
            adjusted,
        )
    if gap.robust_to_reported == 0:
        return Verdict(
            "no masking found",
            f"{report_attack} already breaks every point: there is no robustness to overestimate.",
            suite,
            adjusted,
        )
    if gap.detectable is None or gap.detectable > th.DESIGN_SHARE:
        smallest = (
            "not even all of them"
            if gap.detectable is None
            else f"{100 * gap.detectable:.0f}% of them"
        )
        return Verdict(
            "inconclusive",
            f"Nothing is significant, but with {gap.robust_to_reported} points robust to "
            f"{report_attack} the smallest gap the audit could have found (with "
            f"{100 * th.POWER:.0f}% probability) is {smallest}; audit more points. {gap_text}.",
            suite,
            adjusted,
        )
    ran = [c for c in evidence]
    return Verdict(
        "no masking found",
        f"No test is significant ({len(ran)} evidence checks and the gap test, Holm-corrected at "
        f"{th.ALPHA:g}): {gap_text}. The audit would have found stronger attacks breaking "
        f"{100 * gap.detectable:.0f}% of those points.",
        suite,
        adjusted,
    )


def _suite(by_id) -> list[str]:
    """The attacks to report: AutoAttack always, plus every attack behind a check that fired."""
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
    for c in by_id.values():
        follow = c.follow_up or {}
        if follow.get("eot"):
            suite.append(f"every attack with eot={follow['eot']}")
        if follow.get("bpda"):
            suite.append(f"every attack with bpda={','.join(follow['bpda'])}")
    return list(dict.fromkeys(suite))
