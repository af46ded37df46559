"""The audit before and after its rebuild on the same fixtures: the old audit run in a subprocess
from a checkout of the commit before it, and the table comparing the two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tfls.bench.detection_table import BUDGET_NAMES

# Run in a subprocess with PYTHONPATH=<old tree>: the old audit on the fixtures' models, the
# `tests` package taken from this tree (its fixtures need only Keras).
OLD_RUNNER = r"""
import dataclasses, json, sys, time
old, new, names, budgets = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
sys.path.insert(0, old)
import tfls, tfls.audit
assert tfls.__file__.startswith(old), tfls.__file__
sys.path.insert(0, new)  # `tests` (the fixtures) from the new tree; `tfls` stays the old one
from tests.audit import fixtures as fx
from tfls.audit import BUDGETS, audit
out = {}
for budget_name in budgets.split(","):
    budget = dataclasses.replace(BUDGETS[budget_name], jit_compile=False)
    for name in names:
        f = fx.CASES[name]
        start = time.perf_counter()
        report = audit(f.model(), f.points(), budget=budget, **f.kwargs())
        out.setdefault(budget_name, {})[name] = {
            "verdict": report.verdict,
            "pgd20": report.pgd20,
            "worst_case": report.worst_case,
            "fired": [c.id for c in report.checks if c.status in ("warn", "fail")],
            "seconds": time.perf_counter() - start,
        }
        print(budget_name, name, report.verdict, flush=True, file=sys.stderr)
print(json.dumps(out))
"""


def run_old(old_tree, names, budgets=BUDGET_NAMES) -> dict:
    """`{budget: {case: {verdict, pgd20, worst_case, fired, seconds}}}` from the old audit."""
    old = str(Path(old_tree).resolve())
    new = str(Path.cwd().resolve())
    env = {**os.environ, "PYTHONPATH": old}
    done = subprocess.run(
        [sys.executable, "-c", OLD_RUNNER, old, new, ",".join(names), ",".join(budgets)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the old audit failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def before_after(results, old, *, old_tree, command) -> dict:
    rows = []
    for budget, result in results.items():
        for r in result["rows"]:
            before = old.get(budget, {}).get(r["fixture"])
            if before is None:
                continue
            rows.append(
                {
                    "budget": budget,
                    "fixture": r["fixture"],
                    "control": r["control"],
                    "expected_verdict": r["expected_verdict"],
                    "old": before,
                    "new": {
                        "verdict": r["verdict"],
                        "pgd20": r["pgd20"],
                        "worst_case": r["worst_case"],
                        "fired": r["fired"],
                        "seconds": r["seconds"],
                    },
                }
            )
    return {"old_tree": str(old_tree), "command": command, "rows": rows}


def before_after_markdown(table) -> str:
    lines = [
        "# The audit before and after its rebuild, on the same fixtures",
        "",
        f"Regenerate: `{table['command']}` (the old audit: a checkout of the commit before the "
        "rebuild, run with `PYTHONPATH` set to it). Same models, points, ε, seed and surrogate; "
        "XLA off. Old verdicts: `overestimated`, `suspicious`, `no masking found`; the new audit "
        "adds `inconclusive` and decides by tests (docs/audit.md). Worst case and PGD-20 in %; "
        "✓ = the verdict the fixture must get.",
        "",
    ]
    for budget in BUDGET_NAMES:
        rows = [r for r in table["rows"] if r["budget"] == budget]
        if not rows:
            continue
        lines += [
            f"### Budget `{budget}`",
            "",
            "| case | expected | old verdict | old PGD-20 | old worst | old s | new verdict "
            "| new PGD-20 | new worst | new s |",
            "|---|---|---|--:|--:|--:|---|--:|--:|--:|",
        ]
        for r in rows:
            o, n = r["old"], r["new"]

            def mark(v, expected=r["expected_verdict"]):
                return v + (" ✓" if v == expected else "")

            lines.append(
                f"| {r['fixture']} | {r['expected_verdict']} | {mark(o['verdict'])} | "
                f"{100 * o['pgd20']:.1f} | {100 * o['worst_case']:.1f} | {o['seconds']:.1f} | "
                f"{mark(n['verdict'])} | {100 * n['pgd20']:.1f} | {100 * n['worst_case']:.1f} | "
                f"{n['seconds']:.1f} |"
            )
        ok_old = sum(r["old"]["verdict"] == r["expected_verdict"] for r in rows)
        ok_new = sum(r["new"]["verdict"] == r["expected_verdict"] for r in rows)
        lines += [
            "",
            f"Expected verdicts: old {ok_old}/{len(rows)}, new {ok_new}/{len(rows)}. Time: old "
            f"{sum(r['old']['seconds'] for r in rows):.0f} s, new "
            f"{sum(r['new']['seconds'] for r in rows):.0f} s.",
            "",
        ]
    return "\n".join(lines)
