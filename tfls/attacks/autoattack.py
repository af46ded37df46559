"""AutoAttack (Croce & Hein, 2020): a fixed, parameter-free ensemble of diverse attacks.

The standard version runs APGD-CE → APGD-T → FAB-T → Square, each only on the points every earlier
attack failed on; a point counts as robust only if all four fail. The protocol is fixed here, in
code, as fra31/auto-attack fixes it (`STANDARD`, `SETTINGS`); the presets of the same names
(`tfls.attacks.PRESETS`) are built from it, not the other way round.
"""

from __future__ import annotations

from types import MappingProxyType

import keras
import tensorflow as tf

from tfls import _validation as v
from tfls.attacks.apgd import APGD
from tfls.attacks.base import Attack
from tfls.attacks.fab import FAB
from tfls.attacks.gradients import forward, misclassified
from tfls.attacks.params import Param, choice, declare
from tfls.attacks.restarts import run_on_robust
from tfls.attacks.square import Square

# Each component: its attack class and its settings in AutoAttack's standard version (Croce &
# Hein 2020, fra31/auto-attack): 100 iterations, one restart, 9 target classes, 5000 queries.
SETTINGS = MappingProxyType(
    {
        "apgd-ce": (APGD, MappingProxyType({"steps": 100, "restarts": 1, "loss": "ce"})),
        "apgd-dlr": (APGD, MappingProxyType({"steps": 100, "restarts": 1, "loss": "dlr"})),
        "apgd-t": (
            APGD,
            MappingProxyType(
                {"steps": 100, "restarts": 1, "loss": "dlr", "targeted": True, "n_targets": 9}
            ),
        ),
        "fab-t": (FAB, MappingProxyType({"steps": 100, "restarts": 1, "n_targets": 9})),
        "square": (Square, MappingProxyType({"n_queries": 5000, "p_init": 0.8, "restarts": 1})),
    }
)
COMPONENTS = tuple(SETTINGS)
STANDARD = ("apgd-ce", "apgd-t", "fab-t", "square")
VERSIONS = {"standard": STANDARD, "custom": None}


def build_components(
    model,
    *,
    eps,
    norm="linf",
    version="standard",
    attacks=None,
    overrides=None,
    seed=0,
    jit_compile="auto",
    eot=1,
    bpda=None,
) -> list[tuple[str, Attack]]:
    """The `(name, attack)` pairs AutoAttack runs, in order, all at radius `eps` in `norm` (and,
    for an adaptive AutoAttack, all with its `eot` draws and `bpda` layers)."""
    names = _check_names(version, attacks)
    overrides = _check_overrides(overrides)
    built = []
    for name in names:
        cls, settings = SETTINGS[name]
        spec = {**settings, **overrides.get(name, {})}
        attack = cls(
            model,
            eps=eps,
            norm=norm,
            seed=seed,
            jit_compile=jit_compile,
            eot=eot,
            bpda=bpda,
            name=name.replace("-", "_"),
            **spec,
        )
        built.append((name, attack))
    return built


def _check_attacks(attacks, name):
    """`None` or a list of component names (their order is the run order)."""
    if attacks is None:
        return None
    if isinstance(attacks, str):
        raise ValueError(
            f"`{name}` must be a list of component names. Received: {name}={attacks!r}"
        )
    return [v.check_choice(a, COMPONENTS, name="AutoAttack component") for a in attacks]


def _copy_overrides(overrides, name):
    del name
    return {k: dict(val) for k, val in _check_overrides(overrides).items()}


@declare(
    version=Param("standard", choice(VERSIONS)),
    attacks=Param(None, _check_attacks),
    overrides=Param(None, _copy_overrides),
)
def autoattack(
    model,
    x,
    y,
    *,
    eps,
    norm="linf",
    version,
    attacks,
    overrides,
    seed=0,
    jit_compile="auto",
    return_robust=False,
):
    """Runs AutoAttack and returns adversarial examples (one tensor shaped like `x`).

    Args:
        model: Keras model from [0, 1] inputs to logits.
        x: float32 inputs in [0, 1]. y: int labels.
        eps: ball radius. norm: `"linf"` or `"l2"`.
        version: `"standard"` (APGD-CE, APGD-T, FAB-T, Square) or `"custom"` (with `attacks`).
        attacks: for `version="custom"`, component names in order, from `COMPONENTS`.
        overrides: `{component: {argument: value}}` replacing its standard settings, e.g.
            `{"square": {"n_queries": 1000}}`.
        seed: seed of every component. jit_compile: `True`, `False` or `"auto"`.
        return_robust: also return `{component: boolean robust mask after it}`.

    Returns:
        A tensor of `x`'s shape inside the ε-ball and [0, 1]; where every component failed, the
        last component's answer. With `return_robust`, `(x_adv, robust_after)`.

    Reference:
        Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
        parameter-free attacks", ICML 2020.
    """
    norm = v.check_norm(norm)
    eps = v.check_eps(eps, norm=norm)
    components = build_components(
        model,
        eps=eps,
        norm=norm,
        version=version,
        attacks=attacks,
        overrides=overrides,
        seed=seed,
        jit_compile=jit_compile,
    )
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int32)
    x_adv, robust_after = run_components(model, components, x, y, eps=eps)
    return (x_adv, robust_after) if return_robust else x_adv


def run_components(model, components, x, y, *, eps):
    """Runs each `(name, attack)` on the points all earlier ones failed on.

    Returns `(x_adv, robust_after)`, the latter mapping each name to the robust mask after it.
    """
    x_adv = x
    robust = tf.logical_not(misclassified(forward(model, x), y))
    robust_after = {}
    for name, attack in components:
        if eps > 0.0 and (not tf.executing_eagerly() or bool(tf.reduce_any(robust))):
            (x_adv,) = run_on_robust(attack.generate, robust, (x, y), (x_adv,))
            robust = tf.logical_and(robust, tf.logical_not(misclassified(forward(model, x_adv), y)))
        robust_after[name] = robust
    return x_adv, robust_after


def _check_names(version, attacks) -> tuple[str, ...]:
    v.check_choice(version, VERSIONS, name="AutoAttack version")
    if version == "custom":
        if not attacks:
            raise ValueError(
                "version='custom' needs a non-empty list of components, e.g. attacks=['apgd-ce', "
                f"'square']. Received: attacks={attacks!r}"
            )
        return tuple(_check_attacks(attacks, "attacks"))
    if attacks is not None:
        raise ValueError(
            f"`attacks` is only read with version='custom'; version={version!r} fixes its own "
            f"list. Received: attacks={attacks!r}"
        )
    return VERSIONS[version]


def _check_overrides(overrides) -> dict:
    overrides = dict(overrides or {})
    for name, value in overrides.items():
        v.check_choice(name, COMPONENTS, name="AutoAttack component in overrides")
        if not isinstance(value, dict):
            raise ValueError(
                "Each override must be a dict of arguments. "
                f"Received: overrides[{name!r}]={value!r}"
            )
        for key in ("eps", "norm", "seed", "jit_compile", "eot", "bpda", "model"):
            if key in value:
                raise ValueError(
                    f"AutoAttack sets `{key}` for every component; set it on AutoAttack itself. "
                    f"Received: overrides[{name!r}][{key!r}]"
                )
    return overrides


@keras.saving.register_keras_serializable(package="tfls")
class AutoAttack(Attack, register=True):
    """AutoAttack as a Keras layer: APGD-CE → APGD-T → FAB-T → Square on still-robust points.

    Args:
        model: Keras model from [0, 1] inputs to logits.
        eps: ball radius (`8/255`). norm: `"linf"` or `"l2"`.
        version: `"standard"` or `"custom"`. attacks: component names for `"custom"`.
        overrides: `{component: {argument: value}}`, e.g. cheaper settings for a quick look.
        seed: seed of every component. jit_compile: `True`, `False` or `"auto"`.

    Example:
        >>> x_adv = AutoAttack(model, eps=8 / 255)(x, y)

    Reference:
        Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
        parameter-free attacks", ICML 2020.
    """

    function = autoattack

    def _init_parts(self):
        # Build once: every bad argument (here or in a component) is refused before any work.
        self.components = build_components(
            self.model,
            eps=self.eps,
            norm=self.norm,
            version=self.version,
            attacks=self.attacks,
            overrides=self.overrides,
            seed=self.seed,
            jit_compile=self.jit_compile,
            eot=self.eot,
            bpda=self.bpda,
        )

    def build(self, *args, **kwargs):
        # Components hold no weights. Without this, Keras would run the whole ensemble
        # symbolically once just to "build" the unbuilt sub-layers.
        for _, attack in self.components:
            attack.built = True
        self.built = True

    def generate(self, x, y):
        # Between components a point counts as fooled by the expected prediction (under EOT).
        return run_components(self.adapted(x), self.components, x, y, eps=self.eps)[0]
