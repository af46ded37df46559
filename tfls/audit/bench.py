"""`python -m tfls.audit.bench`: the fixture × check detection table of the gradient-masking audit.

`--scale small` (default) audits the tiny fixtures of `tests/audit/fixtures.py` (run from the
repository root): models with one known defect each, plus a control. `--scale cpu` audits the
recipes' cpu-scale cnn4 models on Fashion-MNIST at ε = 0.03 (label smoothing α = 0.9, which must
come out `overestimated`; the natural and Madry models are the controls), trained or read from
the recipes' cache. Prints the table and writes `results/audit/bench-<scale>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from tfls import io

CHECKS = tuple(range(1, 15))
SYMBOL = {"ok": ".", "warn": "W", "fail": "F", "skipped": "-"}


def small_cases(budget):
    """`(name, model, dataset, eps, expected checks, expected verdict or None, control)`."""
    try:
        from tests.audit import fixtures as fx
    except ImportError:
        raise ValueError(
            "The small fixtures live in tests/audit/fixtures.py: run from the repository root. "
            "Received: scale='small'"
        ) from None
    points = fx.data()
    for name, expected in fx.EXPECTED.items():
        control = name == "control"
        extra = {"surrogate": fx.build("control")} if name == "zero-gradient" else {}
        yield {
            "name": name,
            "model": fx.build(name),
            "dataset": points,
            "eps": fx.EPS,
            "expected": expected,
            "verdict": "no masking found" if control else None,
            "control": control,
            "kwargs": extra,
        }


def cpu_cases(budget, *, data_dir=None, n=300, cache_dir=None):
    """The recipes' cpu-scale cnn4 models (6 epochs, Fashion-MNIST, ε = 0.03)."""
    import tfls.data
    from tfls.recipes.cache import train_config
    from tfls.recipes.plan import resolve
    from tfls.recipes.spec import load_spec
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
            "expected": expected,
            "verdict": verdict,
            "control": control,
            "kwargs": {},
        }


def run(cases, budget, *, out_root=None, log=print) -> dict:
    """Audits every case and folds the results into the detection table."""
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
        status = {c.id: c.status for c in report.checks}
        rows.append(
            {
                "fixture": case["name"],
                "control": case["control"],
                "expected": list(case["expected"]),
                "expected_verdict": case["verdict"],
                "verdict": report.verdict,
                "status": status,
                "pgd20": report.pgd20,
                "lowest": report.lowest,
                "worst_case": report.worst_case,
                "seconds": time.perf_counter() - start,
            }
        )
        log(
            f"  {case['name']}: {report.verdict} (fired {report.fired}) "
            f"in {rows[-1]['seconds']:.0f}s"
        )
    return summarise(rows, budget)


def summarise(rows, budget) -> dict:
    pairs = [(r, c) for r in rows if not r["control"] for c in r["expected"]]
    detected = sum(r["status"][c] in ("warn", "fail") for r, c in pairs)
    control_cells = [
        (r, c) for r in rows if r["control"] for c in CHECKS if r["status"][c] != "skipped"
    ]
    fails = sum(r["status"][c] == "fail" for r, c in control_cells)
    fired = sum(r["status"][c] in ("warn", "fail") for r, c in control_cells)
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
    }


def to_markdown(result) -> str:
    head = "| fixture | " + " | ".join(str(c) for c in CHECKS) + " | verdict |"
    lines = [
        f"Audit detection table (budget {result['budget']}). Cells: F fail, W warn, . ok, "
        "- skipped; [x] = the check this fixture must trigger.",
        "",
        head,
        "|---|" + "---|" * len(CHECKS) + "---|",
    ]
    for r in result["rows"]:
        cells = []
        for c in CHECKS:
            s = SYMBOL[r["status"][c]]
            cells.append(f"[{s}]" if c in r["expected"] else s)
        name = r["fixture"] + (" (control)" if r["control"] else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['verdict']} |")
    rate = result["detection_rate"]
    lines += [
        "",
        f"Detection rate on masked fixtures: {result['detected']}/{result['expected_pairs']}"
        + ("" if rate is None else f" ({100 * rate:.0f}%)"),
        f"False-positive rate on controls: fail {_pct(result['control_fail_rate'])}, warn or fail "
        f"{_pct(result['control_fired_rate'])} of {result['control_checks']} checks run",
        f"Verdicts as expected: {result['verdicts_as_expected']}",
    ]
    return "\n".join(lines) + "\n"


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.0f}%"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfls.audit.bench", description=__doc__)
    parser.add_argument("--scale", default="small", choices=("small", "cpu"))
    parser.add_argument("--budget", default="standard", help="quick, standard or thorough")
    parser.add_argument(
        "--xla", action="store_true", help="keep each attack's XLA default (slower on tiny models)"
    )
    parser.add_argument("--n", type=int, default=300, help="test images at cpu scale")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="results/audit", help="where the table is written")
    args = parser.parse_args(argv)

    from tfls.audit.budgets import get_budget

    budget = get_budget(args.budget)
    if args.scale == "small" and not args.xla:
        budget = dataclasses.replace(budget, jit_compile=False)
    out = Path(args.out)
    if args.scale == "small":
        cases = small_cases(budget)
        out_root = None
    else:
        cases = cpu_cases(budget, data_dir=args.data_dir, n=args.n)
        out_root = out / "cpu"
    print(f"audit bench, scale {args.scale}, budget {budget.name}")
    result = run(cases, budget, out_root=out_root)
    text = to_markdown(result)
    print(text)
    io.atomic_write_json(out / f"bench-{args.scale}.json", result)
    io.atomic_write_text(out / f"bench-{args.scale}.md", text)
    print(f"wrote {out / f'bench-{args.scale}.json'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
