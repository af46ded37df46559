"""The audit's adaptive follow-ups: what the diagnostics found, attacked the way it calls for.

* the model is random at inference (check 2) → EOT: every follow-up attack averages its
  gradients and scores over `eot` draws (and every evaluation scores points over draws);
* layers without a usable gradient (check 4's zero or undefined gradients, located by
  `tfls.attacks.adaptive.find_nondifferentiable`) or whose backward pass disagrees with their
  forward pass (check 15, which names them) → BPDA: those layers straight-through;
* saturated or flat margins (check 4's CE saturation, check 5) → margin and DLR losses.

The follow-up attacks (PGD-20 and APGD-CE with the adaptations, plus the margin/DLR attacks
when called for) run as one evaluation; its per-example bits join the audit's worst case, and
check 17 compares them with the plain attacks (`comparisons.follow_up`).
"""

from __future__ import annotations

from tfls.attacks.adaptive import find_nondifferentiable

ADAPTED = ("pgd20", "apgd-ce")
MARGIN = ("pgd-cw", "apgd-dlr")


def triggers(results: dict, model, x, *, eot: int) -> dict:
    """`{"eot": k, "bpda": [layers], "losses": [...]}` for what the diagnostics in `results`
    (check id → `CheckResult`) call for; empty when nothing does."""
    found: dict = {}
    if _fired(results, 2):
        found["eot"] = int(eot)
    layers: list[str] = []
    if _fired(results, 4):
        layers += find_nondifferentiable(model, x)
    if 15 in results:
        layers += list((results[15].follow_up or {}).get("bpda", []))
    if layers:
        found["bpda"] = sorted(dict.fromkeys(layers))
    saturated = _fired(results, 5) or (
        _fired(results, 4) and results[4].numbers.get("ce_saturated", 0)
    )
    if saturated:
        found["losses"] = list(MARGIN)
    return found


def attacks(found: dict, main_labels) -> tuple[dict, dict]:
    """`(names, overrides)` of the follow-up evaluation for the triggers `found`."""
    adapt = {k: found[k] for k in ("eot", "bpda") if k in found}
    presets = list(ADAPTED) if adapt else []
    presets += [p for p in found.get("losses", []) if adapt or p not in main_labels]
    names = {f"{p}-adaptive": p for p in presets}
    overrides = {label: dict(adapt) for label in names} if adapt else {}
    return names, overrides


def key(found: dict) -> str:
    parts = []
    if "eot" in found:
        parts.append(f"eot{found['eot']}")
    if "bpda" in found:
        parts.append("bpda-" + "+".join(found["bpda"]))
    if "losses" in found:
        parts.append("margin")
    return "follow-up-" + "-".join(parts)


def _fired(results, check_id) -> bool:
    return check_id in results and results[check_id].fired
