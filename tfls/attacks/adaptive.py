"""Adaptive attacks: the model an attack differentiates, adapted to the defence it attacks.

Two adaptations (Athalye, Carlini & Wagner, 2018), options of every attack (`eot=`, `bpda=`):

* **EOT** (expectation over transformation), for models random at inference (input noise, random
  resizing, dropout left on): each gradient is the mean of `eot` draws' gradients of the attack's
  loss, each score (a margin a black-box attack compares, a misclassification test) the mean of
  `eot` draws'. The draws run in one compiled `tf.while_loop` (`tfls.attacks.gradients`),
  never a Python loop per draw. Under EOT an attack does not stop at the first point a few
  draws misclassify (fresh draws mostly still classify it right): PGD returns its last iterate,
  Square spends its whole budget. A model found deterministic is attacked as without EOT.
* **BPDA** (backward-pass differentiable approximation), for non-differentiable layers
  (quantisation, JPEG, thresholds): the named layers keep their forward pass and get, for the
  attack's gradient only, the identity (straight-through) or the gradient of a given
  differentiable approximation on the backward pass. Every score is still the real model's: the
  forward values are unchanged, and the evaluator scores with the model itself.

`adapt(model, eot=, bpda=)` returns what the attack's pure function is given in place of the
model (`Adapted`), or `model` itself when there is nothing to adapt. `straight_through(fn)`
applies BPDA to a function in a user's own model code; `find_nondifferentiable(model, x)` is what
`bpda="auto"` uses to pick layers.

Reference:
    Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security:
    Circumventing Defenses to Adversarial Examples", ICML 2018.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfls import _validation as v

AUTO = "auto"
IDENTITY = "identity"
# `find_nondifferentiable`: a layer is picked when its input gradient is zero, undefined or not
# finite for more than this share of the probe points ("for most inputs").
AUTO_SHARE = 0.5
AUTO_PROBE = 32  # points of the first batch `bpda="auto"` probes

_PATCH_LOCK = threading.RLock()  # layer calls are swapped while one adapted forward is traced


def check_eot(eot, name: str = "eot") -> int:
    return v.check_positive_int(eot, name=name)


def check_bpda(bpda, name: str = "bpda"):
    """`None`, `"auto"`, layer names (a comma-separated string or a list), or `{name: approx}`.

    `approx` is `"identity"` (straight-through) or a differentiable function of the layer's input
    whose gradient replaces the layer's. Returns `None`, `"auto"` or a `{name: approx}` dict.
    """
    if bpda is None or (isinstance(bpda, (list, tuple, str, dict)) and not bpda):
        return None
    if isinstance(bpda, str):
        if bpda.strip() == AUTO:
            return AUTO
        bpda = [part.strip() for part in bpda.split(",") if part.strip()]
    if isinstance(bpda, Mapping):
        checked = {}
        for layer, approx in bpda.items():
            if not isinstance(layer, str) or not layer:
                raise ValueError(f"`{name}` names layers by string. Received: {name}={bpda!r}")
            if isinstance(approx, str) and approx.startswith("function:"):
                raise ValueError(
                    f"`{name}[{layer!r}]` was saved as {approx!r}: a function is recorded by "
                    "name only; pass the function itself to rebuild the attack. "
                    f"Received: {name}={bpda!r}"
                )
            if approx != IDENTITY and not callable(approx):
                raise ValueError(
                    f"`{name}[{layer!r}]` must be 'identity' or a differentiable function of the "
                    f"layer's input. Received: {approx!r}"
                )
            checked[layer] = approx
        return checked
    if isinstance(bpda, Sequence) and all(isinstance(n, str) and n for n in bpda):
        return {layer: IDENTITY for layer in bpda}
    raise ValueError(
        f"`{name}` must be None, 'auto', layer names or {{layer: approximation}}. "
        f"Received: {name}={bpda!r}"
    )


def bpda_config(bpda):
    """`bpda` as `get_config` and fingerprints store it: None, "auto", layer names, or, with
    approximations, `{name: "identity" or "function:<module>.<name>"}` (a function is recorded by
    name; such a config cannot be restored without passing the function again)."""
    if bpda is None or bpda == AUTO:
        return bpda
    if all(approx == IDENTITY for approx in bpda.values()):
        return sorted(bpda)
    return {
        layer: approx
        if approx == IDENTITY
        else f"function:{getattr(approx, '__module__', '?')}.{getattr(approx, '__qualname__', '?')}"
        for layer, approx in sorted(bpda.items())
    }


def adapt(model, *, eot: int = 1, bpda=None):
    """What an attack differentiates instead of `model`: `Adapted`, or `model` if nothing to do.

    Args:
        model: the attacked Keras model (inputs in [0, 1], logits out).
        eot: draws averaged per gradient and per score (1: none).
        bpda: `check_bpda`'s forms, already resolved (no `"auto"`: see `find_nondifferentiable`).

    Example:
        >>> x_adv = tfls.attacks.pgd(adapt(model, eot=10), x, y, eps=8 / 255)
    """
    eot = check_eot(eot)
    bpda = check_bpda(bpda)
    if bpda == AUTO:
        raise ValueError(
            "bpda='auto' is resolved on data: call find_nondifferentiable(model, x) and pass the "
            "layer names it returns. Received: bpda='auto'"
        )
    if eot == 1 and not bpda:
        return model
    return Adapted(model, eot=eot, bpda=bpda or {})


class Drawn:
    """Something an attack calls like a model whose scores and gradients average `eot` draws."""

    eot: int = 1


class View(Drawn):
    """A `Drawn` standing for the Keras model `self.model`: its name, inputs and layers."""

    model = None

    @property
    def name(self) -> str:
        return getattr(self.model, "name", "model")

    @property
    def inputs(self):
        return getattr(self.model, "inputs", None)

    def _flatten_layers(self, *args, **kwargs):
        return self.model._flatten_layers(*args, **kwargs)


class Adapted(View):
    """`model` as an attack sees it under EOT and BPDA.

    Calling it runs one forward draw of `model`, with the BPDA layers' backward passes replaced;
    `eot` is read by the attacks' gradient and score helpers (`tfls.attacks.gradients.value_and_grad`,
    `forward`), which average that many draws: the `eot` asked for when the model is random at
    inference, 1 when it is not (`eot_requested` keeps what was asked). Compiled attack loops are cached on this object, not on the
    model, so they never mix with the model's plain graphs.

    Args:
        model: the attacked Keras model.
        eot: draws per gradient and score.
        bpda: `{layer name: "identity" or approximation}` (names anywhere in the model,
            nested models included).
    """

    def __init__(self, model, *, eot: int = 1, bpda: Mapping[str, object] | None = None):
        self.model = model
        self.bpda = dict(bpda or {})
        self._layers = _find_layers(model, self.bpda)
        # A deterministic model's draws are all alike: their mean is one draw, so EOT on it
        # changes nothing and costs nothing (its attacks run as without EOT).
        self.eot = check_eot(eot) if eot > 1 and _random(model) else 1
        self.eot_requested = check_eot(eot)

    def __call__(self, x, training=False):
        if not self._layers:
            return self.model(x, training=training)
        with _straight_through_calls(self._layers):
            return self.model(x, training=training)

    def __repr__(self) -> str:
        return f"Adapted({self.name}, eot={self.eot_requested}, bpda={sorted(self.bpda)})"


def _random(model) -> bool:
    """Whether `model` is random at inference, probed on seeded uniform images of its input
    shape; True when the shape is not static (EOT is then run as asked)."""
    from tfls.models import randomness

    shape = v.static_input_shape(model)
    if shape is None or any(d is None for d in tuple(shape)[1:]):
        return True
    probe = np.random.default_rng(0).random((8, *tuple(shape)[1:]), dtype=np.float32)
    with tf.init_scope():  # eagerly, also when adapted inside a traced function
        return randomness.is_random(model, probe)


def straight_through(fn: Callable, approx: Callable | None = None) -> Callable:
    """`fn` with its forward pass, and on the backward pass the identity or `approx`'s gradient.

    For a non-differentiable step in your own model code (BPDA of a function), e.g.
    `x = straight_through(jpeg)(x)`; `approx=None` is straight-through, which needs `fn` to keep
    its input's shape.

    Example:
        >>> quantise = straight_through(lambda t: tf.round(t * 8) / 8)
    """
    return _wrap_call(fn, approx, name=getattr(fn, "__name__", "function"))


def find_nondifferentiable(model, x, *, share: float = AUTO_SHARE) -> list[str]:
    """The layers of `model` whose input gradient is zero, undefined or not finite on more than
    `share` of the points `x`: what `bpda="auto"` straight-throughs.

    Each leaf layer is probed on the activation it receives from `x`, by its own vector-Jacobian
    product with a random output direction (so a layer is judged alone, not by what follows it).

    Returns:
        Layer names in call order (empty when every layer passes gradients).
    """
    x = tf.convert_to_tensor(np.asarray(x)[:AUTO_PROBE], tf.float32)
    leaves = leaf_layers(model)
    seen: dict[int, float] = {}
    order: list[str] = []
    rng = np.random.default_rng(0)

    def observe(layer, t, out, rerun):
        if not floating_step(t, out):
            bad = 1.0  # an integer or boolean step: no gradient flows through it
        else:
            with tf.GradientTape() as tape:
                tape.watch(t)
                again = rerun(t)
            direction = tf.constant(rng.standard_normal(again.shape.as_list()), again.dtype)
            try:
                grad = tape.gradient(again, t, output_gradients=direction)
            except LookupError:  # "No gradient defined for operation ..."
                grad = None
            if grad is None:
                bad = 1.0
            else:
                g = tf.reshape(grad, [tf.shape(grad)[0], -1])
                dead = tf.logical_or(
                    tf.reduce_all(tf.equal(g, 0.0), axis=1),
                    tf.logical_not(tf.reduce_all(tf.math.is_finite(g), axis=1)),
                )
                bad = float(tf.reduce_mean(tf.cast(dead, tf.float32)))
        if id(layer) not in seen:
            order.append(layer.name)
        seen[id(layer)] = max(seen.get(id(layer), 0.0), bad)

    with probed_calls(leaves, observe):
        model(x, training=False)
    names = {id(layer): layer.name for layer in leaves}
    flagged = [name for i, name in names.items() if seen.get(i, 0.0) > share]
    return [name for name in order if name in flagged]


def leaf_layers(model) -> list:
    """The layers of `model` that hold no layer themselves (nested models are looked into)."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if not list(layer._flatten_layers(include_self=False, recursive=False))
    ]


def floating_step(t, out) -> bool:
    """Whether a layer maps the float tensor `t` to a float tensor `out` (a step a gradient can
    flow through)."""
    return t.dtype.is_floating and isinstance(out, tf.Tensor) and out.dtype.is_floating


@contextlib.contextmanager
def probed_calls(layers, observe: Callable):
    """Within the block, each of `layers` runs as before, and each call whose first argument is
    a tensor then calls `observe(layer, t, out, rerun)`: `t` that argument, `out` the output and
    `rerun(inputs)` the layer's own call on other inputs (with the same other arguments).

    What `find_nondifferentiable` and the audit's gradient-integrity check use to look at each
    layer alone on the activation it receives; the layers' calls are restored on exit.
    """

    def probe(layer, original):
        def call(*args, **kwargs):
            out = original(*args, **kwargs)
            if args and isinstance(args[0], (tf.Tensor, np.ndarray)):
                rest = args[1:]
                t = tf.convert_to_tensor(args[0])
                observe(layer, t, out, lambda inputs: original(inputs, *rest, **kwargs))
            return out

        return call

    with _PATCH_LOCK, _swapped_calls({layer: probe for layer in layers}):
        yield


# --------------------------------------------------------------------------------------------


def _find_layers(model, bpda: Mapping[str, object]) -> dict:
    """`{layer object: approx}` for the names in `bpda`; refuses unknown or ambiguous names."""
    if not bpda:
        return {}
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is None:
        raise ValueError(
            "BPDA names layers of a Keras model; this model has none. Use "
            f"tfls.attacks.straight_through in its code instead. Received: model={model!r}"
        )
    layers = list(flatten(include_self=False, recursive=True))
    found = {}
    for name, approx in bpda.items():
        matches = [layer for layer in layers if layer.name == name]
        if not matches:
            known = ", ".join(dict.fromkeys(layer.name for layer in layers))
            raise ValueError(
                f"BPDA: {getattr(model, 'name', 'the model')} has no layer {name!r}. Expected "
                f"one of: {known}. Received: bpda={sorted(bpda)}"
            )
        if len({id(m) for m in matches}) > 1:
            raise ValueError(
                f"BPDA: {len(matches)} layers are called {name!r}; rename them so one name "
                f"means one layer. Received: bpda={sorted(bpda)}"
            )
        found[matches[0]] = approx
    return found


@contextlib.contextmanager
def _swapped_calls(wrappers: Mapping):
    """Replaces each layer's `call` by `wrapper(layer, original_call)` for the block's duration."""
    saved = []
    try:
        for layer, wrapper in wrappers.items():
            original = layer.call
            saved.append((layer, "call" in layer.__dict__, layer.__dict__.get("call")))
            object.__setattr__(layer, "call", wrapper(layer, original))
        yield
    finally:
        for layer, had, previous in reversed(saved):
            if had:
                object.__setattr__(layer, "call", previous)
            else:
                object.__delattr__(layer, "call")


@contextlib.contextmanager
def _straight_through_calls(layers: Mapping):
    def wrapper(layer, original):
        approx = layers[layer]
        return _wrap_call(original, None if approx == IDENTITY else approx, name=layer.name)

    with _PATCH_LOCK, _swapped_calls({layer: wrapper for layer in layers}):
        yield


def _wrap_call(fn: Callable, approx: Callable | None, *, name: str) -> Callable:
    """`fn(t, *rest)` with a custom gradient for `t`: identity (approx None) or approx's VJP."""

    def call(t, *rest, **kwargs):
        t = tf.convert_to_tensor(t)

        @tf.custom_gradient
        def through(u):
            out = fn(u, *rest, **kwargs)
            if approx is None and out.shape.is_fully_defined() and u.shape.is_fully_defined():
                if out.shape[1:] != u.shape[1:]:
                    raise ValueError(
                        f"BPDA straight-through on {name!r} needs its output shaped like its "
                        f"input, {u.shape[1:]} vs {out.shape[1:]}; give a differentiable "
                        f"approximation instead, bpda={{{name!r}: fn}}. Received: bpda={name!r}"
                    )

            def grad(dy, variables=None):
                if approx is None:
                    du = tf.cast(tf.reshape(dy, tf.shape(u)), u.dtype)
                else:
                    with tf.GradientTape() as tape:
                        tape.watch(u)
                        a = approx(u)
                    du = tape.gradient(a, u, output_gradients=tf.cast(dy, a.dtype))
                    du = tf.zeros_like(u) if du is None else du
                if variables:
                    return du, [tf.zeros_like(var) for var in variables]
                return du

            return tf.identity(out), grad

        return through(t)

    return call
