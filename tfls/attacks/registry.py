"""The attack classes by name, and `get(name, model, eps=...)`: a preset of `PRESETS` built.

`tfls.attacks` registers every attack class here when it is imported (always before any of its
modules, Python imports a package first), so the modules that build attacks by name (`suites`,
`transfer`) import this module, not the package that imports them.
"""

from __future__ import annotations

from tfls._validation import check_choice, check_eps
from tfls.attacks.base import Attack
from tfls.attacks.presets import PRESETS

ATTACKS: dict[str, type[Attack]] = {}


def register(*classes: type[Attack]) -> None:
    """Makes `classes` buildable by name (their `__name__`, the `attack` of a preset)."""
    for cls in classes:
        ATTACKS[cls.__name__] = cls


def get(name: str, model, *, eps, **overrides) -> Attack:
    """Builds the preset `name` (see `PRESETS`) against `model` at radius `eps`.

    `overrides` replace any preset argument, e.g. `get("pgd20", model, eps=8/255, restarts=5)`.
    """
    check_choice(name, PRESETS, name="attack preset")
    spec = dict(PRESETS[name])
    cls = ATTACKS[spec.pop("attack")]
    eps = check_eps(eps, norm=overrides.get("norm", spec.get("norm", "linf")))
    if "step_size_eps" in spec:
        ratio = spec.pop("step_size_eps")
        spec.setdefault("step_size", ratio * eps)
    spec.update(overrides)
    build = getattr(cls, "from_preset", cls)  # e.g. TransferAttack: `model` is the target
    return build(model, eps=eps, name=name.replace("-", "_"), **spec)
