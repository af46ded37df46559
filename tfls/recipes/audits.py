"""Auditing a recipe's models for gradient masking: each model's `tfls.audit` verdict beside its numbers.

A scale that sets `audit = "<budget>"` runs `tfls.audit.audit` once per evaluated model at the
scale's L∞ ε and `n`, into `<out>/audits/<model hash>-<budget>-<ε>/` (resumable; rows that are the
same model share one audit). The verdict is about whether white-box gradient attacks can be
trusted on that model, never about whether it is robust.
"""

from __future__ import annotations

from pathlib import Path

from tfls.recipes.measure import load_test_data
from tfls.recipes.plan import Plan


def audit_models(plan: Plan, results: dict, loaded: dict, *, out: Path, data_dir, log) -> None:
    """Audits every evaluated model of `plan`; verdicts go into `results["audits"]`."""
    if plan.audit is None:
        return
    from tfls.audit import audit

    audits = results.setdefault("audits", {})
    for m in plan.models:
        if not m.evaluate:
            continue
        eps = plan.eps_for("linf", m.dataset)
        digest = results["models"][m.id]["hash"]
        folder = Path(out) / "audits" / f"{digest}-{plan.audit}-{eps:.4g}"
        report = audit(
            loaded[m.id],
            load_test_data(plan, m, data_dir),
            eps=eps,
            norm="linf",
            n=plan.n,
            budget=plan.audit,
            out=folder,
            seed=plan.seed,
        )
        # The table's PGD-20 column runs with this scale's overrides (e.g. fewer steps at
        # smoke); the audit runs the preset itself. Both are shown, so they are not confused.
        column = results.get("measures", {}).get(m.id, {}).get("pgd20")
        audits[m.id] = {
            "budget": plan.audit,
            "eps": eps,
            "verdict": report.verdict,
            "reason": report.reason,
            "pgd20": report.pgd20,
            "pgd20_column": column,
            "worst_case": report.worst_case,
            "gap": report.gap,
            "lowest": report.lowest,
            "recommended_suite": list(report.recommended_suite),
            "folder": str(folder),
        }
        beside = (
            ""
            if column is None or abs(column - report.pgd20) < 1e-9
            else f" (the table's PGD-20 column, with this scale's settings: {100 * column:.1f}%)"
        )
        log(
            f"  {m.id}: audit ({plan.audit}) {report.verdict.upper()}: the audit's PGD-20 "
            f"{100 * report.pgd20:.1f}%{beside}, worst case over the audit's attacks "
            f"{100 * report.worst_case:.1f}%"
        )
