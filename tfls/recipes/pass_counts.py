"""A dry run's iteration counts: capped at `--dry-run-steps`, and the model passes they cost.

A dry run caps every iteration count of an attack (`ITERATION_KEYS`) at `--dry-run-steps`; the cost
estimate (`tfls.recipes.cost_estimate`) scales the measured times back up by the model passes per
image of the full settings over the capped ones.
"""

from __future__ import annotations

# Parameters that count iterations, capped by `--dry-run-steps`.
ITERATION_KEYS = (
    "steps",
    "restarts",
    "n_targets",
    "n_queries",
    "max_iterations",
    "binary_search_steps",
    "draws",
    "odi_steps",
)
# Forward-only attacks (a query is one forward pass, not a forward and a backward).
_FORWARD_ONLY = {"Square", "RandomNoise"}


def attack_config(preset: str, params: dict) -> dict:
    """The preset's settings with the recipe's overrides (AutoAttack: per component)."""
    from tfls.attacks.presets import resolved

    return resolved(preset, params)


def capped_params(preset: str, params: dict, cap: int) -> dict:
    """`params` with every iteration count of the attack at most `cap` (AutoAttack: per component)."""
    config = attack_config(preset, params)
    if config["attack"] == "AutoAttack":
        overrides = {
            name: {
                **{k: v for k, v in comp.items() if k != "attack"},
                **{k: min(comp[k], cap) for k in ITERATION_KEYS if k in comp},
            }
            for name, comp in config["components"].items()
        }
        return {**params, "overrides": overrides}
    if config["attack"] == "TransferAttack":
        inner = capped_params(config["inner"], {}, cap)
        return {**params, **{k: v for k, v in inner.items() if k in ITERATION_KEYS}}
    out = dict(params)
    for key in ITERATION_KEYS:
        if isinstance(config.get(key), int) and not isinstance(config.get(key), bool):
            out[key] = min(config[key], cap)
    return out


def gradient_passes(preset: str, params: dict) -> float:
    """Model passes per attacked image, in forward+backward units (a forward counts 1/3).

    PGD-like attacks: steps × restarts (× targets); ODI: restarts × (ODI steps + steps); CW:
    binary-search steps × iterations; Square: queries × restarts forwards; AutoAttack: the sum
    over its components. An upper bound: attacks stop early on points they break.
    """
    config = attack_config(preset, params)
    return _passes(config)


def _passes(config: dict) -> float:
    kind = config["attack"]
    if kind == "AutoAttack":
        return sum(_passes(c) for c in config["components"].values())
    if kind == "TransferAttack":
        from tfls.attacks.presets import resolved

        inner = resolved(config["inner"], {k: config[k] for k in ITERATION_KEYS if k in config})
        return _passes(inner) + 1 / 3
    if kind == "FGSM":
        return 1.0
    if kind in _FORWARD_ONLY:
        return config.get("n_queries", config.get("draws", 1)) * config.get("restarts", 1) / 3
    if kind == "ODI":
        return config["restarts"] * (config["odi_steps"] + config["steps"])
    if kind == "CarliniWagnerL2":
        return config["binary_search_steps"] * config["max_iterations"]
    targets = config.get("n_targets", 1) if config.get("targeted", kind == "FAB") else 1
    return config.get("steps", 1) * config.get("restarts", 1) * targets


def train_passes(config) -> float:
    """Forward+backward passes per training image: natural 1, Madry K + 1, TRADES K + 2⅓."""
    if config.method == "madry":
        return config.attack_steps + 1
    if config.method == "trades":
        return config.attack_steps + 2 + 1 / 3
    return 1.0
