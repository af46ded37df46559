"""A recipe's dry run: its exact configuration built and exercised for a few steps, and its cost.

`--dry-run` resolves the scale's configuration (at `paper` scale: WideResNet-34-10, the papers'
hyper-parameters, 10,000 test images), then:

* builds every model the recipe names and counts its parameters and forward FLOPs (TensorFlow's
  profiler on the frozen forward graph);
* runs real optimiser steps of every training method in the recipe (`tfls.training`'s own trainer,
  inner attacks included, at the configured hyper-parameters) on a batch of `batch_size` images:
  one warm-up step, then `steps` timed ones;
* runs one batch of every attack through `tfls.eval.evaluate`, at the recipe's settings, or with
  every iteration count capped at `cap` (steps, restarts, targets, queries...) when one is given;
  the batch is labelled with the network's own predictions, so every attack runs on every image;
* writes the report, plots and claims check on those numbers, marked as a dry run.

The models' weights are not trained (a few steps only): every model of one architecture and
dataset shares one network, stepped by each method in turn, so the numbers mean nothing; only
shapes, memory and timings do. Nothing is written to the trained-model cache. Data missing offline
is replaced by uniform noise of the dataset's shape (said in the output).

The cost estimate scales the measured times linearly: training by optimiser steps (and by
`config batch / dry-run batch`), each attack by images and by its iteration count over the capped
one. Attacks stop early on broken points, so the attack estimate is an upper bound.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import shutil
from pathlib import Path

import numpy as np

from tfls.recipes.cost_estimate import ASSUMED_GPU_FLOPS, estimate
from tfls.recipes.pass_counts import capped_params, gradient_passes
from tfls.recipes.step_timing import _batches, _build_and_step, _network_name


def dry_run(
    plan,
    *,
    out: Path,
    batch_size: int | None = None,
    steps: int = 2,
    cap: int | None = None,
    data_dir=None,
    log=print,
    strategy="auto",
    cache: dict | None = None,
) -> dict:
    """Runs `plan` as a dry run (see the module docstring); returns the results dictionary.

    Args:
        plan: a resolved `tfls.recipes.plan.Plan`.
        out: output folder; its `dry-run-evals/` is replaced at each dry run.
        batch_size: images per training step and per attack batch (default: the configuration's
            training batch and the scale's evaluation batch).
        steps: timed optimiser steps per training method, after one warm-up step.
        cap: every iteration count at most this, of the attacks and of the training methods'
            inner attacks (None: the recipe's own settings).
        cache: a dict kept between dry runs in one process (tests): networks built and trainers
            traced by one are reused, stepped weights and all.
    """
    from tfls import _validation as v
    from tfls import distribute
    from tfls.recipes import measure
    from tfls.recipes.configs import train_config
    from tfls.recipes.results import empty_results

    if batch_size is not None:
        batch_size = v.check_positive_int(batch_size, name="dry-run batch size")
    steps = v.check_positive_int(steps, name="dry-run steps")
    if cap is not None:
        cap = v.check_positive_int(cap, name="dry-run iteration cap")
    strat = distribute.strategy(strategy)
    results = empty_results(plan)
    configs = {m.id: train_config(m, data_dir=data_dir) for m in plan.models}
    dry = {
        "batch_size": batch_size,
        "steps": steps,
        "cap": cap,
        "assumed_gpu_flops": ASSUMED_GPU_FLOPS,
        "networks": {},
        "training": {},
        "attacks": {},
        "synthetic_data": [],
    }
    results["dry_run"] = dry
    loaded = _build_and_step(
        plan, configs, results, dry, batch_size, steps, cap, data_dir, strat, log, cache
    )

    # Every attack runs once on each network it targets (on the first model of that network);
    # columns that are the same attack once capped (a swept step count) run once and share it.
    eval_batch = batch_size or plan.batch_size
    run_params = {
        a.id: capped_params(a.preset, a.params, cap) if cap else dict(a.params)
        for a in plan.attacks
    }
    chosen: dict[str, list[str]] = {}
    aliases: dict[tuple[str, str], str] = {}
    first_of: dict[tuple, str] = {}  # (network, attack as run) → the column that runs it
    for a in plan.attacks:
        seen: set[str] = set()
        for m in plan.models:
            net = _network_name(configs[m.id])
            if not m.evaluate or a not in measure.attacks_for(plan, m) or net in seen:
                continue
            seen.add(net)
            resolved = measure.attack_params(dataclasses.replace(a, params=run_params[a.id]), m)
            signature = (net, a.preset, a.norm, a.source, json.dumps(resolved, sort_keys=True))
            if signature in first_of:
                aliases[(net, a.id)] = first_of[signature]
                continue
            first_of[signature] = a.id
            chosen.setdefault(a.id, []).append(m.id)
    attacks = tuple(
        dataclasses.replace(a, models=tuple(chosen.get(a.id, ())), params=run_params[a.id])
        for a in plan.attacks
    )
    evaluated = {mid for ids in chosen.values() for mid in ids}
    models = tuple(dataclasses.replace(m, evaluate=m.id in evaluated) for m in plan.models)
    dplan = dataclasses.replace(
        plan, n=eval_batch, batch_size=eval_batch, attacks=attacks, models=models
    )

    def test_batch(p, model, data_dir_):
        # Labelled with the network's own predictions, so that every attack runs on every image
        # (the evaluator attacks only correctly classified ones).
        ds, synthetic = _batches(model.dataset, "test", eval_batch, 1, data_dir=data_dir_, seed=1)
        if synthetic and model.dataset not in dry["synthetic_data"]:
            dry["synthetic_data"].append(model.dataset)
        x = np.concatenate([np.asarray(b[0], np.float32) for b in ds])
        y = np.argmax(np.asarray(loaded[model.id](x, training=False)), axis=-1)
        return x, y

    timings: dict[tuple[str, str], tuple[float, int]] = {}
    shutil.rmtree(Path(out) / "dry-run-evals", ignore_errors=True)
    if plan.kind == "logits":
        measure.measure_logits(dplan, results, loaded, data_dir=data_dir, log=log, load=test_batch)
    elif plan.kind != "presets":
        measure.measure_robustness(
            dplan,
            results,
            loaded,
            out=Path(out),
            data_dir=data_dir,
            log=log,
            strategy=strategy,
            load=test_batch,
            folder_name="dry-run-evals",
            timings=timings,
        )
    run = {a.id: a for a in attacks}
    full = {a.id: a for a in plan.attacks}
    for (mid, aid), (seconds, images) in timings.items():
        dry["attacks"][f"{aid} on {_network_name(configs[mid])}"] = {
            "model": mid,
            "attack": aid,
            "network": _network_name(configs[mid]),
            "seconds": seconds,
            "images": images,
            "passes_run": gradient_passes(run[aid].preset, run[aid].params),
            "passes_full": gradient_passes(full[aid].preset, full[aid].params),
        }
    for name, e in dry["attacks"].items():
        log(
            f"  {name}: {e['seconds']:.2f} s for a batch of {e['images']} "
            f"({e['passes_run']:g} of {e['passes_full']:g} passes per image)"
        )
    for (net, aid), same in aliases.items():
        entry = dry["attacks"].get(f"{same} on {net}")
        if entry is not None:
            dry["attacks"][f"{aid} on {net}"] = {
                **entry,
                "attack": aid,
                "same_run_as": same,
                "passes_full": gradient_passes(full[aid].preset, full[aid].params),
            }
    dry["estimate"] = estimate(plan, dry, configs, eval_batch=eval_batch)
    # Peak resident memory of this process (Linux reports KiB): what the batch sizes cost.
    dry["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return results
