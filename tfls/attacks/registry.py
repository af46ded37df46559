"""`get(name, model, eps=...)`: a preset of `PRESETS` built from its class in `ATTACKS`.

Every attack class enters `tfls.attacks.table.ATTACKS` as it is defined; `tfls.attacks` imports
every attack module (always before any of them is used, Python imports a package first), so the
modules that build attacks by name (`suites`, `transfer`) import this module, not the package
that imports them.
"""

from __future__ import annotations

from tfls._validation import check_choice, check_eps
from tfls.attacks.base import Attack
from tfls.attacks.presets import PRESETS
from tfls.attacks.table import ATTACKS


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
