"""A dry run's networks built and stepped: parameters, forward FLOPs, timed optimiser steps.

One network per architecture and dataset, stepped by each training method of the recipe in turn
(a warm-up step, then the timed ones), on real data or on uniform noise when it is missing offline.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np


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
    from tfls.training.model_cache import config_hash

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
