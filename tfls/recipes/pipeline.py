"""Runs a recipe: resolve its spec at a scale, train what is missing, measure, judge, write.

Each step lives in its own module (`spec_files`, `plan`, `configs`, `measure`, `cells`, `presets_table`,
`judge`, `write_results`); this one only calls them in order and keeps the results dictionary that
`tfls.recipes.write_results` writes out.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from tfls.io import resolve_out
from tfls.recipes import audits, measure
from tfls.recipes import cells as cells_mod
from tfls.recipes import seeds as seeds_mod
from tfls.recipes.configs import train_config
from tfls.recipes.judge import judge, paper_measures
from tfls.recipes.plan import Plan, resolve
from tfls.recipes.presets_table import presets_table
from tfls.recipes.results import empty_results, model_entry
from tfls.recipes.spec_files import load_spec


def run_recipe(
    recipe: str,
    *,
    scale: str = "smoke",
    out=None,
    overrides=(),
    cache_dir=None,
    data_dir=None,
    log: Callable[[str], None] = print,
    available=None,
    retrain: bool = False,
    strategy="auto",
    seeds: int = 1,
    deterministic: bool = True,
    dry_run: bool = False,
    dry_run_batch: int | None = None,
    dry_run_steps: int = 2,
    dry_run_cap: int | None = None,
    dry_run_cache: dict | None = None,
    plan_only: bool = False,
    cell: int | None = None,
    jobs: int | None = None,
    command_args: list[str] | None = None,
) -> dict:
    """Trains, evaluates and judges recipe `recipe` at `scale`; writes results into `out`.

    Args:
        recipe: a name in `tfls.recipes.RECIPES` or a path to a spec `.toml`.
        scale: `"smoke"`, `"cpu"` or `"paper"`.
        out: output folder (`results.json`, `results.md`, plots, `evals/`); default
            `runs/recipes-out/<recipe>-<scale>`.
        overrides: `key=value` strings applied to the scale section (`train.epochs=10`, `n=300`,
            `eps=0.03`, `models.ls.label_smoothing=[0.8, 0.9]`, `attacks.pgd20.steps=100`).
        cache_dir: trained-model cache (default `$TFLS_RECIPES_DIR` or `./runs/recipes`).
        data_dir: offline data folder (default `$TFLS_DATA_DIR`).
        log: receives one line of progress at a time.
        available: `dataset name -> bool` deciding stand-ins (default: look offline).
        retrain: train again even where a cached run exists.
        strategy: a `tfls.distribute.strategy` name or object for training and evaluation
            (`"auto"`: Mirrored on several GPUs, the default device otherwise).
        seeds: train every model with this many seeds (`tfls.recipes.seeds`); measures are then
            the mean over seeds, with each seed's values and the spread in `results["seeds"]`.
        deterministic: TensorFlow op determinism while training (`tfls.training.train`).
        dry_run: build every model and run a few optimiser steps and one batch of every attack
            instead (`tfls.recipes.dryrun`): timings and a cost estimate, nothing cached.
        dry_run_batch, dry_run_steps, dry_run_cap: the dry run's batch size (default: as
            configured), timed optimiser steps per method, and cap on every attack iteration
            count (default: none, the recipe's own settings). dry_run_cache: see
            `tfls.recipes.dryrun.dry_run`'s `cache`.
        plan_only: print what the run would train (cached or not) and attack, and where it
            would write, then return `{"plan": ...}` (`tfls.recipes.preview`); nothing is
            trained or written.

    Returns:
        The results dictionary (also written to `out/results.json`).
    """
    from tfls.recipes.write_results import claim_name, write_all

    spec = load_spec(recipe)
    plan = resolve(spec, scale, overrides=overrides, data_dir=data_dir, available=available)
    seed_list = seeds_mod.seed_values(plan, seeds)
    if isinstance(strategy, str):
        from tfls import distribute

        distribute.check_name(strategy)
    default_out = f"{plan.recipe}-{scale}" + ("-dry-run" if dry_run else "")
    out = resolve_out(out if out is not None else Path("runs") / "recipes-out" / default_out)
    log(
        f"{plan.recipe} ({plan.paper_ref}) at scale {scale}"
        + (" — DRY RUN" if dry_run else "")
        + (" — PLAN" if plan_only else "")
        + f": {plan.title}"
    )
    for sub in plan.substitutions:
        log(
            f"  STAND-IN: {sub.paper_dataset} → {sub.dataset} ({sub.reason}); "
            "numbers are not the paper's setting"
        )
    all_cells = None
    if plan.kind != "presets" and (plan_only or cell is not None or jobs):
        all_cells = cells_mod.cells(plan, seed_list, cache_dir=cache_dir, data_dir=data_dir)
    if plan_only:
        from tfls.recipes.preview import preview

        shown = preview(plan, seed_list, out=out, cache_dir=cache_dir, data_dir=data_dir, log=log)
        if all_cells is not None:
            cells_mod.write_cells(
                all_cells, recipe=plan.recipe, argv=list(command_args or ()), out=out, log=log
            )
        return {"plan": shown}
    if cell is not None:
        return _run_cell(
            plan, seed_list, all_cells, cell, out=out, cache_dir=cache_dir, data_dir=data_dir,
            log=log, retrain=retrain, strategy=strategy, deterministic=deterministic,
        )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    if jobs and all_cells and not dry_run:
        cells_mod.run_local(
            all_cells,
            recipe=plan.recipe,
            argv=list(command_args or ()),
            jobs=jobs,
            out=out,
            log=log,
        )
        log("  every cell done: assembling")
    started = time.perf_counter()
    results = empty_results(plan)
    if plan.kind == "presets":
        results["presets"] = presets_table(plan)
    if dry_run:
        from tfls.recipes import dryrun
        from tfls.recipes.cost_estimate import ASSUMED_GPU_FLOPS

        results.update(
            dryrun.dry_run(
                plan,
                out=out,
                batch_size=dry_run_batch,
                steps=dry_run_steps,
                cap=dry_run_cap,
                cache=dry_run_cache,
                data_dir=data_dir,
                log=log,
                strategy=strategy,
            )
        )
        est = results["dry_run"]["estimate"]
        log(
            f"  estimate for the full recipe: {est['cpu_hours']:.1f} CPU-hours here "
            f"(training {est['train_cpu_hours']:.1f}, attacks ≤ "
            f"{est['attack_cpu_hours_upper_bound']:.1f}); {est['flops']:.3g} FLOPs ≈ "
            f"{est['gpu_hours_at_assumed_throughput']:.1f} GPU-hours at "
            f"{ASSUMED_GPU_FLOPS / 1e12:g} TFLOP/s, {est['gpu_wall_hours']:.1f} h of wall time as "
            f"{est['cells']} cells on {est['gpus']} GPUs; peak memory "
            f"{results['dry_run']['peak_rss_gib']:.1f} GiB"
        )
    elif plan.kind != "presets":
        per_seed = {}
        for seed in seed_list:
            splan = seeds_mod.with_seed(plan, seed) if len(seed_list) > 1 else plan
            if len(seed_list) > 1:
                log(f"  seed {seed} ({seed_list.index(seed) + 1} of {len(seed_list)})")
            r = results if seed == seed_list[0] else empty_results(splan)
            loaded = _train_all(
                splan,
                r,
                cache_dir=cache_dir,
                data_dir=data_dir,
                log=log,
                retrain=retrain,
                strategy=strategy,
                deterministic=deterministic,
            )
            if plan.kind == "logits":
                measure.measure_logits(splan, r, loaded, data_dir=data_dir, log=log)
            else:
                measure.measure_robustness(
                    splan, r, loaded, out=out, data_dir=data_dir, log=log, strategy=strategy
                )
                if seed == seed_list[0]:  # one audit per model: it asks how to attack, not how far
                    audits.audit_models(splan, r, loaded, out=out, data_dir=data_dir, log=log)
            per_seed[seed] = r
        if len(seed_list) > 1:
            _combine_seeds(plan, results, per_seed)
    results["claims"] = judge(plan, results["measures"])
    if "seeds" in results:
        for c, *verdicts in zip(results["claims"], *results["seeds"]["claims"].values()):
            c["per_seed"] = [v["verdict"] for v in verdicts]
    results["paper_claims"] = judge(plan, paper_measures(plan), paper=True)
    results["wall_time_s"] = round(time.perf_counter() - started, 2)
    write_all(plan, results, out)
    for c in results["claims"]:
        log(f"  {claim_name(c)} {c['verdict'].upper()}: {c['statement']} — {c['detail']}")
    log(f"  wrote {out / 'results.md'} ({results['wall_time_s']:.1f}s)")
    return results


def _run_cell(plan, seed_list, all_cells, index, *, out, log, **train) -> dict:
    """Cell `index` alone: its models trained (or loaded), its evaluations and audit run."""
    if all_cells is None:
        raise ValueError(f"Recipe {plan.recipe} ({plan.kind}) has no cells. Received: cell={index}")
    if not isinstance(index, int) or not 0 <= index < len(all_cells):
        raise ValueError(
            f"cell must be one of 0..{len(all_cells) - 1} ({len(all_cells)} cells in "
            f"{plan.recipe}). Received: cell={index}"
        )
    cell = all_cells[index]
    sub = cells_mod.sub_plan(plan, seed_list, cell)
    out.mkdir(parents=True, exist_ok=True)
    log(f"  cell {index}: {', '.join(cell.models)} (seed {cell.seed}, {cell.config_hash})")
    r = empty_results(sub)
    data_dir = train.pop("data_dir")
    loaded = _train_all(sub, r, data_dir=data_dir, log=log, **train)
    if plan.kind != "logits":
        measure.measure_robustness(
            sub, r, loaded, out=out, data_dir=data_dir, log=log, strategy=train["strategy"]
        )
        if cell.seed == seed_list[0]:
            audits.audit_models(sub, r, loaded, out=out, data_dir=data_dir, log=log)
    log(f"  cell {index} done; the recipe's command without --cell assembles")
    return {"cell": dataclasses.asdict(cell)}


def _combine_seeds(plan: Plan, results: dict, per_seed: dict[int, dict]) -> None:
    """Replaces the first seed's measures by the mean over seeds; keeps every seed's numbers."""
    stats = seeds_mod.spread({s: r["measures"] for s, r in per_seed.items()})
    results["seeds"] = {
        "values": list(per_seed),
        "measures": {str(s): r["measures"] for s, r in per_seed.items()},
        "intervals": {str(s): r["intervals"] for s, r in per_seed.items()},
        "models": {
            str(s): {mid: m["hash"] for mid, m in r["models"].items()} for s, r in per_seed.items()
        },
        "train_clean_accuracy": {
            str(s): {mid: m["train_clean_accuracy"] for mid, m in r["models"].items()}
            for s, r in per_seed.items()
        },
        "claims": {str(s): judge(plan, r["measures"]) for s, r in per_seed.items()},
        "spread": stats,
        "evaluation_seeds": "fixed (each attack's own seed); only the training seed varies",
    }
    results["measures"] = seeds_mod.mean_measures(stats)
    results["intervals"] = seeds_mod.ranges(stats)


def _train_all(
    plan: Plan,
    results: dict,
    *,
    cache_dir,
    data_dir,
    log,
    retrain,
    strategy,
    deterministic=True,
) -> dict:
    """Trains (or loads) every model; records each in `results["models"]`; returns id → model."""
    from tfls.training.model_cache import config_hash, train_or_load  # imports TensorFlow

    configs = {m.id: train_config(m, data_dir=data_dir) for m in plan.models}  # all checked first
    loaded, by_hash = {}, {}
    for m in plan.models:
        config = configs[m.id]
        digest = config_hash(config)
        if (
            digest not in by_hash
        ):  # rows with the same config (e.g. stand-ins) share one model object
            by_hash[digest] = train_or_load(
                config,
                cache_dir=cache_dir,
                log=log,
                retrain=retrain,
                strategy=strategy,
                deterministic=deterministic,
            )
        model, run, run_dir, trained = by_hash[digest]
        loaded[m.id] = model
        results["models"][m.id] = {
            **model_entry(m, config),
            "hash": config_hash(config),
            "run_dir": str(run_dir),
            "trained_now": trained,
            "train_clean_accuracy": run.get("clean_accuracy"),
            "train_logit_stats": run.get("logit_stats"),
            "deterministic": bool(run.get("deterministic")),
            "evaluate": m.evaluate,
        }
    return loaded
