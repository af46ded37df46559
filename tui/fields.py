"""The app's typed fields read as values: ε lists and whole numbers, each refused in one line."""

from __future__ import annotations

import re


def parse_eps_list(text: str, *, norm: str = "linf", name: str = "eps") -> list[tuple[str, float]]:
    """`"2/255, 4/255 0.03"` → `[("2/255", 0.0078…), …]`; every value checked for `norm`."""
    from tfls._validation import check_eps

    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        return [(p, check_eps(p, name=name, norm=norm)) for p in parts]
    except ValueError as e:
        # parse_eps always says `eps=`; name the field the user actually typed in.
        raise ValueError(str(e).replace("eps=", f"{name}=")) from None


def parse_positive_int(text: str, *, name: str, minimum: int = 1) -> int:
    text = str(text).strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"`{name}` must be a whole number >= {minimum}. Received: {name}={text!r}"
        ) from None
    if value < minimum:
        raise ValueError(f"`{name}` must be a whole number >= {minimum}. Received: {name}={value}")
    return value
