"""`tfls bench attacks`: attack throughput vs. the model's own forward+backward pass and cleverhans."""

from __future__ import annotations

from pathlib import Path

from tfls._validation import parse_eps


def add_parser(sub):
    p = sub.add_parser("bench", help="Benchmarks (ratios measured in one process).")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    a = what.add_parser(
        "attacks", help="Attack images/s and efficiency vs forward+backward and cleverhans."
    )
    a.add_argument(
        "--attacks", default="fgsm,pgd10,pgd20,pgd40,pgd-cw", help="comma-separated presets"
    )
    a.add_argument("--batch-size", type=int, default=256)
    a.add_argument("--eps", default="0.1", help="ε, e.g. 0.1 or 8/255")
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument(
        "--model",
        default="small",
        choices=("small", "mobilenet"),
        help="small: the paper's MNIST conv net and an MLP; mobilenet: a 224x224 "
        "keras.applications MobileNetV3Small (random weights) wrapped with input range 0,255",
    )
    a.add_argument(
        "--out",
        default="bench-attacks.json",
        help="JSON output path (a .md table is written beside it)",
    )
    a.set_defaults(run=run)


def run(args) -> int:
    from rich.console import Console

    import tfls.attacks as attacks
    from tfls import provenance
    from tfls.bench import attacks as bench
    from tfls.io import atomic_write_json, atomic_write_text

    names = [n.strip() for n in args.attacks.split(",") if n.strip()]
    for name in names:  # each attack is benchmarked alone, in its own threat model
        attacks.plan_suite([name], eps=parse_eps(args.eps))
    console = Console(stderr=True)
    with console.status("benchmarking...") as status:
        rows = bench.run(
            names,
            models=bench.models_for(args.model),
            batch_size=args.batch_size,
            eps=parse_eps(args.eps),
            repeats=args.repeats,
            progress=lambda r: status.update(
                f"{r.model}/{r.attack}: {r.images_per_s:,.0f} images/s"
            ),
        )
    table = bench.to_markdown(rows)
    out = Path(args.out)
    atomic_write_json(
        out,
        {
            "rows": bench.rows_to_json(rows),
            "batch_size": args.batch_size,
            "model": args.model,
            "eps": parse_eps(args.eps),
            "versions": provenance.versions(),
            "machine": provenance.host(),
        },
    )
    atomic_write_text(out.with_suffix(".md"), table + "\n")
    print(table)
    return 0
