"""The audit bench's table: the fixture × check cells, the detection and control rates, as Markdown."""

from __future__ import annotations

CHECKS = tuple(range(1, 19))
SYMBOL = {"ok": ".", "warn": "W", "fail": "F", "skipped": "-"}
BUDGET_NAMES = ("quick", "standard")


def summarise(rows, budget) -> dict:
    """Detections of the must-fire checks, controls' fired checks, verdicts as expected."""
    pairs = [(r, c) for r in rows if not r["control"] for c in r["expected"]]
    detected = sum(r["checks"][str(c)]["fired"] for r, c in pairs)
    control_cells = [
        (r, c)
        for r in rows
        if r["control"]
        for c in CHECKS
        if r["checks"][str(c)]["status"] != "skipped"
    ]
    fails = sum(r["checks"][str(c)]["status"] == "fail" for r, c in control_cells)
    fired = sum(r["checks"][str(c)]["fired"] for r, c in control_cells)
    verdicts_ok = [r["verdict"] == r["expected_verdict"] for r in rows if r["expected_verdict"]]
    return {
        "budget": budget.name if hasattr(budget, "name") else str(budget),
        "rows": rows,
        "detection_rate": detected / len(pairs) if pairs else None,
        "detected": detected,
        "expected_pairs": len(pairs),
        "control_fail_rate": fails / len(control_cells) if control_cells else None,
        "control_fired_rate": fired / len(control_cells) if control_cells else None,
        "control_checks": len(control_cells),
        "verdicts_as_expected": f"{sum(verdicts_ok)}/{len(verdicts_ok)}",
        "seconds": sum(r["seconds"] for r in rows),
    }


def cell(row, check_id) -> str:
    """`F* 3e-08`: status symbol, `*` when the fixture must fire it, Holm-adjusted p (evidence)."""
    c = row["checks"][str(check_id)]
    text = SYMBOL[c["status"]] + ("*" if check_id in row["expected"] else "")
    if c["p_adjusted"] is not None:
        text += f" {_p(c['p_adjusted'])}"
    return text


def _p(p) -> str:
    if p >= 0.995:
        return "1"
    if p >= 0.01:
        return f"{p:.2f}"
    return f"{p:.0e}".replace("e-0", "e-")


def to_markdown(result) -> str:
    head = (
        "| case | ε | n | "
        + " | ".join(str(c) for c in CHECKS)
        + " | verdict | PGD-20 | worst | s |"
    )
    lines = [
        f"### Budget `{result['budget']}`",
        "",
        head,
        "|---|--:|--:|" + "---|" * len(CHECKS) + "---|--:|--:|--:|",
    ]
    for r in result["rows"]:
        cells = [cell(r, c) for c in CHECKS]
        verdict = r["verdict"] + ("" if r["verdict"] == r["expected_verdict"] else " (!)")
        name = r["fixture"] + (" (control)" if r["control"] else "")
        lines.append(
            f"| {name} | {r['eps']:g} | {r['n'] or ''} | "
            + " | ".join(cells)
            + f" | {verdict} | {100 * r['pgd20']:.1f} | {100 * r['worst_case']:.1f} "
            f"| {r['seconds']:.1f} |"
        )
    rate = result["detection_rate"]
    lines += [
        "",
        f"Must-fire checks that fired on the masked fixtures: {result['detected']}/"
        f"{result['expected_pairs']}" + ("" if rate is None else f" ({100 * rate:.0f}%)") + ". "
        f"Controls: fail {_pct(result['control_fail_rate'])}, warn or fail "
        f"{_pct(result['control_fired_rate'])} of {result['control_checks']} checks run. "
        f"Verdicts as expected: {result['verdicts_as_expected']}. Time: "
        f"{result['seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


LEGEND = (
    "Cells: `F` fail (an evidence check significant after Holm, or a diagnostic that failed), "
    "`W` warn, `.` ok, `-` skipped; the number is an evidence check's Holm-adjusted p-value; `*` "
    "marks the checks the fixture exists to fire (`tests/audit/fixtures.py`, `EXPECTED`); "
    "`(!)` a verdict other than the expected one. PGD-20 and worst case in % of the points; "
    "s = seconds (2 CPU cores; XLA off at small scale)."
)


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.0f}%"


def table_markdown(results, *, scale, command) -> str:
    lines = [f"# Audit bench, scale {scale}", "", f"Regenerate: `{command}`", "", LEGEND, ""]
    for result in results.values():
        lines.append(to_markdown(result))
    return "\n".join(lines)
