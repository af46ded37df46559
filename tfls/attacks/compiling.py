"""Compiling attack loops: whether to use XLA, and one cached `tf.function` per model and config
(no retracing from batch to batch)."""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf


def resolve_jit(jit_compile, model=None) -> bool:
    """Whether to compile attack loops with XLA.

    `"auto"` picks per device and, on CPU, per model, from measurements on a two-core machine
    (`tfls bench attacks`, `results/bench/`): on GPUs and TPUs XLA is used; on CPU XLA made PGD-20
    on a small conv net about 8× slower than plain `tf.function` but on a small MLP about 1.4×
    faster, so it is used on CPU only for models without convolutions. A model whose layers it
    cannot see (a plain callable, a SavedModel behind `keras.layers.TFSMLayer`) is assumed to
    have them: it might (and XLA has no deterministic MaxPool gradient, so under op determinism,
    which `tfls.training.train` turns on, XLA would fail on one that does).
    """
    if jit_compile == "auto":
        if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
            return True
        return model is not None and not _has_convolutions(model)
    if not isinstance(jit_compile, bool):
        raise ValueError(f"`jit_compile` must be True, False or 'auto'. Received: {jit_compile!r}")
    return jit_compile


def _has_convolutions(model) -> bool:
    layers = getattr(model, "_flatten_layers", None)
    if layers is None:  # a plain callable: assume the expensive case
        return True
    conv = (
        keras.layers.Conv1D,
        keras.layers.Conv2D,
        keras.layers.Conv3D,
        keras.layers.DepthwiseConv2D,
        keras.layers.SeparableConv2D,
        keras.layers.Conv2DTranspose,
    )
    opaque = (keras.layers.TFSMLayer,)  # a SavedModel: its graph's layers are not Keras layers
    return any(
        isinstance(layer, conv + opaque) for layer in layers(include_self=False, recursive=True)
    )


def compiled(
    model, key, make_fn: Callable[[], Callable], jit_compile, *, autograph: bool = True
) -> Callable:
    """Returns one `tf.function` per (model, static config): the same graph serves every batch.

    `make_fn()` builds the Python function to compile; it must take tensors only, with the batch
    dimension free. `reduce_retracing` keeps one trace across batch sizes without XLA; with XLA a
    new batch size is a new compilation (which is inherent to XLA). `autograph=False` is for
    loops written with `tf.while_loop`/`tf.cond` throughout: AutoGraph's rewrite of their Python
    source is then skipped, about half of a first trace.
    """
    jit = resolve_jit(jit_compile, model)
    # The cache lives on the model (outside Keras' attribute tracking), so it dies with the model;
    # a global weak-keyed table would keep every model alive through the closures it holds.
    per_model = model.__dict__.get("_tfls_compiled")
    if per_model is None:
        per_model = {}
        object.__setattr__(model, "_tfls_compiled", per_model)
    full_key = (key, jit)
    if full_key not in per_model:
        fn = tf.function(make_fn(), jit_compile=jit, reduce_retracing=True, autograph=autograph)
        # TF's "frequent retracing" warning pools its counts by the Python code object, so the
        # first traces of the deliberately separate functions for several models (or configs)
        # read as retracing of one. TF silences it the same way for its own restored functions.
        if hasattr(fn, "_omit_frequent_tracing_warning"):
            fn._omit_frequent_tracing_warning = True
        per_model[full_key] = fn
    return per_model[full_key]


def compiled_functions(model) -> dict:
    """The compiled attack loops cached on `model`, keyed by (static config, XLA): for tests."""
    return dict(model.__dict__.get("_tfls_compiled", {}))
