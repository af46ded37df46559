"""`--set key=value` overrides: parsing them and applying them to a spec's scale section."""

from __future__ import annotations

import copy
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the `tomli` package
    import tomli as tomllib


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"train.epochs=10"` → `(["train", "epochs"], 10)`; the value is TOML, else a string."""
    if "=" not in text:
        raise ValueError(
            f"An override must look like key=value (e.g. train.epochs=10). Received: {text!r}"
        )
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ValueError(f"An override needs a key before '='. Received: {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return path, parsed


def apply_overrides(scale: dict, overrides) -> dict:
    """Returns a copy of a scale section with `--set` overrides (strings or `(path, value)`)."""
    scale = copy.deepcopy(scale)
    for item in overrides or ():
        path, value = parse_override(item) if isinstance(item, str) else item
        node = scale
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(
                    f"Override {'.'.join(path)} goes through {part!r}, which is not a table. "
                    f"Received: {'.'.join(path)}={value!r}"
                )
            node = child
        node[path[-1]] = value
    return scale
