"""A dry run's cost estimate: its measured times and FLOPs scaled to the full recipe, and its report.

Training scales by optimiser steps (and by `config batch / dry-run batch`), each attack by images
and by its passes per image at the full settings over the capped ones (`tfls.recipes.pass_counts`);
attacks stop early on broken points, so the attack estimate is an upper bound.
"""

from __future__ import annotations

from tfls.recipes.pass_counts import gradient_passes, train_passes
from tfls.recipes.step_timing import _network_name

# What a GPU estimate assumes: 50 TFLOP/s sustained, about a third of an NVIDIA A100's dense TF32
# peak (156 TFLOP/s, NVIDIA's A100 datasheet); mixed precision can do better, small batches worse.
ASSUMED_GPU_FLOPS = 50e12
# The cluster `gpu_wall_hours` plans for: one cell (tfls.recipes.cells) a GPU at a time.
GPUS = 8


def wall_hours(cell_hours: list[float], gpus: int = GPUS) -> float:
    """Wall time of independent cells on `gpus` GPUs, longest first to the least-loaded GPU."""
    loads = [0.0] * gpus
    for h in sorted(cell_hours, reverse=True):
        loads[loads.index(min(loads))] += h
    return max(loads)


def estimate(plan, dry: dict, configs: dict, *, eval_batch: int) -> dict:
    """The full recipe's cost on this machine (CPU-hours) and in FLOPs (→ GPU-hours assumed)."""
    from tfls.training.model_cache import config_hash

    seen = set()
    cell_flops: dict[str, float] = {}  # config hash -> its training and attack FLOPs
    train_s = train_flops = 0.0
    for mid, config in configs.items():
        key = config_hash(config)
        if key in seen:  # rows that are the same configuration train once (the cache)
            continue
        seen.add(key)
        t = dry["training"][mid]
        run_config = config.replace(attack_steps=t["inner_steps_run"] or config.attack_steps)
        scale = (
            t["config_batch_size"]
            / t["batch_size"]
            * train_passes(config)
            / train_passes(run_config)
        )
        train_s += t["seconds_per_step"] * scale * t["steps_per_epoch"] * t["epochs"]
        flops = dry["networks"][f"{config.model}/{config.dataset}"]["forward_flops"]
        if flops:
            cost = 3 * flops * train_passes(config) * t["train_images"] * t["epochs"]
            train_flops += cost
            cell_flops[key] = cell_flops.get(key, 0.0) + cost
    from tfls.recipes.measure import attacks_for

    attack_s = attack_flops = 0.0
    by_attack = {(e["network"], e["attack"]): e for e in dry["attacks"].values()}
    done = set()
    for m in plan.models:
        if not m.evaluate:
            continue
        config = configs[m.id]
        net = _network_name(config)
        flops = dry["networks"][net]["forward_flops"]
        for a in attacks_for(plan, m):
            entry = by_attack.get((net, a.id))
            key = (config_hash(config), a.id)
            if entry is None or key in done:  # same configuration, same cached evaluation
                continue
            done.add(key)
            full = gradient_passes(a.preset, a.params)
            attack_s += (
                entry["seconds"] * full / max(entry["passes_run"], 1e-9) * (plan.n / eval_batch)
            )
            if flops:
                attack_flops += 3 * flops * full * plan.n
                cell_flops[key[0]] = cell_flops.get(key[0], 0.0) + 3 * flops * full * plan.n
    total_flops = train_flops + attack_flops
    return {
        "train_cpu_hours": train_s / 3600,
        "attack_cpu_hours_upper_bound": attack_s / 3600,
        "cpu_hours": (train_s + attack_s) / 3600,
        "train_flops": train_flops,
        "attack_flops_upper_bound": attack_flops,
        "flops": total_flops,
        "gpu_hours_at_assumed_throughput": total_flops / ASSUMED_GPU_FLOPS / 3600,
        # A cell trains one configuration and runs its attacks; a transfer source that is not
        # itself evaluated counts as a cell of its own (it runs before the cells that need it).
        "cells": len(cell_flops),
        "gpu_wall_hours": wall_hours([f / ASSUMED_GPU_FLOPS / 3600 for f in cell_flops.values()]),
        "gpus": GPUS,
    }


def markdown(results: dict) -> list[str]:
    """The dry run's section of `results.md`."""
    dry = results["dry_run"]
    est = dry["estimate"]
    lines = [
        "## Dry run",
        "",
        "> **DRY RUN.** The models were stepped a few times, not trained: every accuracy in "
        "this report is meaningless. Only the shapes, timings and the cost estimate below are "
        "measurements.",
        "",
    ]
    if dry["synthetic_data"]:
        lines += [
            f"> Missing offline, replaced by uniform noise of the same shape: "
            f"{', '.join(dry['synthetic_data'])}.",
            "",
        ]
    lines += ["| network | parameters | forward GFLOPs / image |", "|---|---:|---:|"]
    for name, n in dry["networks"].items():
        f = n["forward_flops"]
        lines.append(
            f"| {name} | {n['parameters'] / 1e6:.2f}M | {'–' if f is None else f'{f / 1e9:.3f}'} |"
        )
    lines += [
        "",
        "| model | method | dry batch | s / optimiser step | steps / epoch × epochs |",
        "|---|---|---:|---:|---|",
    ]
    for mid, t in dry["training"].items():
        lines.append(
            f"| {mid} | {t['method']} ({t['inner_steps_run']} of {t['inner_steps']} inner steps) | "
            f"{t['batch_size']} | "
            f"{t['seconds_per_step']:.3f} | {t['steps_per_epoch']} × {t['epochs']} |"
        )
    lines += [
        "",
        "| attack on network | images | s / batch (run) | passes / image run → full |",
        "|---|---:|---:|---|",
    ]
    for name, a in dry["attacks"].items():
        lines.append(
            f"| {name} | {a['images']} | {a['seconds']:.2f} | "
            f"{a['passes_run']:g} → {a['passes_full']:g} |"
        )
    lines += [
        "",
        f"**Estimated cost of the full recipe here:** {est['cpu_hours']:.1f} CPU-hours "
        f"(training {est['train_cpu_hours']:.1f}, attacks ≤ "
        f"{est['attack_cpu_hours_upper_bound']:.1f}), measured at dry-run batch "
        f"{dry['batch_size'] or 'as configured'} and scaled linearly. Peak memory of the dry "
        f"run: {dry['peak_rss_gib']:.1f} GiB.",
        "",
        f"**FLOPs:** {est['flops']:.3g} (training {est['train_flops']:.3g}, attacks ≤ "
        f"{est['attack_flops_upper_bound']:.3g}); forward+backward counted as 3 forwards. At an "
        f"assumed {ASSUMED_GPU_FLOPS / 1e12:g} TFLOP/s sustained (about a third of an A100's "
        f"dense TF32 peak of 156 TFLOP/s, NVIDIA's datasheet): "
        f"{est['gpu_hours_at_assumed_throughput']:.1f} GPU-hours; as {est['cells']} cells "
        f"(`--plan`'s `cells.txt`) on {est['gpus']} GPUs, longest first: "
        f"{est['gpu_wall_hours']:.1f} hours of wall time.",
        "",
    ]
    return lines
