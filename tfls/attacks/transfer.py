"""Transfer (black-box) attack: craft adversarial examples on a source model, score any target.

The paper's Section 3.5 crafts on a naturally trained model and shows that label-smoothed models,
robust-looking under white-box PGD, fall to those transferred points (Table 6).
"""

from __future__ import annotations

import keras

from tfls import _validation as v
from tfls.attacks.base import Attack


@keras.saving.register_keras_serializable(package="tfls")
class TransferAttack(Attack, register=True):
    """Runs `attack` against `source_model` and returns its points, to be scored on any target.

    The layer never calls the target model: whatever model `tfls.eval.evaluate` scores, the
    points are those crafted on the source, so ε, norm and seed are the inner attack's.

    Args:
        source_model: Keras model from [0, 1] inputs to logits that the attack differentiates.
        attack: an `Attack` built on `source_model`, or a preset name (`"pgd20"`, `"fgsm"`, ...)
            built with `tfls.attacks.get(attack, source_model, eps=eps)`.
        eps: required with a preset name; with an `Attack`, omit it or pass the attack's own ε.
        seed: with a preset name, the inner attack's seed (default 0).
        jit_compile: with a preset name, the inner attack's setting.
        **kwargs: forwarded to `keras.layers.Layer`.

    Returns:
        The inner attack's adversarial inputs against `source_model`, of `x`'s shape.

    Example:
        >>> transfer = TransferAttack(natural_model, "pgd20", eps=8 / 255)
        >>> x_adv = transfer(x, y)
        >>> robust = np.mean(np.argmax(smoothed_model(x_adv), -1) == y)

        Through presets the model given to `get` is the target, and the source is named:
        >>> tfls.attacks.get("transfer-pgd20", target_model, eps=8 / 255, source=natural_model)

    Reference:
        Papernot, McDaniel & Goodfellow, "Transferability in Machine Learning", 2016; the
        paper's Section 3.5 and Table 6.
    """

    def __init__(
        self, source_model, attack="pgd20", eps=None, seed=None, jit_compile="auto", **kwargs
    ):
        if isinstance(source_model, dict):
            source_model = keras.saving.deserialize_keras_object(source_model)
        if isinstance(attack, dict):
            attack = _deserialize_inner(attack, source_model)
        if isinstance(attack, str):
            if eps is None:
                raise ValueError(
                    f"TransferAttack with the preset {attack!r} needs eps (e.g. eps=8/255). "
                    "Received: eps=None"
                )
            from tfls.attacks.registry import get

            inner_kwargs = {"jit_compile": jit_compile}
            if seed is not None:
                inner_kwargs["seed"] = seed
            attack = get(attack, source_model, eps=eps, **inner_kwargs)
        if not isinstance(attack, Attack):
            raise ValueError(
                f"`attack` must be a tfls Attack or a preset name. Received: attack={attack!r}"
            )
        if isinstance(attack, TransferAttack):
            raise ValueError("`attack` must craft on the source itself, not be a TransferAttack.")
        if attack.model is not source_model:
            raise ValueError(
                "`attack` must be built on `source_model` (it differentiates through its own "
                f"model). Received: attack.model={attack.model.name!r}, "
                f"source_model={getattr(source_model, 'name', source_model)!r}"
            )
        if eps is not None and v.check_eps(eps, norm=attack.norm) != attack.eps:
            raise ValueError(
                f"`eps` disagrees with the inner attack's ε={attack.eps}. Received: eps={eps}"
            )
        if seed is not None and int(seed) != attack.seed:
            raise ValueError(
                f"`seed` disagrees with the inner attack's seed={attack.seed}. "
                f"Received: seed={seed}"
            )
        super().__init__(
            source_model,
            eps=attack.eps,
            norm=attack.norm,
            seed=attack.seed,
            jit_compile=attack.jit_compile,
            **kwargs,
        )
        self.attack = attack
        # No weights of its own; the inner attack and the model are built already or need no
        # build. Without this Keras warns about "unbuilt state" on the first call.
        self.built = True

    @property
    def source_model(self):
        return self.model

    @classmethod
    def from_preset(cls, target_model, *, eps, source=None, inner="pgd20", name=None, **overrides):
        """Builds `transfer-*` presets: `get` passes the target; the source must be named.

        `target_model` is unused (a transfer attack never queries it) but refusing to guess the
        source keeps `get("transfer-pgd20", model, eps=...)` from silently running white-box PGD.
        """
        del target_model
        if source is None:
            raise ValueError(
                "Transfer presets need the source model to craft on: "
                "get('transfer-pgd20', target_model, eps=..., source=source_model). "
                "Received: source=None"
            )
        from tfls.attacks.registry import get

        return cls(source, get(inner, source, eps=eps, **overrides), name=name)

    def generate(self, x, y):
        return self.attack.generate(x, y)

    def get_config(self):
        config = super().get_config()
        # The inner attack's config repeats the source model; store it once.
        inner = keras.saving.serialize_keras_object(self.attack)
        inner["config"] = {k: val for k, val in inner["config"].items() if k != "model"}
        config["source_model"] = config.pop("model")
        for key in ("eps", "norm", "seed", "jit_compile", "eot", "bpda"):
            config.pop(key)  # the inner attack's
        config["attack"] = inner
        return config


def _deserialize_inner(serialized: dict, source_model):
    config = dict(serialized["config"], model=source_model)
    return keras.saving.deserialize_keras_object({**serialized, "config": config})
