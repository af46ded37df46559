"""`tfls eval`: worst-case robust accuracy of a trained model under a list of attack presets.

Writes `report.json`, `report.md` and `report.csv` into `--out`; running the same command again
on the same folder resumes from the batches already finished there.
"""

from __future__ import annotations

from pathlib import Path

from tfls import _validation as v
from tfls.cli.adaptive_options import add_adaptive_options, check_adaptive, resolve_bpda
from tfls.cli.model_flags import (
    add_model_options,
    check_model_fits,
    check_options,
    dataset_spec,
    load_data,
    load_wrapped,
)
from tfls.io import resolve_out


def add_parser(sub):
    p = sub.add_parser(
        "eval",
        help="Robust accuracy under attacks (per-example worst case), resumable.",
        description="Evaluates a model under attack presets and writes report.json/.md/.csv. "
        "Running the same command on the same --out resumes where it stopped.",
    )
    add_model_options(p)
    p.add_argument(
        "--attacks", required=True, help="comma-separated presets, e.g. pgd20,odi,autoattack"
    )
    add_adaptive_options(p)
    p.add_argument("--eps", required=True, help="ε, e.g. 8/255 or 0.031")
    p.add_argument("--norm", default=None, help="threat model: linf or l2 (default: each preset's)")
    p.add_argument("--source", default=None, help="source model of transfer-* presets")
    p.add_argument("--n", type=int, default=None, help="evaluate the first N images (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of every attack's random choices")
    p.add_argument(
        "--out", required=True, help="output folder (resumed if it holds this evaluation)"
    )
    p.add_argument(
        "--sequential",
        action="store_true",
        help="run each attack only on points earlier attacks did not break (faster; per-attack "
        "numbers become upper bounds, the worst case stays exact)",
    )
    p.add_argument(
        "--schedule",
        default="batch-major",
        choices=("batch-major", "attack-major"),
        help="attack-major: predict all batches clean, then run each attack over pools of points "
        "from many batches (fast for Square, FAB, AutoAttack with --sequential)",
    )
    p.add_argument(
        "--pool-size", type=int, default=None, help="attack-major: most points a pool attacks"
    )
    p.add_argument("--overwrite", action="store_true", help="discard earlier results in --out")
    p.add_argument(
        "--strategy",
        default="auto",
        help="auto (default), one_device, mirrored (all local devices) or multi_worker (the "
        "cluster in TF_CONFIG; the chief writes --out, which every worker must see)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def parse_attack_names(text: str) -> list[str]:
    """`"pgd20, odi"` -> `["pgd20", "odi"]` (names are checked by `tfls.attacks.plan_suite`)."""
    names = [name.strip() for name in str(text).split(",") if name.strip()]
    if not names:
        raise ValueError(f"--attacks needs at least one preset. Received: attacks={text!r}")
    return names


def load_model(path, *, signature=None) -> tuple:
    """A run folder, `.keras`, `.h5` or SavedModel -> `(model, run_dict)` (`tfls.models.load`)."""
    import tfls.attacks  # noqa: F401  (a model may hold tfls attack layers)
    from tfls.models import load

    return load(path, signature=signature)


# What an evaluation folder may hold besides hidden files (the lock, atomic-write temporaries);
# tui.json is what the TUI writes next to the evaluator's files.
EVAL_FILES = {"batches.jsonl", "fingerprint.json", "report.json", "report.md", "report.csv"}
EVAL_FILES |= {"tui.json", "pending.jsonl"}


def check_out_folder(out: Path) -> None:
    """Refuses an `--out` that holds files other than an evaluation's, before any work."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder. Received: out={str(out)!r}")
    if not out.is_dir():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in EVAL_FILES)
    foreign = [name for name in foreign if not name.startswith(".")]
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise ValueError(
            f"Refusing to write into {str(out)!r}: it holds files that are not an evaluation's "
            f"({shown}). Use a new or empty folder. Received: out={str(out)!r}"
        )


def run(args) -> int:
    import tfls.attacks
    import tfls.data
    from tfls import distribute

    # A multi-worker strategy must exist before any TensorFlow op (a TensorFlow requirement).
    strategy = distribute.strategy(distribute.check_name(args.strategy))
    chief = distribute.is_chief(strategy)

    # Everything that can be wrong with the arguments is checked before any model or data loads.
    adaptive = check_adaptive(args)
    plan = tfls.attacks.plan_suite(
        parse_attack_names(args.attacks),
        eps=args.eps,
        norm=args.norm,
        seed=args.seed,
        eot=adaptive["eot"],
        bpda=adaptive["bpda"],
    )
    if plan.transfer_labels and args.source is None:
        raise ValueError(
            f"{', '.join(plan.transfer_labels)} craft adversarial examples on another model: pass "
            "it with --source (a run folder or a .keras file). Received: source=None"
        )
    n = None if args.n is None else v.check_positive_int(args.n, name="n")
    options = check_options(args)
    batch_size = options.data_batch_size
    out = resolve_out(args.out, name="--out")  # once, at the edge
    check_out_folder(out)

    with strategy.scope():
        model, run_dict = load_wrapped(args.model, options)
    spec = dataset_spec(args.dataset, run_dict)
    info = tfls.data.info(spec, data_dir=args.data_dir, image_size=options.image_size)
    check_model_fits(model, info, image_size=options.image_size)
    dataset, total = load_data(
        spec,
        args.split,
        batch_size=batch_size,
        data_dir=args.data_dir,
        n=n,
        seed=args.seed,
        image_size=options.image_size,
    )
    source = None
    if args.source is not None:
        with strategy.scope():
            source, _ = load_model(args.source)
        check_model_fits(source, info, image_size=options.image_size, name="--source")
    plan = resolve_bpda(plan, model, dataset, command="eval")
    attacks = plan.build(model, source_model=source)
    meta = {
        "model": str(Path(args.model).resolve()),
        "dataset": spec,
        "split": args.split,
        "n": total,
        "batch_size": batch_size,
        "seed": args.seed,
        "eps": str(args.eps),
    }
    if options.image_size is not None:
        meta["image_size"] = list(options.image_size)
    if source is not None:
        meta["source"] = str(Path(args.source).resolve())
    autobatch = None
    if options.batch_size == "auto":
        import sys

        from tfls.eval.autobatch import AutoBatch

        autobatch = AutoBatch(
            batch_size,
            on_halve=lambda old, new: print(
                f"tfls eval: out of memory at {old} images; retrying the batch with {new}",
                file=sys.stderr,
            ),
        )
    report = _evaluate_with_progress(
        model,
        dataset,
        attacks,
        out=out,
        total=total,
        meta=meta,
        resume=not args.overwrite,
        strategy=strategy,
        individual=not args.sequential,
        quiet=args.quiet or not chief,
        autobatch=autobatch,
        schedule=args.schedule,
        pool_size=args.pool_size,
        draws=adaptive["draws"],
    )
    if not chief:
        print(
            f"tfls eval: worker {distribute.worker_index(strategy)} done "
            f"({strategy.num_replicas_in_sync} replicas in sync); the chief wrote {out}"
        )
        return 0 if report.complete else 1
    if report.random:
        print(
            f"{model.name} is random at inference: every point was scored over {report.draws} draws"
        )
    print(report.table_markdown())
    print(report.worst_case_note())
    print(f"\nwrote {out / 'report.json'}, {out / 'report.md'}, {out / 'report.csv'}")
    return 0 if report.complete else 1


def _evaluate_with_progress(model, dataset, attacks, *, out, total, quiet, **kwargs):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tfls.eval import evaluate

    if quiet:
        return evaluate(model, dataset, attacks, out=out, n=total, **kwargs)
    bar = Progress(
        TextColumn("[bold]eval[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[numbers]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with bar:
        task = bar.add_task("eval", total=total, numbers="")

        def on_batch(p):
            numbers = (
                f"clean {100 * p.clean_accuracy:.1f}%  worst {100 * p.worst_case_accuracy:.1f}%"
            )
            numbers += f"  {p.images_per_s:.0f} img/s"
            if p.stage:
                numbers += f"  {p.stage}"
            bar.update(task, completed=p.images_done, numbers=numbers)

        return evaluate(model, dataset, attacks, out=out, n=total, on_batch=on_batch, **kwargs)
