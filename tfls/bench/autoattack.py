"""AutoAttack's components timed side by side with IBM ART's equivalents, in one process.

Every row runs on the same Keras model, the same images and the same budget. For each component
we report seconds, images/s, robust accuracy (correct at the adversarial point, over all images,
so clean mistakes count as broken), the model calls it actually made per image (counted by an
instrumented input layer), and

    efficiency = images/s × counted passes per image / the model's own passes/s at that batch,

against forward+backward for the gradient attacks and forward alone for Square (1.0 = the attack
loop costs nothing beyond the model). ART's rows use `AutoProjectedGradientDescent` (CE; DLR
targeted at the 9 runner-up classes, one target after another on the still-robust points, as
AutoAttack does) and `SquareAttack`; ART has no FAB, so FAB-T has no ART row and ART's
"AutoAttack" runs APGD-CE → APGD-T → Square. With `pytorch=("fra31", "torchattacks")`,
AutoAttack's reference implementation (fra31/auto-attack) and torchattacks run each component
too, on a PyTorch copy of the same weights (`tfls.bench.pytorch`). Seconds include tracing and
compilation: a user pays them too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

import tfls.attacks as attacks
from tfls.attacks.autoattack import SETTINGS, STANDARD
from tfls.bench.attacks import forward_backward_rate
from tfls.bench.autoattack_peers import PYTORCH_MODULES
from tfls.bench.components import FULL, budget, spec


class _CountingIdentity(keras.layers.Layer):
    """Identity whose forward and backward passes add the batch size to two counters: ART and
    tfls rows are counted by the same layer (ART calls the Keras model, not a tfls view)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.forwards = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.backwards = tf.Variable(0, dtype=tf.int64, trainable=False)

    def call(self, x):
        @tf.custom_gradient
        def counted(t):
            n = tf.cast(tf.shape(t)[0], tf.int64)

            def grad(dy):
                with tf.control_dependencies([self.backwards.assign_add(n)]):
                    return tf.identity(dy)

            with tf.control_dependencies([self.forwards.assign_add(n)]):
                return tf.identity(t), grad

        return counted(x)


def instrument(model: keras.Model) -> tuple[keras.Model, _CountingIdentity]:
    counter = _CountingIdentity()
    inputs = keras.Input(model.input_shape[1:])
    return keras.Model(inputs, model(counter(inputs)), name=f"counted_{model.name}"), counter


CHOICES = (*SETTINGS, FULL)
# What each component is measured against: the model's forward+backward pass, or forward only.
PASS = {"apgd-ce": "fwd+bwd", "apgd-dlr": "fwd+bwd", "apgd-t": "fwd+bwd", "fab-t": "fwd+bwd"}
PASS.update({"square": "fwd", FULL: None})  # a mix of both: no single yardstick


@dataclass
class Row:
    model: str
    component: str
    library: str
    n: int
    seconds: float
    images_per_s: float
    robust_accuracy: float
    forwards_per_image: float
    backwards_per_image: float
    efficiency: float | None
    budget: str
    note: str = ""
    # A second call with the traces cached (`warm=True`): what each further batch costs.
    warm_seconds: float | None = None


def forward_rate(model, x, repeats=5) -> float:
    """Images/s of the model's own compiled forward pass on `x` (best of `repeats`)."""
    step = tf.function(lambda xb: model(xb, training=False), reduce_retracing=True)
    xt = tf.constant(x)
    step(xt)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.asarray(step(xt))
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def _components_of(name):
    return STANDARD if name == FULL else (name,)


def run_tfls(model, name, x, y, *, eps, seed=0, overrides=None):
    """One tfls component (or the whole standard AutoAttack) on `(x, y)`: `(x_adv, seconds)`."""
    if name == FULL:
        aa = {"version": "standard"}
        if overrides:
            aa["overrides"] = {k: dict(v) for k, v in overrides.items() if k in STANDARD}
        attack = attacks.suite(model, [FULL], eps=eps, seed=seed, overrides={FULL: aa})[FULL]
    else:
        over = {name: dict(overrides[name])} if overrides and name in overrides else None
        attack = attacks.suite(model, [name], eps=eps, seed=seed, overrides=over)[name]
    t0 = time.perf_counter()
    x_adv = np.asarray(attack(x, y))
    return x_adv, time.perf_counter() - t0


def run_art(model, name, x, y, *, eps, overrides=None):
    """ART's equivalent of component `name` (no FAB) on `(x, y)`: `(x_adv, seconds)`."""
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import TensorFlowV2Classifier

    num_classes = int(model.output_shape[-1])
    classifier = TensorFlowV2Classifier(
        model,
        nb_classes=num_classes,
        input_shape=tuple(x.shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
    eye = np.eye(num_classes, dtype=np.float32)
    t0 = time.perf_counter()
    x_adv = x.copy()
    robust = np.argmax(classifier.predict(x, batch_size=len(x)), -1) == y
    clean_logits = classifier.predict(x, batch_size=len(x))
    for component in _components_of(name):
        settings = spec(component, overrides)
        if component == "fab-t":
            continue  # ART has no FAB
        if component == "square":
            runs = [
                (
                    SquareAttack(
                        classifier,
                        norm=np.inf,
                        eps=eps,
                        max_iter=settings["n_queries"],
                        p_init=settings["p_init"],
                        nb_restarts=settings["restarts"],
                        batch_size=len(x),
                        verbose=False,
                    ),
                    None,
                )
            ]
        else:
            loss = "cross_entropy" if settings["loss"] == "ce" else "difference_logits_ratio"
            targeted = bool(settings.get("targeted"))
            apgd = AutoProjectedGradientDescent(
                classifier,
                norm=np.inf,
                eps=eps,
                eps_step=2 * eps,
                max_iter=settings["steps"],
                targeted=targeted,
                nb_random_init=settings["restarts"],
                batch_size=len(x),
                loss_type=loss,
                verbose=False,
            )
            order = np.argsort(clean_logits, axis=-1)
            ranks = range(2, settings["n_targets"] + 2) if targeted else [None]
            runs = [(apgd, rank) for rank in ranks]
        for attack, rank in runs:
            idx = np.flatnonzero(robust)
            if not idx.size:
                break
            labels = y[idx] if rank is None else order[idx, -rank]
            out = attack.generate(x[idx], eye[labels])
            x_adv[idx] = out
            pred = np.argmax(classifier.predict(out, batch_size=len(idx)), -1)
            robust[idx] = pred == y[idx]
    return x_adv, time.perf_counter() - t0


def measure(
    model,
    x,
    y,
    *,
    eps,
    components: Sequence[str] = (*STANDARD, FULL),
    art: bool = True,
    pytorch: Sequence[str] = (),
    warm: bool = False,
    seed: int = 0,
    overrides: dict | None = None,
    model_name: str = "model",
    progress: Callable[[list[Row], dict], object] | None = None,
) -> tuple[list[Row], dict]:
    """Times each component under tfls (and ART unless `art=False`; the PyTorch libraries named
    in `pytorch`, "fra31" and/or "torchattacks", on a PyTorch copy of the model) on `(x, y)`.

    With `warm=True` every row is run a second time (tfls' traces then cached) and its
    `warm_seconds` recorded. Returns `(rows, baselines)`, the latter the model's own forward and
    forward+backward images/s at batch `len(x)`. `progress(rows, baselines)` is called after
    every row.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int32)
    n = len(y)
    counted, counter = instrument(model)
    baselines = {
        "fwd": forward_rate(model, x),
        "fwd+bwd": forward_backward_rate(model, x, y),
    }
    rows = []
    torch_net = None
    for library in pytorch:
        if library not in PYTORCH_MODULES:
            raise ValueError(
                f"Unknown PyTorch library; expected fra31 or torchattacks. Received: {library!r}"
            )
    if pytorch:
        from tfls.bench import pytorch as reference

        torch_net = reference.Counted(reference.to_torch(model, x))

    def add(library, name, fn, note=""):
        counter.forwards.assign(0)
        counter.backwards.assign(0)
        if torch_net is not None:
            torch_net.forwards = torch_net.backwards = 0
        x_adv, seconds = fn()
        rate = n / seconds
        predictions = np.argmax(np.asarray(model(x_adv, training=False)), -1)
        if library not in pytorch:
            forwards = int(counter.forwards.numpy()) / n
            backwards = int(counter.backwards.numpy()) / n
            passes = {"fwd+bwd": backwards, "fwd": forwards}.get(PASS[name], 0.0)
        else:  # PyTorch's passes: no efficiency against the Keras model's rate
            forwards, backwards = torch_net.forwards / n, torch_net.backwards / n
            passes = 0.0
            # The peer judged its points on the copy; robust accuracy is Keras' judgement. Where
            # logits are near ties the two can disagree, and the row must say so.
            differ = int(np.sum(reference.predict(torch_net.net, x_adv) != predictions))
            if differ:
                note = (
                    f"{differ} of {n} points: the PyTorch copy and Keras predict different "
                    "classes at the peer's output (near-tied logits), so the peer stopped or went "
                    "on where Keras would not"
                )
        row = Row(
            model=model_name,
            component=name,
            library=library,
            n=n,
            seconds=seconds,
            images_per_s=rate,
            robust_accuracy=float(np.mean(predictions == y)),
            forwards_per_image=forwards,
            backwards_per_image=backwards,
            efficiency=rate * passes / baselines[PASS[name]] if passes else None,
            budget=budget(name, overrides),
            note=note,
        )
        if warm:
            row.warm_seconds = fn()[1]
        rows.append(row)
        if progress is not None:
            progress(rows, baselines)

    for name in components:
        if name not in CHOICES:
            raise ValueError(
                f"Unknown component {name!r}; expected one of {CHOICES}. Received: {name!r}"
            )
        add(
            "tfls",
            name,
            lambda name=name: run_tfls(
                counted, name, x, y, eps=eps, seed=seed, overrides=overrides
            ),
        )
        if art and name != "fab-t":
            note = "APGD-CE, APGD-T, Square (ART has no FAB)" if name == FULL else ""
            add(
                "art",
                name,
                lambda name=name: run_art(counted, name, x, y, eps=eps, overrides=overrides),
                note,
            )
        for library in pytorch:
            add(
                library,
                name,
                lambda name=name, library=library: reference.run(
                    library, torch_net, name, x, y, eps=eps, seed=seed, overrides=overrides
                ),
            )
    return rows, baselines
