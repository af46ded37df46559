"""`tfls bench attacks|autoattack`: attack throughput vs. the model's own passes, cleverhans and ART."""

from __future__ import annotations

from pathlib import Path

from tfls._validation import check_eps, check_positive_int, parse_eps


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
        "--eot",
        type=int,
        default=10,
        metavar="K",
        help="also time PGD-20 with K EOT draws on each model behind input noise (0: leave out)",
    )
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
    aa = what.add_parser(
        "autoattack",
        help="AutoAttack's components: seconds, images/s, efficiency, robust accuracy, beside ART "
        "and (--pytorch) AutoAttack's PyTorch implementations.",
        description=(
            "Times APGD-CE, APGD-T, FAB-T, Square and the whole standard AutoAttack on one model "
            "and the first N test images, each beside IBM ART's equivalent (same model, images "
            "and budget; ART has no FAB) and, with --pytorch, beside fra31/auto-attack and "
            "torchattacks on a PyTorch copy of the same weights. A run folder or .keras file is "
            "attacked on its own labels; a bare architecture name (e.g. preact-resnet18) is built with random "
            "weights (seed 0) and attacked on its own predictions, so every image is attacked. "
            "Re-create the default model with: tfls train --dataset fashion_mnist --model cnn4 "
            "--epochs 1 --seed 0 --out runs/cnn4-fmnist-1ep"
        ),
    )
    aa.add_argument(
        "--model",
        default="runs/cnn4-fmnist-1ep",
        help="run folder, .keras file or architecture name (default: runs/cnn4-fmnist-1ep)",
    )
    aa.add_argument("--dataset", default=None, help="default: the run's dataset, or cifar10")
    aa.add_argument("--n", type=int, default=128, help="N test images (default: 128)")
    aa.add_argument(
        "--offset",
        type=int,
        default=0,
        help="skip the first OFFSET test images, for a held-out slice (default: 0)",
    )
    aa.add_argument("--eps", default="0.05", help="L∞ ε (default: 0.05)")
    aa.add_argument("--seed", type=int, default=0)
    aa.add_argument(
        "--components",
        default="apgd-ce,apgd-t,fab-t,square,autoattack",
        help="comma-separated, from apgd-ce, apgd-dlr, apgd-t, fab-t, square, autoattack",
    )
    aa.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="COMPONENT.ARG=VALUE",
        help="override a budget for tfls and ART alike, e.g. square.n_queries=1000 (repeatable)",
    )
    aa.add_argument(
        "--fast",
        action="store_true",
        help="AutoAttack-standard beside autoattack-fast instead (issue 26): robust accuracy with "
        "intervals, images on which they differ, passes and seconds of each, through the "
        "evaluator (resumable: its store is written beside --out)",
    )
    aa.add_argument(
        "--bank",
        nargs="+",
        default=None,
        metavar="JSON",
        help="with --fast: attack nothing; sum earlier --fast results (their JSON files) into "
        "the bank's table at --out",
    )
    aa.add_argument("--no-art", action="store_true", help="leave out ART's rows")
    aa.add_argument(
        "--warm",
        action="store_true",
        help="run every row a second time and report it too (tfls' traces then cached)",
    )
    aa.add_argument(
        "--pytorch",
        default="",
        metavar="LIBS",
        help="comma-separated PyTorch peers to add on a PyTorch copy of the model: fra31 "
        "(AutoAttack's reference; a checkout of fra31/auto-attack on PYTHONPATH) and/or "
        "torchattacks; both need torch",
    )
    aa.add_argument(
        "--data-dir", default=None, help="offline data folder (default: $TFLS_DATA_DIR)"
    )
    aa.add_argument(
        "--out",
        default="bench-autoattack.json",
        help="JSON output path (a .md table is written beside it)",
    )
    aa.set_defaults(run=run_autoattack)


def run(args) -> int:
    from rich.console import Console

    import tfls.attacks as attacks
    from tfls import provenance
    from tfls.bench import attacks as bench
    from tfls.io import atomic_write_json, atomic_write_text

    names = [n.strip() for n in args.attacks.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--attacks needs at least one preset. Received: --attacks={args.attacks}")
    for name in names:  # each attack is benchmarked alone, in its own threat model
        attacks.plan_suite([name], eps=parse_eps(args.eps))
    check_positive_int(args.batch_size, name="--batch-size")
    check_positive_int(args.repeats, name="--repeats")
    eot = None if args.eot == 0 else check_positive_int(args.eot, name="--eot", minimum=2)
    console = Console(stderr=True)
    with console.status("benchmarking...") as status:
        rows = bench.run(
            names,
            models=bench.models_for(args.model),
            batch_size=args.batch_size,
            eps=parse_eps(args.eps),
            repeats=args.repeats,
            eot=eot,
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


def _names(value: str, choices, what: str, flag: str) -> list[str]:
    """A comma-separated option's names, each checked against `choices`."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names and flag == "--components":
        raise ValueError(f"{flag} needs at least one {what}. Received: {flag}={value}")
    for name in names:
        if name not in choices:
            raise ValueError(
                f"Unknown {what}; expected some of {', '.join(choices)}. Received: {flag}={value}"
            )
    return names


def run_autoattack(args) -> int:
    import shlex
    import sys

    if args.bank is not None and not args.fast:
        raise ValueError(f"--bank sums --fast results: add --fast. Received: --bank {args.bank}")
    if args.fast:
        return _run_fast(args)

    from rich.console import Console

    import tfls.bench.autoattack as bench
    from tfls import provenance
    from tfls.bench import autoattack_inputs as inputs
    from tfls.bench import autoattack_peers as peers
    from tfls.bench import autoattack_table as table_of
    from tfls.io import atomic_write_json, atomic_write_text

    components = _names(args.components, bench.CHOICES, "component", "--components")
    eps = check_eps(args.eps)
    overrides = inputs.parse_budgets(args.budget)
    pytorch = _names(args.pytorch, peers.PYTORCH_MODULES, "PyTorch library", "--pytorch")
    for library in pytorch:
        if not peers.pytorch_available(library):
            need = "a checkout of fra31/auto-attack on PYTHONPATH (not on PyPI)"
            if library == "torchattacks":
                need = "pip install torchattacks"
            raise ValueError(
                f"--pytorch {library} needs torch installed and {need}. "
                f"Received: --pytorch={args.pytorch}"
            )
    model, x, y, about = inputs.load_benchmark(
        args.model, dataset=args.dataset, n=args.n, data_dir=args.data_dir, offset=args.offset
    )
    art = not args.no_art
    if art and not peers.art_available():
        raise ValueError(
            "ART is not installed: pip install 'tfls[bench]', or pass --no-art. "
            "Received: --no-art not given"
        )
    command = "tfls " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else None
    out = Path(args.out)

    def write(rows, baselines, complete):
        """Rewrites json + md after every row, so that a long run killed midway keeps its rows."""
        info = {
            "complete": complete,
            "rows": table_of.rows_to_json(rows),
            "baselines_images_per_s": {about["name"]: baselines},
            "model": about,
            "n": len(y),
            "eps": eps,
            "norm": "linf",
            "seed": args.seed,
            "budgets": {name: bench.budget(name, overrides) for name in components},
            "command": command,
            "versions": {
                **provenance.versions(),
                **(peers.art_versions() if art else {}),
                **peers.pytorch_versions(pytorch),
            },
            "machine": provenance.host(),
            "art_settings": peers.ART_SETTINGS if art else None,
            "pytorch_settings": {lib: peers.PYTORCH_SETTINGS[lib] for lib in pytorch} or None,
        }
        table = table_of.to_markdown(rows, {about["name"]: baselines}, info)
        if not complete:
            table = "PARTIAL: the run stopped before every row was measured.\n\n" + table
        atomic_write_json(out, info)
        atomic_write_text(out.with_suffix(".md"), table + "\n")
        return table

    def progress(rows, baselines):
        r = rows[-1]
        status.update(
            f"{r.library} {r.component}: {r.seconds:.1f} s, robust {r.robust_accuracy:.1%}"
        )
        write(rows, baselines, complete=False)

    console = Console(stderr=True)
    with console.status("benchmarking...") as status:
        rows, baselines = bench.measure(
            model,
            x,
            y,
            eps=eps,
            components=components,
            art=art,
            pytorch=pytorch,
            warm=args.warm,
            seed=args.seed,
            overrides=overrides,
            model_name=about["name"],
            progress=progress,
        )
    table = write(rows, baselines, complete=True)
    print(table)
    return 0


def _run_fast(args) -> int:
    """`--fast`: one model's AutoAttack-standard vs autoattack-fast table, or (`--bank`) the sum
    of earlier ones."""
    import shlex
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tfls import provenance
    from tfls.bench import fast
    from tfls.bench.autoattack_inputs import load_benchmark
    from tfls.io import atomic_write_json, atomic_write_text

    command = "tfls " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else None
    out = Path(args.out)
    if args.bank is not None:
        results = fast.load_results(args.bank)
        title = "AutoAttack-standard and autoattack-fast: the bank"
    else:
        eps = check_eps(args.eps)
        model, x, y, about = load_benchmark(
            args.model, dataset=args.dataset, n=args.n, data_dir=args.data_dir, offset=args.offset
        )
        bar = Progress(
            TextColumn("[bold]autoattack vs autoattack-fast[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[numbers]}"),
            console=Console(stderr=True),
        )
        with bar:
            task = bar.add_task("bench", total=len(y), numbers="")

            def on_batch(p):
                numbers = "  ".join(f"{k} {v}" for k, v in p.robust.items())
                bar.update(task, completed=p.images_done, numbers=f"robust: {numbers}")

            result = fast.measure(
                model,
                x,
                y,
                eps=eps,
                seed=args.seed,
                store=out.with_name(out.stem + "-store"),
                about=about,
                on_batch=on_batch,
            )
        results = [result]
        title = f"AutoAttack-standard and autoattack-fast: {about['name']}"
    summary = fast.summarise(results)
    info = {
        "results": results,
        "summary": summary,
        "command": command,
        "versions": provenance.versions(),
        "machine": provenance.host(),
    }
    table = fast.to_markdown(results, title=title, command=command)
    atomic_write_json(out, info)
    atomic_write_text(out.with_suffix(".md"), table)
    print(table)
    return 0
