"""The paper's claims C1–C8 as pure checks on numbers, and adapters feeding them a recipe's results.

Each `cN_*` function takes plain numbers (accuracies as fractions in [0, 1], logits as they are)
and returns a `ClaimResult` saying whether the claim held, with the numbers behind the verdict.
The thresholds are written next to each check and printed with it: a verdict is only as good as
its criterion, so the criterion is part of the output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

STATEMENTS = {
    "C1": "LS (α=0.9) PGD-20 accuracy far above the natural model's (Table 1)",
    "C2": "robust accuracy rises with α beyond 0.3 and peaks near 0.9 (Figure 2)",
    "C3": "the logit range shrinks as α grows (Table 2)",
    "C4": "LS PGD accuracy rises from PGD-10 to PGD-20/40 (Table 4)",
    "C5": "MT, ODI and AutoAttack collapse LS but barely move Madry/TRADES (Table 4)",
    "C6": "CW-L2 from x0=0 breaks LS far more than from x0=x (Table 5)",
    "C7": "larger steps and more steps of the tanh attack break LS more (Figure 3)",
    "C8": "transfer from a natural model breaks LS, not Madry/TRADES (Table 6)",
}


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict: `held` is True, False, or None when the numbers to judge are missing."""

    id: str
    statement: str
    held: bool | None
    criterion: str
    detail: str
    variant: str = ""

    @property
    def verdict(self) -> str:
        return {True: "held", False: "not held", None: "n/a"}[self.held]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "verdict": self.verdict}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _missing(cid: str, criterion: str, what: str, variant: str = "") -> ClaimResult:
    return ClaimResult(cid, STATEMENTS[cid], None, criterion, f"missing numbers: {what}", variant)


# --------------------------------------------------------------------------------------------
# The checks (pure)


def c1_ls_above_natural(
    rows: Mapping[str, tuple[float, float]], *, min_gap: float = 0.20
) -> ClaimResult:
    """`rows`: name → (natural acc., LS acc.) under one attack; held if every gap ≥ `min_gap`."""
    criterion = f"LS − natural ≥ {100 * min_gap:.0f} points on every row"
    if not rows:
        return _missing("C1", criterion, "no rows")
    gaps = {k: ls - nat for k, (nat, ls) in rows.items()}
    detail = "; ".join(
        f"{k}: natural {_pct(n)}, LS {_pct(s)} (gap {100 * (s - n):+.1f})"
        for k, (n, s) in rows.items()
    )
    return ClaimResult(
        "C1", STATEMENTS["C1"], all(g >= min_gap for g in gaps.values()), criterion, detail
    )


def c2_alpha_peak(
    acc_by_alpha: Mapping[float, float],
    *,
    knee: float = 0.3,
    peak_from: float = 0.8,
    min_rise: float = 0.10,
) -> ClaimResult:
    """Held if the best α is ≥ `peak_from` and beats every α ≤ `knee` by ≥ `min_rise`."""
    criterion = (
        f"argmax_α accuracy ≥ {peak_from:g} and max over α>{knee:g} exceeds max over α≤{knee:g} "
        f"by ≥ {100 * min_rise:.0f} points"
    )
    low = {a: x for a, x in acc_by_alpha.items() if a <= knee}
    high = {a: x for a, x in acc_by_alpha.items() if a > knee}
    if not low or not high:
        return _missing(
            "C2", criterion, f"need α on both sides of {knee:g}; have {sorted(acc_by_alpha)}"
        )
    best = max(acc_by_alpha, key=lambda a: (acc_by_alpha[a], a))
    rise = max(high.values()) - max(low.values())
    detail = ", ".join(f"α={a:g}: {_pct(x)}" for a, x in sorted(acc_by_alpha.items()))
    detail += f"; peak at α={best:g}; rise {100 * rise:+.1f} points"
    return ClaimResult(
        "C2", STATEMENTS["C2"], best >= peak_from and rise >= min_rise, criterion, detail
    )


def _spearman(a, b) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def c3_logit_range_shrinks(
    range_by_alpha: Mapping[float, tuple[float, float]],
    *,
    max_rho: float = -0.9,
    max_ratio: float = 0.5,
) -> ClaimResult:
    """`range_by_alpha`: α → (min logit, max logit). Held if the width falls with α (Spearman ρ ≤
    `max_rho`) and the largest α's width is at most `max_ratio` × the smallest α's."""
    criterion = (
        f"Spearman ρ(α, max−min) ≤ {max_rho:g} and width(α_max) ≤ {max_ratio:g}·width(α_min)"
    )
    if len(range_by_alpha) < 2:
        return _missing("C3", criterion, f"need ≥ 2 values of α; have {sorted(range_by_alpha)}")
    alphas = sorted(range_by_alpha)
    widths = [range_by_alpha[a][1] - range_by_alpha[a][0] for a in alphas]
    rho = _spearman(alphas, widths)
    held = rho <= max_rho and widths[-1] <= max_ratio * widths[0]
    detail = (
        ", ".join(
            f"α={a:g}: [{range_by_alpha[a][0]:.2f}, {range_by_alpha[a][1]:.2f}] (width {w:.2f})"
            for a, w in zip(alphas, widths, strict=True)
        )
        + f"; ρ={rho:.2f}"
    )
    return ClaimResult("C3", STATEMENTS["C3"], held, criterion, detail)


def c4_more_steps(
    pgd10: float, pgd20: float, pgd40: float, *, min_rise: float = 0.02, variant: str = ""
) -> ClaimResult:
    """Held if LS accuracy under PGD-20 and under PGD-40 each exceed PGD-10's by ≥ `min_rise`."""
    rise = f"{100 * min_rise:.0f} points"
    criterion = f"PGD-20 − PGD-10 ≥ {rise} and PGD-40 − PGD-10 ≥ {rise} (LS)"
    held = pgd20 - pgd10 >= min_rise and pgd40 - pgd10 >= min_rise
    detail = f"LS: PGD-10 {_pct(pgd10)}, PGD-20 {_pct(pgd20)}, PGD-40 {_pct(pgd40)}"
    return ClaimResult("C4", STATEMENTS["C4"], held, criterion, detail, variant)


def c5_strong_attacks(
    ls: Mapping[str, float],
    adversarial: Mapping[str, Mapping[str, float]],
    *,
    baseline: str,
    strong: list[str],
    collapse: float = 0.5,
    barely: float = 0.05,
    min_baseline: float = 0.10,
) -> ClaimResult:
    """`ls`, `adversarial[m]`: attack → accuracy. Held if on LS every strong attack leaves at most
    (1 − `collapse`) of the baseline's accuracy (which must be ≥ `min_baseline`: nothing collapses
    from zero) and on each adversarially trained model no strong attack costs more than `barely`."""
    criterion = (
        f"LS: {baseline} ≥ {_pct(min_baseline)} and each of {strong} "
        f"≤ {1 - collapse:g}×{baseline}; "
        f"Madry/TRADES: {baseline} − each ≤ {100 * barely:.0f} points"
    )
    needed = [baseline, *strong]
    if any(k not in ls for k in needed) or any(
        k not in d for d in adversarial.values() for k in needed
    ):
        return _missing("C5", criterion, f"need {needed} on LS and {sorted(adversarial)}")
    ls_ok = ls[baseline] >= min_baseline and all(
        ls[k] <= (1 - collapse) * ls[baseline] for k in strong
    )
    adv_ok = all(d[baseline] - d[k] <= barely for d in adversarial.values() for k in strong)
    parts = ["LS: " + ", ".join(f"{k} {_pct(ls[k])}" for k in needed)]
    parts += [
        f"{m}: " + ", ".join(f"{k} {_pct(d[k])}" for k in needed) for m, d in adversarial.items()
    ]
    return ClaimResult("C5", STATEMENTS["C5"], ls_ok and adv_ok, criterion, "; ".join(parts))


def c6_cw_start(
    ls: tuple[float, float],
    others: Mapping[str, tuple[float, float]],
    *,
    min_gap: float = 0.15,
    margin: float = 0.10,
) -> ClaimResult:
    """`ls`, `others[m]`: (accuracy from x0=0, accuracy from x0=x). Held if LS loses ≥ `min_gap`
    more from the black start, and that loss beats every other model's by ≥ `margin`."""
    criterion = (
        f"LS: acc(x0=x) − acc(x0=0) ≥ {100 * min_gap:.0f} points, "
        f"and ≥ {100 * margin:.0f} points more "
        "than for each adversarially trained model"
    )
    gap = ls[1] - ls[0]
    held = gap >= min_gap and all(gap - (o[1] - o[0]) >= margin for o in others.values())
    parts = [f"LS: x0=0 {_pct(ls[0])}, x0=x {_pct(ls[1])}"]
    parts += [f"{m}: x0=0 {_pct(o[0])}, x0=x {_pct(o[1])}" for m, o in others.items()]
    return ClaimResult("C6", STATEMENTS["C6"], held, criterion, "; ".join(parts))


def c7_tanh(
    by_step_size: Mapping[float, float],
    by_steps: Mapping[str, Mapping[float, float]],
    *,
    min_drop: float = 0.05,
) -> ClaimResult:
    """LS accuracy under the tanh attack. Held if the largest step size leaves ≥ `min_drop` less
    accuracy than the smallest, and on at least one steps sweep the most steps leave ≥ `min_drop`
    less than the fewest (at a large step the attack may already be at its floor)."""
    criterion = (
        f"acc(η_min) − acc(η_max) ≥ {100 * min_drop:.0f} points and, on some η, "
        f"acc(K_min) − acc(K_max) ≥ {100 * min_drop:.0f} points (LS)"
    )
    if len(by_step_size) < 2 or not by_steps or any(len(s) < 2 for s in by_steps.values()):
        return _missing("C7", criterion, "need ≥ 2 step sizes and ≥ 2 step counts")
    etas = sorted(by_step_size)
    eta_drop = by_step_size[etas[0]] - by_step_size[etas[-1]]
    step_drops = {}
    for name, sweep in by_steps.items():
        ks = sorted(sweep)
        step_drops[name] = sweep[ks[0]] - sweep[ks[-1]]
    held = eta_drop >= min_drop and max(step_drops.values()) >= min_drop
    detail = "step size: " + ", ".join(f"η={e:g}: {_pct(by_step_size[e])}" for e in etas)
    for name, sweep in by_steps.items():
        detail += f"; steps ({name}): " + ", ".join(
            f"K={k:g}: {_pct(x)}" for k, x in sorted(sweep.items())
        )
    return ClaimResult("C7", STATEMENTS["C7"], held, criterion, detail)


def c8_transfer(
    ls: tuple[float, float],
    adversarial: Mapping[str, tuple[float, float]],
    *,
    attack: str = "",
    ls_max_kept: float = 0.75,
    adv_min_kept: float = 0.80,
) -> ClaimResult:
    """`ls`, `adversarial[m]`: (clean accuracy, accuracy under the transferred attack). Held if LS
    keeps at most `ls_max_kept` of its clean accuracy and each adversarially trained model keeps at
    least `adv_min_kept` of its own."""
    criterion = (
        f"LS keeps ≤ {ls_max_kept:.0%} of its clean accuracy; "
        f"Madry/TRADES keep ≥ {adv_min_kept:.0%} of theirs"
    )
    held = ls[1] <= ls_max_kept * ls[0] and all(
        t >= adv_min_kept * c for c, t in adversarial.values()
    )
    parts = [f"LS: clean {_pct(ls[0])} → {_pct(ls[1])}"]
    parts += [f"{m}: clean {_pct(c)} → {_pct(t)}" for m, (c, t) in adversarial.items()]
    return ClaimResult("C8", STATEMENTS["C8"], held, criterion, "; ".join(parts), attack)


# --------------------------------------------------------------------------------------------
# Spec adapters: a claim entry of a spec + a recipe's measures → a ClaimResult

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
