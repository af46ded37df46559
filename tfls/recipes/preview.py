"""What a recipe run would do, printed before doing any of it (`--plan`): nothing trained or written.

The plan resolved at its scale (overrides, stand-ins and seeds applied, every model's training
configuration and every attack's preset checked, as a run checks them first), each model with its
cache folder and whether it is already trained there, each attack column with its parameters, and
the output folder. A user reads it before committing a GPU-day or an afternoon of two cores.
"""

from __future__ import annotations

from collections.abc import Callable

from tfls.recipes import seeds as seeds_mod
from tfls.recipes.configs import train_config
from tfls.recipes.plan import Plan


def preview(
    plan: Plan,
    seed_list: list[int],
    *,
    out,
    cache_dir=None,
    data_dir=None,
    log: Callable[[str], None] = print,
) -> dict:
    """Logs the plan; returns it as a dictionary (`models`, `attacks`, `to_train`, `out`)."""
    from tfls.training.model_cache import is_finished, run_dir_of

    models = []
    for seed in seed_list:
        splan = seeds_mod.with_seed(plan, seed) if len(seed_list) > 1 else plan
        for m in splan.models:
            config = train_config(m, data_dir=data_dir)
            folder = run_dir_of(config, cache_dir=cache_dir)
            models.append(
                {
                    "id": m.id,
                    "label": m.label,
                    "seed": config.seed,
                    "dataset": m.dataset,
                    "model": config.model,
                    "method": m.method,
                    "label_smoothing": m.label_smoothing,
                    "epochs": config.epochs,
                    "evaluate": m.evaluate,
                    "cache": str(folder),
                    "cached": is_finished(folder),
                }
            )
    attacks = [
        {
            "id": a.id,
            "preset": a.preset,
            "norm": a.norm,
            "params": dict(a.params),
            "source": a.source,
        }
        for a in plan.attacks
    ]
    to_train = sorted({m["cache"] for m in models if not m["cached"]})
    eps = ", ".join(f"{k} {v}" for k, v in plan.eps.items() if v is not None)
    log(
        f"  plan: {plan.n} test points, batch {plan.batch_size}, ε {eps}, "
        f"seeds {seed_list}, audit {plan.audit or 'none'}"
    )
    for m in models:
        state = "cached" if m["cached"] else "to train"
        log(
            f"  model {m['id']} (seed {m['seed']}): {m['model']} on {m['dataset']}, "
            f"{m['method']}, α = {m['label_smoothing']:g}, {m['epochs']} epochs: {state} "
            f"({m['cache']})"
        )
    for a in attacks:
        params = ", ".join(f"{k}={v}" for k, v in a["params"].items())
        source = f", crafted on {a['source']}" if a["source"] else ""
        log(
            f"  attack {a['id']}: {a['preset']} ({a['norm']}{source}){': ' if params else ''}{params}"
        )
    log(
        f"  {len(to_train)} of {len({m['cache'] for m in models})} trainings to run; results would "
        f"go to {out}. Nothing was trained or evaluated (--plan)."
    )
    return {"models": models, "attacks": attacks, "to_train": to_train, "out": str(out)}
