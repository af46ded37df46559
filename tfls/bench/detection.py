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
import sys
import time
from pathlib import Path

from tfls import io
from tfls.bench.detection_before_after import before_after, before_after_markdown, run_old
from tfls.bench.detection_table import BUDGET_NAMES, summarise, table_markdown

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
    from tfls.training.model_cache import train_or_load

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
