"""An attack's parameters declared once (name, default, check), for its pure function and its layer.

`@declare(steps=Param(20, positive_int), ...)` on the pure function fills defaults and runs the
checks before the body; `class PGD(Attack): function = pgd` derives the layer's `__init__`,
validation, `generate` and `get_config` from the same declaration (see `tfls.attacks.base`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from tfls import _validation as v


@dataclasses.dataclass(frozen=True)
class Param:
    """One attack parameter: its default and `check(value, name) -> normalised value`.

    `check` raises `ValueError` naming the value; `None` accepts the value as given.
    """

    default: Any
    check: Callable[[Any, str], Any] | None = None

    def validate(self, value, name: str):
        return value if self.check is None else self.check(value, name)


def declare(**params: Param) -> Callable[[Callable], Callable]:
    """Declares the parameters of an attack's pure function; exposes them as `fn.params`.

    The function lists each declared name as a keyword-only argument *without* a default (the
    default lives in the declaration); the decorator refuses anything else at import time, so the
    two cannot drift. Calls get defaults filled in and every declared value checked.
    """

    def wrap(fn):
        sig = inspect.signature(fn)
        for name in params:
            p = sig.parameters.get(name)
            if p is None or p.kind is not p.KEYWORD_ONLY or p.default is not p.empty:
                raise TypeError(
                    f"{fn.__name__} must take `{name}` as a keyword-only argument without a "
                    "default: its default is declared in @declare."
                )

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            for name, param in params.items():
                kwargs[name] = param.validate(kwargs.get(name, param.default), name)
            return fn(*args, **kwargs)

        checked.params = MappingProxyType(params)
        checked.__signature__ = sig.replace(
            parameters=[
                p.replace(default=params[p.name].default) if p.name in params else p
                for p in sig.parameters.values()
            ]
        )
        return checked

    return wrap


def check_all(params: Mapping[str, Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (missing names take their defaults) checked against `params`."""
    return {name: p.validate(values.get(name, p.default), name) for name, p in params.items()}


# --------------------------------------------------------------------------------------------
# Checks, in the `(value, name) -> value` form `Param` takes.


def positive_int(value, name):
    return v.check_positive_int(value, name=name)


def nonnegative_int(value, name):
    return v.check_positive_int(value, name=name, minimum=0)


def nonnegative(value, name):
    return v.check_nonnegative(value, name=name)


def flag(value, name):
    del name
    return bool(value)


def choice(choices) -> Callable[[Any, str], Any]:
    """Accepts one of `choices` (any iterable of names, read at check time)."""

    def check(value, name):
        return v.check_choice(value, choices, name=name)

    return check


def optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """`None` (meaning "derive it", e.g. a step size from ε) or a value passing `check`."""

    def check_optional(value, name):
        return None if value is None else check(value, name)

    return check_optional


def interval(low: float, high: float, *, closed: str = "both") -> Callable[[Any, str], float]:
    """A float in the interval from `low` to `high`; `closed` is `"both"`, `"low"` or `"high"`."""
    lo, hi = (
        ("[" if closed in ("both", "low") else "("),
        ("]" if closed in ("both", "high") else ")"),
    )

    def check(value, name):
        value = float(value)
        above = value >= low if lo == "[" else value > low
        below = value <= high if hi == "]" else value < high
        if not (above and below):
            raise ValueError(
                f"`{name}` must lie in {lo}{low:g}, {high:g}{hi}. Received: {name}={value}"
            )
        return value

    return check
