"""Check 10, the attack at other radii: an unbounded attack must break every point it can.

With ε covering the whole input box (L∞ 1, L2 √d) every point a classifier can misclassify is
reachable, so points PGD-20 leaves robust there show the attack failing, not the model
(Pintor et al. 2022, "unconstrained attack failure"; Athalye et al. 2018, sign 5). The test:
exact binomial, H0: at most `thresholds.UNBOUNDED_SURVIVORS` of the clean-correct points survive.
Budgets with the ε sweep add PGD-20 at ε × {¼, ½, 2, 4}: the accuracy curve (a plot, and sign 3:
accuracy rising with ε) is shown with its numbers.
"""

from __future__ import annotations

import math

import numpy as np

from tfls import stats
from tfls.checks import thresholds as th
from tfls.checks.comparisons import ATHALYE, indices
from tfls.checks.result import CheckResult

PINTOR = "Pintor et al. 2022, Indicators of Attack Failure"
EPS_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def unbounded_eps(ws) -> float:
    """The radius that covers the whole input box: 1 in L∞, √d in L2."""
    if ws.norm == "linf":
        return 1.0
    return float(math.sqrt(int(np.prod(ws.x.shape[1:]))))


def eps_behaviour(ws, main, *, sweep: bool) -> CheckResult:
    """Check 10: survivors of the unbounded PGD-20; with `sweep`, accuracy at other radii."""
    title = "Unbounded attack"
    source = PINTOR + " (unconstrained attack failure); " + ATHALYE + " (signs 3, 5)"
    top = unbounded_eps(ws)
    clean = main.evidence.clean
    unbounded = ws.evaluation("eps-unbounded", {"pgd20": "pgd20"}, eps=top).evidence.robust["pgd20"]
    series, bits = [], []
    if sweep:
        for f in EPS_FACTORS:
            eps = min(ws.eps * f, top)
            robust = (
                main.evidence.robust["pgd20"]
                if f == 1.0
                else ws.evaluation(f"eps-x{f:g}", {"pgd20": "pgd20"}, eps=eps).evidence.robust[
                    "pgd20"
                ]
            )
            series.append((f"{f:g}x", eps))
            bits.append(robust)
    series.append(("unbounded", top))
    bits.append(unbounded)
    survivors = int((unbounded & clean).sum())
    points = int(clean.sum())
    p = stats.binomial_greater(survivors, points, th.UNBOUNDED_SURVIVORS)
    accs = [float(np.mean(b)) for b in bits]
    numbers = {f"acc@{label}": acc for (label, _), acc in zip(series, accs)}
    numbers.update({"survivors": survivors, "clean_correct": points})
    rises = [
        f"{series[k][0]}->{series[k + 1][0]}" for k in range(len(bits) - 1) if accs[k + 1] > accs[k]
    ]
    data = {"eps": [e for _, e in series], "labels": [lab for lab, _ in series], "accuracy": accs}
    fired = p < th.ALPHA
    summary = f"{survivors} of {points} clean-correct points survive PGD-20 with ε = {top:g}"
    if rises:
        summary += f"; accuracy rises with ε ({', '.join(rises)})"
    return CheckResult(
        10,
        title,
        "fail" if fired else "ok",
        summary,
        numbers,
        {"robust_when_unbounded": indices(unbounded & clean)},
        advice="An attack that fails with an unbounded budget is not optimising: gradients are "
        "masked. Fix the attack (BPDA, EOT, margin loss) before quoting any number."
        if fired
        else "",
        source=source,
        data=data,
        kind="evidence",
        p_value=p,
        test="exact binomial, one-sided: more than "
        f"{100 * th.UNBOUNDED_SURVIVORS:g}% of clean-correct points survive the unbounded attack",
    )
