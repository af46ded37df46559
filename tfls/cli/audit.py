"""`tfls audit`: can this model's white-box robustness number be trusted? Checks, verdict, suite.

Writes `audit.json`, `audit.md` and PNGs into `--out` (default `<model>/audit-<eps>`); running
the same command again resumes from the evaluations and checks already finished there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tfls import _validation as v
from tfls.cli.model_flags import add_model_options, check_options
from tfls.io import resolve_out

STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skipped": "dim"}
VERDICT_STYLE = {
    "overestimated": "bold red",
    "suspicious": "bold yellow",
    "inconclusive": "bold",
    "no masking found": "bold green",
}
WIDTH = 100


def add_parser(sub):
    p = sub.add_parser(
        "audit",
        help="Gradient-masking audit: is the robustness number real? (resumable)",
        description="Runs the gradient-masking checks (AutoAttack, ART, Pintor et al., Athalye et "
        "al., Carlini et al., Jiang et al.) and prints a verdict: overestimated, suspicious or "
        "no masking found. Running the same command again resumes.",
    )
    add_model_options(p)
    p.add_argument("--eps", required=True, help="ε, e.g. 8/255 or 0.03")
    p.add_argument("--norm", default="linf", help="threat model: linf or l2 (default: linf)")
    p.add_argument("--n", type=int, default=500, help="audit the first N images (default: 500)")
    p.add_argument("--surrogate", default=None, help="a model to transfer attacks from (check 8)")
    p.add_argument(
        "--train-surrogate",
        action="store_true",
        help="for checks 8 and 16, train (or load from the model cache, $TFLS_RECIPES_DIR or "
        "./runs/recipes) a standard surrogate: cnn4 (28x28 grey) or small-cnn (32x32 RGB), "
        "natural, on the first 20,000 images of --dataset's training split, 5 epochs",
    )
    p.add_argument(
        "--budget", default="standard", help="quick, standard or thorough (default: standard)"
    )
    p.add_argument("--out", default=None, help="output folder (default: <model>/audit-<eps>)")
    p.add_argument("--seed", type=int, default=0, help="seed of every attack and random draw")
    p.add_argument(
        "--strategy",
        default="auto",
        help="auto (default), one_device, mirrored or multi_worker (the cluster in TF_CONFIG; "
        "the chief writes --out, which every worker must see)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run)


def default_out(model_path, eps_text) -> Path:
    """`<run folder>/audit-<eps>`, or `<file stem>.audit-<eps>` next to a `.keras` file."""
    tag = "audit-" + str(eps_text).replace("/", "-").replace(" ", "")
    path = Path(model_path)
    return path / tag if path.is_dir() else path.with_name(f"{path.stem}.{tag}")


def run(args) -> int:
    from tfls import distribute
    from tfls.audit.budgets import get_budget

    # A multi-worker strategy must exist before any TensorFlow op (a TensorFlow requirement).
    strategy = distribute.strategy(distribute.check_name(args.strategy))
    chief = distribute.is_chief(strategy)
    if not chief:
        args.quiet = True

    # Everything that can be wrong with the arguments is refused before anything loads.
    get_budget(args.budget)
    norm = v.check_norm(args.norm)
    eps = v.check_eps(args.eps, norm=norm)
    n = None if args.n is None else v.check_positive_int(args.n, name="n")
    options = check_options(args)
    out = resolve_out(args.out or default_out(args.model, args.eps), name="--out")
    if args.train_surrogate and args.surrogate is not None:
        raise ValueError(
            "--surrogate names a surrogate and --train-surrogate trains one: pass one of them. "
            f"Received: surrogate={args.surrogate!r}, train_surrogate=True"
        )
    if args.train_surrogate and str(args.split).split("[")[0].strip() == "train":
        raise ValueError(
            "--train-surrogate trains on the training split, which this audit examines: audit "
            f"the test split, or pass --surrogate. Received: split={args.split!r}"
        )
    for path in (args.model, args.surrogate):
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"No model at {str(path)!r}. Received: model={str(path)!r}")

    import tfls.attacks  # noqa: F401  (a model may hold tfls attack layers)
    import tfls.data
    from tfls.audit import TITLES, audit
    from tfls.cli.model_flags import (
        check_model_fits,
        dataset_spec,
        load_data,
        load_wrapped,
    )
    from tfls.models import load as load_model

    with strategy.scope():
        model, run_dict = load_wrapped(args.model, options)
    name = dataset_spec(args.dataset, run_dict)
    info = tfls.data.info(name, data_dir=args.data_dir, image_size=options.image_size)
    check_model_fits(model, info, image_size=options.image_size)
    surrogate = None
    if args.surrogate is not None:
        with strategy.scope():
            surrogate, _ = load_model(args.surrogate)  # as saved: the options describe --model
        check_model_fits(surrogate, info, image_size=options.image_size, name="--surrogate")
    elif args.train_surrogate:
        from tfls.audit.surrogate import standard_surrogate

        surrogate = standard_surrogate(
            name,
            input_shape=tuple(info.input_shape),
            num_classes=int(info.num_classes),
            data_dir=args.data_dir,
            seed=args.seed,
            log=(lambda _: None) if args.quiet else (lambda line: print(line, file=sys.stderr)),
        )
    batch_size = options.data_batch_size
    if options.batch_size == "auto":
        from tfls.eval.autobatch import fitting_batch_size

        batch_size = fitting_batch_size(model, info)
    dataset, _ = load_data(
        name,
        args.split,
        batch_size=batch_size,
        data_dir=args.data_dir,
        n=n,
        seed=args.seed,
        image_size=options.image_size,
    )

    from rich.console import Console

    err = Console(stderr=True, width=WIDTH)
    console = Console(width=min(WIDTH, Console().width))
    done = []

    def on_check(result):
        done.append(result)
        if not args.quiet:
            style = STATUS_STYLE[result.status]
            err.print(
                f"[{len(done):2d}/{len(TITLES)}] {result.id:2d} {result.title}: "
                f"[{style}]{result.status}[/]{_p(result.p_value)} {result.summary}",
                overflow="ellipsis",
                no_wrap=True,
                highlight=False,
            )

    if not args.quiet:
        err.print(f"auditing {args.model} ({name}, {norm} ε={eps:.6g}, {args.budget}) → {out}")
    report = audit(
        model,
        dataset,
        eps=eps,
        norm=norm,
        surrogate=surrogate,
        n=n,
        budget=args.budget,
        out=out,
        on_check=on_check,
        seed=args.seed,
        batch_size=batch_size,
        label=str(Path(args.model).resolve()),
        data={"dataset": name, "split": args.split},
        evaluations=[p for p in (Path(args.model), out.parent) if p.is_dir()],
        strategy=strategy,
    )
    if not chief:
        print(
            f"tfls audit: worker {distribute.worker_index(strategy)} done "
            f"({strategy.num_replicas_in_sync} replicas in sync): {report.verdict}; the chief "
            f"wrote {out}"
        )
        return 0
    print_report(report, console)
    console.print(f"\nwrote {out / 'audit.json'}, {out / 'audit.md'} and PNGs", highlight=False)
    return 0


def print_report(report, console) -> None:
    """The table (check · kind · status · p · numbers), what to do about each check that fired,
    then the verdict, in ≤ 100 columns."""
    from rich.table import Table

    width = min(WIDTH, console.width)
    narrow = width < WIDTH  # e.g. 80 columns: kind as one letter, so the numbers stay readable
    table = Table(title="Gradient-masking audit", width=width, show_lines=False)
    table.add_column("#", justify="right", no_wrap=True, min_width=2)
    table.add_column("check", min_width=12 if narrow else 16, max_width=18 if narrow else None)
    table.add_column("k" if narrow else "kind", no_wrap=True, min_width=1 if narrow else 10)
    table.add_column("status", no_wrap=True, min_width=7)
    table.add_column("p Holm" if narrow else "p (Holm)", justify="right", no_wrap=True, min_width=6)
    table.add_column("numbers", ratio=1, min_width=24 if narrow else 30)
    for c in report.checks:
        style = STATUS_STYLE[c.status]
        p = "" if c.p_adjusted is None else f"{c.p_adjusted:.2g}"
        kind = "evidence" if c.kind == "evidence" else "diagnostic"
        table.add_row(
            str(c.id),
            c.title,
            kind[0].upper() if narrow else kind,
            f"[{style}]{c.status}[/]",
            p,
            numbers_text(c, most=3 if narrow else 4),
        )
    console.print(table)
    if narrow:
        console.print(
            "k: E evidence (decides the verdict), D diagnostic (shown only)", highlight=False
        )
    for c in report.checks:
        if c.fired and c.advice:
            console.print(f"{c.id}. {c.title}: {c.summary}. {c.advice}", highlight=False)
    style = VERDICT_STYLE.get(report.verdict, "bold")
    console.print(f"\n[{style}]Verdict: {report.verdict}[/]", highlight=False)
    console.print(report.reason, highlight=False)
    console.print(report.worst_case_line(), highlight=False)
    if report.evaluator_line():
        console.print(report.evaluator_line(), highlight=False)
    if report.skipped_evidence:
        console.print(
            "Evidence checks that did not run: " + "; ".join(report.skipped_evidence),
            highlight=False,
        )
    console.print(
        "Report the worst case over: " + ", ".join(report.recommended_suite), highlight=False
    )


def numbers_text(check, most: int = 4) -> str:
    """A check's first `most` numbers, `name=value` (the numbers column holds numbers)."""
    items = [
        (k, v)
        for k, v in check.numbers.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ][:most]
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def _p(p) -> str:
    return "" if p is None else f" (p={p:.2g})"
