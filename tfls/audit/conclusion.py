"""The audit's conclusion: every evaluation at ε folded into the worst case, the gap tested, the
verdict decided and the `AuditReport` built (and written)."""

from __future__ import annotations

import time

from tfls.audit.audit_report import AuditReport
from tfls.audit.budgets import EVIDENCE
from tfls.audit.verdict import decide, gap_test


def _report(ws, plan, checks, *, model, label, start, out, data, alongside) -> AuditReport:
    """Folds every evaluation at ε into the worst case, tests the gap, decides the verdict.

    The evaluations are those each check records it used, in check order (the main one first),
    so a resumed audit (whose cached checks ran nothing) folds in exactly the same ones.
    """
    main_key = f"main-{plan.name}"
    keys = [main_key]
    for c in checks:
        keys += c.data.get("evaluations", [])
    main = ws.stored(main_key)
    accuracies: dict[str, float] = {}
    worst = main.evidence.clean.copy()
    for key in dict.fromkeys(keys):
        e = ws.stored(key)
        if e.report.eps is None or abs(e.report.eps - ws.eps) > 1e-12 * max(1.0, ws.eps):
            continue
        for attack, bits in e.evidence.robust.items():
            name = attack if attack not in accuracies else f"{attack}@{key}"
            accuracies[name] = float(bits.mean())
            worst &= bits
    gap = gap_test(main.evidence.robust["pgd20"], worst)
    verdict = decide(checks, gap)
    lowest = min(accuracies.items(), key=lambda kv: kv[1])
    skipped = [
        f"{c.id} ({c.title}: {c.summary})"
        for c in checks
        if c.id in EVIDENCE and c.status == "skipped"
    ]
    report = AuditReport(
        checks=checks,
        verdict=verdict.verdict,
        reason=verdict.reason,
        recommended_suite=verdict.recommended_suite,
        clean_accuracy=float(main.evidence.clean.mean()),
        pgd20=gap.reported,
        lowest={"attack": lowest[0], "accuracy": lowest[1]},
        worst_case=gap.worst_case,
        points_of_difference=gap.points,
        accuracies=accuracies,
        gap={
            "points": gap.points,
            "interval": [100 * gap.interval[0], 100 * gap.interval[1]],
            "broken": gap.broken,
            "robust_to_pgd20": gap.robust_to_reported,
            "p_value": gap.p_value,
            "p_adjusted": verdict.p_adjusted["gap"],
            "smallest_detectable_share": gap.detectable,
        },
        skipped_evidence=skipped,
        meta={
            "model": label or getattr(model, "name", "?"),
            **data,
            "eps": ws.eps,
            "norm": ws.norm,
            "budget": plan.name,
            "images": ws.n,
            "seed": ws.seed,
            "draws": main.report.draws,
            "seconds": time.perf_counter() - start,
        },
        evaluator=None if alongside is None else alongside.to_dict(),
    )
    if out is not None:
        report.write(out)
    return report
