"""A recipe over several training seeds: the plan per seed, and the mean ± spread of its measures.

`--seeds K` trains every model with seeds `s, s+1, ..., s+K-1` (`s` is the scale's `seed`): the
seed fixes initialisation, data order and the inner attacks' random starts. The evaluation
attacks keep their own fixed seeds, so the spread is what a training seed moves. Claims are judged
on the mean over seeds; each seed's own verdict is kept beside it.
"""

from __future__ import annotations

import dataclasses
import math

from tfls.recipes.plan import Plan


def seed_values(plan: Plan, k: int) -> list[int]:
    """The `k` training seeds of a plan: its scale's seed and the `k - 1` after it."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`seeds` must be an integer ≥ 1. Received: seeds={k!r}")
    return [plan.seed + i for i in range(k)]


def with_seed(plan: Plan, seed: int) -> Plan:
    """`plan` with every model trained with `seed` (the plan's own seed when it already is)."""
    models = tuple(dataclasses.replace(m, train={**m.train, "seed": seed}) for m in plan.models)
    return dataclasses.replace(plan, seed=seed, models=models)


def spread(per_seed: dict[int, dict]) -> dict:
    """`{model: {measure: {mean, sd, min, max, values}}}` over the seeds that measured it.

    `sd` is the sample standard deviation (0 for one seed); `values` follow the seed order.
    """
    out: dict[str, dict] = {}
    seeds = list(per_seed)
    for s in seeds:
        for mid, measures in per_seed[s].items():
            for name in measures:
                out.setdefault(mid, {}).setdefault(name, None)
    for mid, names in out.items():
        for name in names:
            values = [
                per_seed[s][mid][name]
                for s in seeds
                if per_seed[s].get(mid, {}).get(name) is not None
            ]
            if not values:
                names[name] = None
                continue
            mean = sum(values) / len(values)
            sd = (
                math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))
                if len(values) > 1
                else 0.0
            )
            names[name] = {
                "mean": mean,
                "sd": sd,
                "min": min(values),
                "max": max(values),
                "values": values,
            }
    return out


def mean_measures(stats: dict) -> dict:
    """The mean of each measure (the numbers the claims are judged on)."""
    return {
        mid: {name: (None if s is None else s["mean"]) for name, s in names.items()}
        for mid, names in stats.items()
    }


def ranges(stats: dict) -> dict:
    """`[min, max]` over seeds of each measure: the bracket shown where one seed shows its CI."""
    return {
        mid: {name: [s["min"], s["max"]] for name, s in names.items() if s is not None}
        for mid, names in stats.items()
    }
