"""Each ingredient of `autoattack-fast` measured on its own, beside AutoAttack-standard on the
same images: what each target order, the second target, the sweep, 9 short targets, the FAB-T
probe and the full AutoAttack it sends points on to each buy, and what they cost in passes.

Every variant runs through the one evaluator (`tfls.eval.evaluate`, batch-major, every attack on
every clean-correct image, resumable); each row is compared with AutoAttack per image (`paired`:
images robust to one only, the one-sided McNemar p-value that the variant is the weaker). The
images are a held-out slice of the test split (`--offset`), not the bank's first ones, so the
settings chosen here are not fitted to the bank they are judged on. `--rows` runs some rows only,
paired with the first of them (e.g. `--rows 11 12`: a choice against the default).

    python -m tfls.bench.fast_ingredients --model RUN --dataset fashion_mnist --eps 0.03 \\
        --n 300 --offset 5000 --out results/bench/fast/ingredients-NAME.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tfls.attacks.registry import get
from tfls.bench.fast import STANDARD, numbers, paired
from tfls.eval.evaluate import evaluate
from tfls.eval.store import read_records

OFF = {"probe": False}  # the stages alone
BARE = {"sweep": 0.0, **OFF}  # the stages without the sweep
TWO = {"n_targets": 2}  # two targets before the sweep instead of one (the default)
STOP = {"probe_reach": 2.0, "probe_patience": 20}  # the probe's early stop (off by default)
# (label, preset, settings): the stages one by one, then each choice against its alternative.
VARIANTS = (
    (STANDARD, STANDARD, {}),
    ("APGD-CE alone (stage 1)", "apgd-ce", {}),
    ("+ APGD-T, 1 target (highest clean logit)", "autoattack-fast", {"n_targets": 1, **BARE}),
    ("+ APGD-T, 2 linear targets", "autoattack-fast", {"targets": "linear", **TWO, **BARE}),
    ("+ APGD-T, 2 clean-logit targets", "autoattack-fast", {"targets": "clean", **TWO, **BARE}),
    ("+ APGD-T, 2 targets, both orders", "autoattack-fast", {**TWO, **BARE}),
    ("+ APGD-T, 2 targets, + the sweep", "autoattack-fast", {**TWO, **OFF}),
    ("+ APGD-T, 1 target, + the sweep (the stages)", "autoattack-fast", {**OFF}),
    ("+ APGD-T, 9 targets × 20 steps", "autoattack-fast", {"n_targets": 9, "steps": 20, **BARE}),
    ("the stages + the FAB-T probe, never sent on", "autoattack-fast", {"escalate": 1.0}),
    ("autoattack-fast", "autoattack-fast", {}),
    ("autoattack-fast, the probe stopped beyond 2ε after 20 steps", "autoattack-fast", STOP),
    ("FAB-T alone", "fab-t", {}),
    ("ODI, 20 restarts", "odi", {}),
)


def measure(model, x, y, *, eps, store, norm="linf", seed=0, variants=VARIANTS) -> dict:
    """`{"clean", "n", "rows"}`, one row per variant: robust, interval, passes, seconds, and the
    pairing with AutoAttack (the first variant)."""
    attacks = {
        label: get(preset, model, eps=eps, norm=norm, seed=seed, **settings)
        for label, preset, settings in variants
    }
    report = evaluate(model, (x, y), attacks, out=store, individual=True, checks=False)
    records = read_records(store)
    rows = []
    for label, preset, settings in variants:
        row = {"variant": label, "preset": preset, "settings": settings}
        row |= numbers(report.attacks[label])
        if label != variants[0][0]:
            pair = paired(records, label, variants[0][0], int(report.images))
            row |= {
                "robust_where_autoattack_broke": pair["fast_only_robust"],
                "broke_where_autoattack_did_not": pair["standard_only_robust"],
                "mcnemar_p_weaker": pair["mcnemar_p_fast_weaker"],
            }
        if report.attacks[label].gate:
            row["gate"] = report.attacks[label].gate
        rows.append(row)
    return {"clean": int(report.clean_correct), "n": int(report.images), "rows": rows}


def to_markdown(rows, *, title, clean, n) -> str:
    lines = [
        f"# {title}",
        "",
        f"{n} images, {clean} classified correctly. Passes: images sent through the model "
        f"(`tfls.attacks.passes`). Each row paired per image with the first ({rows[0]['variant']}) "
        "on the same images.",
        "",
        "| variant | robust | fwd passes | bwd passes | s | robust where the first broke | "
        "broke where the first did not | p (weaker) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p = r.get("mcnemar_p_weaker")
        lines.append(
            f"| {r['variant']} | {r['robust']} | {r['forward_passes']:,} | "
            f"{r['backward_passes']:,} | {r['seconds']:.1f} | "
            f"{r.get('robust_where_autoattack_broke', '')} | "
            f"{r.get('broke_where_autoattack_did_not', '')} | "
            f"{'' if p is None else f'{p:.3g}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import numpy as np

    import tfls.data
    import tfls.models
    from tfls._validation import check_eps, check_positive_int
    from tfls.io import atomic_write_json, atomic_write_text

    parser = argparse.ArgumentParser(prog="python -m tfls.bench.fast_ingredients")
    parser.add_argument("--model", required=True, help="run folder or .keras file")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--eps", required=True)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--offset", type=int, default=5000, help="first test image (held out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        help="only these rows of the table, by number (1: AutoAttack); the first is the one "
        "the others are paired with",
    )
    parser.add_argument("--out", required=True, help="JSON path (.md beside it)")
    args = parser.parse_args(argv)
    eps, n = check_eps(args.eps), check_positive_int(args.n, name="n")
    offset = int(args.offset)
    if offset < 0:
        raise SystemExit(f"--offset must be >= 0. Received: --offset {offset}")
    variants = VARIANTS
    if args.rows:
        wrong = [r for r in args.rows if not 1 <= r <= len(VARIANTS)]
        if wrong:
            raise SystemExit(f"--rows takes 1 to {len(VARIANTS)}. Received: --rows {wrong[0]}")
        variants = tuple(VARIANTS[r - 1] for r in args.rows)
    model, _ = tfls.models.load(Path(args.model))
    x, y = tfls.data.load_arrays(args.dataset, "test", limit=offset + n)
    x, y = np.asarray(x[offset:], np.float32), np.asarray(y[offset:])
    out = Path(args.out)
    store = out.with_name(out.stem + "-store")
    found = measure(model, x, y, eps=eps, seed=args.seed, store=store, variants=variants)
    rows, clean = found["rows"], found["clean"]
    info = {
        "model": str(args.model),
        "dataset": args.dataset,
        "eps": eps,
        "n": len(y),
        "offset": offset,
        "clean": clean,
        "rows": rows,
    }
    title = f"autoattack-fast's ingredients: {Path(args.model).name}, test {offset}-{offset + len(y) - 1}"
    atomic_write_json(out, info)
    atomic_write_text(out.with_suffix(".md"), to_markdown(rows, title=title, clean=clean, n=len(y)))
    print(to_markdown(rows, title=title, clean=clean, n=len(y)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
