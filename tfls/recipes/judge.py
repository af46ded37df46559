"""Judging a recipe's claims: on our measures, and on the paper's own numbers as a fairness check."""

from __future__ import annotations

from tfls.recipes.claim_entries import evaluate_claim
from tfls.recipes.plan import Plan, groups_of

ACCURACY_UNIT = "%"


def paper_measures(plan: Plan) -> dict:
    """The paper's numbers as measures keyed like ours (accuracies as fractions)."""
    unit = plan.paper.get("unit", ACCURACY_UNIT)
    out: dict[str, dict] = {}
    for key, row in plan.paper.get("values", {}).items():
        out[key] = {
            k: (
                float(x) / 100
                if unit == ACCURACY_UNIT and not k.startswith(("logit", "mean_margin"))
                else float(x)
            )
            for k, x in row.items()
        }
    return out


def judge(plan: Plan, measures: dict, *, paper: bool = False) -> list[dict]:
    """Every claim of the plan on `measures`; `paper=True` reads α sweeps from the paper's keys."""
    groups = groups_of(plan)
    if paper:
        # `ls@0.3` in [paper.values] is the α=0.3 model of group `ls`, whatever this scale sweeps.
        models: dict[str, dict] = {}
        for key in measures:
            if "@" in key:
                group, _, alpha = key.partition("@")
                models.setdefault(group, {})[float(alpha)] = key
        groups = {"models": {**groups["models"], **models}, "attacks": groups["attacks"]}
    return [evaluate_claim(entry, measures, groups).to_dict() for entry in plan.claims]
