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
import math
import resource
import shutil
import time
from pathlib import Path

import keras
import numpy as np

# What a GPU estimate assumes: 50 TFLOP/s sustained, about a third of an NVIDIA A100's dense TF32
# peak (156 TFLOP/s, NVIDIA's A100 datasheet); mixed precision can do better, small batches worse.
ASSUMED_GPU_FLOPS = 50e12
# Parameters that count iterations, capped by `--dry-run-steps`.
ITERATION_KEYS = (
    "steps",
    "restarts",
    "n_targets",
    "n_queries",
    "max_iterations",
    "binary_search_steps",
    "draws",
    "odi_steps",
)
# Forward-only attacks (a query is one forward pass, not a forward and a backward).
_FORWARD_ONLY = {"Square", "RandomNoise"}


# --------------------------------------------------------------------------------------------
# Attack iteration counts


def attack_config(preset: str, params: dict) -> dict:
    """The preset's settings with the recipe's overrides (AutoAttack: per component)."""
    from tfls.attacks import PRESETS

    config = {**PRESETS[preset], **params}
    if config["attack"] == "AutoAttack":
        from tfls.attacks.autoattack import SETTINGS, STANDARD

        names = config.get("attacks") or STANDARD
        overrides = config.get("overrides") or {}
        config["components"] = {
            name: {
                "attack": SETTINGS[name][0].__name__,
                **SETTINGS[name][1],
                **overrides.get(name, {}),
            }
            for name in names
        }
    return config


def capped_params(preset: str, params: dict, cap: int) -> dict:
    """`params` with every iteration count of the attack at most `cap` (AutoAttack: per component)."""
    config = attack_config(preset, params)
    if config["attack"] == "AutoAttack":
        overrides = {
            name: {
                **{k: v for k, v in comp.items() if k != "attack"},
                **{k: min(comp[k], cap) for k in ITERATION_KEYS if k in comp},
            }
            for name, comp in config["components"].items()
        }
        return {**params, "overrides": overrides}
    if config["attack"] == "TransferAttack":
        inner = capped_params(config["inner"], {}, cap)
        return {**params, **{k: v for k, v in inner.items() if k in ITERATION_KEYS}}
    out = dict(params)
    for key in ITERATION_KEYS:
        if isinstance(config.get(key), int) and not isinstance(config.get(key), bool):
            out[key] = min(config[key], cap)
    return out


def gradient_passes(preset: str, params: dict) -> float:
    """Model passes per attacked image, in forward+backward units (a forward counts 1/3).

    PGD-like attacks: steps × restarts (× targets); ODI: restarts × (ODI steps + steps); CW:
    binary-search steps × iterations; Square: queries × restarts forwards; AutoAttack: the sum
    over its components. An upper bound: attacks stop early on points they break.
    """
    config = attack_config(preset, params)
    return _passes(config)


def _passes(config: dict) -> float:
    kind = config["attack"]
    if kind == "AutoAttack":
        return sum(_passes(c) for c in config["components"].values())
    if kind == "TransferAttack":
        from tfls.attacks import PRESETS

        inner = {
            **PRESETS[config["inner"]],
            **{k: config[k] for k in ITERATION_KEYS if k in config},
        }
        return _passes(inner) + 1 / 3
    if kind == "FGSM":
        return 1.0
    if kind in _FORWARD_ONLY:
        return config.get("n_queries", config.get("draws", 1)) * config.get("restarts", 1) / 3
    if kind == "ODI":
        return config["restarts"] * (config["odi_steps"] + config["steps"])
    if kind == "CarliniWagnerL2":
        return config["binary_search_steps"] * config["max_iterations"]
    targets = config.get("n_targets", 1) if config.get("targeted", kind == "FAB") else 1
    return config.get("steps", 1) * config.get("restarts", 1) * targets


# --------------------------------------------------------------------------------------------
# Models


def forward_flops(network, input_shape) -> int | None:
    """Floating-point operations of one image's forward pass (TensorFlow's profiler), or None."""
    import tensorflow as tf

    try:
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        spec = tf.TensorSpec((1, *input_shape), tf.float32)
        fn = tf.function(lambda x: network(x, training=False)).get_concrete_function(spec)
        graph = convert_variables_to_constants_v2(fn).graph
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(
            graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
        )
        return int(profile.total_float_ops)
    except Exception:  # noqa: BLE001 - a missing estimate must not stop a dry run
        return None


def train_passes(config) -> float:
    """Forward+backward passes per training image: natural 1, Madry K + 1, TRADES K + 2⅓."""
    if config.method == "madry":
        return config.attack_steps + 1
    if config.method == "trades":
        return config.attack_steps + 2 + 1 / 3
    return 1.0


def _batches(dataset: str, split: str, size: int, count: int, *, data_dir, seed: int):
    """`count` batches of `size` from `split`, or uniform noise of its shape when missing offline."""
    import tensorflow as tf

    from tfls import data as tfls_data
    from tfls.recipes.plan import dataset_available_offline

    if dataset_available_offline(dataset, data_dir):
        ds = tfls_data.load(dataset, split, batch_size=size, limit=size * count, data_dir=data_dir)
        return ds, False
    info = tfls_data.info(dataset)
    rng = np.random.default_rng(seed)
    x = rng.random((size * count, *info.input_shape), dtype=np.float32)
    y = rng.integers(0, info.num_classes, size * count)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(size), True


class _StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training batch."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)


# --------------------------------------------------------------------------------------------
# The dry run


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


def _network_name(config) -> str:
    return f"{config.model}/{config.dataset}"


def _build_and_step(
    plan, configs, results, dry, batch_size, steps, cap, data_dir, strat, log, cache
) -> dict:
    """Builds one network per architecture and dataset, steps it with each method; id → network.

    `cache` (a dict, or None) keeps networks and trainers for later dry runs in this process.
    """
    from tfls import data as tfls_data
    from tfls import models as tfls_models
    from tfls.recipes.results import model_entry
    from tfls.training.cache import config_hash

    cache = {} if cache is None else cache
    networks: dict[str, object] = cache.setdefault("networks", {})
    trainers: dict[tuple, object] = cache.setdefault("trainers", {})
    trained: dict[tuple, dict] = {}
    loaded = {}
    for m in plan.models:
        config = configs[m.id]
        info = tfls_data.info(config.dataset)
        shape = tuple(info.input_shape)
        name = _network_name(config)
        if name not in dry["networks"]:
            t0 = time.perf_counter()
            if name not in networks:
                with strat.scope():
                    networks[name] = tfls_models.build(
                        config.model, num_classes=info.num_classes, input_shape=shape, seed=0
                    )
            net = networks[name]
            flops = cache.setdefault("flops", {})
            if name not in flops:
                flops[name] = forward_flops(net, shape)
            dry["networks"][name] = {
                "parameters": int(net.count_params()),
                "forward_flops": flops[name],
                "build_seconds": round(time.perf_counter() - t0, 3),
            }
            log(f"  built {name}: {net.count_params() / 1e6:.2f}M parameters")
        key = (name, config.method)
        if key not in trained:
            trained[key] = _train_steps(
                networks[name], config, info, batch_size, steps, cap, data_dir, strat, dry, trainers
            )
            t = trained[key]
            log(
                f"  {config.method} on {name} (batch {t['batch_size']}, {t['inner_steps_run']} "
                f"inner steps): {t['seconds_per_step']:.3f} s/step over {steps} step(s) after "
                "a warm-up"
            )
        loaded[m.id] = networks[name]
        dry["training"][m.id] = trained[key]
        results["models"][m.id] = {
            **model_entry(m, config),
            # Evaluation folders are named by this: the dry network, α and method.
            "hash": f"dry-{config.model}-{config.dataset}-{config.method}-{m.label_smoothing:g}",
            "config_hash": config_hash(config),
            "run_dir": None,
            "trained_now": False,
            "train_clean_accuracy": None,
            "train_logit_stats": None,
            "evaluate": m.evaluate,
        }
    return loaded


def _train_steps(net, config, info, batch_size, steps, cap, data_dir, strategy, dry, trainers):
    """One warm-up and `steps` timed optimiser steps of `config.method` on `net`.

    With `cap`, the inner attack runs at most `cap` steps. `trainers` maps `(network, method)` to
    a trainer built earlier in this process (reused, with its traced step), or is filled here.
    """
    from tfls.training.trainer import build_trainer

    inner = config.attack_steps if config.method != "natural" else 0
    run_config = config.replace(attack_steps=min(config.attack_steps, cap)) if cap else config
    size = batch_size or config.batch_size
    split_size = dict(info.split_sizes).get("train")
    full_steps = math.ceil(min(config.limit or split_size, split_size) / config.batch_size)
    ds, synthetic = _batches(
        config.dataset, "train", size, steps + 1, data_dir=data_dir, seed=config.seed
    )
    if synthetic and config.dataset not in dry["synthetic_data"]:
        dry["synthetic_data"].append(config.dataset)
    key = (id(net), config.method, run_config.attack_steps)
    if key not in trainers:
        with strategy.scope():
            trainers[key] = build_trainer(
                net, run_config, num_classes=info.num_classes, steps_per_epoch=full_steps
            )
    trainer = trainers[key]
    timer = _StepTimer()
    trainer.fit(ds, epochs=1, steps_per_epoch=steps + 1, callbacks=[timer], verbose=0)
    timed = timer.times[1:] or timer.times
    return {
        "method": config.method,
        "batch_size": size,
        "config_batch_size": config.batch_size,
        "inner_steps": inner,
        "inner_steps_run": min(inner, cap) if cap else inner,
        "warmup_seconds": round(timer.times[0], 3),
        "seconds_per_step": sum(timed) / len(timed),
        "steps_per_epoch": full_steps,
        "epochs": config.epochs,
        "train_images": full_steps * config.batch_size,
    }


def estimate(plan, dry: dict, configs: dict, *, eval_batch: int) -> dict:
    """The full recipe's cost on this machine (CPU-hours) and in FLOPs (→ GPU-hours assumed)."""
    from tfls.training.cache import config_hash

    seen = set()
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
            train_flops += 3 * flops * train_passes(config) * t["train_images"] * t["epochs"]
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
    total_flops = train_flops + attack_flops
    return {
        "train_cpu_hours": train_s / 3600,
        "attack_cpu_hours_upper_bound": attack_s / 3600,
        "cpu_hours": (train_s + attack_s) / 3600,
        "train_flops": train_flops,
        "attack_flops_upper_bound": attack_flops,
        "flops": total_flops,
        "gpu_hours_at_assumed_throughput": total_flops / ASSUMED_GPU_FLOPS / 3600,
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
        f"{est['gpu_hours_at_assumed_throughput']:.1f} GPU-hours.",
        "",
    ]
    return lines
