"""The `Attack` layer every attack derives from, and the shared pieces of attack loops.

An attack is a pure function (`pgd(model, x, y, ...)`) plus a thin Keras layer holding its config.
The pure functions share: input checks, ε-ball/box projections, compiled-function caching (no
retracing from batch to batch) and `run_on_robust`, which spends compute only on points that are
still correctly classified.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType

import keras
import numpy as np
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import adaptive
from tfls.attacks.params import Param, check_all

# --------------------------------------------------------------------------------------------
# Geometry


def project(x_adv, x, eps, norm):
    """Projects `x_adv` onto the `norm` ball of radius `eps` around `x`, then onto [0, 1]."""
    if norm == "linf":
        x_adv = tf.clip_by_value(x_adv, x - eps, x + eps)
    else:
        delta = x_adv - x
        norms = l2_norm(delta)
        factor = tf.minimum(1.0, eps / tf.maximum(norms, 1e-12))
        x_adv = x + delta * _expand(factor, delta)
    # Clipping to the box only shrinks |δ_i|, so the result stays inside the ball.
    return tf.clip_by_value(x_adv, 0.0, 1.0)


def l2_norm(t):
    axes = tf.range(1, tf.rank(t))
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=axes))


def _expand(per_example, like):
    """Reshapes a `(batch,)` tensor to broadcast against `like`."""
    rank = like.shape.rank
    if rank is not None:  # static rank: one reshape, no shape arithmetic inside hot loops
        return tf.reshape(per_example, [-1] + [1] * (rank - 1))
    shape = tf.concat([tf.shape(per_example), tf.ones([tf.rank(like) - 1], tf.int32)], axis=0)
    return tf.reshape(per_example, shape)


expand_to = _expand


def ascent_direction(grad, norm):
    """Steepest ascent direction of unit `norm`: sign(g) for L∞, g/‖g‖₂ for L2."""
    if norm == "linf":
        return tf.sign(grad)
    return grad / _expand(tf.maximum(l2_norm(grad), 1e-12), grad)


def random_start(x, eps, norm, seed):
    """A uniform point in the L∞ ball, or a uniformly-drawn-radius point in the L2 ball; in [0,1]."""
    seed = tf.cast(seed, tf.int32)
    if norm == "linf":
        noise = tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0) * eps
    else:
        direction = tf.random.stateless_normal(tf.shape(x), seed)
        direction = direction / _expand(tf.maximum(l2_norm(direction), 1e-12), direction)
        radius = tf.random.stateless_uniform(tf.shape(x)[:1], seed + 1, 0.0, 1.0) * eps
        noise = direction * _expand(radius, direction)
    return tf.clip_by_value(x + noise, 0.0, 1.0)


def eot_draws(model) -> int:
    """How many forward draws each gradient and score averages: `model.eot` of an adapted model
    (`tfls.attacks.adaptive.Adapted`, any `adaptive.Drawn`), 1 for a plain one."""
    return model.eot if isinstance(model, adaptive.Drawn) else 1


def _mean_over_draws(model, once):
    """The mean of `once()`'s tensors over `eot_draws(model)` calls, in one `tf.while_loop`.

    One call outside the loop fixes the shapes; a deterministic model (1 draw) runs `once()`
    exactly as before, so its graph and results are those of an attack without EOT.
    """
    k = eot_draws(model)
    first = once()
    if k == 1:
        return first

    def body(i, *acc):
        return (i + 1, *(a + b for a, b in zip(acc, once())))

    _, *total = tf.while_loop(lambda i, *_: i < k, body, (tf.constant(1), *first))
    return tuple(t / float(k) for t in total)


def value_and_grad(model, objective, v):
    """`(logits, value, d(sum value)/dv)` of `objective(v) -> (logits, per-example value)`.

    Under EOT each of the three is the mean over the model's draws (the gradient of the
    expected value, Athalye et al. 2018); `objective` calls `model` itself, so it may first map
    `v` to the image (CW's and the tanh attack's `w`). A model whose graph cuts the input off (a
    layer without a gradient, e.g. `tf.round`) yields a zero gradient rather than `None`: the
    attack then returns its best visited point instead of crashing, and the audit's gradient
    check reports the model.
    """

    def once():
        with tf.GradientTape() as tape:
            tape.watch(v)
            logits, value = objective(v)
        grad = tape.gradient(value, v, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return logits, value, grad

    return tuple(_mean_over_draws(model, once))


def loss_and_grad(model, loss_fn, x, y, target=None):
    """One forward+backward pass (per EOT draw): logits, per-example loss and d(sum loss)/dx."""

    def objective(t):
        logits = model(t, training=False)
        return logits, loss_fn(logits, y, target)

    return value_and_grad(model, objective, x)


def forward(model, x, reduce: Callable | None = None):
    """The model's logits at `x`, or `reduce(logits)`: under EOT the mean over its draws.

    Score-based steps (Square's margin, a misclassification test) call this, so a random model
    is judged by its expected score rather than by one draw.
    """
    if reduce is None:
        return _mean_over_draws(model, lambda: (model(x, training=False),))[0]
    return _mean_over_draws(model, lambda: (reduce(model(x, training=False)),))[0]


def misclassified(logits, y):
    return tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(y, tf.int32))


# --------------------------------------------------------------------------------------------
# Compilation


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


def run_on_robust(fn, robust, inputs, defaults, *, bucket: bool = False):
    """Runs `fn(*inputs[robust])` and scatters its outputs into copies of `defaults`.

    This is how restarts and later attacks of an ensemble spend compute only on points that are
    still correctly classified. With `bucket=True` (XLA) the subset is padded to a power of two so
    that a handful of compiled shapes serve every subset size. Returns `defaults` unchanged when no
    row is robust.
    """
    if not tf.executing_eagerly():
        # Traced inside a caller's graph (e.g. `model.predict` of a pipeline holding an attack):
        # subset sizes are unknown, so run on the whole batch and merge with a mask.
        outs = fn(*inputs)
        if not isinstance(outs, (tuple, list)):
            outs = (outs,)
        return tuple(
            tf.where(tf.reshape(robust, [-1] + [1] * (len(base.shape) - 1)), out, base)
            for base, out in zip(defaults, outs)
        )
    idx = tf.where(robust)[:, 0]
    n = int(tf.size(idx))
    if n == 0:
        return tuple(defaults)
    take = idx
    if bucket:
        size = 1 << (n - 1).bit_length()
        take = tf.concat([idx, tf.fill([size - n], idx[0])], axis=0)
    outs = fn(*[tf.gather(t, take) for t in inputs])
    if not isinstance(outs, (tuple, list)):
        outs = (outs,)
    return tuple(
        tf.tensor_scatter_nd_update(base, idx[:, None], out[:n])
        for base, out in zip(defaults, outs)
    )


def restart_search(x, robust, *, restarts: int, attempt: Callable, bucket: bool):
    """Runs `restarts` attempts, each only on the points where `robust` is still True.

    `attempt(r)` returns `(fn, inputs)`: full-batch tensors `inputs` whose rows are gathered for
    the still-robust points and passed to `fn`, which returns `(x_cand, found, score)` with
    `score` a "how adversarial" value comparable across attempts. Per example, the answer is the
    first attempt's success, or else the highest-scoring candidate. Randomness must be drawn on
    the full batch inside `attempt`, so a point's draw never depends on which other points are
    still robust. This is the restart driver of PGD, APGD, MultiTargeted, ODI and Square.
    """
    x_adv = x
    best = tf.fill(tf.shape(robust), float("-inf"))
    for r in range(restarts):
        if tf.executing_eagerly() and not bool(tf.reduce_any(robust)):
            break
        fn, inputs = attempt(r)
        cand, found, score = run_on_robust(
            fn, robust, inputs, (x_adv, tf.zeros_like(robust), best), bucket=bucket
        )
        take = tf.logical_and(robust, tf.logical_or(found, score > best))
        x_adv = tf.where(_expand(take, x), cand, x_adv)
        best = tf.where(take, score, best)
        robust = tf.logical_and(robust, tf.logical_not(found))
    return x_adv


# --------------------------------------------------------------------------------------------
# Checks


def validate_call(model, x, y, *, num_classes: int | None = None) -> None:
    """Checks inputs, labels and (once per model) that the model outputs logits; before any work."""
    if not tf.executing_eagerly():
        return  # symbolic call inside a functional model: shapes only, checked by Keras
    try:
        # Before anything is traced or cached, so that the answer never depends on earlier calls.
        expected = v.static_input_shape(model)
        if expected is not None:
            v.check_input_shape(x, expected, model=getattr(model, "name", "model"))
        v.check_images(x)
        outputs = _probe_outputs(model, x)
        classes = num_classes or int(outputs.shape[-1])
        v.check_labels(y, num_classes=classes, batch_size=int(np.shape(x)[0]))
    except ValueError as e:
        # Keras rewrites errors raised inside `Layer.call` into a many-line message quoting every
        # argument tensor; this marker (Keras' own, for nested calls) keeps ours one line.
        e._keras_call_info_injected = True
        raise


_LOGITS_CHECKED: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()


def _probe_outputs(model, x):
    try:
        known = _LOGITS_CHECKED.get(model)
    except TypeError:
        known = None
    if known is not None:
        return tf.zeros([1, known])
    outputs = model(tf.convert_to_tensor(x[:8]), training=False)
    v.check_logits(outputs, name=getattr(model, "name", "model"))
    try:
        _LOGITS_CHECKED[model] = int(outputs.shape[-1])
    except TypeError:
        pass
    return outputs


# --------------------------------------------------------------------------------------------
# The layer


_NORM_NAMES = {"linf": "L∞", "l2": "L2"}


# Every attack layer is called the same way; a subclass docstring that does not describe its call
# gets these sections, placed before its `Example:` (Keras' docstring order).
_CALL_SECTIONS = """    Call arguments:
        x: inputs in [0, 1]. y: integer labels.

    Returns:
        Adversarial inputs of `x`'s shape.

"""


def _with_call_sections(doc: str) -> str:
    if "Call arguments:" in doc:
        return doc
    sections = _CALL_SECTIONS if "Returns:" not in doc else _CALL_SECTIONS.split("    Returns:")[0]
    for anchor in ("    Returns:", "    Example:", "    Reference:"):
        at = doc.find(anchor)
        if at != -1:
            return doc[:at] + sections + doc[at:]
    return doc.rstrip() + "\n\n" + sections


@keras.saving.register_keras_serializable(package="tfls")
class Attack(keras.layers.Layer):
    """Base class: an adversarial attack on `model` as a Keras layer, `x_adv = attack(x, y)`.

    A subclass names the pure function it wraps, `class PGD(Attack): function = pgd`, whose
    `@declare` lists its parameters once (`tfls.attacks.params`). From that declaration the base
    derives the subclass's `__init__` (with a real signature: `inspect.signature(PGD)`), checks
    every value at construction, and derives `generate` and `get_config`. Class attributes
    `defaults` (e.g. `{"eps": 140 / 255, "norm": "l2"}`) and `norms` adjust the common arguments.
    A subclass without `function` implements `generate(x, y)` itself.

    Args:
        model: a Keras model mapping inputs in [0, 1] to logits.
        eps: radius of the threat model's ball (`8/255` or `"8/255"`).
        norm: `"linf"` or `"l2"`.
        seed: integer seed for every random choice the attack makes.
        jit_compile: `True`, `False` or `"auto"` (XLA on accelerators only).
        eot: forward draws each gradient and score averages, for models random at inference
            (Expectation over Transformation; `tfls.attacks.adaptive`). 1: none.
        bpda: layers whose backward pass is replaced for the attack's gradient (BPDA): layer
            names (straight-through), `{name: "identity" or a differentiable approximation}`,
            or `"auto"` (`tfls.attacks.adaptive.find_nondifferentiable` on the first batch).
            The forward pass, and so every score, stays the model's own.
        **kwargs: the declared parameters of `function`; the rest is forwarded to
            `keras.layers.Layer`.

    Call arguments:
        x: inputs in [0, 1], shape `(batch, ...)`.
        y: integer labels, shape `(batch,)`.

    Returns:
        Adversarial inputs of `x`'s shape and dtype.
    """

    norms: tuple[str, ...] = v.NORMS
    function: Callable | None = None
    params: Mapping[str, Param] = MappingProxyType({})
    defaults: Mapping[str, object] = MappingProxyType({})
    _COMMON = MappingProxyType(
        {"eps": 8 / 255, "norm": "linf", "seed": 0, "jit_compile": "auto", "eot": 1, "bpda": None}
    )
    # Common arguments every attack takes from its layer, not its pure function (which is given
    # the adapted model instead).
    _ADAPTIVE = ("eot", "bpda")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("__doc__"):
            cls.__doc__ = _with_call_sections(cls.__doc__)
        fn = cls.__dict__.get("function")
        if fn is not None:
            cls.function = staticmethod(fn)
            cls.params = fn.params
            accepted = inspect.signature(fn).parameters
            # Common arguments the function takes (FGSM has no seed, CW no norm): for generate.
            cls._passed = tuple(name for name in Attack._COMMON if name in accepted)
        # A new function or new defaults need a new constructor; a hand-written one is kept.
        new_config = fn is not None or "defaults" in cls.__dict__
        if new_config and cls.function is not None and "__init__" not in cls.__dict__:
            cls.__init__ = _derived_init(cls)

    def __init__(
        self, model, *, eps, norm="linf", seed=0, jit_compile="auto", eot=1, bpda=None, **kwargs
    ):
        config = {name: kwargs.pop(name) for name in list(kwargs) if name in self.params}
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(model, dict):
            model = keras.saving.deserialize_keras_object(model)
        if not callable(model):
            raise ValueError(f"`model` must be a Keras model returning logits. Received: {model!r}")
        self.model = model
        if norm in v.NORMS and norm not in self.norms:
            only = " or ".join(_NORM_NAMES[n] for n in self.norms)
            raise ValueError(
                f"{type(self).__name__} is an {only} attack only. Received: norm={norm!r}"
            )
        self.norm = v.check_choice(norm, self.norms, name="norm")
        self.eps = v.check_eps(eps, norm=norm)
        self.seed = int(seed)
        resolve_jit(jit_compile)
        self.jit_compile = jit_compile
        self.eot = adaptive.check_eot(eot)
        self.bpda = adaptive.check_bpda(bpda)
        if self.bpda not in (None, adaptive.AUTO):
            adaptive.adapt(model, bpda=self.bpda)  # unknown or ambiguous layer names: refused now
        # The declared parameters, checked now so that a bad value fails before any work.
        for name, value in check_all(self.params, config).items():
            setattr(self, name, value)
        self._init_parts()

    def _init_parts(self):
        """Builds what the attack derives from its config (AutoAttack: its components)."""

    def call(self, x, y):
        x = tf.convert_to_tensor(x)
        y = tf.cast(tf.convert_to_tensor(y), tf.int32)
        validate_call(self.model, x, y)
        dtype = x.dtype
        x_adv = self.generate(tf.cast(x, tf.float32), y)
        return tf.cast(x_adv, dtype)

    def compute_output_spec(self, x, y):
        return keras.KerasTensor(x.shape, dtype=x.dtype)

    def adapted(self, x=None):
        """The model the attack differentiates (`tfls.attacks.adaptive.adapt`), cached.

        `bpda="auto"` is resolved on the first call's `x` (`find_nondifferentiable`); the layers
        it picked are then `self.bpda_layers`.
        """
        cached = self.__dict__.get("_tfls_adapted")
        if cached is None:
            bpda = self.bpda
            if bpda == adaptive.AUTO:
                if x is None:
                    raise ValueError("bpda='auto' needs the points to probe. Received: x=None")
                bpda = adaptive.find_nondifferentiable(self.model, x)
            object.__setattr__(self, "bpda_layers", tuple(sorted(bpda or ())))
            cached = adaptive.adapt(self.model, eot=self.eot, bpda=bpda)
            object.__setattr__(self, "_tfls_adapted", cached)
        return cached

    def generate(self, x, y):
        if self.function is None:
            raise NotImplementedError
        common = {name: getattr(self, name) for name in self._passed}
        declared = {name: getattr(self, name) for name in self.params}
        return self.function(self.adapted(x), x, y, **common, **declared)

    def get_config(self):
        base = super().get_config()
        config = {
            "model": keras.saving.serialize_keras_object(self.model),
            "eps": self.eps,
            "norm": self.norm,
            "seed": self.seed,
            "jit_compile": self.jit_compile,
            "eot": self.eot,
            "bpda": adaptive.bpda_config(self.bpda),
        }
        declared = {name: getattr(self, name) for name in self.params}
        return {**base, **config, **declared}


_KEYWORD_COMMON = ("norm", "seed", "jit_compile", "eot", "bpda")


def _derived_init(cls):
    """`cls.__init__` taking `model`, `eps` and, by keyword, its declared and common arguments."""
    common = {**Attack._COMMON, **cls.defaults}

    def __init__(self, model, eps=common["eps"], **kwargs):
        for name in _KEYWORD_COMMON:
            kwargs.setdefault(name, common[name])
        Attack.__init__(self, model, eps=eps, **kwargs)

    P = inspect.Parameter
    kw = P.KEYWORD_ONLY
    __init__.__signature__ = inspect.Signature(
        [
            P("self", P.POSITIONAL_OR_KEYWORD),
            P("model", P.POSITIONAL_OR_KEYWORD),
            P("eps", P.POSITIONAL_OR_KEYWORD, default=common["eps"]),
            *(P(name, kw, default=p.default) for name, p in cls.params.items()),
            *(P(name, kw, default=common[name]) for name in _KEYWORD_COMMON),
            P("kwargs", P.VAR_KEYWORD),
        ]
    )
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = cls.__doc__
    return __init__
