"""AutoAttack's components and their budgets, as every runner of `tfls bench autoattack` reads them.

tfls' own rows, IBM ART's (`tfls.bench.autoattack`) and the PyTorch peers' (`tfls.bench.pytorch`)
take a component's budget from `spec`, so the four run the same steps, restarts and queries.
"""

from __future__ import annotations

from tfls.attacks.autoattack import SETTINGS, STANDARD

FULL = "autoattack"  # the whole standard AutoAttack, as one row


def spec(component: str, overrides: dict | None = None) -> dict:
    """A component's budget: AutoAttack's standard `SETTINGS` with the bench's `overrides`."""
    return {**SETTINGS[component][1], **(overrides or {}).get(component, {})}


def budget(name: str, overrides: dict | None = None) -> str:
    """The component's budget in words, the same for tfls and ART."""
    if name == FULL:
        return "standard: " + ", ".join(budget(c, overrides) for c in STANDARD)
    s = spec(name, overrides)
    if name == "square":
        return f"{name} {s['n_queries']} queries, p_init {s['p_init']}, {s['restarts']} restart"
    targets = f", {s['n_targets']} targets" if s.get("n_targets") else ""
    return f"{name} {s['steps']} steps, {s['restarts']} restart{targets}"
