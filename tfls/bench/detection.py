"""`python -m tfls.bench.detection`: the fixture × check table of the gradient-masking audit.

`--scale small` (default) audits the tiny fixtures and controls of `tests/audit/fixtures.py`
(run from the repository root): models with one known defect each, and natural and Madry
controls over three training seeds, at `quick` and `standard` (`--budget`). Each cell is a
check's status (`F` fail, `W` warn, `.` ok, `-` skipped) and, for evidence checks, its
Holm-adjusted p-value; `*` marks the checks the fixture must fire. `--scale cpu` audits the
recipes' cpu-scale cnn4 models on Fashion-MNIST at ε = 0.03 (label smoothing α = 0.9, which must
come out `overestimated`; the natural and Madry models are the controls), trained or read from
the recipes' cache. Prints the table and writes `results/audit/bench-<scale>.json` and `.md`.

`--before-after OLD_TREE` (small scale) also audits every case with the audit before its
rebuild (a checkout of that commit at OLD_TREE, run in a subprocess with `PYTHONPATH=OLD_TREE`,
fed the same fixture models) and writes `results/audit/before-after.{json,md}`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tfls import io

CHECKS = tuple(range(1, 19))
SYMBOL = {"ok": ".", "warn": "W", "fail": "F", "skipped": "-"}
BUDGET_NAMES = ("quick", "standard")
COMMAND = "python -m tfls.bench.detection"


def _fixtures():
    try:
        from tests.audit import fixtures as fx
    except ImportError:
        raise ValueError(
            "The small fixtures live in tests/audit/fixtures.py: run from the repository root. "
            "Received: scale='small'"
        ) from None
    return fx


def small_cases(budget, names=None):
    """One case per fixture and control of `tests/audit/fixtures.py` (all, or those `names`):
    the checks it must fire that `budget` runs, and its verdict at `budget`."""
    fx = _fixtures()
    for name, f in fx.CASES.items():
        if names and name not in names:
            continue
        yield {
            "name": name,
            "model": f.model(),
            "dataset": f.points(),
            "eps": f.eps,
            "n": f.n,
            "expected": list(f.must_fire(budget.checks)),
            "verdict": f.expected_verdict(budget.name),
            "control": f.control,
            "defect": f.defect,
            "kwargs": {k: v for k, v in f.kwargs().items() if k != "eps"},
        }


def cpu_cases(*, data_dir=None, n=300, cache_dir=None):
    """The recipes' cpu-scale cnn4 models (6 epochs, Fashion-MNIST, ε = 0.03)."""
    import tfls.data
    from tfls.recipes.configs import train_config
    from tfls.recipes.plan import resolve
    from tfls.recipes.spec_files import load_spec
    from tfls.training.cache import train_or_load

    table1 = resolve(load_spec("table1"), "cpu", data_dir=data_dir)
    table4 = resolve(load_spec("table4"), "cpu", data_dir=data_dir)
    madry = next(m for m in table4.models if m.method == "madry")
    picks = [
        ("cnn4 LS α=0.9", table1, table1.model("cifar10-ls"), (), "overestimated", False),
        ("cnn4 natural", table1, table1.model("cifar10-natural"), (), "no masking found", True),
        ("cnn4 Madry", table4, madry, (), "no masking found", True),
    ]
    for name, plan, spec, expected, verdict, control in picks:
        config = train_config(spec, data_dir=data_dir)
        model, _, _, _ = train_or_load(config, cache_dir=cache_dir, log=print)
        dataset = tfls.data.load(spec.dataset, "test", batch_size=100, data_dir=data_dir, limit=n)
        yield {
            "name": name,
            "model": model,
            "dataset": dataset,
            "eps": plan.eps_for("linf", spec.dataset),
            "n": n,
            "expected": list(expected),
            "verdict": verdict,
            "control": control,
            "defect": "",
            "kwargs": {},
        }


def row_of(case, report, seconds) -> dict:
    """One table row: every check's status, kind and Holm-adjusted p-value, and the verdict."""
    cells = {
        str(c.id): {
            "status": c.status,
            "kind": c.kind,
            "p": c.p_value,
            "p_adjusted": c.p_adjusted,
            "fired": bool(c.fired),
        }
        for c in report.checks
    }
    return {
        "fixture": case["name"],
        "control": case["control"],
        "defect": case.get("defect", ""),
        "eps": case["eps"],
        "n": case.get("n"),
        "expected": list(case["expected"]),
        "expected_verdict": case["verdict"],
        "verdict": report.verdict,
        "fired": [c.id for c in report.checks if c.fired],
        "checks": cells,
        "clean": report.clean_accuracy,
        "pgd20": report.pgd20,
        "lowest": report.lowest,
        "worst_case": report.worst_case,
        "gap": report.gap,
        "seconds": seconds,
    }


def run(cases, budget, *, out_root=None, log=print) -> dict:
    """Audits every case at `budget` and folds the results into the table."""
    from tfls.audit import audit

    rows = []
    for case in cases:
        start = time.perf_counter()
        out = None if out_root is None else Path(out_root) / case["name"].replace(" ", "_")
        report = audit(
            case["model"],
            case["dataset"],
            eps=case["eps"],
            budget=budget,
            out=out,
            **case["kwargs"],
        )
        rows.append(row_of(case, report, time.perf_counter() - start))
        log(
            f"  {case['name']}: {report.verdict} (fired {report.fired}) "
            f"in {rows[-1]['seconds']:.1f}s"
        )
    return summarise(rows, budget)


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


# -- before / after -----------------------------------------------------------------------------

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--scale", default="small", choices=("small", "cpu"))
    parser.add_argument(
        "--budget", default=",".join(BUDGET_NAMES), help="comma-separated: quick,standard,thorough"
    )
    parser.add_argument(
        "--xla", action="store_true", help="keep each attack's XLA default (slower on tiny models)"
    )
    parser.add_argument("--only", default=None, help="small scale: comma-separated case names")
    parser.add_argument("--n", type=int, default=300, help="test images at cpu scale")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="results/audit", help="where the table is written")
    parser.add_argument(
        "--before-after",
        default=None,
        metavar="OLD_TREE",
        help="small scale: also audit every case with the audit checked out at OLD_TREE",
    )
    args = parser.parse_args(argv)

    from tfls.audit.budgets import get_budget

    names = args.only.split(",") if args.only else None
    out = Path(args.out)
    results = {}
    for budget_name in args.budget.split(","):
        budget = get_budget(budget_name)
        if args.scale == "small" and not args.xla:
            budget = dataclasses.replace(budget, jit_compile=False)
        print(f"audit bench, scale {args.scale}, budget {budget.name}")
        if args.scale == "small":
            cases, out_root = small_cases(budget, names), None
        else:
            cases, out_root = (
                cpu_cases(data_dir=args.data_dir, n=args.n),
                out / "cpu" / budget.name,
            )
        results[budget.name] = run(cases, budget, out_root=out_root)
    command = COMMAND + ("" if argv is None else " " + " ".join(argv))
    if argv is None:
        command = COMMAND + " " + " ".join(sys.argv[1:])
    command = command.strip()
    text = table_markdown(results, scale=args.scale, command=command)
    print(text)
    stem = f"bench-{args.scale}"
    io.atomic_write_json(out / f"{stem}.json", {"command": command, "budgets": results})
    io.atomic_write_text(out / f"{stem}.md", text)
    print(f"wrote {out / f'{stem}.json'} and .md")
    if args.before_after:
        if args.scale != "small":
            raise SystemExit("--before-after runs at --scale small only")
        case_names = [r["fixture"] for r in next(iter(results.values()))["rows"]]
        old = run_old(args.before_after, case_names, list(results))
        table = before_after(results, old, old_tree=args.before_after, command=command)
        io.atomic_write_json(out / "before-after.json", table)
        io.atomic_write_text(out / "before-after.md", before_after_markdown(table))
        print(before_after_markdown(table))
        print(f"wrote {out / 'before-after.json'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
