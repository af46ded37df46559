"""A spec's `[[claims]]` entries: their keys checked, and each judged on a recipe's measures.

An entry names a claim (`C1`–`C8`) and the model and attack ids whose numbers it reads
(`CLAIM_KEYS`); `evaluate_claim` looks those numbers up and hands them to the pure check of the
same claim in `tfls.recipes.claims`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tfls.recipes.claims import (
    STATEMENTS,
    ClaimResult,
    _missing,
    c1_ls_above_natural,
    c2_alpha_peak,
    c3_logit_range_shrinks,
    c4_more_steps,
    c5_strong_attacks,
    c6_cw_start,
    c7_tanh,
    c8_transfer,
)

# Keys each claim entry takes (besides `id` and an optional `variant` label).
CLAIM_KEYS = {
    "C1": {"rows", "attack"},
    "C2": {"model", "attack"},
    "C3": {"model"},
    "C4": {"model", "attacks"},
    "C5": {"ls", "adversarial", "baseline", "strong"},
    "C6": {"ls", "others", "zero", "input"},
    "C7": {"model", "step_size", "steps"},
    "C8": {"ls", "adversarial", "attacks"},
}
_MODEL_KEYS = {"rows", "model", "ls", "adversarial", "others"}
_ATTACK_KEYS = {"attack", "attacks", "baseline", "strong", "zero", "input", "step_size", "steps"}


def check_claim_spec(entry: dict, *, model_ids, attack_ids, where: str) -> None:
    """Validates one `[[claims]]` entry: its keys, and that the ids it names exist."""
    cid = entry["id"]
    allowed = CLAIM_KEYS[cid] | {"id", "variant"}
    extra = sorted(set(entry) - allowed)
    missing = sorted(CLAIM_KEYS[cid] - set(entry))
    if extra or missing:
        raise ValueError(
            f"{where}: claim {cid} takes keys {sorted(CLAIM_KEYS[cid])} (and `variant`). "
            f"Received: unknown {extra}, missing {missing}"
        )
    for key, values in entry.items():
        if key in ("id", "variant"):
            continue
        if isinstance(values, list) and not values:
            raise ValueError(f"{where}.{key} is an empty list. Received: {key}=[]")
        if not isinstance(values, (str, list)):
            raise ValueError(
                f"{where}.{key} must be an id or a list of ids. Received: {key}={values!r}"
            )
        flat = _flatten(values)
        if key in _MODEL_KEYS:
            for mid in flat:
                if mid not in model_ids:
                    raise ValueError(
                        f"{where}.{key} names unknown model {mid!r}. "
                        f"Expected one of {sorted(model_ids)}"
                    )
        if key in _ATTACK_KEYS:
            for aid in flat:
                if aid != "clean" and aid not in attack_ids:
                    raise ValueError(
                        f"{where}.{key} names unknown attack {aid!r}. "
                        f"Expected one of {sorted(attack_ids)}"
                    )
    _check_shapes(entry, where)


def _check_shapes(entry: dict, where: str) -> None:
    cid = entry["id"]
    if cid == "C1" and not all(isinstance(r, list) and len(r) == 2 for r in entry["rows"]):
        raise ValueError(
            f"{where}.rows must be [natural id, LS id] pairs. Received: rows={entry['rows']!r}"
        )
    if cid == "C4" and (not isinstance(entry["attacks"], list) or len(entry["attacks"]) != 3):
        raise ValueError(
            f"{where}.attacks must name the PGD-10, PGD-20 and PGD-40 columns. "
            f"Received: attacks={entry['attacks']!r}"
        )


def _flatten(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return []


class _Missing(KeyError):
    pass


def evaluate_claim(entry: dict, measures: Mapping, groups: Mapping) -> ClaimResult:
    """Judges one claim entry on `measures[model_id][measure] → value` (accuracies as fractions).

    `groups` maps a spec entry id to what it expanded into: for models `{group: {α: model_id}}`
    under key "models", for attacks `{group: {value: attack_id}}` under key "attacks".
    """
    cid = entry["id"]
    variant = entry.get("variant", "")

    def get(model_id, measure):
        try:
            value = measures[model_id][measure]
        except KeyError:
            raise _Missing(f"{model_id}/{measure}") from None
        if value is None:
            raise _Missing(f"{model_id}/{measure}")
        return float(value)

    def model_sweep(group):
        sweep = groups["models"].get(group) or {}
        if not sweep:
            raise _Missing(f"models of {group}")
        return sweep

    try:
        if cid == "C1":
            rows = {
                f"{nat}/{ls}": (get(nat, entry["attack"]), get(ls, entry["attack"]))
                for nat, ls in entry["rows"]
            }
            result = c1_ls_above_natural(rows)
        elif cid == "C2":
            sweep = model_sweep(entry["model"])
            acc = {}
            for alpha, mid in sweep.items():
                try:
                    acc[alpha] = get(mid, entry["attack"])
                except _Missing:
                    continue
            result = c2_alpha_peak(acc)
        elif cid == "C3":
            sweep = model_sweep(entry["model"])
            ranges = {}
            for alpha, mid in sweep.items():
                try:
                    ranges[alpha] = (get(mid, "logit_min"), get(mid, "logit_max"))
                except _Missing:
                    continue
            result = c3_logit_range_shrinks(ranges)
        elif cid == "C4":
            m = entry["model"]
            a10, a20, a40 = entry["attacks"]
            result = c4_more_steps(get(m, a10), get(m, a20), get(m, a40))
        elif cid == "C5":
            needed = [entry["baseline"], *entry["strong"]]
            ls = {k: get(entry["ls"], k) for k in needed}
            adv = {m: {k: get(m, k) for k in needed} for m in entry["adversarial"]}
            result = c5_strong_attacks(
                ls, adv, baseline=entry["baseline"], strong=list(entry["strong"])
            )
        elif cid == "C6":
            z, i = entry["zero"], entry["input"]
            result = c6_cw_start(
                (get(entry["ls"], z), get(entry["ls"], i)),
                {m: (get(m, z), get(m, i)) for m in entry["others"]},
            )
        elif cid == "C7":
            m = entry["model"]
            by_eta = _attack_sweep(groups, entry["step_size"], lambda aid: get(m, aid))
            by_steps = {
                g: _attack_sweep(groups, g, lambda aid: get(m, aid)) for g in entry["steps"]
            }
            result = c7_tanh(by_eta, by_steps)
        elif cid == "C8":
            verdicts = []
            for attack in entry["attacks"]:
                verdicts.append(
                    c8_transfer(
                        (get(entry["ls"], "clean"), get(entry["ls"], attack)),
                        {m: (get(m, "clean"), get(m, attack)) for m in entry["adversarial"]},
                        attack=attack,
                    )
                )
            held = all(r.held for r in verdicts)
            result = ClaimResult(
                "C8",
                STATEMENTS["C8"],
                held,
                verdicts[0].criterion + " — for every transferred attack",
                " | ".join(f"{r.variant}: {r.detail} ({r.verdict})" for r in verdicts),
            )
        else:  # pragma: no cover - ids are validated with the spec
            raise ValueError(f"Unknown claim id. Received: id={cid!r}")
    except _Missing as e:
        criterion = ""
        return dataclasses.replace(_missing(cid, criterion, str(e.args[0])), variant=variant)
    return dataclasses.replace(result, variant=variant or result.variant)


def _attack_sweep(groups, group: str, value_of) -> dict[float, float]:
    sweep = groups["attacks"].get(group) or {}
    out = {}
    for value, aid in sweep.items():
        try:
            out[value] = value_of(aid)
        except _Missing:
            continue
    return out
