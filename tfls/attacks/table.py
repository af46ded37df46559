"""The one table of attack classes by name (`ATTACKS`), filled as the classes are defined.

An attack class enters it by asking to when it is defined, `class PGD(Attack, register=True)`
(`tfls.attacks.base.Attack.__init_subclass__`), under its `__name__`: the `attack` a preset of
`tfls.attacks.PRESETS` names. A subclass that does not ask (an abstract intermediate, a mixin, a
subclass written in a script or a test) stays out, so it never shadows a built-in name. This
module imports nothing of the package, so `base` (which fills the table) and `registry` (which
builds presets from it) both sit above it.
"""

from __future__ import annotations

ATTACKS: dict[str, type] = {}


def register(*classes: type) -> None:
    """Makes `classes` buildable by name (their `__name__`, the `attack` of a preset).

    A name already taken by another class is refused (`ValueError` naming both); registering the
    same class again changes nothing.
    """
    for cls in classes:
        name = cls.__name__
        existing = ATTACKS.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(
                f"An attack named {name!r} is already registered "
                f"({existing.__module__}.{existing.__qualname__}); cannot register "
                f"{cls.__module__}.{cls.__qualname__} under the same name."
            )
        ATTACKS[name] = cls
