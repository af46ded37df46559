"""The paper's claims C1–C8 as pure checks on numbers (`tfls.recipes.claim_entries` feeds them).

Each `cN_*` function takes plain numbers (accuracies as fractions in [0, 1], logits as they are)
and returns a `ClaimResult` saying whether the claim held, with the numbers behind the verdict.
The thresholds are written next to each check and printed with it: a verdict is only as good as
its criterion, so the criterion is part of the output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

STATEMENTS = {
    "C1": "LS (α=0.9) PGD-20 accuracy far above the natural model's (Table 1)",
    "C2": "robust accuracy rises with α beyond 0.3 and peaks near 0.9 (Figure 2)",
    "C3": "the logit range shrinks as α grows (Table 2)",
    "C4": "LS PGD accuracy rises from PGD-10 to PGD-20/40 (Table 4)",
    "C5": "MT, ODI and AutoAttack collapse LS but barely move Madry/TRADES (Table 4)",
    "C6": "CW-L2 from x0=0 breaks LS far more than from x0=x (Table 5)",
    "C7": "larger steps and more steps of the tanh attack break LS more (Figure 3)",
    "C8": "transfer from a natural model breaks LS, not Madry/TRADES (Table 6)",
}


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict: `held` is True, False, or None when the numbers to judge are missing."""

    id: str
    statement: str
    held: bool | None
    criterion: str
    detail: str
    variant: str = ""

    @property
    def verdict(self) -> str:
        return {True: "held", False: "not held", None: "n/a"}[self.held]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "verdict": self.verdict}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _missing(cid: str, criterion: str, what: str, variant: str = "") -> ClaimResult:
    return ClaimResult(cid, STATEMENTS[cid], None, criterion, f"missing numbers: {what}", variant)


# --------------------------------------------------------------------------------------------
# The checks (pure)


def c1_ls_above_natural(
    rows: Mapping[str, tuple[float, float]], *, min_gap: float = 0.20
) -> ClaimResult:
    """`rows`: name → (natural acc., LS acc.) under one attack; held if every gap ≥ `min_gap`."""
    criterion = f"LS − natural ≥ {100 * min_gap:.0f} points on every row"
    if not rows:
        return _missing("C1", criterion, "no rows")
    gaps = {k: ls - nat for k, (nat, ls) in rows.items()}
    detail = "; ".join(
        f"{k}: natural {_pct(n)}, LS {_pct(s)} (gap {100 * (s - n):+.1f})"
        for k, (n, s) in rows.items()
    )
    return ClaimResult(
        "C1", STATEMENTS["C1"], all(g >= min_gap for g in gaps.values()), criterion, detail
    )


def c2_alpha_peak(
    acc_by_alpha: Mapping[float, float],
    *,
    knee: float = 0.3,
    peak_from: float = 0.8,
    min_rise: float = 0.10,
) -> ClaimResult:
    """Held if the best α is ≥ `peak_from` and beats every α ≤ `knee` by ≥ `min_rise`."""
    criterion = (
        f"argmax_α accuracy ≥ {peak_from:g} and max over α>{knee:g} exceeds max over α≤{knee:g} "
        f"by ≥ {100 * min_rise:.0f} points"
    )
    low = {a: x for a, x in acc_by_alpha.items() if a <= knee}
    high = {a: x for a, x in acc_by_alpha.items() if a > knee}
    if not low or not high:
        return _missing(
            "C2", criterion, f"need α on both sides of {knee:g}; have {sorted(acc_by_alpha)}"
        )
    best = max(acc_by_alpha, key=lambda a: (acc_by_alpha[a], a))
    rise = max(high.values()) - max(low.values())
    detail = ", ".join(f"α={a:g}: {_pct(x)}" for a, x in sorted(acc_by_alpha.items()))
    detail += f"; peak at α={best:g}; rise {100 * rise:+.1f} points"
    return ClaimResult(
        "C2", STATEMENTS["C2"], best >= peak_from and rise >= min_rise, criterion, detail
    )


def _spearman(a, b) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def c3_logit_range_shrinks(
    range_by_alpha: Mapping[float, tuple[float, float]],
    *,
    max_rho: float = -0.9,
    max_ratio: float = 0.5,
) -> ClaimResult:
    """`range_by_alpha`: α → (min logit, max logit). Held if the width falls with α (Spearman ρ ≤
    `max_rho`) and the largest α's width is at most `max_ratio` × the smallest α's."""
    criterion = (
        f"Spearman ρ(α, max−min) ≤ {max_rho:g} and width(α_max) ≤ {max_ratio:g}·width(α_min)"
    )
    if len(range_by_alpha) < 2:
        return _missing("C3", criterion, f"need ≥ 2 values of α; have {sorted(range_by_alpha)}")
    alphas = sorted(range_by_alpha)
    widths = [range_by_alpha[a][1] - range_by_alpha[a][0] for a in alphas]
    rho = _spearman(alphas, widths)
    held = rho <= max_rho and widths[-1] <= max_ratio * widths[0]
    detail = (
        ", ".join(
            f"α={a:g}: [{range_by_alpha[a][0]:.2f}, {range_by_alpha[a][1]:.2f}] (width {w:.2f})"
            for a, w in zip(alphas, widths, strict=True)
        )
        + f"; ρ={rho:.2f}"
    )
    return ClaimResult("C3", STATEMENTS["C3"], held, criterion, detail)


def c4_more_steps(
    pgd10: float, pgd20: float, pgd40: float, *, min_rise: float = 0.02, variant: str = ""
) -> ClaimResult:
    """Held if LS accuracy under PGD-20 and under PGD-40 each exceed PGD-10's by ≥ `min_rise`."""
    rise = f"{100 * min_rise:.0f} points"
    criterion = f"PGD-20 − PGD-10 ≥ {rise} and PGD-40 − PGD-10 ≥ {rise} (LS)"
    held = pgd20 - pgd10 >= min_rise and pgd40 - pgd10 >= min_rise
    detail = f"LS: PGD-10 {_pct(pgd10)}, PGD-20 {_pct(pgd20)}, PGD-40 {_pct(pgd40)}"
    return ClaimResult("C4", STATEMENTS["C4"], held, criterion, detail, variant)


def c5_strong_attacks(
    ls: Mapping[str, float],
    adversarial: Mapping[str, Mapping[str, float]],
    *,
    baseline: str,
    strong: list[str],
    collapse: float = 0.5,
    barely: float = 0.05,
    min_baseline: float = 0.10,
) -> ClaimResult:
    """`ls`, `adversarial[m]`: attack → accuracy. Held if on LS every strong attack leaves at most
    (1 − `collapse`) of the baseline's accuracy (which must be ≥ `min_baseline`: nothing collapses
    from zero) and on each adversarially trained model no strong attack costs more than `barely`."""
    criterion = (
        f"LS: {baseline} ≥ {_pct(min_baseline)} and each of {strong} "
        f"≤ {1 - collapse:g}×{baseline}; "
        f"Madry/TRADES: {baseline} − each ≤ {100 * barely:.0f} points"
    )
    needed = [baseline, *strong]
    if any(k not in ls for k in needed) or any(
        k not in d for d in adversarial.values() for k in needed
    ):
        return _missing("C5", criterion, f"need {needed} on LS and {sorted(adversarial)}")
    ls_ok = ls[baseline] >= min_baseline and all(
        ls[k] <= (1 - collapse) * ls[baseline] for k in strong
    )
    adv_ok = all(d[baseline] - d[k] <= barely for d in adversarial.values() for k in strong)
    parts = ["LS: " + ", ".join(f"{k} {_pct(ls[k])}" for k in needed)]
    parts += [
        f"{m}: " + ", ".join(f"{k} {_pct(d[k])}" for k in needed) for m, d in adversarial.items()
    ]
    return ClaimResult("C5", STATEMENTS["C5"], ls_ok and adv_ok, criterion, "; ".join(parts))


def c6_cw_start(
    ls: tuple[float, float],
    others: Mapping[str, tuple[float, float]],
    *,
    min_gap: float = 0.15,
    margin: float = 0.10,
) -> ClaimResult:
    """`ls`, `others[m]`: (accuracy from x0=0, accuracy from x0=x). Held if LS loses ≥ `min_gap`
    more from the black start, and that loss beats every other model's by ≥ `margin`."""
    criterion = (
        f"LS: acc(x0=x) − acc(x0=0) ≥ {100 * min_gap:.0f} points, "
        f"and ≥ {100 * margin:.0f} points more "
        "than for each adversarially trained model"
    )
    gap = ls[1] - ls[0]
    held = gap >= min_gap and all(gap - (o[1] - o[0]) >= margin for o in others.values())
    parts = [f"LS: x0=0 {_pct(ls[0])}, x0=x {_pct(ls[1])}"]
    parts += [f"{m}: x0=0 {_pct(o[0])}, x0=x {_pct(o[1])}" for m, o in others.items()]
    return ClaimResult("C6", STATEMENTS["C6"], held, criterion, "; ".join(parts))


def c7_tanh(
    by_step_size: Mapping[float, float],
    by_steps: Mapping[str, Mapping[float, float]],
    *,
    min_drop: float = 0.05,
) -> ClaimResult:
    """LS accuracy under the tanh attack. Held if the largest step size leaves ≥ `min_drop` less
    accuracy than the smallest, and on at least one steps sweep the most steps leave ≥ `min_drop`
    less than the fewest (at a large step the attack may already be at its floor)."""
    criterion = (
        f"acc(η_min) − acc(η_max) ≥ {100 * min_drop:.0f} points and, on some η, "
        f"acc(K_min) − acc(K_max) ≥ {100 * min_drop:.0f} points (LS)"
    )
    if len(by_step_size) < 2 or not by_steps or any(len(s) < 2 for s in by_steps.values()):
        return _missing("C7", criterion, "need ≥ 2 step sizes and ≥ 2 step counts")
    etas = sorted(by_step_size)
    eta_drop = by_step_size[etas[0]] - by_step_size[etas[-1]]
    step_drops = {}
    for name, sweep in by_steps.items():
        ks = sorted(sweep)
        step_drops[name] = sweep[ks[0]] - sweep[ks[-1]]
    held = eta_drop >= min_drop and max(step_drops.values()) >= min_drop
    detail = "step size: " + ", ".join(f"η={e:g}: {_pct(by_step_size[e])}" for e in etas)
    for name, sweep in by_steps.items():
        detail += f"; steps ({name}): " + ", ".join(
            f"K={k:g}: {_pct(x)}" for k, x in sorted(sweep.items())
        )
    return ClaimResult("C7", STATEMENTS["C7"], held, criterion, detail)


def c8_transfer(
    ls: tuple[float, float],
    adversarial: Mapping[str, tuple[float, float]],
    *,
    attack: str = "",
    ls_max_kept: float = 0.75,
    adv_min_kept: float = 0.80,
) -> ClaimResult:
    """`ls`, `adversarial[m]`: (clean accuracy, accuracy under the transferred attack). Held if LS
    keeps at most `ls_max_kept` of its clean accuracy and each adversarially trained model keeps at
    least `adv_min_kept` of its own."""
    criterion = (
        f"LS keeps ≤ {ls_max_kept:.0%} of its clean accuracy; "
        f"Madry/TRADES keep ≥ {adv_min_kept:.0%} of theirs"
    )
    held = ls[1] <= ls_max_kept * ls[0] and all(
        t >= adv_min_kept * c for c, t in adversarial.values()
    )
    parts = [f"LS: clean {_pct(ls[0])} → {_pct(ls[1])}"]
    parts += [f"{m}: clean {_pct(c)} → {_pct(t)}" for m, (c, t) in adversarial.items()]
    return ClaimResult("C8", STATEMENTS["C8"], held, criterion, "; ".join(parts), attack)
