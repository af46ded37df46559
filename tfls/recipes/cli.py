"""The command line of every recipe: `python -m tfls.recipes.table5 --scale smoke --out DIR`."""

from __future__ import annotations

import argparse

from tfls.recipes.schema import SCALES

# The dry run's defaults: every network built at its paper size and every code path run once, on
# a batch of 2 with one timed step and every iteration count capped at 1 (13-111 s a recipe on two
# cores, tests/recipes/test_dryrun.py); the estimate scales the timings back up. `--dry-run-full`
# times the configuration's own batch sizes and iteration counts instead.
QUICK = {"batch": 2, "steps": 1, "cap": 1}
FULL = {"batch": None, "steps": 2, "cap": None}


def dry_run_settings(args) -> dict:
    """`{batch, steps, cap}` of the dry run: the flags given, else `QUICK` (or `FULL`)."""
    base = FULL if args.dry_run_full else QUICK
    given = {"batch": args.dry_run_batch, "steps": args.dry_run_steps, "cap": args.dry_run_cap}
    return {k: base[k] if v is None else v for k, v in given.items()}


def parser(recipe: str) -> argparse.ArgumentParser:
    from tfls.recipes.spec_files import read_spec

    # Only the title, unvalidated: validation needs the attack presets, hence TensorFlow, and
    # `--help` must stay fast. A run validates the whole spec before doing anything.
    try:
        title = read_spec(recipe)[0].get("title", "(untitled)")
    except (FileNotFoundError, ValueError) as e:  # --help still works with a broken spec
        title = f"(spec not loadable: {e})"
    p = argparse.ArgumentParser(
        prog=f"python -m tfls.recipes.{recipe}",
        description=f"Reproduces the paper's {recipe}: {title}. Trains what is missing (cached by "
        "configuration), evaluates with tfls.eval, writes results.json, results.md (paper and "
        "ours side by side) and plots, then checks the paper's claims.",
    )
    p.add_argument(
        "--scale",
        choices=SCALES,
        default="smoke",
        help="smoke: seconds; cpu: ~30 min on two cores; paper: the paper's setting (GPUs)",
    )
    p.add_argument(
        "--out", default=None, help="output folder (default runs/recipes-out/<recipe>-<scale>)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the scale's spec, e.g. --set train.epochs=10 --set n=300 --set eps=0.03 "
        "--set models.ls.label_smoothing=[0.8,0.9] --set attacks.pgd20.steps=100",
    )
    p.add_argument(
        "--cache",
        default=None,
        help="trained-model cache (default $TFLS_RECIPES_DIR or ./runs/recipes)",
    )
    p.add_argument("--data-dir", default=None, help="offline data folder (default $TFLS_DATA_DIR)")
    p.add_argument("--retrain", action="store_true", help="train again even if a cached run exists")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="K",
        help="train every model with K seeds (the scale's seed and the K-1 after it); report "
        "mean ± spread and judge the claims on the mean",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="print what the run would train (cached or not) and attack, and where it would "
        "write; train and write nothing",
    )
    p.add_argument(
        "--cell",
        type=int,
        default=None,
        metavar="I",
        help="run only cell I of the recipe (one model trained, evaluated and audited), as one "
        "job of a scheduler; --plan lists the cells and their commands",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="run the recipe's cells as N local processes, then assemble the results",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="build every model, run a few optimiser steps per training method and one batch of "
        "every attack; print timings and the full recipe's cost (CPU-hours, FLOPs); cache nothing",
    )
    p.add_argument(
        "--dry-run-batch",
        type=int,
        default=None,
        metavar="B",
        help=f"the dry run's batch size (default {QUICK['batch']}; with --dry-run-full the "
        "configuration's own)",
    )
    p.add_argument(
        "--dry-run-steps",
        type=int,
        default=None,
        metavar="S",
        help=f"timed optimiser steps per training method, after one warm-up step (default "
        f"{QUICK['steps']}; {FULL['steps']} with --dry-run-full)",
    )
    p.add_argument(
        "--dry-run-cap",
        type=int,
        default=None,
        metavar="C",
        help="cap every iteration count (attack steps, restarts, targets, queries, and the "
        f"training methods' inner attack steps) at C (default {QUICK['cap']}; with "
        "--dry-run-full the recipe's own settings)",
    )
    p.add_argument(
        "--dry-run-full",
        action="store_true",
        help="the dry run at the configuration's own batch sizes and iteration counts: exact "
        "per-step timings, but on two CPU cores over 30 minutes for a WRN-34-10 recipe",
    )
    p.add_argument(
        "--no-determinism",
        dest="deterministic",
        action="store_false",
        help="do not enable TensorFlow's op determinism while training (on by default)",
    )
    p.add_argument(
        "--strategy",
        default="auto",
        help="tfls.distribute strategy: auto (Mirrored on several GPUs), one_device, mirrored, "
        "multi_worker",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's native start-up lines (also: set TF_CPP_MIN_LOG_LEVEL)",
    )
    return p


def main(recipe: str, argv=None) -> int:
    import sys

    from tfls.exits import run_command
    from tfls.startup import import_quietly

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(recipe).parse_args(argv)
    dry = dry_run_settings(args)
    if args.jobs is not None and args.jobs < 1:
        raise SystemExit(f"--jobs must be a positive number of processes. Received: {args.jobs}")

    def command():
        import_quietly(args.verbose)
        from tfls.recipes.pipeline import run_recipe

        return run_recipe(
            recipe,
            scale=args.scale,
            out=args.out,
            overrides=args.overrides,
            cache_dir=args.cache,
            data_dir=args.data_dir,
            retrain=args.retrain,
            strategy=args.strategy,
            seeds=args.seeds,
            deterministic=args.deterministic,
            dry_run=args.dry_run,
            dry_run_batch=dry["batch"],
            dry_run_steps=dry["steps"],
            dry_run_cap=dry["cap"],
            plan_only=args.plan,
            cell=args.cell,
            jobs=args.jobs,
            command_args=argv,
            log=lambda line: print(line, flush=True),
        )

    return run_command(f"python -m tfls.recipes.{recipe}", command)


def run_as_main(spec):
    """A recipe's module (`tfls/recipes/table5.py`): returns its `main(argv)`, and runs it when
    the module is `python -m`'s (`spec` is the module's `__spec__`, which names the recipe)."""
    import sys

    recipe = spec.name.rpartition(".")[2]

    def recipe_main(argv=None) -> int:
        return main(recipe, argv)

    if (
        sys.modules.get("__main__") is not None
        and getattr(sys.modules["__main__"], "__spec__", None) is spec
    ):
        sys.exit(recipe_main())
    return recipe_main
