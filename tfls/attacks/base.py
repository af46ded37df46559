"""The `Attack` layer every attack derives from: its common arguments, the constructor, `generate`
and `get_config` it derives from the pure function's declaration, and its entry in the table of
attack names (`tfls.attacks.table`).

An attack is a pure function (`pgd(model, x, y, ...)`) plus a thin Keras layer holding its config.
The pieces the pure functions share live beside it: `geometry` (projections, random starts),
`gradients` (logits and gradients under EOT), `compiling` (cached `tf.function`s), `restarts`
(`run_on_robust`, `restart_search`) and `call_checks` (input checks).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType

import keras
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks import adaptive, passes, table
from tfls.attacks.call_checks import validate_call
from tfls.attacks.compiling import resolve_jit
from tfls.attacks.params import Param, check_all

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
    A concrete attack of the package is defined with `register=True`
    (`class PGD(Attack, register=True)`) and so enters `tfls.attacks.ATTACKS` under its name;
    any other subclass (a script's, a test's, an abstract one) stays out unless it asks the same.

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

    def __init_subclass__(cls, register: bool = False, **kwargs):
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
        if register:  # `class PGD(Attack, register=True)`: buildable by name (`tfls.attacks.table`)
            table.register(cls)

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
        """The model the attack differentiates (`tfls.attacks.adaptive.adapt`), its passes
        counted (`tfls.attacks.passes`), cached.

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
            cached = passes.counted(adaptive.adapt(self.model, eot=self.eot, bpda=bpda), self.model)
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
